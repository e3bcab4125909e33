//! Print job rows in SQLite: the queue's durable state machine.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{Error, Result};
use crate::store::jobs::{Enqueued, Job, JobState, Origin, PrinterRow};
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};

macro_rules! columns {
    () => {
        "id, visitor_id, origin, state, payload, attempts, last_error, created_at, next_attempt_at, printer"
    };
}
pub(super) use columns;

pub(super) const OPEN_FOR_VISITOR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE visitor_id = ?1 AND origin != 'staff' AND \
     (state IN ('queued', 'printing', 'failed') OR (state IN ('printed', 'interrupted') AND updated_at >= ?2)) \
     ORDER BY id DESC LIMIT 1"
);
pub(super) const INSERT: &str = concat!(
    "INSERT INTO print_jobs (visitor_id, origin, state, payload, created_at, updated_at, next_attempt_at, printer) \
     VALUES (?1, ?2, 'queued', ?3, ?4, ?4, ?4, ?5) RETURNING ",
    columns!()
);
pub(super) const INTERRUPT_IN_FLIGHT: &str = "UPDATE print_jobs SET state = 'interrupted', updated_at = ?1, \
    last_error = 'The kiosk stopped while this ticket was printing; it may or may not have printed.' \
    WHERE state = 'printing' AND printer = ?2";
pub(super) const CANCEL_UNISSUABLE: &str = "UPDATE print_jobs SET state = 'cancelled', updated_at = ?1, \
    last_error = 'The certificate could not be issued.' \
    WHERE state IN ('queued', 'failed') AND EXISTS \
    (SELECT 1 FROM visitors v WHERE v.id = print_jobs.visitor_id AND v.state = 'failed')";
/// Pinned to the partial index of open jobs: walked oldest first, it needs no sort.
pub(super) const NEXT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs INDEXED BY print_jobs_ready WHERE printer = ?1 AND state IN ('queued', 'failed') AND EXISTS \
     (SELECT 1 FROM visitors v WHERE v.id = print_jobs.visitor_id AND v.state = 'issued') ORDER BY id LIMIT 1"
);
pub(super) const START: &str = "UPDATE print_jobs SET state = 'printing', attempts = attempts + 1, updated_at = ?2 \
    WHERE id = ?1 AND state IN ('queued', 'failed')";
pub(super) const FINISH: &str =
    "UPDATE print_jobs SET state = 'printed', last_error = NULL, updated_at = ?2, printed_at = ?2 WHERE id = ?1";
/// A job staff cancelled (or marked printed) meanwhile stays as they left it.
pub(super) const FAIL: &str = "UPDATE print_jobs SET state = 'failed', last_error = ?2, next_attempt_at = ?3, \
    updated_at = ?4, attempts = attempts + ?5 WHERE id = ?1 AND state NOT IN ('cancelled', 'printed')";
pub(super) const SET_STATE_WITH_REASON: &str =
    "UPDATE print_jobs SET state = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1";
pub(super) const STAFF_CANCEL: &str = "UPDATE print_jobs SET state = 'cancelled', updated_at = ?2 \
    WHERE id = ?1 AND state IN ('queued', 'failed', 'interrupted')";
pub(super) const STAFF_PRINTED: &str = "UPDATE print_jobs SET state = 'printed', updated_at = ?2, printed_at = ?2 \
    WHERE id = ?1 AND state = 'interrupted'";
pub(super) const BY_ID: &str = concat!("SELECT ", columns!(), " FROM print_jobs WHERE id = ?1");
pub(super) const LATEST_FOR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE visitor_id = ?1 ORDER BY id DESC LIMIT 1"
);
pub(super) const PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
);
pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        visitor_id: r.get(1)?,
        origin: r.get(2)?,
        state: JobState::parse(&r.get::<_, String>(3)?),
        payload: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        created_at: r.get(7)?,
        next_attempt_at: r.get(8)?,
        printer: r.get(9)?,
    })
}

fn one(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Option<Job>> {
    Ok(c.prepare_cached(sql)?.query_row(p, from_row).optional()?)
}

pub(super) fn enqueue(
    c: &Connection,
    visitor_id: &str,
    origin: Origin,
    payload: &[u8],
    dedupe: i64,
    printer: &str,
) -> Result<Enqueued> {
    // Runs inside the writer's savepoint: the check and the insert are one step.
    let now = now_ts();
    if origin != Origin::Staff
        && let Some(job) = one(c, OPEN_FOR_VISITOR, params![visitor_id, now - dedupe])?
    {
        return Ok(Enqueued::Existing(job));
    }
    let job = c
        .prepare_cached(INSERT)?
        .query_row(params![visitor_id, origin.as_str(), payload, now, printer], from_row)?;
    Ok(Enqueued::New(job))
}

pub(super) fn interrupt_in_flight(c: &Connection, printer: &str) -> Result<usize> {
    Ok(c.prepare_cached(INTERRUPT_IN_FLIGHT)?
        .execute(params![now_ts(), printer])?)
}

pub(super) fn next(c: &Connection, printer: &str) -> Result<Option<Job>> {
    c.prepare_cached(CANCEL_UNISSUABLE)?.execute([now_ts()])?;
    one(c, NEXT, [printer])
}

pub(super) fn lease(c: &Connection, printer: &str, holder: &str, until: i64) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let got: Option<String> = c
        .prepare_cached(LEASE)?
        .query_row(params![printer, holder, until, now_ts()], |r| r.get(0))
        .optional()?;
    Ok(got.is_some())
}

