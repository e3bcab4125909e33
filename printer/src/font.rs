//! Text for the raster: clusters, Arabic shaping, a minimal bidi, wrapping and GNU Unifont glyphs.
//!
//! Unifont covers the whole BMP at 8x16 (halfwidth) or 16x16 (fullwidth). Anything it lacks
//! (astral planes such as emoji, private use) becomes a box showing the code point in hex, so a
//! name never turns into `?` or mojibake.

use crate::bitmap::Bitmap;

/// A base character and the combining marks drawn on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cluster {
    pub base: char,
    marks: [char; 3],
    n_marks: u8,
}

impl Cluster {
    pub fn new(base: char) -> Self {
        Cluster {
            base,
            marks: ['\0'; 3],
            n_marks: 0,
        }
    }

    pub fn marks(&self) -> &[char] {
        &self.marks[..usize::from(self.n_marks)]
    }

    fn push_mark(&mut self, m: char) {
        // More than three stacked marks is abuse (zalgo); the rest are dropped.
        if usize::from(self.n_marks) < self.marks.len() {
            self.marks[usize::from(self.n_marks)] = m;
            self.n_marks += 1;
        }
    }

    /// Width in character cells: 1 for halfwidth, 2 for fullwidth glyphs and fallback boxes.
    pub fn cols(&self) -> u32 {
        match unifont::get_glyph(self.base) {
            Some(g) if !g.is_fullwidth() => 1,
            _ => 2,
        }
    }

    pub fn is_space(&self) -> bool {
        self.base == ' ' && self.n_marks == 0
    }
}

/// Nonspacing combining marks: drawn over the previous glyph with no advance.
pub(crate) fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x0711 | 0x0730..=0x074A | 0x0900..=0x0902 | 0x093A | 0x093C | 0x0941..=0x0948
        | 0x094D | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0E31 | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E | 0x0EB1 | 0x0EB4..=0x0EBC | 0x0EC8..=0x0ECD | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x302A..=0x302F | 0x3099..=0x309A
        | 0xFE20..=0xFE2F)
}

/// Invisible format characters, variation selectors and emoji modifiers: no glyph at all.
fn is_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0x1F3FB..=0x1F3FF | 0xE0000..=0xE0FFF)
}

/// Turns text into clusters in logical order: shapes Arabic, folds combining marks onto their
/// base, drops invisible characters, and collapses emoji ZWJ sequences into one glyph.
/// Newlines become `'\n'` clusters (hard breaks); other control characters become spaces.
pub(crate) fn shape(text: &str) -> Vec<Cluster> {
    let shaped = arabic::shape(text);
    let mut out: Vec<Cluster> = Vec::with_capacity(shaped.len());
    let mut after_zwj = false;
    for c in shaped {
        if c == '\u{200D}' {
            after_zwj = out.last().is_some_and(|l| l.base as u32 > 0xFFFF);
            continue;
        }
        if after_zwj {
            after_zwj = false;
            if c as u32 > 0xFFFF || ('\u{2600}'..='\u{27BF}').contains(&c) {
                continue; // part of the previous emoji
            }
        }
        if is_ignorable(c) {
            continue;
        }
        let c = match c {
            '\n' => '\n',
            '\t' | '\r' => ' ',
            c if c.is_control() => continue,
            c => c,
        };
        if is_mark(c) {
            match out.last_mut() {
                Some(last) if last.base != '\n' && last.base != ' ' => last.push_mark(c),
                // A mark with nothing to sit on goes on a no-break space.
                _ => {
                    let mut cl = Cluster::new('\u{a0}');
                    cl.push_mark(c);
                    out.push(cl);
                }
            }
        } else {
            out.push(Cluster::new(c));
        }
    }
    out
}

/// Break opportunities after these characters (kept on the line).
fn breaks_after(c: char) -> bool {
    matches!(
        c,
        '-' | ':' | '/' | ',' | ';' | '.' | '_' | '|' | '@' | '\u{3001}' | '\u{3002}'
    )
}

