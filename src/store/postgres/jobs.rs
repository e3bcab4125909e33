//! Print job rows in PostgreSQL: the queue's durable state machine.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

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

/// Taken first inside enqueue's transaction: two kiosks enqueueing for one visitor
/// at once take turns, so the double-tap check below is not a read-then-write race.
const LOCK_VISITOR: &str = "SELECT 1 FROM visitors WHERE id = $1 FOR UPDATE";
const OPEN_FOR_VISITOR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE visitor_id = $1 AND origin != 'staff' AND \
     (state IN ('queued', 'printing', 'failed') OR (state IN ('printed', 'interrupted') AND updated_at >= $2)) \
     ORDER BY id DESC LIMIT 1"
);
const INSERT: &str = concat!(
    "INSERT INTO print_jobs (visitor_id, origin, state, payload, created_at, updated_at, next_attempt_at, printer) \
     VALUES ($1, $2, 'queued', $3, $4, $4, $4, $5) RETURNING ",
    columns!()
);
const INTERRUPT_IN_FLIGHT: &str = "UPDATE print_jobs SET state = 'interrupted', updated_at = $1, \
    last_error = 'The kiosk stopped while this ticket was printing; it may or may not have printed.' \
    WHERE state = 'printing' AND printer = $2";
const CANCEL_UNISSUABLE: &str = "UPDATE print_jobs SET state = 'cancelled', updated_at = $1, \
    last_error = 'The certificate could not be issued.' \
    WHERE state IN ('queued', 'failed') AND EXISTS \
    (SELECT 1 FROM visitors v WHERE v.id = print_jobs.visitor_id AND v.state = 'failed')";
const NEXT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE printer = $1 AND state IN ('queued', 'failed') AND EXISTS \
     (SELECT 1 FROM visitors v WHERE v.id = print_jobs.visitor_id AND v.state = 'issued') ORDER BY id LIMIT 1"
);
const START: &str = "UPDATE print_jobs SET state = 'printing', attempts = attempts + 1, updated_at = $2 \
    WHERE id = $1 AND state IN ('queued', 'failed')";
const FINISH: &str =
    "UPDATE print_jobs SET state = 'printed', last_error = NULL, updated_at = $2, printed_at = $2 WHERE id = $1";
/// A job staff cancelled (or marked printed) meanwhile stays as they left it.
const FAIL: &str = "UPDATE print_jobs SET state = 'failed', last_error = $2, next_attempt_at = $3, \
    updated_at = $4, attempts = attempts + $5 WHERE id = $1 AND state NOT IN ('cancelled', 'printed')";
const SET_STATE_WITH_REASON: &str = "UPDATE print_jobs SET state = $2, last_error = $3, updated_at = $4 WHERE id = $1";
const STAFF_CANCEL: &str = "UPDATE print_jobs SET state = 'cancelled', updated_at = $2 \
    WHERE id = $1 AND state IN ('queued', 'failed', 'interrupted')";
const STAFF_PRINTED: &str = "UPDATE print_jobs SET state = 'printed', updated_at = $2, printed_at = $2 \
    WHERE id = $1 AND state = 'interrupted'";
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM print_jobs WHERE id = $1");
const LATEST_FOR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE visitor_id = $1 ORDER BY id DESC LIMIT 1"
);
const PAGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM print_jobs WHERE id < $1 ORDER BY id DESC LIMIT $2"
);
/// Taken when free, expired or already ours; `RETURNING` yields a row only then.
const LEASE: &str = "INSERT INTO printers (name, status, seen_at, holder, lease_until) \
    VALUES ($1, 'starting', $4, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
    lease_until = excluded.lease_until WHERE printers.holder IS NULL OR printers.holder = excluded.holder \
    OR printers.lease_until < $4 RETURNING holder";
const REPORT: &str = "INSERT INTO printers (name, status, seen_at) VALUES ($1, $2, $3) \
    ON CONFLICT (name) DO UPDATE SET status = excluded.status, seen_at = excluded.seen_at";
const PRINTERS: &str = "SELECT name, status, seen_at, lease_until >= $1 FROM printers ORDER BY name";
const COUNTS: &str = "SELECT state, COUNT(*) FROM print_jobs GROUP BY state";

pub(super) fn from_row(r: &Row) -> Job {
    Job {
        id: r.get(0),
        visitor_id: r.get(1),
        origin: r.get(2),
        state: JobState::parse(r.get(3)),
        payload: r.get(4),
        attempts: r.get::<_, i32>(5).max(0) as u32,
        last_error: r.get(6),
        created_at: r.get(7),
        next_attempt_at: r.get(8),
        printer: r.get(9),
    }
}

async fn one<C: GenericClient>(
    c: &C,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Job>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, p).await?.as_ref().map(from_row))
}

async fn exec<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<u64> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, p).await?)
}

/// Runs inside a transaction (see [`LOCK_VISITOR`]).
pub(super) async fn enqueue<C: GenericClient>(
    c: &C,
    visitor_id: &str,
    origin: Origin,
    payload: &[u8],
    dedupe: i64,
    printer: &str,
) -> Result<Enqueued> {
    let now = now_ts();
    exec(c, LOCK_VISITOR, &[&visitor_id]).await?;
    if origin != Origin::Staff
        && let Some(job) = one(c, OPEN_FOR_VISITOR, &[&visitor_id, &(now - dedupe)]).await?
    {
        return Ok(Enqueued::Existing(job));
    }
    let job = one(c, INSERT, &[&visitor_id, &origin.as_str(), &payload, &now, &printer])
        .await?
        .ok_or_else(|| Error::Internal("insert returned no job".into()))?;
    Ok(Enqueued::New(job))
}

