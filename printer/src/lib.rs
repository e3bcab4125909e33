//! Ticket layout, ESC/POS encoding, preview raster and printer drivers for certstamp.
//!
//! The crate knows nothing about certificates: [`render`] turns a [`Ticket`] (plain strings, a
//! 32-byte seal seed and a QR payload) into the printer's byte stream plus a 1-bit preview that is
//! the raster the printer produces for those bytes, and [`Driver`] delivers jobs to a spool
//! directory, a USB character device or a raw TCP (port 9100) printer.
//!
//! Rendering is deterministic: no clock, no randomness, no platform maths (see [`seal`]).
#![forbid(unsafe_code)]

mod bitmap;
mod codepage;
pub mod driver;
mod font;
mod profile;
mod render;
pub mod seal;

pub use bitmap::Bitmap;
pub use codepage::CodePage;
pub use driver::{Driver, PrintError, PrinterStatus, PrinterUri, Timeouts};
pub use profile::{Cut, Profile};

/// What goes on a ticket, top to bottom. All text may be in any script.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// Conference name.
    pub title: String,
    /// City (and dates).
    pub subtitle: String,
    /// The certificate's SHA-256 fingerprint; the seal is derived from it.
    pub seal_seed: [u8; 32],
    /// Visitor name, printed large (double size, up to 4 lines, then cut with "...").
    pub name: String,
    /// e.g. "X.509 client certificate - ECDSA P-256".
    pub kind_line: String,
    /// Label/value pairs: Serial, Fingerprint, Issuer, Valid from, Valid to. Two columns when
    /// the labels are short enough, else label above value; at most 16 pairs, 6 lines per value.
    pub fields: Vec<(String, String)>,
    /// URL of the certificate page, printed as a QR code.
    pub qr_payload: String,
    /// Line under the QR code.
    pub qr_caption: String,
    /// Last line(s).
    pub footer: String,
}

/// A rendered ticket: the printer job and its preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The complete ESC/POS job, from ESC @ to the cut.
    pub escpos: Vec<u8>,
    /// What the printer puts on paper, 1 bit per dot; `width() == profile.dots`.
    pub preview: Bitmap,
}

impl Rendered {
    /// The preview as a 1-bit grayscale PNG.
    pub fn preview_png(&self) -> Vec<u8> {
        self.preview.to_png()
    }
}

/// Why a ticket could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile's numbers are inconsistent.
    #[error("invalid printer profile: {0}")]
    Profile(String),
    /// The QR payload does not fit any QR version.
    #[error("QR code: {0}")]
    Qr(String),
    /// The QR code is too wide for the paper even at one dot per module.
    #[error("QR code of {modules} modules does not fit {dots} dots")]
    QrTooWide {
        /// Modules per side.
        modules: u32,
        /// Paper width in dots.
        dots: u32,
    },
    /// The escpos crate refused a command.
    #[error("ESC/POS encoding: {0}")]
    Escpos(String),
}

/// Lays out a ticket for a printer profile and encodes it.
pub fn render(ticket: &Ticket, profile: &Profile) -> Result<Rendered, Error> {
    render::render(ticket, profile)
}

/// A fingerprint as upper-case hex in groups of four digits: `"3A5F 0C21 ..."`.
pub fn fingerprint_hex(fingerprint: &[u8]) -> String {
    let hex: Vec<String> = fingerprint
        .chunks(2)
        .map(|c| c.iter().map(|b| format!("{b:02X}")).collect())
        .collect();
    hex.join(" ")
}

/// A fixed demo ticket (for `certstamp printer test/preview`), pointing its QR at `url`.
pub fn sample_ticket(url: &str) -> Ticket {
    // SHA-256 of "certstamp sample ticket".
    let seal_seed = [
        0xad, 0x31, 0x82, 0xc1, 0xdf, 0x61, 0x17, 0xff, 0x46, 0x79, 0x3c, 0x18, 0xe6, 0xf8, 0x3c, 0xcb, 0x01, 0xd3,
        0x5e, 0x4a, 0x0e, 0x29, 0x05, 0x29, 0xc4, 0xa5, 0x82, 0xd5, 0xde, 0x17, 0x15, 0x17,
    ];
    Ticket {
        title: "Example Conference 2026".into(),
        subtitle: "Amsterdam \u{b7} 23\u{2013}26 March".into(),
        seal_seed,
        name: "Ada Lovelace".into(),
        kind_line: "X.509 client certificate - ECDSA P-256".into(),
        fields: vec![
            ("Serial".into(), "4F:3A:9C:12:7E:01:B5:D2:66:0A".into()),
            ("Fingerprint".into(), fingerprint_hex(&seal_seed)),
            ("Issuer".into(), "certstamp booth CA".into()),
            ("Valid from".into(), "2026-03-23 10:42 UTC".into()),
            ("Valid to".into(), "2026-06-21 10:42 UTC".into()),
        ],
        qr_payload: url.into(),
        qr_caption: "Scan to fetch your certificate".into(),
        footer: "Printed by certstamp. Keep your private key private!".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Ticket>();
        send_sync::<Rendered>();
        send_sync::<Profile>();
        send_sync::<Driver>();
        send_sync::<PrinterUri>();
        send_sync::<PrintError>();
        send_sync::<Error>();
    }

    #[test]
    fn fingerprint_groups() {
        assert_eq!(fingerprint_hex(&[0xab, 0xcd, 0x01]), "ABCD 01");
        assert_eq!(fingerprint_hex(&[0; 32]).len(), 16 * 4 + 15);
    }

    #[test]
    fn every_script_has_ink() {
        for name in [
            "Zoë Ådahl",
            "Αλέξανδρος",
            "Дмитрий",
            "山田太郎",
            "김민준",
            "محمد علي",
            "דוד",
            "Nguyễn",
            "สมชาย",
            "देवनागरी",
            "😀🎉",
            "\u{E000}",
        ] {
            for c in name.chars().filter(|c| !c.is_whitespace()) {
                assert!(font::glyph_ink(c) > 0, "no ink for {c:?} in {name}");
            }
        }
    }
}