/// Wraps logical clusters into lines of at most `max_cols` cells. Spaces at breaks are dropped;
/// words longer than a line are cut; fullwidth text may break anywhere.
pub(crate) fn wrap(text: &[Cluster], max_cols: u32) -> Vec<Vec<Cluster>> {
    let max_cols = max_cols.max(2);
    let mut lines = Vec::new();
    let mut line: Vec<Cluster> = Vec::new();
    let mut cols = 0;
    // Index into `line` just after the last break opportunity, and whether it was a space.
    let mut brk: Option<(usize, bool)> = None;
    for &cl in text {
        if cl.base == '\n' {
            trim_end(&mut line);
            lines.push(std::mem::take(&mut line));
            cols = 0;
            brk = None;
            continue;
        }
        if cl.is_space() && line.is_empty() && !lines.is_empty() {
            continue; // no leading space on continuation lines
        }
        let w = cl.cols();
        if cols + w > max_cols && !cl.is_space() {
            let fullwidth_break = w == 2 || line.last().is_some_and(|l| l.cols() == 2);
            let tail = match brk {
                Some((at, _)) if at > 0 && !fullwidth_break => line.split_off(at),
                _ => Vec::new(),
            };
            trim_end(&mut line);
            lines.push(std::mem::take(&mut line));
            line = tail;
            while line.first().is_some_and(Cluster::is_space) {
                line.remove(0);
            }
            cols = line.iter().map(Cluster::cols).sum();
            brk = None;
        }
        if cl.is_space() {
            if cols + 1 > max_cols {
                // A space at the end of a full line vanishes but still marks a break.
                brk = Some((line.len(), true));
                continue;
            }
            line.push(cl);
            cols += 1;
            brk = Some((line.len(), true));
        } else {
            line.push(cl);
            cols += w;
            if breaks_after(cl.base) || w == 2 {
                brk = Some((line.len(), false));
            }
        }
    }
    trim_end(&mut line);
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn trim_end(line: &mut Vec<Cluster>) {
    while line.last().is_some_and(Cluster::is_space) {
        line.pop();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    L,
    R,
    N,
}

fn dir(c: char) -> Dir {
    match c as u32 {
        0x0660..=0x0669 | 0x06F0..=0x06F9 => Dir::L, // digits stay left-to-right
        0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF | 0x10800..=0x10FFF => Dir::R,
        _ if c.is_alphanumeric() => Dir::L,
        _ if c as u32 > 0x2E80 => Dir::L, // CJK and symbols: treat as strong LTR
        _ => Dir::N,
    }
}

/// Whether a paragraph reads right-to-left: its first strong character is RTL (UAX #9 P2/P3).
pub(crate) fn is_rtl(text: &[Cluster]) -> bool {
    text.iter()
        .map(|c| dir(c.base))
        .find(|d| *d != Dir::N)
        .is_some_and(|d| d == Dir::R)
}

fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        c => c,
    }
}

/// Reorders one line into visual (left-to-right) order: a minimal UAX #9 with strong L/R,
/// neutrals resolved from their neighbours, numbers kept LTR, and brackets mirrored in RTL runs.
pub(crate) fn visual(line: &[Cluster], rtl_paragraph: bool) -> Vec<Cluster> {
    let base = if rtl_paragraph { Dir::R } else { Dir::L };
    let dirs: Vec<Dir> = line.iter().map(|c| dir(c.base)).collect();
    if !rtl_paragraph && !dirs.contains(&Dir::R) {
        return line.to_vec();
    }
    let mut resolved = dirs.clone();
    let mut i = 0;
    while i < dirs.len() {
        if dirs[i] != Dir::N {
            i += 1;
            continue;
        }
        let start = i;
        while i < dirs.len() && dirs[i] == Dir::N {
            i += 1;
        }
        let before = if start == 0 { base } else { resolved[start - 1] };
        let after = if i == dirs.len() { base } else { dirs[i] };
        let d = if before == after { before } else { base };
        resolved[start..i].fill(d);
    }
    let levels: Vec<u8> = resolved
        .iter()
        .map(|d| match (rtl_paragraph, d) {
            (false, Dir::R) => 1,
            (false, _) => 0,
            (true, Dir::L) => 2,
            (true, _) => 1,
        })
        .collect();
    let mut out: Vec<(Cluster, u8)> = line.iter().copied().zip(levels).collect();
    let max = out.iter().map(|p| p.1).max().unwrap_or(0);
    for lev in (1..=max).rev() {
        let mut i = 0;
        while i < out.len() {
            if out[i].1 < lev {
                i += 1;
                continue;
            }
            let start = i;
            while i < out.len() && out[i].1 >= lev {
                i += 1;
            }
            out[start..i].reverse();
        }
    }
    out.into_iter()
        .map(|(mut c, lev)| {
            if lev % 2 == 1 {
                c.base = mirror(c.base);
            }
            c
        })
        .collect()
}