pub(super) fn report(c: &Connection, printer: &str, status: &str) -> Result<()> {
    c.prepare_cached(REPORT)?.execute(params![printer, status, now_ts()])?;
    Ok(())
}

pub(super) fn printers(c: &Connection) -> Result<Vec<PrinterRow>> {
    let mut stmt = c.prepare_cached(PRINTERS)?;
    let rows = stmt
        .query_map([now_ts()], |r| {
            Ok(PrinterRow {
                name: r.get(0)?,
                status: r.get(1)?,
                seen_at: r.get(2)?,
                served: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn start(c: &Connection, id: i64) -> Result<bool> {
    Ok(c.prepare_cached(START)?.execute(params![id, now_ts()])? == 1)
}

pub(super) fn finish(c: &Connection, id: i64) -> Result<()> {
    c.prepare_cached(FINISH)?.execute(params![id, now_ts()])?;
    Ok(())
}

pub(super) fn fail(c: &Connection, id: i64, error: &str, next_attempt_at: i64, counts: bool) -> Result<()> {
    c.prepare_cached(FAIL)?
        .execute(params![id, error, next_attempt_at, now_ts(), i64::from(counts)])?;
    Ok(())
}

pub(super) fn set_state_with_reason(c: &Connection, id: i64, state: JobState, reason: &str) -> Result<()> {
    c.prepare_cached(SET_STATE_WITH_REASON)?
        .execute(params![id, state.as_str(), reason, now_ts()])?;
    Ok(())
}

pub(super) fn staff_resolve(c: &Connection, id: i64, to: JobState) -> Result<bool> {
    let sql = match to {
        JobState::Cancelled => STAFF_CANCEL,
        JobState::Printed => STAFF_PRINTED,
        _ => return Err(Error::Invalid("staff can only cancel or mark printed".into())),
    };
    Ok(c.prepare_cached(sql)?.execute(params![id, now_ts()])? == 1)
}

pub(super) fn by_id(c: &Connection, id: i64) -> Result<Option<Job>> {
    one(c, BY_ID, [id])
}

pub(super) fn latest_for(c: &Connection, visitor_id: &str) -> Result<Option<Job>> {
    one(c, LATEST_FOR, [visitor_id])
}

pub(super) fn page(c: &Connection, after: Option<&Cursor>, limit: u32) -> Result<Page<Job>> {
    let before = after.map_or(i64::MAX, |a| a.key);
    let mut stmt = c.prepare_cached(PAGE)?;
    let rows = stmt
        .query_map(params![before, i64::from(limit) + 1], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit, |j| Cursor {
        key: j.id,
        id: String::new(),
    }))
}

/// Taken when free, expired or already ours; `RETURNING` yields a row only then.
pub(super) const LEASE: &str = "INSERT INTO printers (name, status, seen_at, holder, lease_until) \
    VALUES (?1, 'starting', ?4, ?2, ?3) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
    lease_until = excluded.lease_until WHERE printers.holder IS NULL OR printers.holder = excluded.holder \
    OR printers.lease_until < ?4 RETURNING holder";
pub(super) const REPORT: &str = "INSERT INTO printers (name, status, seen_at) VALUES (?1, ?2, ?3) \
    ON CONFLICT (name) DO UPDATE SET status = excluded.status, seen_at = excluded.seen_at";
pub(super) const PRINTERS: &str = "SELECT name, status, seen_at, lease_until >= ?1 FROM printers ORDER BY name";
pub(super) const COUNTS: &str = "SELECT state, COUNT(*) FROM print_jobs GROUP BY state";

/// Jobs per state, every state listed (for metrics).
pub(super) fn counts(c: &Connection) -> Result<Vec<(JobState, u64)>> {
    let mut stmt = c.prepare_cached(COUNTS)?;
    let found = stmt
        .query_map([], |r| {
            Ok((JobState::parse(&r.get::<_, String>(0)?), r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(JobState::ALL
        .iter()
        .map(|s| {
            let n = found.iter().find(|(f, _)| f == s).map_or(0, |(_, n)| *n);
            (*s, n.max(0) as u64)
        })
        .collect())
}
