//! Keyset pagination: a page ends with the sort key of its last row, and the next page
//! starts strictly after it. Unlike `OFFSET`, page 1,000 costs what page 1 costs, and a
//! row added meanwhile neither repeats nor skips a row.

use std::fmt;
use std::str::FromStr;

/// Where a page ended: the sort key (a time or a sequence number) and the id that
/// breaks ties. Written into links as `KEY.ID` (`?after=1767225600.3f2a…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the last row shown.
    pub key: i64,
    /// Its id (tie-breaker among equal keys).
    pub id: String,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.key, self.id)
    }
}

impl FromStr for Cursor {
    type Err = crate::error::Error;

    /// Parse `KEY.ID`; anything else is a 400-style [`Error::Invalid`](crate::error::Error::Invalid).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::error::Error::Invalid("that page link is not valid".into());
        let (key, id) = s.split_once('.').ok_or_else(bad)?;
        let ok_id = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_id {
            return Err(bad());
        }
        Ok(Cursor {
            key: key.parse().map_err(|_| bad())?,
            id: id.to_string(),
        })
    }
}

/// One page of rows, newest first, and where the next one starts (`None` on the last).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass back as `after` for the next page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(&cursor_of) } else { None };
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = Cursor {
            key: 1_767_225_600,
            id: "3f2a9c".into(),
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert_eq!("-5.".parse::<Cursor>().unwrap().key, -5);
        for junk in ["", "12", "x.1", "1.a b", "1.<script>", &format!("1.{}", "a".repeat(65))] {
            assert!(junk.parse::<Cursor>().is_err(), "{junk:?}");
        }
    }

    #[test]
    fn extra_row_means_a_next_page() {
        let key = |n: &i64| Cursor {
            key: *n,
            id: String::new(),
        };
        let p = Page::from_rows(vec![5, 4, 3], 2, key);
        assert_eq!((p.items, p.next.map(|c| c.key)), (vec![5, 4], Some(4)));
        let p = Page::from_rows(vec![5, 4], 2, key);
        assert_eq!((p.items, p.next), (vec![5, 4], None));
    }
}
