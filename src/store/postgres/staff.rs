//! The staff console's queries in PostgreSQL: filtered pages and their counts, a search,
//! voiding and forgetting (each one transaction, so all of it or nothing), kept links,
//! the CRL's serials, and the queue as staff see it. Pages run in arrival order:
//! `(created_at, seq)`, `seq` from an identity column as SQLite's rowid.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{jobs, visitors};
use crate::error::Result;
use crate::revocation::Revoked;
use crate::store::jobs::Job;
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};
use crate::store::staff::{Filter, FilterCounts, KeptLink, Search, Voided};
use crate::store::visitors::Visitor;

/// Newest first in arrival order after the cursor `($1, $2)`, at most `$3`; `seq` last.
macro_rules! page {
    ($where:literal) => {
        concat!(
            "SELECT ",
            visitors::columns!(),
            ", seq FROM visitors WHERE ",
            $where,
            " AND (created_at, seq) < ($1, $2) ORDER BY created_at DESC, seq DESC LIMIT $3"
        )
    };
}
const PAGE_ALL: &str = page!("TRUE");
const PAGE_PENDING: &str = page!("state = 'pending' AND voided_at IS NULL");
const PAGE_FAILED: &str = page!("state = 'failed'");
const PAGE_VOIDED: &str = page!("voided_at IS NOT NULL");
/// Visitors with a ticket still on its way (the queue is short).
const PAGE_WAITING: &str = page!(
    "EXISTS (SELECT 1 FROM print_jobs j WHERE j.visitor_id = visitors.id \
     AND j.state IN ('queued', 'printing', 'failed', 'interrupted'))"
);
/// No index finds part of a name: it walks newest first and stops once a page is full.
/// Names match regardless of case, as SQLite's `LIKE` does (and beyond ASCII).
const SEARCH: &str = page!("(name ILIKE $4 OR email_lc LIKE $5 OR serial LIKE $6 OR REPLACE(serial, ':', '') LIKE $7)");
/// Every visitor ever, from the per-conference counters.
const COUNT_ALL: &str = "SELECT COALESCE(SUM(n), 0)::BIGINT FROM counters WHERE key LIKE 'visitors:%'";
const COUNT_PENDING: &str = "SELECT COUNT(*) FROM visitors WHERE state = 'pending' AND voided_at IS NULL";
const COUNT_FAILED: &str = "SELECT COUNT(*) FROM visitors WHERE state = 'failed'";
const COUNT_VOIDED: &str = "SELECT COUNT(*) FROM visitors WHERE voided_at IS NOT NULL";
const COUNT_WAITING: &str = "SELECT COUNT(DISTINCT visitor_id) FROM print_jobs \
    WHERE state IN ('queued', 'printing', 'failed', 'interrupted')";
/// Jobs in some states, newest first, each with its visitor's name.
macro_rules! jobs_in {
    ($states:literal) => {
        concat!(
            "SELECT ",
            jobs::columns!(),
            ", (SELECT name FROM visitors v WHERE v.id = print_jobs.visitor_id) FROM print_jobs \
             WHERE state IN ",
            $states,
            " ORDER BY id DESC LIMIT $1"
        )
    };
}
const OPEN_JOBS: &str = jobs_in!("('queued', 'printing', 'failed', 'interrupted')");
const DONE_JOBS: &str = jobs_in!("('printed', 'cancelled')");
const VOID_ROW: &str = "UPDATE visitors SET voided_at = $2, sealed_key = NULL WHERE id = $1 AND voided_at IS NULL";
const FORGET_ROW: &str = "UPDATE visitors SET email = NULL, email_lc = NULL, sealed_key = NULL, \
    cert_pem = NULL, purged_at = $2, voided_at = COALESCE(voided_at, $2) WHERE id = $1 AND purged_at IS NULL";
/// A forgotten visitor's guestbook entries go with their email (their certificate signed them).
const FORGET_ENTRIES: &str =
    "DELETE FROM guestbook WHERE serial = (SELECT serial FROM visitors WHERE id = $1 AND serial IS NOT NULL)";
const CANCEL_OPEN_JOBS: &str = concat!(
    "UPDATE print_jobs SET state = 'cancelled', last_error = $2, updated_at = $3 \
     WHERE visitor_id = $1 AND state IN ('queued', 'failed', 'interrupted') RETURNING ",
    jobs::columns!()
);
const DROP_PAYLOADS: &str =
    "UPDATE print_jobs SET payload = NULL WHERE visitor_id = $1 AND state != 'printing' AND payload IS NOT NULL";
const CONFERENCE_OF: &str = "SELECT conference, backend_ref FROM visitors WHERE id = $1";
const PUT_LINK: &str = "INSERT INTO kept_links (visitor_id, sealed_url, created_at) VALUES ($1, $2, $3) \
    ON CONFLICT (visitor_id) DO UPDATE SET sealed_url = excluded.sealed_url, created_at = excluded.created_at";
