//! Printer profiles, embedded from `printer/profiles/*.toml`.

use crate::codepage::CodePage;
use serde::Deserialize;
use std::sync::LazyLock;

/// How the ticket is cut off the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cut {
    /// GS V 65 0: feed to the cutter, full cut.
    Full,
    /// GS V 66 0: feed to the cutter, partial cut (one tab holds the ticket).
    Partial,
    /// No cutter: tear-off printers.
    None,
}

/// What the layout needs to know about a printer and its paper.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name used in configuration (`80mm`, `58mm`).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Printable width in dots; also the preview width.
    pub dots: u32,
    /// Resolution in dots per inch (motion units are set to 1/dpi inch).
    pub dpi: u32,
    /// Code page selected with ESC t; text it cannot encode goes out as raster.
    pub code_page: CodePage,
    /// Whether the printer draws QR codes itself (GS ( k); otherwise the QR is sent as raster.
    pub native_qr: bool,
    /// Cutter command.
    pub cut: Cut,
    /// Font A cell width in dots.
    pub font_width: u32,
    /// Font A cell height in dots.
    pub font_height: u32,
    /// Font A characters per line (`dots / font_width`).
    pub chars_per_line: u32,
    /// Line pitch for 1x text in dots (ESC 3 n).
    pub line_spacing: u32,
    /// QR module size in dots (GS ( k size), reduced automatically when the code is too wide.
    pub qr_module: u32,
    /// Seal diameter in dots.
    pub seal_size: u32,
    /// Paper fed before the cut (by the printer, through GS V); drawn in the preview only.
    pub cut_feed: u32,
}

const SOURCES: &[&str] = &[
    include_str!("../profiles/80mm.toml"),
    include_str!("../profiles/58mm.toml"),
];

const NAMES: &[&str] = &["80mm", "58mm"];

static PROFILES: LazyLock<Vec<Profile>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|src| {
            // Embedded at compile time and checked by the tests, so this cannot fail at run time.
            let p: Profile = toml::from_str(src).expect("embedded printer profile is valid TOML");
            p.validate().expect("embedded printer profile is consistent");
            p
        })
        .collect()
});

impl Profile {
    /// A built-in profile by name (`"80mm"` or `"58mm"`).
    pub fn by_name(name: &str) -> Option<Profile> {
        PROFILES.iter().find(|p| p.name == name).cloned()
    }

    /// Names of the built-in profiles.
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    /// Parses a profile from TOML text (same schema as the built-in files).
    pub fn from_toml(text: &str) -> Result<Profile, String> {
        let p: Profile = toml::from_str(text).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the numbers against each other and the ESC/POS argument ranges.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |m: &str| Err(format!("profile {}: {m}", self.name));
        if self.dots == 0 || !self.dots.is_multiple_of(8) || self.dots > 2040 {
            return fail("dots must be a positive multiple of 8, at most 2040");
        }
        if self.dpi == 0 || self.dpi > 255 {
            return fail("dpi must be 1..=255 (GS P argument)");
        }
        if self.font_width == 0 || self.font_height == 0 {
            return fail("font cell must be non-empty");
        }
        if self.chars_per_line != self.dots / self.font_width {
            return fail("chars_per_line must equal dots / font_width");
        }
        if self.line_spacing < self.font_height || 2 * self.line_spacing > 255 {
            return fail("line_spacing must be >= font_height and fit ESC 3 at double height");
        }
        if !(1..=15).contains(&self.qr_module) {
            return fail("qr_module must be 1..=15");
        }
        if self.seal_size == 0 || self.seal_size > self.dots {
            return fail("seal_size must fit the paper");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_match_names() {
        assert_eq!(SOURCES.len(), NAMES.len());
        for name in Profile::names() {
            let p = Profile::by_name(name).unwrap();
            assert_eq!(&p.name, name);
            assert_eq!(p.dpi, 203);
        }
        assert_eq!(Profile::by_name("80mm").unwrap().dots, 576);
        assert_eq!(Profile::by_name("58mm").unwrap().dots, 384);
        assert!(Profile::by_name("110mm").is_none());
    }

    #[test]
    fn bad_profiles_are_rejected() {
        let src = include_str!("../profiles/80mm.toml");
        assert!(Profile::from_toml(src).is_ok());
        let bad = src.replace("chars_per_line = 48", "chars_per_line = 42");
        assert!(Profile::from_toml(&bad).unwrap_err().contains("chars_per_line"));
        let bad = src.replace("cut = \"partial\"", "cut = \"sideways\"");
        assert!(Profile::from_toml(&bad).is_err());
        let bad = format!("{src}\nbogus = 1\n");
        assert!(Profile::from_toml(&bad).is_err());
    }
}