pub(super) async fn interrupt_in_flight<C: GenericClient>(c: &C, printer: &str) -> Result<usize> {
    Ok(exec(c, INTERRUPT_IN_FLIGHT, &[&now_ts(), &printer]).await? as usize)
}

pub(super) async fn next<C: GenericClient>(c: &C, printer: &str) -> Result<Option<Job>> {
    exec(c, CANCEL_UNISSUABLE, &[&now_ts()]).await?;
    one(c, NEXT, &[&printer]).await
}

pub(super) async fn lease<C: GenericClient>(c: &C, printer: &str, holder: &str, until: i64) -> Result<bool> {
    let stmt = c.prepare_cached(LEASE).await?;
    Ok(c.query_opt(&stmt, &[&printer, &holder, &until, &now_ts()])
        .await?
        .is_some())
}

pub(super) async fn report<C: GenericClient>(c: &C, printer: &str, status: &str) -> Result<()> {
    exec(c, REPORT, &[&printer, &status, &now_ts()]).await?;
    Ok(())
}

pub(super) async fn printers<C: GenericClient>(c: &C) -> Result<Vec<PrinterRow>> {
    let stmt = c.prepare_cached(PRINTERS).await?;
    Ok(c.query(&stmt, &[&now_ts()])
        .await?
        .iter()
        .map(|r| PrinterRow {
            name: r.get(0),
            status: r.get(1),
            seen_at: r.get(2),
            served: r.get(3),
        })
        .collect())
}

pub(super) async fn start<C: GenericClient>(c: &C, id: i64) -> Result<bool> {
    Ok(exec(c, START, &[&id, &now_ts()]).await? == 1)
}

pub(super) async fn finish<C: GenericClient>(c: &C, id: i64) -> Result<()> {
    exec(c, FINISH, &[&id, &now_ts()]).await?;
    Ok(())
}

pub(super) async fn fail<C: GenericClient>(
    c: &C,
    id: i64,
    error: &str,
    next_attempt_at: i64,
    counts: bool,
) -> Result<()> {
    exec(c, FAIL, &[&id, &error, &next_attempt_at, &now_ts(), &i32::from(counts)]).await?;
    Ok(())
}

pub(super) async fn set_state_with_reason<C: GenericClient>(
    c: &C,
    id: i64,
    state: JobState,
    reason: &str,
) -> Result<()> {
    exec(c, SET_STATE_WITH_REASON, &[&id, &state.as_str(), &reason, &now_ts()]).await?;
    Ok(())
}

pub(super) async fn staff_resolve<C: GenericClient>(c: &C, id: i64, to: JobState) -> Result<bool> {
    let sql = match to {
        JobState::Cancelled => STAFF_CANCEL,
        JobState::Printed => STAFF_PRINTED,
        _ => return Err(Error::Invalid("staff can only cancel or mark printed".into())),
    };
    Ok(exec(c, sql, &[&id, &now_ts()]).await? == 1)
}

pub(super) async fn by_id<C: GenericClient>(c: &C, id: i64) -> Result<Option<Job>> {
    one(c, BY_ID, &[&id]).await
}

pub(super) async fn latest_for<C: GenericClient>(c: &C, visitor_id: &str) -> Result<Option<Job>> {
    one(c, LATEST_FOR, &[&visitor_id]).await
}

pub(super) async fn page<C: GenericClient>(c: &C, after: Option<&Cursor>, limit: u32) -> Result<Page<Job>> {
    let before = after.map_or(i64::MAX, |a| a.key);
    let stmt = c.prepare_cached(PAGE).await?;
    let rows = c
        .query(&stmt, &[&before, &(i64::from(limit) + 1)])
        .await?
        .iter()
        .map(from_row)
        .collect();
    Ok(Page::from_rows(rows, limit, |j| Cursor {
        key: j.id,
        id: String::new(),
    }))
}

pub(super) async fn counts<C: GenericClient>(c: &C) -> Result<Vec<(JobState, u64)>> {
    let stmt = c.prepare_cached(COUNTS).await?;
    let found: Vec<(JobState, i64)> = c
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| (JobState::parse(r.get(0)), r.get(1)))
        .collect();
    Ok(JobState::ALL
        .iter()
        .map(|s| {
            let n = found.iter().find(|(f, _)| f == s).map_or(0, |(_, n)| *n);
            (*s, n.max(0) as u64)
        })
        .collect())
}

/// Every statement above, by name, for the query-plan test.
#[cfg(test)]
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("jobs::LOCK_VISITOR", LOCK_VISITOR),
    ("jobs::OPEN_FOR_VISITOR", OPEN_FOR_VISITOR),
    ("jobs::INSERT", INSERT),
    ("jobs::INTERRUPT_IN_FLIGHT", INTERRUPT_IN_FLIGHT),
    ("jobs::CANCEL_UNISSUABLE", CANCEL_UNISSUABLE),
    ("jobs::NEXT", NEXT),
    ("jobs::START", START),
    ("jobs::FINISH", FINISH),
    ("jobs::FAIL", FAIL),
    ("jobs::SET_STATE_WITH_REASON", SET_STATE_WITH_REASON),
    ("jobs::STAFF_CANCEL", STAFF_CANCEL),
    ("jobs::STAFF_PRINTED", STAFF_PRINTED),
    ("jobs::BY_ID", BY_ID),
    ("jobs::LATEST_FOR", LATEST_FOR),
    ("jobs::PAGE", PAGE),
    ("jobs::LEASE", LEASE),
    ("jobs::REPORT", REPORT),
    ("jobs::PRINTERS", PRINTERS),
];