/// A glyph as 16 rows of up to 16 dots, MSB = leftmost.
#[derive(Clone, Copy)]
pub(crate) struct Glyph {
    pub width: u32,
    pub rows: [u16; 16],
}

const HEX_DIGITS: [[u8; 5]; 16] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
    [0b010, 0b101, 0b111, 0b101, 0b101],
    [0b110, 0b101, 0b110, 0b101, 0b110],
    [0b011, 0b100, 0b100, 0b100, 0b011],
    [0b110, 0b101, 0b101, 0b101, 0b110],
    [0b111, 0b100, 0b111, 0b100, 0b111],
    [0b111, 0b100, 0b111, 0b100, 0b100],
];

/// The fallback: a 16x16 box with the code point in hex (4 digits for the BMP, 6 beyond), the
/// convention Unifont itself uses for glyphs it lacks.
pub(crate) fn fallback_glyph(c: char) -> Glyph {
    let mut rows = [0u16; 16];
    rows[1] = 0x7FFE;
    rows[14] = 0x7FFE;
    for r in &mut rows[2..14] {
        *r = 0x4002;
    }
    let cp = c as u32;
    let (digits, per_row) = if cp > 0xFFFF { (6, 3) } else { (4, 2) };
    let text_w = per_row * 4 - 1;
    let x0 = 2 + (12 - text_w) / 2;
    for i in 0..digits {
        let nibble = (cp >> (4 * (digits - 1 - i))) & 0xF;
        let (row, col) = (i / per_row, i % per_row);
        let y0 = 2 + row as usize * 6;
        let x = x0 + col * 4;
        for (dy, bits) in HEX_DIGITS[nibble as usize].iter().enumerate() {
            rows[y0 + dy] |= u16::from(*bits) << (16 - 3 - x);
        }
    }
    Glyph { width: 16, rows }
}

pub(crate) fn glyph(c: char) -> Glyph {
    match unifont::get_glyph(c) {
        Some(unifont::Glyph::Halfwidth(r)) => Glyph {
            width: 8,
            rows: r.map(|b| u16::from(b) << 8),
        },
        Some(unifont::Glyph::Fullwidth(r)) => Glyph { width: 16, rows: *r },
        None => fallback_glyph(c),
    }
}

/// How glyphs are drawn: Unifont's 8x16 cell is stretched to `cell_w` x `cell_h` per column
/// (nearest neighbour), then emboldened by `bold` dots the way printers do (OR with a shift).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TextScale {
    pub cell_w: u32,
    pub cell_h: u32,
    pub bold: u32,
}

impl TextScale {
    /// Scales one glyph horizontally into 16 source rows of at most 64 dots (MSB = leftmost);
    /// dest row `dy` is source row `dy * 16 / cell_h`.
    fn scaled(&self, g: &Glyph) -> (u32, [u64; 16]) {
        let dw = (g.width * self.cell_w / 8).min(64);
        let mut col_masks = [0u64; 16];
        for dx in 0..dw {
            let sx = (dx * 8 / self.cell_w).min(15);
            col_masks[sx as usize] |= 1u64 << (63 - dx);
        }
        let keep = if dw == 0 { 0 } else { !0u64 << (64 - dw) };
        let mut rows = [0u64; 16];
        for (out, &r) in rows.iter_mut().zip(&g.rows) {
            let mut m = 0u64;
            for (sx, cm) in col_masks.iter().enumerate().take(g.width as usize) {
                if r & (0x8000 >> sx) != 0 {
                    m |= cm;
                }
            }
            let mut b = m;
            for s in 1..=self.bold {
                b |= m >> s;
            }
            *out = b & keep;
        }
        (dw, rows)
    }

    fn draw(&self, bm: &mut Bitmap, x: i64, y: i64, g: &Glyph) -> u32 {
        let (w, rows) = self.scaled(g);
        for dy in 0..self.cell_h {
            let src = ((dy * 16 / self.cell_h) as usize).min(15);
            bm.or_bits(x, y + i64::from(dy), rows[src], w);
        }
        w
    }
}

