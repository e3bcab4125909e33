//! The database, behind one small typed interface: [`Backend`] lists every query the
//! kiosk makes, [`Store`] is the cheap handle the rest of the code holds, and
//! [`sqlite`] and [`postgres`] are the only modules that talk to a database. No
//! database type leaves this module, so callers never know which one they hold.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::pki::IssuedCert;
use crate::token::Token;

/// Staff sessions, enrolment codes and failed logins, shared by every replica.
pub mod access;
/// What the static archive and `certstamp verify` read.
pub mod archive;
/// Every row, for moving a booth between backends.
pub mod dump;
/// Guestbook entries, one per signing certificate.
pub mod guestbook;
/// The booth screen's handoffs, shared by every replica.
pub mod handoffs;
/// Print jobs: the durable queue behind the print worker.
pub mod jobs;
/// Keyset pagination shared by every list.
pub mod page;
/// PostgreSQL: a connection pool shared by several kiosks and print agents.
pub mod postgres;
/// SQLite: a pool of readers and one group-committing writer.
pub mod sqlite;
/// What the staff console lists and changes: filters and searches, void and forget, kept links.
pub mod staff;
#[cfg(test)]
mod tests;
/// Visitors and their certificates.
pub mod visitors;

use guestbook::{Entry, NewEntry};
use jobs::{Enqueued, Job, JobState, Origin, PrinterRow};
use page::{Cursor, Page};
use visitors::{IssuedRow, NewVisitor, SealTile, Visitor, VisitorFilter};

/// Handle to the database; cheap to clone. Calls go straight to the backend
/// (`store.visitor_by_token(..)`), so callers never name it.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl std::ops::Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.0
    }
}

impl Store {
    /// Open (or create) the SQLite database file and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Store(Arc::new(sqlite::Sqlite::open(path)?)))
    }

    /// Open the database a setting names: a `postgres://` URL, or else a SQLite file path.
    pub async fn connect(database: &str) -> Result<Self> {
        if postgres::is_url(database) {
            Ok(Store(Arc::new(postgres::Postgres::connect(database).await?)))
        } else {
            Self::open(Path::new(database))
        }
    }

    /// Whether this store is shared with other kiosks (PostgreSQL), not a file of one Pi.
    pub fn is_shared(&self) -> bool {
        self.0.shared()
    }

    /// A throwaway database for tests: a real SQLite file in WAL mode (WAL needs a
    /// file) in a fresh temporary directory, removed when the last handle drops.
    pub fn in_memory() -> Result<Self> {
        Ok(Store(Arc::new(sqlite::Sqlite::temporary()?)))
    }
}

