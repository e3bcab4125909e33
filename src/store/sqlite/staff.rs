//! The staff console's queries in SQLite: filtered pages and their counts, a search,
//! voiding and forgetting (each one write, so all of it or nothing), kept links, the
//! CRL's serials, and the queue as staff see it. Every statement is planned in
//! `tests.rs` like the others: no full scan except where marked bounded.

use rusqlite::{Connection, params};

use super::{jobs, visitors};
use crate::error::Result;
use crate::revocation::Revoked;
use crate::store::jobs::{Job, JobState};
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};
use crate::store::staff::{Filter, KeptLink, Search, Voided};
use crate::store::visitors::Visitor;

// Console pages: newest first in arrival order, `(?1, ?2)` the cursor (created_at,
// rowid); each returns the rowid after the visitor's columns, for the next cursor. The
// indexes are named: `(created_at)` orders by rowid within a second, `visitors_newest`
// (created_at, id) would not.
/// Everyone.
pub(super) const PAGE_ALL: &str = concat!(
    "SELECT ",
    visitors::columns!(),
    ", rowid FROM visitors INDEXED BY visitors_console WHERE (created_at, rowid) < (?1, ?2) \
     ORDER BY created_at DESC, rowid DESC LIMIT ?3"
);
/// Pending (and not voided).
pub(super) const PAGE_PENDING: &str = concat!(
    "SELECT ",
    visitors::columns!(),
    ", rowid FROM visitors INDEXED BY visitors_console_state WHERE state = 'pending' AND voided_at IS NULL \
     AND (created_at, rowid) < (?1, ?2) \
     ORDER BY created_at DESC, rowid DESC LIMIT ?3"
);
/// Failed.
pub(super) const PAGE_FAILED: &str = concat!(
    "SELECT ",
    visitors::columns!(),
    ", rowid FROM visitors INDEXED BY visitors_console_state WHERE state = 'failed' AND (created_at, rowid) < (?1, ?2) \
     ORDER BY created_at DESC, rowid DESC LIMIT ?3"
);
/// Voided ones, on their partial index.
pub(super) const PAGE_VOIDED: &str = concat!(
    "SELECT ",
    visitors::columns!(),
    ", rowid FROM visitors WHERE voided_at IS NOT NULL AND (created_at, rowid) < (?1, ?2) \
     ORDER BY created_at DESC, rowid DESC LIMIT ?3"
);
/// One visitor with its rowid (the "waiting to print" filter sorts a handful itself).
pub(super) const ONE_WITH_ROWID: &str = concat!("SELECT ", visitors::columns!(), ", rowid FROM visitors WHERE id = ?1");
/// A search: no index finds part of a name, so it walks the newest-first index and
/// stops once a page is full (bounded by the page, not by the table, when matches exist).
pub(super) const SEARCH: &str = concat!(
    "SELECT ",
    visitors::columns!(),
    ", rowid FROM visitors INDEXED BY visitors_console WHERE (name LIKE ?4 ESCAPE '\\' OR email_lc LIKE ?5 ESCAPE '\\' \
     OR serial LIKE ?6 ESCAPE '\\' OR REPLACE(serial, ':', '') LIKE ?7 ESCAPE '\\') \
     AND (created_at, rowid) < (?1, ?2) ORDER BY created_at DESC, rowid DESC LIMIT ?3"
);
/// Every visitor ever, from the per-conference counters.
pub(super) const COUNT_ALL: &str =
    "SELECT COALESCE(SUM(n), 0) FROM counters WHERE key >= 'visitors:' AND key < 'visitors;'";
pub(super) const COUNT_PENDING: &str = "SELECT COUNT(*) FROM visitors WHERE state = 'pending' AND voided_at IS NULL";
pub(super) const COUNT_FAILED: &str = "SELECT COUNT(*) FROM visitors WHERE state = 'failed'";
/// Walks only the partial index of voided visitors.
pub(super) const COUNT_VOIDED: &str = "SELECT COUNT(*) FROM visitors WHERE voided_at IS NOT NULL";
/// Jobs in one state, newest first (queue lengths are small; one state at a time keeps
/// each on its index without a sort).
pub(super) const JOBS_IN_STATE: &str = concat!(
    "SELECT ",
    jobs::columns!(),
    ", (SELECT name FROM visitors v WHERE v.id = print_jobs.visitor_id) FROM print_jobs \
     WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
);
pub(super) const VOID_ROW: &str =
    "UPDATE visitors SET voided_at = ?2, sealed_key = NULL WHERE id = ?1 AND voided_at IS NULL";
pub(super) const FORGET_ROW: &str = "UPDATE visitors SET email = NULL, email_lc = NULL, sealed_key = NULL, \
    cert_pem = NULL, purged_at = ?2, voided_at = COALESCE(voided_at, ?2) WHERE id = ?1 AND purged_at IS NULL";
