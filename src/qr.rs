//! QR codes for certificate page URLs: an inline SVG (one `<path>`, so it embeds in
//! HTML without an XML header) and a PNG. Error correction M, 4-module quiet zone.

use certstamp_printer::Bitmap;
use qrcode::{Color, EcLevel, QrCode};

use crate::error::{Error, Result};

const QUIET: usize = 4;

fn code(payload: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).map_err(|e| Error::Internal(format!("QR: {e}")))
}

/// A standalone `<svg>` element; `class` lets the page size it.
pub fn svg(payload: &str, class: &str) -> Result<String> {
    let code = code(payload)?;
    let w = code.width();
    let colors = code.to_colors();
    let mut d = String::new();
    for y in 0..w {
        let mut x = 0;
        while x < w {
            if colors[y * w + x] == Color::Dark {
                let start = x;
                while x < w && colors[y * w + x] == Color::Dark {
                    x += 1;
                }
                d.push_str(&format!(
                    "M{} {}h{}v1h-{}z",
                    start + QUIET,
                    y + QUIET,
                    x - start,
                    x - start
                ));
            } else {
                x += 1;
            }
        }
    }
    let size = w + 2 * QUIET;
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{d}"/></svg>"##
    ))
}

/// A standalone SVG document (for `qr.svg`).
pub fn svg_document(payload: &str) -> Result<String> {
    Ok(svg_document_from(&svg(payload, "qr")?))
}

/// Wrap an inline `<svg>` from [`svg`] as a standalone document.
pub fn svg_document_from(inline: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{inline}\n")
}

/// A 1-bit PNG with `scale` pixels per module.
pub fn png(payload: &str, scale: u32) -> Result<Vec<u8>> {
    let code = code(payload)?;
    let w = code.width();
    let colors = code.to_colors();
    let size = (w + 2 * QUIET) as u32 * scale;
    let mut img = Bitmap::new(size, size);
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = ((i % w + QUIET) as u32, (i / w + QUIET) as u32);
            for dy in 0..scale {
                img.fill_span(mx * scale, my * scale + dy, scale);
            }
        }
    }
    Ok(img.to_png())
}

#[cfg(test)]
mod tests {
    #[test]
    fn svg_is_inline_and_png_is_png() {
        let s = super::svg("http://127.0.0.1:8080/c/abc", "qr").unwrap();
        assert!(s.starts_with("<svg") && !s.contains("<?xml"));
        let p = super::png("http://127.0.0.1:8080/c/abc", 4).unwrap();
        assert_eq!(&p[1..4], b"PNG");
    }
}
