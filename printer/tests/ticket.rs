//! The ticket byte stream, decoded back and checked against the preview, the golden files and the
//! real `zbarimg`.

use certstamp_printer::{Bitmap, Profile, Rendered, Ticket, render, sample_ticket};
use std::path::{Path, PathBuf};
use std::process::Command;

const URL: &str = "https://certstamp.example/c/3f2a91c0d4e5b6a7";

/// One ESC/POS command as our decoder sees it.
#[derive(Debug, Clone, PartialEq)]
enum Cmd {
    Init,
    CodePage(u8),
    MotionUnits(u8, u8),
    Justify(u8),
    Bold(u8),
    Size(u8),
    LineSpacing(u8),
    FeedLines(u8),
    FeedDots(u8),
    Text(Vec<u8>),
    /// GS ( k: cn, fn and the parameter bytes after them.
    Code2d {
        cn: u8,
        func: u8,
        params: Vec<u8>,
    },
    Raster {
        xbytes: usize,
        rows: usize,
        data: Vec<u8>,
    },
    Cut {
        m: u8,
        n: u8,
    },
}

/// Decodes ESC/GS commands with fixed argument lengths, GS ( k with pL pH, and GS v 0.
fn decode(bytes: &[u8]) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut i = 0;
    let arg = |i: usize| -> u8 { *bytes.get(i).unwrap_or_else(|| panic!("truncated command at {i}")) };
    while i < bytes.len() {
        match bytes[i] {
            0x1b => {
                let c = arg(i + 1);
                match c {
                    b'@' => {
                        out.push(Cmd::Init);
                        i += 2;
                    }
                    b't' => {
                        out.push(Cmd::CodePage(arg(i + 2)));
                        i += 3;
                    }
                    b'a' => {
                        out.push(Cmd::Justify(arg(i + 2)));
                        i += 3;
                    }
                    b'E' => {
                        out.push(Cmd::Bold(arg(i + 2)));
                        i += 3;
                    }
                    b'3' => {
                        out.push(Cmd::LineSpacing(arg(i + 2)));
                        i += 3;
                    }
                    b'd' => {
                        out.push(Cmd::FeedLines(arg(i + 2)));
                        i += 3;
                    }
                    b'J' => {
                        out.push(Cmd::FeedDots(arg(i + 2)));
                        i += 3;
                    }
                    other => panic!("unknown ESC {other:#x} at {i}"),
                }
            }
            0x1d => {
                let c = arg(i + 1);
                match c {
                    b'P' => {
                        out.push(Cmd::MotionUnits(arg(i + 2), arg(i + 3)));
                        i += 4;
                    }
                    b'!' => {
                        out.push(Cmd::Size(arg(i + 2)));
                        i += 3;
                    }
                    b'V' => {
                        let m = arg(i + 2);
                        if m >= 65 {
                            out.push(Cmd::Cut { m, n: arg(i + 3) });
                            i += 4;
                        } else {
                            out.push(Cmd::Cut { m, n: 0 });
                            i += 3;
                        }
                    }
                    b'(' => {
                        assert_eq!(arg(i + 2), b'k', "only GS ( k expected");
                        let len = usize::from(arg(i + 3)) | usize::from(arg(i + 4)) << 8;
                        let body = &bytes[i + 5..i + 5 + len];
                        out.push(Cmd::Code2d {
                            cn: body[0],
                            func: body[1],
                            params: body[2..].to_vec(),
                        });
                        i += 5 + len;
                    }
                    b'v' => {
                        assert_eq!(arg(i + 2), b'0');
                        assert_eq!(arg(i + 3), 0, "normal density");
                        let xbytes = usize::from(arg(i + 4)) | usize::from(arg(i + 5)) << 8;
                        let rows = usize::from(arg(i + 6)) | usize::from(arg(i + 7)) << 8;
                        let data = bytes[i + 8..i + 8 + xbytes * rows].to_vec();
                        out.push(Cmd::Raster { xbytes, rows, data });
                        i += 8 + xbytes * rows;
                    }
                    other => panic!("unknown GS {other:#x} at {i}"),
                }
            }
            0x00..=0x1a | 0x1c | 0x1e | 0x1f | 0x7f => {
                panic!("unexpected control byte {:#x} at {i}", bytes[i])
            }
            _ => {
                let start = i;
                while i < bytes.len() && bytes[i] >= 0x20 && bytes[i] != 0x7f {
                    i += 1;
                }
                out.push(Cmd::Text(bytes[start..i].to_vec()));
            }
        }
    }
    out
}

