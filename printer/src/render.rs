//! Ticket layout and the ESC/POS encoder, producing the byte stream and its preview together so
//! the two cannot drift apart.

use crate::bitmap::Bitmap;
use crate::font::{self, Cluster, TextScale};
use crate::profile::{Cut, Profile};
use crate::{Error, Rendered, Ticket, seal};
use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{JustifyMode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption};
use std::cell::RefCell;
use std::rc::Rc;

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
/// Raster bands are capped so printers with small receive buffers keep up.
const MAX_BAND_ROWS: u32 = 128;
/// Blank raster runs at least this tall go out as ESC J feeds instead of zero bytes.
const MIN_FEED_RUN: u32 = 4;
/// QR quiet zone, in modules.
const QUIET: u32 = 4;

/// An escpos driver that appends to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Driver for Capture {
    fn name(&self) -> String {
        "capture".into()
    }
    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }
    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

impl From<escpos::errors::PrinterError> for Error {
    fn from(e: escpos::errors::PrinterError) -> Self {
        Error::Escpos(e.to_string())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Align {
    Left,
    Center,
}

/// One printed line: spans of visual-order clusters at one character size.
struct TextLine {
    spans: Vec<(Vec<Cluster>, bool)>,
    /// Character size multipliers (GS !).
    w: u32,
    h: u32,
    align: Align,
}

/// Writes commands and the matching preview rows in lockstep.
struct Emitter<'p> {
    profile: &'p Profile,
    printer: Printer<Capture>,
    out: Capture,
    preview: Bitmap,
    align: Option<Align>,
    size: (u32, u32),
    bold: bool,
    spacing: Option<u32>,
}

impl<'p> Emitter<'p> {
    fn new(profile: &'p Profile) -> Result<Self, Error> {
        let out = Capture::default();
        let mut printer = Printer::new(out.clone(), Protocol::default(), None);
        printer
            .init()?
            // Motion units of one dot, so ESC 3 / ESC J amounts are in dots on every model.
            .motion_units(profile.dpi as u8, profile.dpi as u8)?
            .page_code(profile.code_page.escpos())?;
        Ok(Emitter {
            profile,
            printer,
            out,
            preview: Bitmap::new(profile.dots, 0),
            align: None,
            size: (1, 1),
            bold: false,
            spacing: None,
        })
    }

    fn justify(&mut self, a: Align) -> Result<(), Error> {
        if self.align != Some(a) {
            self.printer.justify(match a {
                Align::Left => JustifyMode::LEFT,
                Align::Center => JustifyMode::CENTER,
            })?;
            self.align = Some(a);
        }
        Ok(())
    }

    /// Feeds paper in the byte stream only (the preview rows exist already).
    fn feed_bytes(&mut self, mut dots: u32) -> Result<(), Error> {
        while dots > 0 {
            let n = dots.min(255);
            self.printer.custom(&[ESC, b'J', n as u8])?;
            dots -= n;
        }
        Ok(())
    }

    fn feed(&mut self, dots: u32) -> Result<(), Error> {
        self.preview.grow(dots);
        self.feed_bytes(dots)
    }

