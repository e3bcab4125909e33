//! Guestbook rows in PostgreSQL: one per signing certificate, upserted on every signature.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::error::Result;
use crate::store::guestbook::{Entry, NewEntry};
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};

/// A new signature takes the next `rev` from the sequence (unique across kiosks).
const UPSERT: &str = "INSERT INTO guestbook \
    (issuer, serial, name, message, star, created_at, signed_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) \
    ON CONFLICT (issuer, serial) DO UPDATE SET name = EXCLUDED.name, message = EXCLUDED.message, \
    star = guestbook.star OR EXCLUDED.star, signed_at = EXCLUDED.signed_at, rev = nextval('guestbook_rev') \
    RETURNING id, name, message, star, signed_at, rev";
const AFTER: &str = "SELECT id, name, message, star, signed_at, rev FROM guestbook \
    WHERE rev < $1 ORDER BY rev DESC LIMIT $2";
const BY_OFFSET: &str = "SELECT id, name, message, star, signed_at, rev FROM guestbook \
    ORDER BY rev DESC LIMIT $1 OFFSET $2";

fn from_row(r: &Row) -> (Entry, i64) {
    (
        Entry {
            id: r.get(0),
            name: r.get(1),
            message: r.get(2),
            star: r.get(3),
            signed_at: r.get(4),
        },
        r.get(5),
    )
}

pub(super) async fn upsert<C: GenericClient>(c: &C, e: &NewEntry) -> Result<Entry> {
    let stmt = c.prepare_cached(UPSERT).await?;
    let row = c
        .query_one(&stmt, &[&e.issuer, &e.serial, &e.name, &e.message, &e.star, &now_ts()])
        .await?;
    Ok(from_row(&row).0)
}

pub(super) async fn after<C: GenericClient>(c: &C, after: Option<&Cursor>, limit: u32) -> Result<Page<Entry>> {
    let before = after.map_or(i64::MAX, |a| a.key);
    let stmt = c.prepare_cached(AFTER).await?;
    let rows: Vec<(Entry, i64)> = c
        .query(&stmt, &[&before, &(i64::from(limit) + 1)])
        .await?
        .iter()
        .map(from_row)
        .collect();
    let page = Page::from_rows(rows, limit, |(e, rev)| Cursor {
        key: *rev,
        id: e.id.to_string(),
    });
    Ok(Page {
        items: page.items.into_iter().map(|(e, _)| e).collect(),
        next: page.next,
    })
}

pub(super) async fn page<C: GenericClient>(c: &C, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)> {
    let total = super::counter(c, "guestbook").await?;
    let stmt = c.prepare_cached(BY_OFFSET).await?;
    let rows = c
        .query(&stmt, &[&i64::from(limit), &(offset.min(i64::MAX as u64) as i64)])
        .await?
        .iter()
        .map(|r| from_row(r).0)
        .collect();
    Ok((rows, total))
}

/// Every statement above, by name, for the query-plan test.
#[cfg(test)]
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("guestbook::UPSERT", UPSERT),
    ("guestbook::AFTER", AFTER),
    ("guestbook::BY_OFFSET", BY_OFFSET),
];