/// Width in dots of a line of clusters.
pub(crate) fn line_width(line: &[Cluster], scale: &TextScale) -> u32 {
    line.iter().map(|c| c.cols() * scale.cell_w).sum()
}

/// Draws a visual-order line with its top-left corner at (x, y).
pub(crate) fn draw_line(bm: &mut Bitmap, x: i64, y: i64, line: &[Cluster], scale: &TextScale) {
    let mut x = x;
    for cl in line {
        let base = glyph(cl.base);
        let w = base.width * scale.cell_w / 8;
        if cl.base != ' ' {
            scale.draw(bm, x, y, &base);
        }
        for &mk in cl.marks() {
            let g = glyph(mk);
            // A halfwidth mark sits over the middle of a fullwidth base.
            let mw = g.width * scale.cell_w / 8;
            scale.draw(bm, x + i64::from(w.saturating_sub(mw) / 2), y, &g);
        }
        x += i64::from(cl.cols() * scale.cell_w);
    }
}

/// Black dots a character draws on its own at 8x16.
#[cfg(test)]
pub(crate) fn glyph_ink(c: char) -> u64 {
    let cl = shape(&c.to_string());
    let scale = TextScale {
        cell_w: 8,
        cell_h: 16,
        bold: 0,
    };
    let mut bm = Bitmap::new(16 * cl.len().max(1) as u32, 16);
    draw_line(&mut bm, 0, 0, &cl, &scale);
    bm.count_black()
}

/// Arabic contextual shaping onto the Presentation Forms blocks, which Unifont draws.
mod arabic {
    /// (letter, isolated, final, initial, medial); 0 = the form does not exist (right-joining).
    const FORMS: &[(u16, u16, u16, u16, u16)] = &[
        (0x0621, 0xFE80, 0, 0, 0),
        (0x0622, 0xFE81, 0xFE82, 0, 0),
        (0x0623, 0xFE83, 0xFE84, 0, 0),
        (0x0624, 0xFE85, 0xFE86, 0, 0),
        (0x0625, 0xFE87, 0xFE88, 0, 0),
        (0x0626, 0xFE89, 0xFE8A, 0xFE8B, 0xFE8C),
        (0x0627, 0xFE8D, 0xFE8E, 0, 0),
        (0x0628, 0xFE8F, 0xFE90, 0xFE91, 0xFE92),
        (0x0629, 0xFE93, 0xFE94, 0, 0),
        (0x062A, 0xFE95, 0xFE96, 0xFE97, 0xFE98),
        (0x062B, 0xFE99, 0xFE9A, 0xFE9B, 0xFE9C),
        (0x062C, 0xFE9D, 0xFE9E, 0xFE9F, 0xFEA0),
        (0x062D, 0xFEA1, 0xFEA2, 0xFEA3, 0xFEA4),
        (0x062E, 0xFEA5, 0xFEA6, 0xFEA7, 0xFEA8),
        (0x062F, 0xFEA9, 0xFEAA, 0, 0),
        (0x0630, 0xFEAB, 0xFEAC, 0, 0),
        (0x0631, 0xFEAD, 0xFEAE, 0, 0),
        (0x0632, 0xFEAF, 0xFEB0, 0, 0),
        (0x0633, 0xFEB1, 0xFEB2, 0xFEB3, 0xFEB4),
        (0x0634, 0xFEB5, 0xFEB6, 0xFEB7, 0xFEB8),
        (0x0635, 0xFEB9, 0xFEBA, 0xFEBB, 0xFEBC),
        (0x0636, 0xFEBD, 0xFEBE, 0xFEBF, 0xFEC0),
        (0x0637, 0xFEC1, 0xFEC2, 0xFEC3, 0xFEC4),
        (0x0638, 0xFEC5, 0xFEC6, 0xFEC7, 0xFEC8),
        (0x0639, 0xFEC9, 0xFECA, 0xFECB, 0xFECC),
        (0x063A, 0xFECD, 0xFECE, 0xFECF, 0xFED0),
        (0x0641, 0xFED1, 0xFED2, 0xFED3, 0xFED4),
        (0x0642, 0xFED5, 0xFED6, 0xFED7, 0xFED8),
        (0x0643, 0xFED9, 0xFEDA, 0xFEDB, 0xFEDC),
        (0x0644, 0xFEDD, 0xFEDE, 0xFEDF, 0xFEE0),
        (0x0645, 0xFEE1, 0xFEE2, 0xFEE3, 0xFEE4),
        (0x0646, 0xFEE5, 0xFEE6, 0xFEE7, 0xFEE8),
        (0x0647, 0xFEE9, 0xFEEA, 0xFEEB, 0xFEEC),
        (0x0648, 0xFEED, 0xFEEE, 0, 0),
        (0x0649, 0xFEEF, 0xFEF0, 0, 0),
        (0x064A, 0xFEF1, 0xFEF2, 0xFEF3, 0xFEF4),
        (0x0671, 0xFB50, 0xFB51, 0, 0),
        (0x0679, 0xFB66, 0xFB67, 0xFB68, 0xFB69),
        (0x067E, 0xFB56, 0xFB57, 0xFB58, 0xFB59),
        (0x0686, 0xFB7A, 0xFB7B, 0xFB7C, 0xFB7D),
        (0x0688, 0xFB88, 0xFB89, 0, 0),
        (0x0691, 0xFB8C, 0xFB8D, 0, 0),
        (0x0698, 0xFB8A, 0xFB8B, 0, 0),
        (0x06A9, 0xFB8E, 0xFB8F, 0xFB90, 0xFB91),
        (0x06AF, 0xFB92, 0xFB93, 0xFB94, 0xFB95),
        (0x06BA, 0xFB9E, 0xFB9F, 0, 0),
        (0x06BE, 0xFBAA, 0xFBAB, 0xFBAC, 0xFBAD),
        (0x06C1, 0xFBA6, 0xFBA7, 0xFBA8, 0xFBA9),
        (0x06CC, 0xFBFC, 0xFBFD, 0xFBFE, 0xFBFF),
        (0x06D2, 0xFBAE, 0xFBAF, 0, 0),
    ];