    /// A full-width region of the ticket sent as GS v 0 raster.
    ///
    /// Centring is baked into the bitmap (left padding) rather than left to ESC a, which some
    /// printers ignore for raster images; right-hand white space and tall blank runs are trimmed.
    fn raster(&mut self, region: &Bitmap) -> Result<(), Error> {
        debug_assert_eq!(region.width(), self.profile.dots);
        self.preview.append_rows(region);
        self.justify(Align::Left)?;
        let h = region.height();
        let mut y = 0;
        while y < h {
            let blank_end = (y..h).find(|&r| !region.row_is_blank(r)).unwrap_or(h);
            if blank_end - y >= MIN_FEED_RUN || blank_end == h {
                self.feed_bytes(blank_end - y)?;
                y = blank_end;
                continue;
            }
            // A band: up to MAX_BAND_ROWS rows, ending early at a tall blank run.
            let start = y;
            let mut end = y;
            while end < h && end - start < MAX_BAND_ROWS {
                if region.row_is_blank(end) {
                    let run_end = (end..h).find(|&r| !region.row_is_blank(r)).unwrap_or(h);
                    if run_end - end >= MIN_FEED_RUN || run_end == h {
                        break;
                    }
                }
                end += 1;
            }
            let xbytes = region.ink_right(start, end).div_ceil(8).max(1);
            let rows = end - start;
            let mut cmd = Vec::with_capacity(8 + (xbytes * rows) as usize);
            cmd.extend_from_slice(&[
                GS,
                b'v',
                b'0',
                0,
                (xbytes & 0xff) as u8,
                (xbytes >> 8) as u8,
                (rows & 0xff) as u8,
                (rows >> 8) as u8,
            ]);
            for r in start..end {
                cmd.extend_from_slice(&region.row(r)[..xbytes as usize]);
            }
            self.printer.custom(&cmd)?;
            y = end;
        }
        Ok(())
    }

    fn text_line(&mut self, line: &TextLine) -> Result<(), Error> {
        let p = self.profile;
        let cell_w = p.font_width * line.w;
        let cell_h = p.font_height * line.h;
        let pitch = p.line_spacing * line.h;
        let width: u32 = line
            .spans
            .iter()
            .flat_map(|s| s.0.iter())
            .map(|c| c.cols() * cell_w)
            .sum();
        let x0 = match line.align {
            Align::Left => 0,
            Align::Center => p.dots.saturating_sub(width) / 2,
        };
        let mut region = Bitmap::new(p.dots, pitch);
        let mut x = i64::from(x0);
        for (clusters, bold) in &line.spans {
            let scale = TextScale {
                cell_w,
                cell_h,
                bold: if *bold { line.w } else { 0 },
            };
            font::draw_line(&mut region, x, 0, clusters, &scale);
            x += i64::from(font::line_width(clusters, &scale));
        }

        let native: Option<Vec<Vec<u8>>> = line
            .spans
            .iter()
            .map(|(clusters, _)| {
                clusters
                    .iter()
                    .map(|c| {
                        (c.marks().is_empty() && c.cols() == 1)
                            .then(|| p.code_page.encode(c.base))
                            .flatten()
                    })
                    .collect()
            })
            .collect();
        let Some(encoded) = native.filter(|_| width <= p.dots) else {
            return self.raster(&region);
        };
        self.preview.append_rows(&region);
        if self.spacing != Some(pitch) {
            self.printer.line_spacing(pitch as u8)?;
            self.spacing = Some(pitch);
        }
        self.justify(line.align)?;
        if self.size != (line.w, line.h) {
            self.printer.size(line.w as u8, line.h as u8)?;
            self.size = (line.w, line.h);
        }
        for (bytes, (_, bold)) in encoded.iter().zip(&line.spans) {
            if self.bold != *bold {
                self.printer.bold(*bold)?;
                self.bold = *bold;
            }
            self.printer.custom(bytes)?;
        }
        // ESC d 1: print the line and feed one line pitch.
        self.printer.feed()?;
        Ok(())
    }

    /// The QR code, native (GS ( k) or raster per profile, framed by its quiet zone.
    fn qr(&mut self, payload: &str) -> Result<(), Error> {
        let (n, dark) = qr_matrix(payload)?;
        let p = self.profile;
        let module = p.qr_module.min(p.dots / (n + 2 * QUIET));
        if module == 0 {
            return Err(Error::QrTooWide {
                modules: n,
                dots: p.dots,
            });
        }
        let side = n * module;
        let x0 = (p.dots - side) / 2;
        let mut region = Bitmap::new(p.dots, side);
        for my in 0..n {
            for mx in 0..n {
                if dark[(my * n + mx) as usize] {
                    for dy in 0..module {
                        region.fill_span(x0 + mx * module, my * module + dy, module);
                    }
                }
            }
        }
        self.feed(QUIET * module)?;
        if p.native_qr {
            self.preview.append_rows(&region);
            self.justify(Align::Center)?;
            let opt = QRCodeOption::new(QRCodeModel::Model2, module as u8, QRCodeCorrectionLevel::M);
            self.printer.qrcode_option(payload, opt)?;
        } else {
            self.raster(&region)?;
        }
        self.feed(QUIET * module)
    }