const TAKE_LINK: &str = "DELETE FROM kept_links WHERE visitor_id = $1";
/// Links still waiting for their visitor: few, and dropped when opened.
const LINKS: &str = "SELECT h.visitor_id, v.name, h.sealed_url, h.created_at FROM kept_links h \
    JOIN visitors v ON v.id = h.visitor_id ORDER BY h.created_at LIMIT $1";
const REVOKED: &str = "SELECT serial, voided_at FROM visitors \
    WHERE conference = $1 AND voided_at IS NOT NULL AND serial IS NOT NULL ORDER BY voided_at";
const RETRY: &str = "UPDATE print_jobs SET next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state = 'failed'";
/// Only a job no worker has started: one being sent stays where it is.
const MOVE: &str = "UPDATE print_jobs SET printer = $2, next_attempt_at = $3, updated_at = $3 \
    WHERE id = $1 AND state IN ('queued', 'failed')";

/// Kept links shown at most (the console shows the oldest first).
const MOST_LINKS: i64 = 20;

async fn exec<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, p).await?)
}

/// One page of visitors for a filter or a search, newest first in arrival order.
pub(super) async fn page<C: GenericClient>(
    c: &C,
    filter: Filter,
    search: Option<&Search>,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<Visitor>> {
    let (key, seq) = match after {
        Some(a) => (a.key, a.id.parse::<i64>().unwrap_or(i64::MAX)),
        None => (i64::MAX, i64::MAX),
    };
    let fetch = i64::from(limit) + 1;
    let cursor: [&(dyn ToSql + Sync); 3] = [&key, &seq, &fetch];
    let (sql, params): (&str, Vec<&(dyn ToSql + Sync)>) = match (search, filter) {
        (Some(s), _) => {
            let mut p = cursor.to_vec();
            p.extend([&s.name as &(dyn ToSql + Sync), &s.email, &s.serial, &s.serial_bare]);
            (SEARCH, p)
        }
        (None, Filter::All) => (PAGE_ALL, cursor.to_vec()),
        (None, Filter::Pending) => (PAGE_PENDING, cursor.to_vec()),
        (None, Filter::Failed) => (PAGE_FAILED, cursor.to_vec()),
        (None, Filter::Voided) => (PAGE_VOIDED, cursor.to_vec()),
        (None, Filter::WaitingToPrint) => (PAGE_WAITING, cursor.to_vec()),
    };
    let stmt = c.prepare_cached(sql).await?;
    let rows: Vec<(Visitor, i64)> = c
        .query(&stmt, &params)
        .await?
        .iter()
        .map(|r| (visitors::from_row(r), r.get::<_, i64>("seq")))
        .collect();
    let page = Page::from_rows(rows, limit, |(v, seq)| Cursor {
        key: v.created_at,
        id: seq.to_string(),
    });
    Ok(Page {
        items: page.items.into_iter().map(|(v, _)| v).collect(),
        next: page.next,
    })
}

/// How many each filter lists.
pub(super) async fn counts<C: GenericClient>(c: &C) -> Result<FilterCounts> {
    let mut out = [0u64; 5];
    for (n, sql) in out
        .iter_mut()
        .zip([COUNT_ALL, COUNT_PENDING, COUNT_FAILED, COUNT_VOIDED, COUNT_WAITING])
    {
        let stmt = c.prepare_cached(sql).await?;
        *n = c.query_one(&stmt, &[]).await?.get::<_, i64>(0).max(0) as u64;
    }
    Ok(out)
}

async fn jobs_in<C: GenericClient>(c: &C, sql: &str, limit: i64) -> Result<Vec<(Job, String)>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, &[&limit])
        .await?
        .iter()
        .map(|r| (jobs::from_row(r), r.get::<_, Option<String>>(10).unwrap_or_default()))
        .collect())
}

/// The queue as staff see it: every job still open or interrupted, newest first, then
/// the `done` newest printed or cancelled ones.
pub(super) async fn console_jobs<C: GenericClient>(c: &C, done: u32) -> Result<Vec<(Job, String)>> {
    let mut all = jobs_in(c, OPEN_JOBS, i64::MAX).await?;
    all.extend(jobs_in(c, DONE_JOBS, i64::from(done)).await?);
    Ok(all)
}

/// Cancel the visitor's open tickets (their link is dead), drop every sealed link, and
/// say what changed.
async fn retire<C: GenericClient>(c: &C, id: &str, reason: &str, now: i64) -> Result<Voided> {
    let stmt = c.prepare_cached(CANCEL_OPEN_JOBS).await?;
    let cancelled = c
        .query(&stmt, &[&id, &reason, &now])
        .await?
        .iter()
        .map(jobs::from_row)
        .collect();
    exec(c, DROP_PAYLOADS, &[&id]).await?;
    exec(c, TAKE_LINK, &[&id]).await?;
    let stmt = c.prepare_cached(CONFERENCE_OF).await?;
    let row = c.query_one(&stmt, &[&id]).await?;
    Ok(Voided {
        conference: row.get(0),
        backend_ref: row.get(1),
        cancelled,
    })
}

