//! Print job rows: the queue's durable state machine.
//!
//! queued -> printing -> printed; printing -> failed (retry later) | interrupted (crash);
//! queued/failed -> cancelled; interrupted -> printed (staff: it did print) or a new job.

/// A job's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Every state, in the order a job moves through them.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Printing,
        JobState::Printed,
        JobState::Failed,
        JobState::Interrupted,
        JobState::Cancelled,
    ];

    /// Read the stored word back (unknown words read as queued).
    pub fn parse(s: &str) -> Self {
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
    /// The stored word.
    pub fn as_str(self) -> &'static str {
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
    /// The printer it goes to.
    pub printer: String,
}

/// The printer a kiosk's own worker serves unless told otherwise.
pub const DEFAULT_PRINTER: &str = "default";

/// A printer as its worker last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterRow {
    /// Its name (`--printer-name`).
    pub name: String,
    /// The worker's last word on it ("ready", "out of paper", ...).
    pub status: String,
    /// When that was, Unix seconds.
    pub seen_at: i64,
    /// Whether a worker holds it now (its lease has not run out).
    pub served: bool,
}

impl Job {
    /// The printer-facing job id: `job-000042`.
    pub fn key(&self) -> String {
        key_of(self.id)
    }
}

/// The printer-facing id of job `id`: `job-000042`.
pub fn key_of(id: i64) -> String {
    format!("job-{id:06}")
}

/// What enqueueing did.
#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new job.
    New(Job),
    /// A visitor job for this certificate was already open or just printed.
    Existing(Job),
}