    fn finish(mut self) -> Result<Rendered, Error> {
        let p = self.profile;
        self.preview.grow(p.cut_feed);
        match p.cut {
            // GS V 65/66 0: feed to the cutter, then cut. (escpos's partial_cut sends GS V 65 1,
            // which is a full cut after one extra unit of feed, so both go out by hand.)
            Cut::Full => {
                self.printer.custom(&[GS, b'V', 65, 0])?;
            }
            Cut::Partial => {
                self.printer.custom(&[GS, b'V', 66, 0])?;
            }
            Cut::None => {
                self.feed_bytes(p.cut_feed)?;
            }
        }
        self.printer.print()?;
        let escpos = std::mem::take(&mut *self.out.0.borrow_mut());
        Ok(Rendered {
            escpos,
            preview: self.preview,
        })
    }
}

/// The QR matrix (EC level M) in byte mode, smallest version that fits, dark = true.
///
/// Byte mode because that is what printers use for GS ( k data, so a native code and its preview
/// get the same version and size. The mask is chosen here with the ISO/IEC 18004 penalty rules:
/// the qrcode crate's own choice deviates from the standard and allocates in its inner loop
/// (about 1 ms per code, half the render budget).
pub(crate) fn qr_matrix(payload: &str) -> Result<(u32, Vec<bool>), Error> {
    use qrcode::canvas::{Canvas, MaskPattern};
    use qrcode::{Color, EcLevel, Version, bits::Bits, ec};
    const MASKS: [MaskPattern; 8] = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ];
    let qr_err = |e: qrcode::types::QrError| Error::Qr(e.to_string());
    for v in 1..=40 {
        let version = Version::Normal(v);
        let mut bits = Bits::new(version);
        if bits.push_byte_data(payload.as_bytes()).is_err() || bits.push_terminator(EcLevel::M).is_err() {
            continue;
        }
        let (data, ecc) = ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).map_err(qr_err)?;
        let mut base = Canvas::new(version, EcLevel::M);
        base.draw_all_functional_patterns();
        base.draw_data(&data, &ecc);
        let n = version.width() as usize;
        let mut best: Option<(u32, Vec<bool>)> = None;
        for mask in MASKS {
            let mut c = base.clone();
            c.apply_mask(mask);
            let modules: Vec<bool> = c.into_colors().into_iter().map(|c| c == Color::Dark).collect();
            let score = qr_penalty(&modules, n);
            // Ties go to the lower mask number.
            if best.as_ref().is_none_or(|b| score < b.0) {
                best = Some((score, modules));
            }
        }
        let (_, modules) = best.expect("eight masks tried");
        return Ok((n as u32, modules));
    }
    Err(Error::Qr(format!(
        "payload of {} bytes exceeds QR capacity",
        payload.len()
    )))
}

