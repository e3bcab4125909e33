//! Guestbook rows: one per signing certificate, upserted on every signature.

use rusqlite::{Row, params};

use super::{Store, now_ts};
use crate::error::Result;

/// What a signature writes.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Issuer DN of the signing certificate.
    pub issuer: String,
    /// Its serial, colon hex.
    pub serial: String,
    /// Subject CN.
    pub name: String,
    /// Masked email for display.
    pub email_masked: String,
    /// The validated message.
    pub message: String,
    /// Signed over mutual TLS by the visitor's own client (not through the kiosk).
    pub star: bool,
}

/// A stored entry (also the JSON shape of `/guestbook.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Subject CN.
    pub name: String,
    /// Masked email.
    #[serde(rename = "email")]
    pub email_masked: String,
    /// Latest message.
    pub message: String,
    /// Ever signed with the visitor's own client.
    pub star: bool,
    /// Latest signature, Unix seconds.
    pub signed_at: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        name: r.get(1)?,
        email_masked: r.get(2)?,
        message: r.get(3)?,
        star: r.get(4)?,
        signed_at: r.get(5)?,
    })
}

impl Store {
    /// Insert or update the entry of this certificate. A star, once earned, stays.
    pub async fn upsert_entry(&self, e: NewEntry) -> Result<Entry> {
        self.call(move |conn| {
            let now = now_ts();
            Ok(conn.query_row(
                "INSERT INTO guestbook (issuer, serial, name, email_masked, message, star, created_at, signed_at, rev) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, (SELECT COALESCE(MAX(rev), 0) + 1 FROM guestbook)) \
                 ON CONFLICT (issuer, serial) DO UPDATE SET name = excluded.name, \
                 email_masked = excluded.email_masked, message = excluded.message, \
                 star = MAX(star, excluded.star), signed_at = excluded.signed_at, rev = excluded.rev \
                 RETURNING id, name, email_masked, message, star, signed_at",
                params![e.issuer, e.serial, e.name, e.email_masked, e.message, e.star, now],
                from_row,
            )?)
        })
        .await
    }

    /// One page of entries, newest first, and the total count.
    pub async fn entries_page(&self, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)> {
        self.call(move |conn| {
            let total: i64 = conn.query_row("SELECT COUNT(*) FROM guestbook", [], |r| r.get(0))?;
            let mut stmt = conn.prepare(
                "SELECT id, name, email_masked, message, star, signed_at FROM guestbook \
                 ORDER BY rev DESC, id DESC LIMIT ?1 OFFSET ?2",
            )?;
            let rows = stmt
                .query_map(params![limit, offset as i64], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total as u64))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(serial: &str, message: &str, star: bool) -> NewEntry {
        NewEntry {
            issuer: "CN=int".into(),
            serial: serial.into(),
            name: "Ada".into(),
            email_masked: "a***@x.io".into(),
            message: message.into(),
            star,
        }
    }

    #[tokio::test]
    async fn upsert_keeps_one_entry_per_certificate_and_the_star() {
        let store = Store::in_memory().unwrap();
        let first = store.upsert_entry(entry("01", "hello", true)).await.unwrap();
        let again = store.upsert_entry(entry("01", "again", false)).await.unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(again.message, "again");
        assert!(again.star, "a star once earned stays");
        store.upsert_entry(entry("02", "other", false)).await.unwrap();
        store.upsert_entry(entry("01", "newest", true)).await.unwrap();
        let (page, total) = store.entries_page(10, 0).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(page[0].message, "newest", "a new signature moves the entry to the top");
        let (page, _) = store.entries_page(1, 1).await.unwrap();
        assert_eq!(page.len(), 1);
    }
}