/// A forgotten visitor's guestbook entries go with their email (their certificate signed them).
pub(super) const FORGET_ENTRIES: &str =
    "DELETE FROM guestbook WHERE serial = (SELECT serial FROM visitors WHERE id = ?1 AND serial IS NOT NULL)";
pub(super) const CANCEL_OPEN_JOBS: &str = concat!(
    "UPDATE print_jobs SET state = 'cancelled', last_error = ?2, updated_at = ?3 \
     WHERE visitor_id = ?1 AND state IN ('queued', 'failed', 'interrupted') RETURNING ",
    jobs::columns!()
);
pub(super) const DROP_PAYLOADS: &str =
    "UPDATE print_jobs SET payload = NULL WHERE visitor_id = ?1 AND state != 'printing' AND payload IS NOT NULL";
pub(super) const CONFERENCE_OF: &str = "SELECT conference, backend_ref FROM visitors WHERE id = ?1";
pub(super) const PUT_LINK: &str =
    "INSERT OR REPLACE INTO kept_links (visitor_id, sealed_url, created_at) VALUES (?1, ?2, ?3)";
pub(super) const TAKE_LINK: &str = "DELETE FROM kept_links WHERE visitor_id = ?1";
pub(super) const HAS_LINK: &str = "SELECT 1 FROM kept_links WHERE visitor_id = ?1";
/// Links still waiting for their visitor: few, and dropped when opened.
/// (`CROSS JOIN` keeps the kept links as the outer loop, on their own index.)
pub(super) const LINKS: &str = "SELECT h.visitor_id, v.name, h.sealed_url, h.created_at FROM kept_links h \
    CROSS JOIN visitors v ON v.id = h.visitor_id ORDER BY h.created_at LIMIT ?1";
pub(super) const REVOKED: &str = "SELECT serial, voided_at FROM visitors \
    WHERE conference = ?1 AND voided_at IS NOT NULL AND serial IS NOT NULL ORDER BY voided_at";
pub(super) const RETRY: &str =
    "UPDATE print_jobs SET next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1 AND state = 'failed'";
/// Only a job no worker has started: one being sent stays where it is.
pub(super) const MOVE: &str = "UPDATE print_jobs SET printer = ?2, next_attempt_at = ?3, updated_at = ?3 \
    WHERE id = ?1 AND state IN ('queued', 'failed')";

/// Kept links shown at most (the console shows the oldest first).
const MOST_LINKS: u32 = 20;