/// ISO/IEC 18004:2015 section 7.8.3 mask penalty: runs (N1), 2x2 blocks (N2), finder-like
/// patterns (N3, outside the symbol counts as light) and dark/light balance (N4).
pub(crate) fn qr_penalty(m: &[bool], n: usize) -> u32 {
    const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
    let mut score = 0;
    for horizontal in [true, false] {
        for i in 0..n {
            let get = |j: usize| if horizontal { m[i * n + j] } else { m[j * n + i] };
            let mut run = 1;
            for j in 1..=n {
                if j < n && get(j) == get(j - 1) {
                    run += 1;
                } else {
                    if run >= 5 {
                        score += 3 + (run - 5);
                    }
                    run = 1;
                }
            }
            let light = |j: isize| j < 0 || j >= n as isize || !get(j as usize);
            for j in 0..n.saturating_sub(6) {
                if (0..7).all(|k| get(j + k) == FINDER[k]) {
                    let j = j as isize;
                    if (j - 4..j).all(light) || (j + 7..j + 11).all(light) {
                        score += 40;
                    }
                }
            }
        }
    }
    for y in 0..n - 1 {
        for x in 0..n - 1 {
            let c = m[y * n + x];
            if c == m[y * n + x + 1] && c == m[(y + 1) * n + x] && c == m[(y + 1) * n + x + 1] {
                score += 3;
            }
        }
    }
    let dark = m.iter().filter(|&&d| d).count();
    let total = n * n;
    score += 10 * ((20 * dark).abs_diff(10 * total) / total) as u32;
    score
}

fn clusters_of(text: &str) -> Vec<Cluster> {
    font::shape(text)
}

/// Wraps a paragraph into visual lines of at most `cols` cells, at most `max_lines` of them
/// (the last one ends in "..." when text was cut).
fn paragraph(text: &str, cols: u32, max_lines: usize) -> Vec<Vec<Cluster>> {
    let clusters = clusters_of(text);
    if clusters.iter().all(|c| c.is_space() || c.base == '\n') {
        return Vec::new();
    }
    let rtl = font::is_rtl(&clusters);
    let mut lines = font::wrap(&clusters, cols);
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.last_mut().expect("max_lines > 0");
        while last.iter().map(Cluster::cols).sum::<u32>() + 3 > cols && !last.is_empty() {
            last.pop();
        }
        last.extend("...".chars().map(Cluster::new));
    }
    lines.iter().map(|l| font::visual(l, rtl)).collect()
}

impl Emitter<'_> {
    fn centered(&mut self, text: &str, w: u32, h: u32, bold: bool, max_lines: usize) -> Result<(), Error> {
        let cols = self.profile.chars_per_line / w;
        for l in paragraph(text, cols, max_lines) {
            self.text_line(&TextLine {
                spans: vec![(l, bold)],
                w,
                h,
                align: Align::Center,
            })?;
        }
        Ok(())
    }

    fn rule(&mut self) -> Result<(), Error> {
        let mut region = Bitmap::new(self.profile.dots, 2);
        let margin = self.profile.font_width;
        for y in 0..2 {
            region.fill_span(margin, y, self.profile.dots - 2 * margin);
        }
        self.raster(&region)
    }

    /// Label/value pairs in two columns, or stacked (label line, indented value) when the
    /// longest label would take more than 3/8 of the line.
    fn fields(&mut self, fields: &[(String, String)]) -> Result<(), Error> {
        let cpl = self.profile.chars_per_line;
        let width = |t: &str| clusters_of(t).iter().map(Cluster::cols).sum::<u32>();
        let longest = fields.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
        let two_columns = longest < cpl * 3 / 8;
        let (label_cols, indent) = if two_columns {
            (longest + 1, longest + 1)
        } else {
            (cpl, 2)
        };
        let pad = |n: u32| -> Vec<Cluster> { (0..n).map(|_| Cluster::new(' ')).collect() };
        for (label, value) in fields.iter().take(16) {
            let mut label_cl = paragraph(label, label_cols, 1).pop().unwrap_or_default();
            let used: u32 = label_cl.iter().map(Cluster::cols).sum();
            let mut lines = paragraph(value, cpl - indent, 6).into_iter();
            if !two_columns {
                self.text_line(&TextLine {
                    spans: vec![(label_cl, true)],
                    w: 1,
                    h: 1,
                    align: Align::Left,
                })?;
            } else {
                label_cl.extend(pad(label_cols - used));
                let first = lines.next().unwrap_or_default();
                self.text_line(&TextLine {
                    spans: vec![(label_cl, true), (first, false)],
                    w: 1,
                    h: 1,
                    align: Align::Left,
                })?;
            }
            for value_line in lines {
                self.text_line(&TextLine {
                    spans: vec![(pad(indent), false), (value_line, false)],
                    w: 1,
                    h: 1,
                    align: Align::Left,
                })?;
            }
        }
        Ok(())
    }
}

