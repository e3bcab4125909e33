//! Print job rows: the queue's durable state machine.
//!
//! queued -> printing -> printed; printing -> failed (retry later) | interrupted (crash);
//! queued/failed -> cancelled; interrupted -> printed (staff: it did print) or a new job.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, now_ts};
use crate::error::{Error, Result};

/// A job's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the worker.
    Queued,
    /// Bytes are (being) sent.
    Printing,
    /// Done.
    Printed,
    /// Last attempt failed; retried after a backoff.
    Failed,
    /// Found in `printing` after a restart: maybe printed; staff decide.
    Interrupted,
    /// Cancelled by staff, or its certificate could not be issued.
    Cancelled,
}

impl JobState {
    fn parse(s: &str) -> Self {
        match s {
            "printing" => JobState::Printing,
            "printed" => JobState::Printed,
            "failed" => JobState::Failed,
            "interrupted" => JobState::Interrupted,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Queued,
        }
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Printing => "printing",
            JobState::Printed => "printed",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Still on its way to paper.
    pub fn is_open(self) -> bool {
        matches!(self, JobState::Queued | JobState::Printing | JobState::Failed)
    }
}

/// Who asked for the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The print button on the certificate page.
    Visitor,
    /// `auto_print` at issuance.
    Auto,
    /// A staff reprint.
    Staff,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Visitor => "visitor",
            Origin::Auto => "auto",
            Origin::Staff => "staff",
        }
    }
}

/// A stored job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Row id; the spool file name is derived from it.
    pub id: i64,
    /// Whose ticket.
    pub visitor_id: String,
    /// Who asked.
    pub origin: String,
    /// State.
    pub state: JobState,
    /// Sealed page URL (dropped at retention).
    pub payload: Option<Vec<u8>>,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error, for the visitor page and staff.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Unix time of the next attempt.
    pub next_attempt_at: i64,
}

impl Job {
    /// The printer-facing job id: `job-000042`.
    pub fn key(&self) -> String {
        format!("job-{:06}", self.id)
    }
}

pub(super) const COLUMNS: &str =
    "id, visitor_id, origin, state, payload, attempts, last_error, created_at, next_attempt_at";

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
    })
}

/// What enqueueing did.
#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new job.
    New(Job),
    /// A visitor job for this certificate was already open or just printed.
    Existing(Job),
}