/// What a printer following our model puts on paper: rasters at their place, native text lines
/// and QR codes as records, and the paper length.
struct Paper {
    canvas: Bitmap,
    lines: Vec<(u32, String)>,
    qr: Vec<(u32, String, u8)>,
    /// Row ranges drawn by the printer's own font or QR generator.
    native: Vec<(u32, u32)>,
    height: u32,
    cut: Option<(u8, u8)>,
}

fn qr_side(payload: &str) -> u32 {
    use qrcode::{EcLevel, QrCode, Version, bits::Bits};
    (1..=40)
        .find_map(|v| {
            let mut b = Bits::new(Version::Normal(v));
            (b.push_byte_data(payload.as_bytes()).is_ok() && b.push_terminator(EcLevel::M).is_ok())
                .then(|| QrCode::with_bits(b, EcLevel::M).unwrap().width() as u32)
        })
        .unwrap()
}

fn simulate(profile: &Profile, cmds: &[Cmd]) -> Paper {
    let mut canvas = Bitmap::new(profile.dots, 4000);
    let (mut y, mut spacing, mut line) = (0u32, 30u32, String::new());
    let mut lines = Vec::new();
    let mut qr = Vec::new();
    let mut qr_data = String::new();
    let mut qr_size = 3u8;
    let mut code_page = None;
    let mut cut = None;
    let mut native = Vec::new();
    for c in cmds {
        assert!(cut.is_none(), "command after the cut: {c:?}");
        match c {
            Cmd::CodePage(n) => code_page = Some(*n),
            Cmd::LineSpacing(n) => spacing = u32::from(*n),
            Cmd::Text(t) => {
                let cp = match code_page.expect("code page selected before text") {
                    0 => certstamp_printer::CodePage::Cp437,
                    16 => certstamp_printer::CodePage::Wpc1252,
                    19 => certstamp_printer::CodePage::Cp858,
                    n => panic!("code page {n}"),
                };
                line.extend(t.iter().map(|&b| cp.decode(b).expect("printable byte")));
            }
            Cmd::FeedLines(n) => {
                lines.push((y, std::mem::take(&mut line)));
                native.push((y, y + u32::from(*n) * spacing));
                y += u32::from(*n) * spacing;
            }
            Cmd::FeedDots(n) => {
                assert!(line.is_empty(), "ESC J with pending text");
                y += u32::from(*n);
            }
            Cmd::Raster { xbytes, rows, data } => {
                assert!(line.is_empty(), "raster with pending text");
                let mut band = Bitmap::new((*xbytes * 8) as u32, *rows as u32);
                for r in 0..*rows {
                    for x in 0..xbytes * 8 {
                        if data[r * xbytes + x / 8] & (0x80 >> (x % 8)) != 0 {
                            band.set(x as u32, r as u32, true);
                        }
                    }
                }
                canvas.blit(&band, 0, i64::from(y));
                y += *rows as u32;
            }
            Cmd::Code2d { cn: 49, func, params } => match func {
                65 => assert_eq!(params, &[50, 0], "QR model 2"),
                67 => qr_size = params[0],
                69 => assert_eq!(params, &[49], "error correction M"),
                80 => {
                    assert_eq!(params[0], 48);
                    qr_data = String::from_utf8(params[1..].to_vec()).unwrap();
                }
                81 => {
                    qr.push((y, qr_data.clone(), qr_size));
                    let side = qr_side(&qr_data) * u32::from(qr_size);
                    native.push((y, y + side));
                    y += side;
                }
                f => panic!("QR function {f}"),
            },
            Cmd::Cut { m, n } => cut = Some((*m, *n)),
            Cmd::Init | Cmd::MotionUnits(..) | Cmd::Justify(_) | Cmd::Bold(_) | Cmd::Size(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(line.is_empty(), "text never printed");
    Paper {
        canvas,
        lines,
        qr,
        native,
        height: y,
        cut,
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("certstamp-printer");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs the real zbarimg on an image file; returns the decoded payloads.
fn zbarimg(path: &Path) -> Vec<String> {
    let out = match Command::new("zbarimg").args(["-q", "--raw"]).arg(path).output() {
        Ok(out) => out,
        Err(e) => {
            panic!("zbarimg not runnable ({e}): install it with `apt-get install zbar-tools` (these tests never skip)")
        }
    };
    assert!(
        out.status.success(),
        "zbarimg found no symbol in {} ({:?})",
        path.display(),
        out.status
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn profile(name: &str) -> Profile {
    Profile::by_name(name).unwrap()
}

fn rendered(name: &str) -> (Profile, Rendered) {
    let p = profile(name);
    let r = render(&sample_ticket(URL), &p).unwrap();
    (p, r)
}

#[test]
fn stream_structure_80mm() {
    let (p, r) = rendered("80mm");
    let cmds = decode(&r.escpos);
    assert_eq!(cmds[0], Cmd::Init);
    assert_eq!(cmds[1], Cmd::MotionUnits(203, 203));
    assert_eq!(cmds[2], Cmd::CodePage(16));
    assert_eq!(cmds.last(), Some(&Cmd::Cut { m: 66, n: 0 }), "partial cut");
    let paper = simulate(&p, &cmds);
    let texts: Vec<&str> = paper.lines.iter().map(|(_, t)| t.as_str()).collect();
    for want in [
        "Example Conference 2026",
        "Amsterdam \u{b7} 23\u{2013}26 March",
        "Ada Lovelace",
        "X.509 client certificate - ECDSA P-256",
        "Issuer      certstamp booth CA",
        "Valid from  2026-03-23 10:42 UTC",
        "Scan to fetch your certificate",
    ] {
        assert!(texts.contains(&want), "missing text line {want:?} in {texts:#?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("Fingerprint AD31 82C1")));
    // Native QR carrying the URL, at the profile's module size.
    assert_eq!(paper.qr.len(), 1);
    assert_eq!(paper.qr[0].1, URL);
    assert_eq!(u32::from(paper.qr[0].2), p.qr_module);
    assert_eq!(paper.cut, Some((66, 0)));
    assert!(r.escpos.len() < 24 * 1024, "80 mm ticket is {} bytes", r.escpos.len());
}

#[test]
fn stream_structure_58mm() {
    let (p, r) = rendered("58mm");
    let cmds = decode(&r.escpos);
    assert_eq!(cmds[..3], [Cmd::Init, Cmd::MotionUnits(203, 203), Cmd::CodePage(0)]);
    assert_eq!(cmds.last(), Some(&Cmd::Cut { m: 65, n: 0 }), "full cut");
    assert!(
        !cmds.iter().any(|c| matches!(c, Cmd::Code2d { .. })),
        "58mm profile has no native QR"
    );
    let paper = simulate(&p, &cmds);
    let texts: Vec<&str> = paper.lines.iter().map(|(_, t)| t.as_str()).collect();
    assert!(texts.contains(&"Ada Lovelace"));
    // CP437 has no en dash, so the subtitle went out as raster, not as '?'.
    assert!(!texts.iter().any(|t| t.contains("Amsterdam")), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains('?')));
    // The raster QR, cut out of the byte stream as a PBM, decodes to the URL.
    let pbm = tmp("58mm-stream.pbm");
    std::fs::write(&pbm, paper.canvas.crop(0, paper.height, p.dots).to_pbm()).unwrap();
    assert_eq!(zbarimg(&pbm), [URL]);
}

/// Every raster dot in the stream sits where the preview has it, and the paper is as long as
/// the preview.
#[test]
fn preview_matches_stream() {
    for name in Profile::names() {
        let (p, r) = rendered(name);
        let paper = simulate(&p, &decode(&r.escpos));
        assert_eq!(r.preview.width(), p.dots);
        assert_eq!(paper.height + p.cut_feed, r.preview.height(), "{name}: paper length");
        // Outside native text and QR, the preview is exactly the stream's raster.
        let mut native_rows = vec![false; r.preview.height() as usize];
        for (a, b) in &paper.native {
            native_rows[*a as usize..*b as usize].fill(true);
        }
        let mut compared = 0;
        for y in 0..paper.height {
            if native_rows[y as usize] {
                continue;
            }
            assert_eq!(paper.canvas.row(y), r.preview.row(y), "{name}: row {y} differs");
            compared += 1;
        }
        assert!(compared > 300, "{name}: only {compared} rows compared");
        // And every raster row of the stream is in the preview.
        for y in 0..paper.height {
            for (a, b) in paper.canvas.row(y).iter().zip(r.preview.row(y)) {
                assert_eq!(a & !b, 0, "{name}: stream dot missing from preview at row {y}");
            }
        }
    }
}

#[test]
fn preview_png_qr_decodes_with_zbarimg() {
    for name in Profile::names() {
        let (_, r) = rendered(name);
        let png = r.preview_png();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(png[24], 1, "{name}: 1-bit PNG");
        let back = Bitmap::from_png(&png).unwrap();
        assert_eq!(back, r.preview);
        let path = tmp(&format!("{name}-preview.png"));
        std::fs::write(&path, &png).unwrap();
        assert_eq!(zbarimg(&path), [URL], "{name}");
    }
}

#[test]
fn rendering_is_deterministic() {
    for name in Profile::names() {
        let (p, a) = rendered(name);
        let b = render(&sample_ticket(URL), &p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.preview_png(), b.preview_png());
    }
}

/// Byte-exact golden files; `CERTSTAMP_BLESS=1 cargo test -p certstamp-printer` rewrites them.
#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("CERTSTAMP_BLESS").is_some_and(|v| v == "1");
    for name in Profile::names() {
        let (_, r) = rendered(name);
        let bin = dir.join(format!("{name}.bin"));
        let png = dir.join(format!("{name}.png"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&bin, &r.escpos).unwrap();
            std::fs::write(&png, r.preview_png()).unwrap();
            continue;
        }
        let want =
            std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}; create it with CERTSTAMP_BLESS=1", bin.display()));
        assert!(
            want == r.escpos,
            "{name}: ESC/POS differs from {} ({} vs {} bytes); if intended, rerun with CERTSTAMP_BLESS=1",
            bin.display(),
            r.escpos.len(),
            want.len()
        );
        // PNG bytes depend on the deflate implementation; compare pixels.
        let want = Bitmap::from_png(&std::fs::read(&png).unwrap()).unwrap();
        assert!(want == r.preview, "{name}: preview differs from {}", png.display());
    }
}

fn ticket_with_name(name: &str) -> Ticket {
    let mut t = sample_ticket(URL);
    t.name = name.to_string();
    t
}

/// The names' rows in the preview: render once with the name and once without and diff.
fn name_ink(p: &Profile, name: &str) -> (Rendered, u64) {
    let with = render(&ticket_with_name(name), p).unwrap();
    let ink = with.preview.count_black();
    let without = render(&ticket_with_name(""), p).unwrap().preview.count_black();
    (with, ink.saturating_sub(without))
}

#[test]
fn names_in_every_script_render_legibly() {
    let names = [
        ("latin", "Zoë Ådahl-Ørsted"),
        ("polish", "Łukasz Żółć"),
        ("greek", "Αλέξανδρος Παπαδόπουλος"),
        ("cyrillic", "Дмитрий Шостакович"),
        ("cjk", "山田太郎"),
        ("hangul", "김민준"),
        ("arabic", "محمد بن علي"),
        ("hebrew", "דוד כהן"),
        ("vietnamese", "Nguyễn Thị Minh Khai"),
        ("thai", "สมชาย ใจดี"),
        ("emoji", "Sam 😀🎉"),
        ("zwj-emoji", "👩‍💻 Kim"),
        ("mixed", "José 李 Müller"),
        ("decomposed", "Zoe\u{308} Ame\u{301}lie"),
        (
            "long",
            "Maria Anna Sophia Theresia von Hohenzollern-Sigmaringen und Wittelsbach",
        ),
    ];
    for p in Profile::names().iter().map(|n| profile(n)) {
        // A contact sheet of the name rows, to look at: target/tmp/certstamp-printer/names-*.png
        let blank = render(&ticket_with_name(""), &p).unwrap().preview;
        let mut sheet = Bitmap::new(p.dots, 0);
        for (label, name) in names {
            let (r, ink) = name_ink(&p, name);
            let first = (0..blank.height()).find(|&y| r.preview.row(y) != blank.row(y)).unwrap();
            let grown = r.preview.height() - blank.height();
            let mut part = r.preview.crop(first.saturating_sub(4), first + grown + 8, p.dots);
            part.fill_span(0, part.height() - 1, p.dots);
            let mut grown_sheet = Bitmap::new(p.dots, sheet.height() + part.height());
            grown_sheet.blit(&sheet, 0, 0);
            grown_sheet.blit(&part, 0, i64::from(sheet.height()));
            sheet = grown_sheet;
            let visible = name.chars().filter(|c| !c.is_whitespace()).count() as u64;
            // At 2x, every glyph leaves dozens of dots; a blank or '?' rendering would not.
            assert!(
                ink > 40 * visible.min(20),
                "{}/{label}: only {ink} dots for {name:?}",
                p.name
            );
            let cmds = decode(&r.escpos);
            let paper = simulate(&p, &cmds);
            assert!(
                !paper.lines.iter().any(|(_, t)| t.contains('?')),
                "{}/{label}: '?' in native text",
                p.name
            );
            if name.chars().all(|c| p.code_page.encode(c).is_some()) && label != "long" {
                assert!(
                    paper.lines.iter().any(|(_, t)| t == name),
                    "{}/{label}: should be native",
                    p.name
                );
            }
        }
        std::fs::write(tmp(&format!("names-{}.png", p.name)), sheet.to_png()).unwrap();
    }
}

#[test]
fn hostile_input_does_not_panic() {
    let p = profile("58mm");
    let mut t = sample_ticket(URL);
    t.title = "\u{0}\u{7}\u{1b}@\u{1d}V\n\t\r".repeat(50);
    t.name = "\u{301}\u{301}\u{301}\u{301}".repeat(30) + &"W".repeat(500);
    t.kind_line = "x".repeat(10_000);
    t.fields = (0..40)
        .map(|i| (format!("L{i}").repeat(30), "v ".repeat(400)))
        .collect();
    t.footer = "\u{10FFFF}\u{E0001}\u{FEFF}\u{202E}".repeat(100);
    let r = render(&t, &p).unwrap();
    // Control characters in text never reach the printer as commands.
    let cmds = decode(&r.escpos);
    assert_eq!(cmds.iter().filter(|c| matches!(c, Cmd::Cut { .. })).count(), 1);
    assert_eq!(cmds.iter().filter(|c| **c == Cmd::Init).count(), 1);
    // A payload too long for any QR code is an error, not a panic.
    t.qr_payload = "x".repeat(5000);
    assert!(render(&t, &p).is_err());
}

/// The size target holds even when the name is four lines of raster (non-Latin, longest allowed).
#[test]
fn worst_case_80mm_ticket_stays_under_24_kib() {
    let p = profile("80mm");
    for name in [
        "Дмитрий Дмитриевич Шостакович-Петров-Водкин Ивановский Старший",
        &"山".repeat(60),
    ] {
        let r = render(&ticket_with_name(name), &p).unwrap();
        let rasters = decode(&r.escpos)
            .iter()
            .filter(|c| matches!(c, Cmd::Raster { .. }))
            .count();
        assert!(rasters >= 4, "{name}: expected a raster name");
        assert!(r.escpos.len() < 24 * 1024, "{name}: {} bytes", r.escpos.len());
    }
}