/// Rows of a console query: each visitor with its rowid.
fn rows(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<(Visitor, i64)>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt
        .query_map(p, |r| Ok((visitors::from_row(r)?, r.get::<_, i64>("rowid")?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One page of visitors for a filter or a search, newest first in arrival order.
pub(super) fn page(
    c: &Connection,
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
    let found = match (search, filter) {
        (Some(s), _) => rows(
            c,
            SEARCH,
            params![key, seq, fetch, s.name, s.email, s.serial, s.serial_bare],
        )?,
        (None, Filter::All) => rows(c, PAGE_ALL, params![key, seq, fetch])?,
        (None, Filter::Pending) => rows(c, PAGE_PENDING, params![key, seq, fetch])?,
        (None, Filter::Failed) => rows(c, PAGE_FAILED, params![key, seq, fetch])?,
        (None, Filter::Voided) => rows(c, PAGE_VOIDED, params![key, seq, fetch])?,
        (None, Filter::WaitingToPrint) => {
            let mut found = Vec::new();
            for vid in waiting_ids(c)? {
                found.extend(
                    rows(c, ONE_WITH_ROWID, [&vid])?
                        .into_iter()
                        .filter(|(v, rowid)| (v.created_at, *rowid) < (key, seq)),
                );
            }
            found.sort_by_key(|(v, rowid)| std::cmp::Reverse((v.created_at, *rowid)));
            found.truncate(fetch as usize);
            found
        }
    };
    let page = Page::from_rows(found, limit, |(v, rowid)| Cursor {
        key: v.created_at,
        id: rowid.to_string(),
    });
    Ok(Page {
        items: page.items.into_iter().map(|(v, _)| v).collect(),
        next: page.next,
    })
}

/// Visitors with a ticket still on its way (the queue is short: a handful of rows).
fn waiting_ids(c: &Connection) -> Result<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for state in [
        JobState::Queued,
        JobState::Printing,
        JobState::Failed,
        JobState::Interrupted,
    ] {
        for (job, _) in in_state(c, state, i64::MAX)? {
            if !ids.contains(&job.visitor_id) {
                ids.push(job.visitor_id);
            }
        }
    }
    Ok(ids)
}

/// How many each filter lists.
pub(super) fn counts(c: &Connection) -> Result<[u64; 5]> {
    let one = |sql: &str| -> Result<u64> { Ok(c.prepare_cached(sql)?.query_row([], |r| r.get::<_, i64>(0))? as u64) };
    Ok([
        one(COUNT_ALL)?,
        one(COUNT_PENDING)?,
        one(COUNT_FAILED)?,
        one(COUNT_VOIDED)?,
        waiting_ids(c)?.len() as u64,
    ])
}

/// Jobs in `state`, newest first, each with its visitor's name.
fn in_state(c: &Connection, state: JobState, limit: i64) -> Result<Vec<(Job, String)>> {
    let mut stmt = c.prepare_cached(JOBS_IN_STATE)?;
    let rows = stmt
        .query_map(params![state.as_str(), limit], |r| {
            Ok((jobs::from_row(r)?, r.get::<_, Option<String>>(10)?.unwrap_or_default()))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The queue as staff see it: every job still open or interrupted, newest first, then
/// the `done` newest printed or cancelled ones.
pub(super) fn console_jobs(c: &Connection, done: u32) -> Result<Vec<(Job, String)>> {
    let mut open = Vec::new();
    for s in [
        JobState::Queued,
        JobState::Printing,
        JobState::Failed,
        JobState::Interrupted,
    ] {
        open.extend(in_state(c, s, i64::MAX)?);
    }
    open.sort_by_key(|(j, _)| std::cmp::Reverse(j.id));
    let mut finished = Vec::new();
    for s in [JobState::Printed, JobState::Cancelled] {
        finished.extend(in_state(c, s, i64::from(done))?);
    }
    finished.sort_by_key(|(j, _)| std::cmp::Reverse(j.id));
    finished.truncate(done as usize);
    open.extend(finished);
    Ok(open)
}

/// Cancel the visitor's open tickets (their link is dead), drop every sealed link, and
/// say what changed.
fn retire(c: &Connection, id: &str, reason: &str, now: i64) -> Result<Voided> {
    let cancelled = c
        .prepare_cached(CANCEL_OPEN_JOBS)?
        .query_map(params![id, reason, now], jobs::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    c.prepare_cached(DROP_PAYLOADS)?.execute([id])?;
    c.prepare_cached(TAKE_LINK)?.execute([id])?;
    let (conference, backend_ref) = c
        .prepare_cached(CONFERENCE_OF)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Voided {
        conference,
        backend_ref,
        cancelled,
    })
}

/// Void: key deleted, tickets cancelled, link dropped; `None` if already voided or unknown.
pub(super) fn void(c: &Connection, id: &str, reason: &str) -> Result<Option<Voided>> {
    let now = now_ts();
    if c.prepare_cached(VOID_ROW)?.execute(params![id, now])? == 0 {
        return Ok(None);
    }
    retire(c, id, reason, now).map(Some)
}

/// Forget: email, key and certificate deleted, voided; `None` if already forgotten or unknown.
pub(super) fn forget(c: &Connection, id: &str) -> Result<Option<Voided>> {
    let now = now_ts();
    if c.prepare_cached(FORGET_ROW)?.execute(params![id, now])? == 0 {
        return Ok(None);
    }
    c.prepare_cached(FORGET_ENTRIES)?.execute([id])?;
    retire(c, id, "The visitor's data was deleted.", now).map(Some)
}

pub(super) fn put_link(c: &Connection, visitor_id: &str, sealed_url: &[u8]) -> Result<()> {
    c.prepare_cached(PUT_LINK)?
        .execute(params![visitor_id, sealed_url, now_ts()])?;
    Ok(())
}

pub(super) fn has_link(c: &Connection, visitor_id: &str) -> Result<bool> {
    Ok(c.prepare_cached(HAS_LINK)?.exists([visitor_id])?)
}

pub(super) fn take_link(c: &Connection, visitor_id: &str) -> Result<bool> {
    Ok(c.prepare_cached(TAKE_LINK)?.execute([visitor_id])? == 1)
}

pub(super) fn links(c: &Connection) -> Result<Vec<KeptLink>> {
    let rows = c
        .prepare_cached(LINKS)?
        .query_map([MOST_LINKS], |r| {
            Ok(KeptLink {
                visitor_id: r.get(0)?,
                name: r.get(1)?,
                sealed_url: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn revoked(c: &Connection, conference: &str) -> Result<Vec<Revoked>> {
    let rows = c
        .prepare_cached(REVOKED)?
        .query_map([conference], |r| {
            Ok(Revoked {
                serial: r.get(0)?,
                revoked_at: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn retry(c: &Connection, id: i64) -> Result<bool> {
    Ok(c.prepare_cached(RETRY)?.execute(params![id, now_ts()])? == 1)
}

pub(super) fn move_job(c: &Connection, id: i64, printer: &str) -> Result<bool> {
    Ok(c.prepare_cached(MOVE)?.execute(params![id, printer, now_ts()])? == 1)
}