    /// Lam + alef variants: (alef, isolated ligature, final ligature).
    const LAM_ALEF: &[(u16, u16, u16)] = &[
        (0x0622, 0xFEF5, 0xFEF6),
        (0x0623, 0xFEF7, 0xFEF8),
        (0x0625, 0xFEF9, 0xFEFA),
        (0x0627, 0xFEFB, 0xFEFC),
    ];

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Join {
        Dual,
        Right,
        Causing,
        Transparent,
        None,
    }

    fn forms(c: char) -> Option<&'static (u16, u16, u16, u16, u16)> {
        let cp = u16::try_from(c as u32).ok()?;
        FORMS.binary_search_by_key(&cp, |f| f.0).ok().map(|i| &FORMS[i])
    }

    fn join(c: char) -> Join {
        match c {
            '\u{0640}' | '\u{200D}' => Join::Causing,
            c if super::is_mark(c) => Join::Transparent,
            c => match forms(c) {
                Some(f) if f.3 != 0 => Join::Dual,
                Some(_) => Join::Right,
                None => Join::None,
            },
        }
    }

    fn to_char(cp: u16) -> char {
        char::from_u32(u32::from(cp)).unwrap_or('\u{FFFD}')
    }

    pub(super) fn shape(text: &str) -> Vec<char> {
        let chars: Vec<char> = text.chars().collect();
        if !chars.iter().any(|c| ('\u{0600}'..='\u{06FF}').contains(c)) {
            return chars;
        }
        let joins: Vec<Join> = chars.iter().map(|&c| join(c)).collect();
        let neighbour = |i: usize, step: isize| -> Join {
            let mut j = i as isize + step;
            while j >= 0 && (j as usize) < chars.len() {
                if joins[j as usize] != Join::Transparent {
                    return joins[j as usize];
                }
                j += step;
            }
            Join::None
        };
        let mut out = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let Some(f) = forms(c) else {
                out.push(c);
                i += 1;
                continue;
            };
            let prev = neighbour(i, -1);
            let joins_prev = matches!(prev, Join::Dual | Join::Causing) && joins[i] != Join::None;
            if c == '\u{0644}'
                && let Some(&(_, iso, fin)) = chars
                    .get(i + 1)
                    .and_then(|n| LAM_ALEF.iter().find(|l| u32::from(l.0) == *n as u32))
            {
                out.push(to_char(if joins_prev { fin } else { iso }));
                i += 2;
                continue;
            }
            let next = neighbour(i, 1);
            let joins_next = joins[i] == Join::Dual && matches!(next, Join::Dual | Join::Right | Join::Causing);
            let form = match (joins_prev, joins_next) {
                (true, true) => f.4,
                (true, false) => f.2,
                (false, true) => f.3,
                (false, false) => f.1,
            };
            out.push(to_char(if form == 0 { f.1 } else { form }));
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[Cluster]) -> String {
        v.iter().map(|c| c.base).collect()
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        let t = shape("Ada Lovelace Byron King");
        let lines: Vec<String> = wrap(&t, 12).iter().map(|l| s(l)).collect();
        assert_eq!(lines, ["Ada Lovelace", "Byron King"]);
        let t = shape("ABCDEFGHIJKLMNOP");
        let lines: Vec<String> = wrap(&t, 6).iter().map(|l| s(l)).collect();
        assert_eq!(lines, ["ABCDEF", "GHIJKL", "MNOP"]);
        let t = shape("AB:CD:EF:01");
        let lines: Vec<String> = wrap(&t, 7).iter().map(|l| s(l)).collect();
        assert_eq!(lines, ["AB:CD:", "EF:01"]);
        assert_eq!(wrap(&shape(""), 10).len(), 1);
        let lines: Vec<String> = wrap(&shape("a\nb"), 10).iter().map(|l| s(l)).collect();
        assert_eq!(lines, ["a", "b"]);
    }

    #[test]
    fn fullwidth_counts_double_and_breaks_anywhere() {
        let t = shape("山田太郎さん");
        assert!(t.iter().all(|c| c.cols() == 2));
        let lines = wrap(&t, 8);
        assert_eq!(lines.len(), 2);
        assert_eq!(s(&lines[0]), "山田太郎");
    }

    #[test]
    fn marks_fold_and_ignorables_vanish() {
        let t = shape("e\u{301}\u{200B}x\u{FE0F}");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].marks(), &['\u{301}']);
        // Family emoji: man ZWJ woman ZWJ girl is one box.
        let t = shape("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}!");
        assert_eq!(s(&t), "\u{1F468}!");
        assert_eq!(t[0].cols(), 2);
    }

    #[test]
    fn arabic_is_shaped_and_reversed() {
        // "سلام": seen initial, lam medial... lam-alef ligature, meem isolated.
        let t = shape("سلام");
        assert_eq!(s(&t), "\u{FEB3}\u{FEFC}\u{FEE1}");
        assert!(is_rtl(&t));
        let v = visual(&t, true);
        assert_eq!(s(&v), "\u{FEE1}\u{FEFC}\u{FEB3}");
        // Numbers and Latin keep their order inside RTL text.
        let t = shape("علي 42");
        let v = s(&visual(&t, true));
        assert!(v.starts_with("42 "), "{v}");
        // RTL word inside an LTR line.
        let t = shape("Dr. علي");
        assert!(!is_rtl(&t));
        let v = s(&visual(&t, false));
        assert!(v.starts_with("Dr. "));
        assert_eq!(v.chars().last(), Some('\u{FECB}'));
    }

    #[test]
    fn fallback_box_shows_hex() {
        let g = fallback_glyph('\u{1F600}');
        assert_eq!(g.width, 16);
        assert!(g.rows.iter().map(|r| r.count_ones()).sum::<u32>() > 60);
        assert_ne!(fallback_glyph('\u{1F600}').rows, fallback_glyph('\u{1F601}').rows);
        assert!(unifont::get_glyph('\u{E000}').is_none());
        assert_eq!(glyph('\u{E000}').width, 16);
    }

    #[test]
    fn scaling_fills_cells() {
        let g = glyph('H');
        let sc = TextScale {
            cell_w: 12,
            cell_h: 24,
            bold: 0,
        };
        let (w, rows) = sc.scaled(&g);
        assert_eq!(w, 12);
        assert!(rows.iter().all(|r| r.trailing_zeros() >= 52));
        let sc3 = TextScale {
            cell_w: 24,
            cell_h: 48,
            bold: 2,
        };
        let (w, rows) = sc3.scaled(&glyph('山'));
        assert_eq!(w, 48);
        assert!(rows.iter().any(|r| *r != 0));
    }
}