/// Every query the kiosk makes. Writes return only once durable (committed and
/// synced); reads never wait for writes.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    // ---- visitors ----

    /// Record a submission (state `pending`) under the token's hash and sealing key.
    /// A live certificate for the same email in the same conference gives
    /// [`Error::AlreadyIssued`](crate::error::Error::AlreadyIssued).
    async fn insert_visitor_row(&self, v: NewVisitor, token_hash: Vec<u8>, token_pub: [u8; 32]) -> Result<()>;

    /// The X25519 key a visitor's private key is sealed to.
    async fn token_pub(&self, id: &str) -> Result<Option<[u8; 32]>>;

    /// Write a finished (already sealed and parsed) certificate into a visitor row.
    async fn store_issued(&self, id: &str, row: IssuedRow) -> Result<()>;

    /// Mark issuance failed (or delayed, with `still_pending`) with a reason staff can read.
    async fn note_issuance_problem(&self, id: &str, message: &str, still_pending: bool) -> Result<()>;

    /// Set the backend object name.
    async fn set_backend_ref(&self, id: &str, reference: &str) -> Result<()>;

    /// Find a visitor by the SHA-256 of their token.
    async fn visitor_by_token_hash(&self, hash: Vec<u8>) -> Result<Option<Visitor>>;

    /// Find a visitor by id.
    async fn visitor_by_id(&self, id: &str) -> Result<Option<Visitor>>;

    /// Find an issued visitor by certificate serial (colon hex).
    async fn visitor_by_serial(&self, serial: &str) -> Result<Option<Visitor>>;

    /// Visitors still waiting for the given backend, oldest first.
    async fn pending_visitors(&self, issuer_kind: &str) -> Result<Vec<Visitor>>;

    /// Visitors newest first, a page at a time (staff list), optionally of one state.
    async fn visitors_page(&self, filter: VisitorFilter, after: Option<Cursor>, limit: u32) -> Result<Page<Visitor>>;

    /// Issued, unvoided certificates of a conference, newest first (the wall's seals).
    async fn seals_page(&self, conference: &str, after: Option<Cursor>, limit: u32) -> Result<Page<SealTile>>;

    /// Visitors ever submitted in a conference (kept as a counter, not counted).
    async fn visitor_count(&self, conference: &str) -> Result<u64>;

    /// Issued certificates per conference (kept as a counter, not counted).
    async fn issued_count(&self, conference: &str) -> Result<u64>;

    /// Void a certificate: its sealed key is deleted, its open tickets cancelled (their
    /// sealed links dropped), the guestbook refuses it and the email may be issued again.
    /// `None` when there is no such visitor or it was voided already.
    async fn void(&self, id: &str, reason: &str) -> Result<Option<staff::Voided>>;

    /// Forget a visitor now: email, key and the certificate (it names the email) are
    /// deleted and it is voided; name, serial and fingerprint stay for the console and the
    /// CRL. `None` when there is no such visitor or it was forgotten already. Call
    /// [`Backend::erase_deleted`] after it.
    async fn forget(&self, id: &str) -> Result<Option<staff::Voided>>;

    /// Make what was just deleted leave the files too. SQLite: fold the write-ahead log
    /// into the database (deleted cells are overwritten there) and empty it. PostgreSQL:
    /// rewrite the tables holding personal data (`VACUUM (FULL)`; a busy table postpones
    /// it to the next hourly upkeep, see `postgres/erase.rs`).
    async fn erase_deleted(&self) -> Result<()>;

    /// Purge everything personal of visitors whose retention has passed, in one
    /// transaction: name, email, the certificate (it names both), the sealed key, their
    /// guestbook entries, and their print jobs' sealed links (open jobs are cancelled).
    /// Serial, fingerprint and validity stay, so counts and the wall's seals do too.
    /// Afterwards no byte of the database files keeps what was removed.
    async fn purge_expired(&self, now: i64) -> Result<visitors::Purged>;

    // ---- print jobs ----

    /// Queue a ticket. Visitor requests within `dedupe_secs` of an open or just-printed
    /// visitor job for the same visitor return that job instead: a double tap prints once.
    /// The ticket goes to `printer`.
    async fn enqueue_job(
        &self,
        visitor_id: &str,
        origin: Origin,
        payload: Vec<u8>,
        dedupe_secs: i64,
        printer: &str,
    ) -> Result<Enqueued>;

    /// When a worker takes a printer over: that printer's jobs left in `printing` may
    /// have printed. Mark them `interrupted`.
    async fn interrupt_in_flight_jobs(&self, printer: &str) -> Result<usize>;

    /// The next job for `printer`: its oldest open job whose certificate is issued. Jobs
    /// of certificates that failed to issue are cancelled on the way.
    async fn next_job(&self, printer: &str) -> Result<Option<Job>>;

    /// Take or renew the lease on `printer` for `holder` until `until`: true while this
    /// holder has it. Only the holder prints on it, so jobs go out in order and once,
    /// however many workers are started for one printer.
    async fn lease_printer(&self, printer: &str, holder: &str, until: i64) -> Result<bool>;

    /// Record a printer's status for staff on every kiosk.
    async fn report_printer(&self, printer: &str, status: &str) -> Result<()>;

    /// Every printer any worker has reported, by name.
    async fn printers(&self) -> Result<Vec<PrinterRow>>;

    /// Move a job to `printing` (durably, before any byte is sent).
    async fn start_job(&self, id: i64) -> Result<bool>;

    /// The printer took the job.
    async fn finish_job(&self, id: i64) -> Result<()>;

    /// A failed attempt (or a printer not ready before it); retried at `next_attempt_at`.
    /// `counts` says whether this attempt counts (status checks before sending do too).
    async fn fail_job(&self, id: i64, error: &str, next_attempt_at: i64, counts: bool) -> Result<()>;

    /// A send that broke off part-way: staff decide (reprint or "it printed").
    async fn interrupt_job(&self, id: i64, reason: &str) -> Result<()>;

    /// Cancel a job that can never print, keeping the reason.
    async fn cancel_job(&self, id: i64, reason: &str) -> Result<()>;

    /// Staff: cancel an open job, or mark an interrupted one as printed.
    async fn staff_resolve_job(&self, id: i64, to: JobState) -> Result<bool>;

    /// One job by id.
    async fn job(&self, id: i64) -> Result<Option<Job>>;

    /// The newest job for a visitor.
    async fn latest_job_for(&self, visitor_id: &str) -> Result<Option<Job>>;

    /// Jobs newest first, a page at a time (staff list).
    async fn jobs_page(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Job>>;

    /// Tickets printed so far (kept as a counter, not counted).
    async fn printed_count(&self) -> Result<u64>;

    /// How many jobs are in each state, every state listed (for metrics).
    async fn job_counts(&self) -> Result<Vec<(JobState, u64)>>;

    // ---- health ----

    /// Prove that the database takes a durable write now (for `/readyz`): a full disk, a
    /// read-only volume or a stuck lock fails here rather than at the next visitor.
    async fn check_writable(&self) -> Result<()>;

    // ---- staff console ----

    /// A page of visitors for a filter, or for a search (which then ignores the filter),
    /// newest first.
    async fn console_page(
        &self,
        filter: staff::Filter,
        search: Option<staff::Search>,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page<Visitor>>;

    /// How many visitors each filter lists.
    async fn console_counts(&self) -> Result<staff::FilterCounts>;

    /// Every job still open or interrupted, newest first, then the `done` newest printed
    /// or cancelled ones; each with its visitor's name.
    async fn console_jobs(&self, done: u32) -> Result<Vec<(Job, String)>>;

    /// Staff: try a failed job again now instead of after its backoff.
    async fn retry_job(&self, id: i64) -> Result<bool>;

    /// Staff: send a job no worker has started (queued or failed) to `printer`, to be
    /// tried there now; `false` once it is printing or done.
    async fn move_job(&self, id: i64, printer: &str) -> Result<bool>;

    /// Keep a reissued link, sealed, for staff to show until the visitor opens it.
    async fn put_kept_link(&self, visitor_id: &str, sealed_url: Vec<u8>) -> Result<()>;

    /// Drop the visitor's kept link; `true` when there was one.
    async fn take_kept_link(&self, visitor_id: &str) -> Result<bool>;

    /// Kept links, oldest first.
    async fn kept_links(&self) -> Result<Vec<staff::KeptLink>>;

    /// The voided certificates of a conference, for its CRL.
    async fn revoked(&self, conference: &str) -> Result<Vec<crate::revocation::Revoked>>;

    // ---- staff access: shared by every replica, secrets kept as digests ----

    /// Start a staff session; sessions idle since `idle_before` go.
    async fn create_staff_session(
        &self,
        digest: Vec<u8>,
        generation: Vec<u8>,
        now: i64,
        idle_before: i64,
    ) -> Result<()>;

    /// A staff session by its digest.
    async fn staff_session(&self, digest: Vec<u8>) -> Result<Option<access::StaffSession>>;

    /// Note activity on a session.
    async fn touch_staff_session(&self, digest: Vec<u8>, now: i64) -> Result<()>;

    /// End a session (logout, a new passphrase, or the browser became the booth screen).
    async fn end_staff_session(&self, digest: Vec<u8>) -> Result<()>;

    /// Leave a message for the session's next page.
    async fn set_staff_flash(&self, digest: Vec<u8>, ok: bool, text: String) -> Result<()>;

    /// Drop the session's message (it was shown).
    async fn clear_staff_flash(&self, digest: Vec<u8>) -> Result<()>;

    /// Keep the session's enrolment link (sealed to the session) and its end, or drop it.
    async fn set_staff_enrolment(&self, digest: Vec<u8>, enrolment: Option<(Vec<u8>, i64)>) -> Result<()>;

    /// A new booth-screen enrolment code; expired ones go.
    async fn create_enrolment_code(&self, digest: Vec<u8>, expires_at: i64, now: i64) -> Result<()>;

    /// Whether the code still waits to be used at `now`.
    async fn enrolment_code_pending(&self, digest: Vec<u8>, now: i64) -> Result<bool>;

    /// Use the code: `true` exactly once, before it expires, across every replica.
    async fn redeem_enrolment_code(&self, digest: Vec<u8>, now: i64) -> Result<bool>;

    /// Failed passphrase attempts from `client` in the window that started after `since`.
    async fn login_failures(&self, client: String, since: i64) -> Result<u32>;

    /// Count a failed attempt from `client`: a window older than `since` starts over at
    /// `now`. Returns the failures in the current window.
    async fn count_login_failure(&self, client: String, now: i64, since: i64) -> Result<u32>;

    /// Count a hit on a rate limit shared by replicas: `key` is a keyed digest of the
    /// client (never its address), `window` the start of the current window. A newer
    /// window starts over at 1; a hit stamped with an older one (a replica's clock
    /// behind) counts in the newer. Returns the hits in the window, this one included.
    async fn count_hit(&self, key: Vec<u8>, window: i64) -> Result<u32>;

    /// Drop what has ended: sessions idle since `idle_before`, enrolment codes and booth
    /// screen handoffs expired at `now`, failed-login and rate-limit windows started before
    /// `failures_before` (their client keys go with them).
    async fn prune_access(&self, now: i64, idle_before: i64, failures_before: i64) -> Result<()>;

    // ---- the booth screen's handoffs ----

    /// Start a handoff (id and browser session as digests, the token sealed to that
    /// session) that lives until `expires_at`; expired ones go.
    async fn create_handoff(
        &self,
        id: Vec<u8>,
        session: Vec<u8>,
        sealed_token: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()>;

    /// A handoff still live at `now`.
    async fn handoff(&self, id: Vec<u8>, now: i64) -> Result<Option<handoffs::StoredHandoff>>;

    /// End a handoff ("Done"); `true` when there was one.
    async fn end_handoff(&self, id: Vec<u8>) -> Result<bool>;

    // ---- guestbook ----

    /// Insert or update the entry of this certificate. A star, once earned, stays.
    async fn upsert_entry(&self, e: NewEntry) -> Result<Entry>;

    /// Entries newest first after a cursor (keyset: as fast on page 1,000 as on page 1).
    async fn entries_after(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Entry>>;

    /// One page of entries by offset, newest first, and the total count.
    async fn entries_page(&self, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)>;

    // ---- archive ----

    /// Every issued certificate, oldest first.
    async fn issued_certificates(&self) -> Result<Vec<archive::IssuedRow>>;

    /// The distinct intermediates PEM of issued certificates (cert-manager keeps its
    /// intermediates in the cluster, so the data dir may not have them).
    async fn issued_intermediates(&self) -> Result<Vec<String>>;

    /// Visitors whose email or key the retention purge has not removed yet.
    async fn unpurged(&self) -> Result<archive::Unpurged>;

    // ---- moving a booth between backends ----

    /// Every row of every table (`certstamp store migrate`).
    async fn export(&self) -> Result<dump::Dump>;

    /// Write every row of `dump` into this database, in one transaction. Refuses a
    /// database that already has visitors, jobs or guestbook entries.
    async fn import(&self, dump: dump::Dump) -> Result<()>;

    // ---- conveniences every backend gets for free ----

    /// Whether other kiosks may share this database (only PostgreSQL says yes).
    fn shared(&self) -> bool {
        false
    }

    /// Share live events with every process on this database: what `events` emits
    /// reaches their screens, and theirs reach ours (the bus is told to resync after
    /// anything may have been missed). A database of one process has nobody to tell.
    fn share_events(&self, _events: &crate::events::Events) {}

    /// Record a submission (state `pending`), durably: see [`Backend::insert_visitor_row`].
    async fn insert_visitor(&self, v: NewVisitor, token: &Token) -> Result<()> {
        let (hash, public) = (token.lookup_hash(), token.public_key());
        self.insert_visitor_row(v, hash, public).await
    }

    /// A visitor whose certificate exists already (an issuer that signs on the spot) and,
    /// with automatic printing, its first ticket (`ticket`: the sealed payload): durable
    /// together, like [`Backend::insert_visitor`] (same duplicate rule). This default takes
    /// the writes one by one; a backend that can overrides it with one transaction, so the
    /// visitor waits for one commit instead of three.
    async fn insert_issued_visitor(
        &self,
        v: NewVisitor,
        token: &Token,
        row: IssuedRow,
        ticket: Option<Vec<u8>>,
        printer: &str,
    ) -> Result<Option<Enqueued>> {
        let id = v.id.clone();
        self.insert_visitor(v, token).await?;
        self.store_issued(&id, row).await?;
        match ticket {
            Some(payload) => Ok(Some(self.enqueue_job(&id, Origin::Auto, payload, 0, printer).await?)),
            None => Ok(None),
        }
    }

    /// What every request on a visitor's link reads, in one go where the backend can (one
    /// read transaction on SQLite, instead of three trips to a reader thread).
    async fn visitor_by_link(&self, token_hash: Vec<u8>) -> Result<Option<LinkView>> {
        let Some(visitor) = self.visitor_by_token_hash(token_hash).await? else {
            return Ok(None);
        };
        let latest_job = self.latest_job_for(&visitor.id).await?;
        Ok(Some(LinkView {
            visitor,
            latest_job,
            // Cannot tell without asking: `take_kept_link` decides.
            kept_link: true,
        }))
    }

    /// Find a visitor by token.
    async fn visitor_by_token(&self, token: &Token) -> Result<Option<Visitor>> {
        self.visitor_by_token_hash(token.lookup_hash()).await
    }

    /// Store the issued certificate for a visitor, sealing its key to the visitor's token.
    async fn complete_issuance(&self, id: &str, issued: IssuedCert) -> Result<()> {
        let public = self.token_pub(id).await?.ok_or(crate::error::Error::NotFound)?;
        // Sealing and parsing are CPU work: done here, not inside the writer's transaction.
        let row = IssuedRow::seal(&public, &issued)?;
        let (serial, fingerprint) = (row.serial.clone(), row.fingerprint.clone());
        self.store_issued(id, row).await?;
        // The one log line per issuance, for both backends: no name, email, token or key.
        tracing::info!(visitor = %id, serial = %serial, fingerprint = %fingerprint, "issued certificate");
        Ok(())
    }

    /// The newest visitors (first page of [`Backend::visitors_page`]).
    async fn recent_visitors(&self, limit: u32) -> Result<Vec<Visitor>> {
        Ok(self.visitors_page(VisitorFilter::default(), None, limit).await?.items)
    }

    /// The newest jobs (first page of [`Backend::jobs_page`]).
    async fn recent_jobs(&self, limit: u32) -> Result<Vec<Job>> {
        Ok(self.jobs_page(None, limit).await?.items)
    }
}

/// Store timestamps are Unix seconds.
pub use crate::clock::now_ts;

/// A visitor as their link finds them (see [`Backend::visitor_by_link`]).
#[derive(Debug, Clone)]
pub struct LinkView {
    /// Their row.
    pub visitor: Visitor,
    /// Their newest print job.
    pub latest_job: Option<Job>,
    /// Staff may keep a reissued link for them (`false` only when surely not).
    pub kept_link: bool,
}
