//! What the staff console reads and changes, as plain types: which visitors a page
//! lists (a search, or one of the filters), what voiding or forgetting changed, and the
//! reissued links kept sealed until their visitor opens them. The queries are
//! [`Backend`](super::Backend) methods; their SQL lives in `sqlite/staff.rs`.

use super::jobs::Job;

/// Which visitors the console lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Everyone.
    #[default]
    All,
    /// Waiting for the issuer (and not voided).
    Pending,
    /// The issuer refused.
    Failed,
    /// Voided by staff (forgotten ones too).
    Voided,
    /// With a ticket queued, printing, failing or interrupted.
    WaitingToPrint,
}

/// Every filter, in the console's order.
pub const FILTERS: [Filter; 5] = [
    Filter::All,
    Filter::Pending,
    Filter::Failed,
    Filter::Voided,
    Filter::WaitingToPrint,
];

impl Filter {
    /// The filter named in a console URL; anything else is everyone.
    pub fn parse(s: &str) -> Self {
        FILTERS.into_iter().find(|f| f.as_str() == s).unwrap_or_default()
    }

    /// Its name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Pending => "pending",
            Filter::Failed => "failed",
            Filter::Voided => "voided",
            Filter::WaitingToPrint => "printing",
        }
    }

    /// Its label on the console.
    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "All",
            Filter::Pending => "Pending",
            Filter::Failed => "Failed",
            Filter::Voided => "Voided",
            Filter::WaitingToPrint => "Waiting to print",
        }
    }
}

/// How many visitors each filter lists, in [`FILTERS`] order.
pub type FilterCounts = [u64; 5];

/// `LIKE` patterns for a staff search: part of a name, part of an email, or the start of
/// a serial with or without its colons. `None` for an empty search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `%part%` of a name.
    pub name: String,
    /// `%part%` of a lowercase email.
    pub email: String,
    /// `START%` of a colon-hex serial.
    pub serial: String,
    /// `START%` of a serial without colons.
    pub serial_bare: String,
}

/// `LIKE` pattern text with its wildcards escaped (`\` is the escape).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Search {
    /// The patterns for what staff typed (at most 100 characters count).
    pub fn of(typed: &str) -> Option<Self> {
        let q: String = typed.trim().chars().take(100).collect();
        if q.is_empty() {
            return None;
        }
        let bare: String = q
            .chars()
            .filter(|c| !matches!(c, ':' | ' '))
            .collect::<String>()
            .to_ascii_uppercase();
        Some(Search {
            name: format!("%{}%", like_escape(&q)),
            email: format!("%{}%", like_escape(&q.to_lowercase())),
            serial: format!("{}%", like_escape(&q.to_ascii_uppercase())),
            serial_bare: format!("{}%", like_escape(&bare)),
        })
    }
}

/// What voiding or forgetting changed.
#[derive(Debug, Clone)]
pub struct Voided {
    /// The visitor's conference (whose CRL changes).
    pub conference: String,
    /// The backend's object name, for forgetting it there too.
    pub backend_ref: Option<String>,
    /// Open tickets that will not print now.
    pub cancelled: Vec<Job>,
}

/// A reissued link kept for staff to show (sealed with the kiosk's queue key).
#[derive(Debug, Clone)]
pub struct KeptLink {
    /// The new visitor row.
    pub visitor_id: String,
    /// Their name.
    pub name: String,
    /// The sealed page URL.
    pub sealed_url: Vec<u8>,
    /// When it was reissued (Unix seconds).
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_and_searches_escape_wildcards() {
        for f in FILTERS {
            assert_eq!(Filter::parse(f.as_str()), f);
        }
        assert_eq!(Filter::parse("printing"), Filter::WaitingToPrint);
        assert_eq!(Filter::parse("nonsense"), Filter::All);
        assert_eq!(Search::of("   "), None);
        let s = Search::of(" 100%_Zoë ").unwrap();
        assert_eq!(s.name, "%100\\%\\_Zoë%");
        assert_eq!(s.email, "%100\\%\\_zoë%");
        let s = Search::of("7f:0a bc").unwrap();
        assert_eq!((s.serial.as_str(), s.serial_bare.as_str()), ("7F:0A BC%", "7F0ABC%"));
    }
}