/// Void, in the caller's transaction: key deleted, tickets cancelled, link dropped;
/// `None` if already voided or unknown (of two kiosks voiding at once, one does it).
pub(super) async fn void<C: GenericClient>(c: &C, id: &str, reason: &str) -> Result<Option<Voided>> {
    let now = now_ts();
    if exec(c, VOID_ROW, &[&id, &now]).await? == 0 {
        return Ok(None);
    }
    // The old row version still holds the sealed key until the tables are rewritten.
    super::erase::owe(c).await?;
    retire(c, id, reason, now).await.map(Some)
}

/// Forget, in the caller's transaction: email, key and certificate deleted, voided;
/// `None` if already forgotten or unknown.
pub(super) async fn forget<C: GenericClient>(c: &C, id: &str) -> Result<Option<Voided>> {
    let now = now_ts();
    if exec(c, FORGET_ROW, &[&id, &now]).await? == 0 {
        return Ok(None);
    }
    exec(c, FORGET_ENTRIES, &[&id]).await?;
    super::erase::owe(c).await?;
    retire(c, id, "The visitor's data was deleted.", now).await.map(Some)
}

pub(super) async fn put_link<C: GenericClient>(c: &C, visitor_id: &str, sealed_url: &[u8]) -> Result<()> {
    exec(c, PUT_LINK, &[&visitor_id, &sealed_url, &now_ts()]).await?;
    Ok(())
}

pub(super) async fn take_link<C: GenericClient>(c: &C, visitor_id: &str) -> Result<bool> {
    Ok(exec(c, TAKE_LINK, &[&visitor_id]).await? == 1)
}

pub(super) async fn links<C: GenericClient>(c: &C) -> Result<Vec<KeptLink>> {
    let stmt = c.prepare_cached(LINKS).await?;
    Ok(c.query(&stmt, &[&MOST_LINKS])
        .await?
        .iter()
        .map(|r| KeptLink {
            visitor_id: r.get(0),
            name: r.get(1),
            sealed_url: r.get(2),
            created_at: r.get(3),
        })
        .collect())
}

pub(super) async fn revoked<C: GenericClient>(c: &C, conference: &str) -> Result<Vec<Revoked>> {
    let stmt = c.prepare_cached(REVOKED).await?;
    Ok(c.query(&stmt, &[&conference])
        .await?
        .iter()
        .map(|r| Revoked {
            serial: r.get(0),
            revoked_at: r.get(1),
        })
        .collect())
}

pub(super) async fn retry<C: GenericClient>(c: &C, id: i64) -> Result<bool> {
    Ok(exec(c, RETRY, &[&id, &now_ts()]).await? == 1)
}

pub(super) async fn move_job<C: GenericClient>(c: &C, id: i64, printer: &str) -> Result<bool> {
    Ok(exec(c, MOVE, &[&id, &printer, &now_ts()]).await? == 1)
}

/// Every statement above, by name, for the query-plan test.
#[cfg(test)]
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("staff::PAGE_ALL", PAGE_ALL),
    ("staff::PAGE_PENDING", PAGE_PENDING),
    ("staff::PAGE_FAILED", PAGE_FAILED),
    ("staff::PAGE_VOIDED", PAGE_VOIDED),
    ("staff::PAGE_WAITING", PAGE_WAITING),
    ("staff::SEARCH", SEARCH),
    ("staff::COUNT_ALL", COUNT_ALL),
    ("staff::COUNT_PENDING", COUNT_PENDING),
    ("staff::COUNT_FAILED", COUNT_FAILED),
    ("staff::COUNT_VOIDED", COUNT_VOIDED),
    ("staff::COUNT_WAITING", COUNT_WAITING),
    ("staff::OPEN_JOBS", OPEN_JOBS),
    ("staff::DONE_JOBS", DONE_JOBS),
    ("staff::VOID_ROW", VOID_ROW),
    ("staff::FORGET_ROW", FORGET_ROW),
    ("staff::FORGET_ENTRIES", FORGET_ENTRIES),
    ("staff::CANCEL_OPEN_JOBS", CANCEL_OPEN_JOBS),
    ("staff::DROP_PAYLOADS", DROP_PAYLOADS),
    ("staff::CONFERENCE_OF", CONFERENCE_OF),
    ("staff::PUT_LINK", PUT_LINK),
    ("staff::TAKE_LINK", TAKE_LINK),
    ("staff::LINKS", LINKS),
    ("staff::REVOKED", REVOKED),
    ("staff::RETRY", RETRY),
    ("staff::MOVE", MOVE),
];
