//! Guestbook rows in SQLite: one per signing certificate, upserted on every signature.

use rusqlite::{Connection, Row, params};

use crate::error::Result;
use crate::store::guestbook::{Entry, NewEntry};
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};

/// `rev` orders entries: bumped on every signature, so the newest is on top.
pub(super) const UPSERT: &str = "INSERT INTO guestbook \
    (issuer, serial, name, message, star, created_at, signed_at, rev) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, (SELECT COALESCE(MAX(rev), 0) + 1 FROM guestbook)) \
    ON CONFLICT (issuer, serial) DO UPDATE SET name = excluded.name, message = excluded.message, \
    star = MAX(star, excluded.star), signed_at = excluded.signed_at, rev = excluded.rev \
    RETURNING id, name, message, star, signed_at, rev";
pub(super) const AFTER: &str = "SELECT id, name, message, star, signed_at, rev FROM guestbook \
    WHERE rev < ?1 ORDER BY rev DESC LIMIT ?2";
pub(super) const BY_OFFSET: &str = "SELECT id, name, message, star, signed_at, rev FROM guestbook \
    ORDER BY rev DESC LIMIT ?1 OFFSET ?2";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Entry, i64)> {
    Ok((
        Entry {
            id: r.get(0)?,
            name: r.get(1)?,
            message: r.get(2)?,
            star: r.get(3)?,
            signed_at: r.get(4)?,
        },
        r.get(5)?,
    ))
}

pub(super) fn upsert(c: &Connection, e: &NewEntry) -> Result<Entry> {
    let params = params![e.issuer, e.serial, e.name, e.message, e.star, now_ts()];
    Ok(c.prepare_cached(UPSERT)?.query_row(params, from_row)?.0)
}

/// Keyset page: `rev` is unique (one writer bumps it), so it alone is the cursor.
pub(super) fn after(c: &Connection, after: Option<&Cursor>, limit: u32) -> Result<Page<Entry>> {
    let before = after.map_or(i64::MAX, |a| a.key);
    let mut stmt = c.prepare_cached(AFTER)?;
    let rows = stmt
        .query_map(params![before, i64::from(limit) + 1], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let page = Page::from_rows(rows, limit, |(e, rev)| Cursor {
        key: *rev,
        id: e.id.to_string(),
    });
    Ok(Page {
        items: page.items.into_iter().map(|(e, _)| e).collect(),
        next: page.next,
    })
}

pub(super) fn page(c: &Connection, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)> {
    let total = super::counter(c, "guestbook")?;
    let mut stmt = c.prepare_cached(BY_OFFSET)?;
    let rows = stmt
        .query_map(params![limit, offset as i64], from_row)?
        .map(|r| r.map(|(e, _)| e))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}
