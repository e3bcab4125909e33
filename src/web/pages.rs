//! Page chrome shared by every template.

use crate::app::App;

/// What the base layout needs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Conference name in the header and title.
    pub conference: String,
    /// Cache-busting version of the static assets.
    pub assets: &'static str,
}

impl Layout {
    /// The layout for this kiosk.
    pub fn new(app: &App) -> Self {
        Layout {
            conference: app.settings.conference.name.clone(),
            assets: super::assets::version(),
        }
    }
}

/// The noun that agrees with a count: `one` for 1, else `many` (`0 certificates`).
pub fn noun<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A count with its noun: `0 certificates`, `1 certificate`, `2 certificates`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", noun(n, one, many))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(super::count(0, "ticket", "tickets"), "0 tickets");
        assert_eq!(super::count(1, "ticket", "tickets"), "1 ticket");
        assert_eq!(super::count(2, "entry", "entries"), "2 entries");
    }
}