impl Store {
    /// Queue a ticket. Visitor requests within `dedupe_secs` of an open or just-printed
    /// visitor job for the same visitor return that job instead: a double tap prints once.
    pub async fn enqueue_job(
        &self,
        visitor_id: &str,
        origin: Origin,
        payload: Vec<u8>,
        dedupe_secs: i64,
    ) -> Result<Enqueued> {
        let visitor_id = visitor_id.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let now = now_ts();
            if origin != Origin::Staff {
                let sql = format!(
                    "SELECT {COLUMNS} FROM print_jobs WHERE visitor_id = ?1 AND origin != 'staff' AND \
                     (state IN ('queued', 'printing', 'failed') OR (state IN ('printed', 'interrupted') AND updated_at >= ?2)) \
                     ORDER BY id DESC LIMIT 1"
                );
                if let Some(job) = tx.query_row(&sql, params![visitor_id, now - dedupe_secs], from_row).optional()? {
                    return Ok(Enqueued::Existing(job));
                }
            }
            tx.execute(
                "INSERT INTO print_jobs (visitor_id, origin, state, payload, created_at, updated_at, next_attempt_at) \
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?4, ?4)",
                params![visitor_id, origin.as_str(), payload, now],
            )?;
            let id = tx.last_insert_rowid();
            let job = tx.query_row(&format!("SELECT {COLUMNS} FROM print_jobs WHERE id = ?1"), [id], from_row)?;
            tx.commit()?;
            Ok(Enqueued::New(job))
        })
        .await
    }

    /// At start: jobs left in `printing` may have printed. Mark them `interrupted`.
    pub async fn interrupt_in_flight_jobs(&self) -> Result<usize> {
        self.call(|conn| {
            Ok(conn.execute(
                "UPDATE print_jobs SET state = 'interrupted', updated_at = ?1, \
                 last_error = 'The kiosk stopped while this ticket was printing; it may or may not have printed.' \
                 WHERE state = 'printing'",
                [now_ts()],
            )?)
        })
        .await
    }

    /// The next job to print: the oldest open job whose certificate is issued. Jobs of
    /// certificates that failed to issue are cancelled on the way.
    pub async fn next_job(&self) -> Result<Option<Job>> {
        self.call(|conn| {
            conn.execute(
                "UPDATE print_jobs SET state = 'cancelled', updated_at = ?1, last_error = 'The certificate could not be issued.' \
                 WHERE state IN ('queued', 'failed') AND visitor_id IN (SELECT id FROM visitors WHERE state = 'failed')",
                [now_ts()],
            )?;
            let sql = format!(
                "SELECT {COLUMNS} FROM print_jobs WHERE state IN ('queued', 'failed') AND \
                 visitor_id IN (SELECT id FROM visitors WHERE state = 'issued') ORDER BY id LIMIT 1"
            );
            Ok(conn.query_row(&sql, [], from_row).optional()?)
        })
        .await
    }

    /// Move a job to `printing` (durably, before any byte is sent).
    pub async fn start_job(&self, id: i64) -> Result<bool> {
        self.call(move |conn| {
            Ok(conn.execute(
                "UPDATE print_jobs SET state = 'printing', attempts = attempts + 1, updated_at = ?2 \
                 WHERE id = ?1 AND state IN ('queued', 'failed')",
                params![id, now_ts()],
            )? == 1)
        })
        .await
    }

    /// The printer took the job.
    pub async fn finish_job(&self, id: i64) -> Result<()> {
        self.call(move |conn| {
            let now = now_ts();
            conn.execute(
                "UPDATE print_jobs SET state = 'printed', last_error = NULL, updated_at = ?2, printed_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
        .await
    }

    /// A failed attempt (or a printer not ready before it); retried at `next_attempt_at`.
    /// `counts` says whether this attempt counts (status checks before sending do too).
    /// A job staff cancelled (or marked printed) meanwhile stays as they left it.
    pub async fn fail_job(&self, id: i64, error: &str, next_attempt_at: i64, counts: bool) -> Result<()> {
        let error = error.to_string();
        self.call(move |conn| {
            conn.execute(
                "UPDATE print_jobs SET state = 'failed', last_error = ?2, next_attempt_at = ?3, updated_at = ?4, \
                 attempts = attempts + ?5 WHERE id = ?1 AND state NOT IN ('cancelled', 'printed')",
                params![id, error, next_attempt_at, now_ts(), i64::from(counts)],
            )?;
            Ok(())
        })
        .await
    }

    /// A send that broke off part-way: staff decide (reprint or "it printed").
    pub async fn interrupt_job(&self, id: i64, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.call(move |conn| {
            conn.execute(
                "UPDATE print_jobs SET state = 'interrupted', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, reason, now_ts()],
            )?;
            Ok(())
        })
        .await
    }

    /// Cancel a job that can never print, keeping the reason.
    pub async fn cancel_job(&self, id: i64, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.call(move |conn| {
            conn.execute(
                "UPDATE print_jobs SET state = 'cancelled', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, reason, now_ts()],
            )?;
            Ok(())
        })
        .await
    }

    /// Staff: cancel an open job, or mark an interrupted one as printed.
    pub async fn staff_resolve_job(&self, id: i64, to: JobState) -> Result<bool> {
        self.call(move |conn| {
            let changed = match to {
                JobState::Cancelled => conn.execute(
                    "UPDATE print_jobs SET state = 'cancelled', updated_at = ?2 WHERE id = ?1 AND state IN ('queued', 'failed', 'interrupted')",
                    params![id, now_ts()],
                )?,
                JobState::Printed => conn.execute(
                    "UPDATE print_jobs SET state = 'printed', updated_at = ?2, printed_at = ?2 WHERE id = ?1 AND state = 'interrupted'",
                    params![id, now_ts()],
                )?,
                _ => return Err(Error::Invalid("staff can only cancel or mark printed".into())),
            };
            Ok(changed == 1)
        })
        .await
    }

    /// One job by id.
    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM print_jobs WHERE id = ?1"),
                    [id],
                    from_row,
                )
                .optional()?)
        })
        .await
    }

    /// The newest job for a visitor.
    pub async fn latest_job_for(&self, visitor_id: &str) -> Result<Option<Job>> {
        let visitor_id = visitor_id.to_string();
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM print_jobs WHERE visitor_id = ?1 ORDER BY id DESC LIMIT 1"),
                    [visitor_id],
                    from_row,
                )
                .optional()?)
        })
        .await
    }

    /// Recent jobs for the staff page, newest first.
    pub async fn recent_jobs(&self, limit: u32) -> Result<Vec<Job>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM print_jobs ORDER BY id DESC LIMIT ?1"))?;
            Ok(stmt
                .query_map([limit], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// Tickets printed so far.
    pub async fn printed_count(&self) -> Result<u64> {
        self.call(|conn| {
            Ok(
                conn.query_row("SELECT COUNT(*) FROM print_jobs WHERE state = 'printed'", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
        .await
    }

    /// Drop sealed payloads of jobs whose visitor has been purged.
    pub async fn purge_job_payloads(&self) -> Result<usize> {
        self.call(|conn| {
            Ok(conn.execute(
                "UPDATE print_jobs SET payload = NULL WHERE payload IS NOT NULL AND \
                 visitor_id IN (SELECT id FROM visitors WHERE purged_at IS NOT NULL)",
                [],
            )?)
        })
        .await
    }
}