pub(crate) fn render(ticket: &Ticket, profile: &Profile) -> Result<Rendered, Error> {
    profile.validate().map_err(Error::Profile)?;
    let mut e = Emitter::new(profile)?;
    e.feed(16)?;
    e.centered(&ticket.title, 1, 2, true, 2)?;
    e.centered(&ticket.subtitle, 1, 1, false, 2)?;
    e.feed(16)?;

    let size = profile.seal_size;
    let mut region = Bitmap::new(profile.dots, size);
    region.blit(
        &seal::raster(&ticket.seal_seed, size),
        i64::from((profile.dots - size) / 2),
        0,
    );
    e.raster(&region)?;
    e.feed(20)?;

    e.centered(&ticket.name, 2, 2, true, 4)?;
    e.centered(&ticket.kind_line, 1, 1, false, 2)?;
    e.feed(10)?;
    e.rule()?;
    e.feed(10)?;
    e.fields(&ticket.fields)?;
    e.feed(6)?;
    e.rule()?;
    if !ticket.qr_payload.is_empty() {
        e.qr(&ticket.qr_payload)?;
    }
    e.centered(&ticket.qr_caption, 1, 1, false, 2)?;
    e.feed(10)?;
    e.centered(&ticket.footer, 1, 1, false, 3)?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_penalty_follows_the_standard() {
        // All dark 21x21: N1 19 per line x 42 lines, N2 3 x 400 blocks, N4 10 x 10.
        assert_eq!(qr_penalty(&[true; 21 * 21], 21), 19 * 42 + 1200 + 100);
        // A checkerboard has no runs, blocks or finder patterns and is perfectly balanced.
        let checker: Vec<bool> = (0..21 * 21).map(|i| (i % 21 + i / 21) % 2 == 0).collect();
        assert_eq!(qr_penalty(&checker, 21), 0);
        // One finder-like row pattern next to the edge (light outside) scores 40 horizontally.
        let mut m = checker.clone();
        let row = [true, false, true, true, true, false, true];
        for (k, &d) in row.iter().enumerate() {
            m[k] = d;
        }
        assert!(qr_penalty(&m, 21) >= 40);
    }

    #[test]
    fn qr_matrix_picks_the_smallest_byte_mode_version() {
        let (n, m) = qr_matrix("https://certstamp.example/c/3f2a91c0d4e5b6a7").unwrap();
        assert_eq!(n, 33); // version 4: 46 bytes at EC M
        assert_eq!(m.len(), 33 * 33);
        // Finder pattern corner.
        assert!(m[0] && m[6] && !m[n as usize + 1]);
        assert_eq!(qr_matrix("a").unwrap().0, 21);
        assert!(qr_matrix(&"x".repeat(2332)).is_err());
        assert_eq!(qr_matrix(&"x".repeat(2331)).unwrap().0, 177);
    }

    #[test]
    fn names_wrap_in_cells_with_ink() {
        let scale = TextScale {
            cell_w: 24,
            cell_h: 48,
            bold: 2,
        };
        for name in ["山田太郎", "محمد بن علي", "Zoë", "Дмитрий", "😀 Sam"] {
            for line in paragraph(name, 16, 4) {
                for cl in line.iter().filter(|c| !c.is_space()) {
                    let mut bm = Bitmap::new(48, 48);
                    font::draw_line(&mut bm, 0, 0, std::slice::from_ref(cl), &scale);
                    assert!(
                        bm.count_black() > 50,
                        "{name}: {:?} has {} dots",
                        cl.base,
                        bm.count_black()
                    );
                }
            }
        }
    }
}
