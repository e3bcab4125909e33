//! Every row of a database, column for column, for `certstamp store migrate`: read from
//! one backend, written into an empty other one, read back and compared. Counters are
//! not copied: each backend's triggers rebuild them from the rows as they go in.
//!
//! What a booth keeps across the move: visitors, print jobs, guestbook entries and the
//! links staff keep after a reissue (a visitor who has not opened theirs yet must still
//! get it). What it does not: staff and booth-screen sessions, enrolment codes, booth
//! handoffs and login-failure windows (short-lived by design: staff sign in again after
//! the move), and printer status and leases (each worker reports and leases its printer
//! again when it starts).

/// The whole database.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Dump {
    /// Visitors, by id.
    pub visitors: Vec<VisitorRow>,
    /// Print jobs, by id.
    pub jobs: Vec<JobRow>,
    /// Guestbook entries, by id.
    pub guestbook: Vec<EntryRow>,
    /// Links kept after a reissue, by visitor id.
    pub kept_links: Vec<KeptLinkRow>,
}

impl std::fmt::Debug for Dump {
    // Rows hold emails and sealed keys: show only how many there are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dump {{ {} visitors, {} jobs, {} guestbook entries, {} kept links }}",
            self.visitors.len(),
            self.jobs.len(),
            self.guestbook.len(),
            self.kept_links.len()
        )
    }
}

/// A `visitors` row.
#[derive(Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct VisitorRow {
    pub id: String,
    pub conference: String,
    pub token_hash: Vec<u8>,
    pub token_pub: Vec<u8>,
    pub name: String,
    pub email: Option<String>,
    pub email_lc: Option<String>,
    pub state: String,
    pub issuer_kind: String,
    pub backend_ref: Option<String>,
    pub error: Option<String>,
    pub cert_pem: Option<String>,
    pub intermediates_pem: Option<String>,
    pub root_pem: Option<String>,
    pub sealed_key: Option<Vec<u8>>,
    pub serial: Option<String>,
    pub fingerprint: Option<String>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub created_at: i64,
    pub issued_at: Option<i64>,
    pub retention_until: i64,
    pub purged_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub show_on_wall: bool,
}

/// A `print_jobs` row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct JobRow {
    pub id: i64,
    pub visitor_id: String,
    pub origin: String,
    pub state: String,
    pub payload: Option<Vec<u8>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: i64,
    pub printed_at: Option<i64>,
    pub printer: String,
}

/// A `guestbook` row.
#[derive(Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct EntryRow {
    pub id: i64,
    pub issuer: String,
    pub serial: String,
    pub name: String,
    pub message: String,
    pub star: bool,
    pub created_at: i64,
    pub signed_at: i64,
    pub rev: i64,
}

/// A `kept_links` row: the new page URL, sealed with the kiosk's queue key.
#[derive(Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct KeptLinkRow {
    pub visitor_id: String,
    pub sealed_url: Vec<u8>,
    pub created_at: i64,
}

/// Visitor columns in table order, shared by both backends' statements.
pub(crate) const VISITOR_COLUMNS: &str = "id, conference, token_hash, token_pub, name, email, email_lc, state, \
    issuer_kind, backend_ref, error, cert_pem, intermediates_pem, root_pem, sealed_key, serial, fingerprint, \
    not_before, not_after, created_at, issued_at, retention_until, purged_at, voided_at, show_on_wall";
/// Job columns in table order.
pub(crate) const JOB_COLUMNS: &str = "id, visitor_id, origin, state, payload, attempts, last_error, created_at, \
    updated_at, next_attempt_at, printed_at, printer";
/// Guestbook columns in table order.
pub(crate) const ENTRY_COLUMNS: &str = "id, issuer, serial, name, message, star, created_at, signed_at, rev";
/// Kept-link columns in table order.
pub(crate) const KEPT_LINK_COLUMNS: &str = "visitor_id, sealed_url, created_at";
/// Counts the rows a migration refuses to merge into.
pub(crate) const ROWS_IN_TARGET: &str = "SELECT (SELECT COUNT(*) FROM visitors) + (SELECT COUNT(*) FROM print_jobs) \
    + (SELECT COUNT(*) FROM guestbook) + (SELECT COUNT(*) FROM kept_links)";

/// `$1, $2, …` or `?1, ?2, …` for `n` columns.
pub(crate) fn placeholders(n: usize, sigil: char) -> String {
    (1..=n).map(|i| format!("{sigil}{i}")).collect::<Vec<_>>().join(", ")
}

/// Copy every row of `from` into the empty `to`, then read `to` back and compare: the
/// copy is either identical or reported as an error (and `to` can be dropped and retried).
pub async fn copy(from: &super::Store, to: &super::Store) -> crate::error::Result<Dump> {
    let rows = from.export().await?;
    to.import(rows.clone()).await?;
    let back = to.export().await?;
    if back != rows {
        return Err(crate::error::Error::Internal(format!(
            "the copy differs from the source (source {rows:?}, copy {back:?})"
        )));
    }
    Ok(rows)
}
