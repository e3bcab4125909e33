//! PostgreSQL, the only code that talks to a PostgreSQL server: a pool of connections
//! (deadpool) shared by every request, TLS through rustls where the URL asks for it.
//! Several kiosks share one database; everything that must hold across them is a
//! constraint or a row lock in the database, never a check in one process.
//!
//! Durability: every session runs with `synchronous_commit = on`, so a commit (and the
//! visitor's 303 after it) means the row is flushed on the server.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::Backend;
use super::guestbook::{Entry, NewEntry};
use super::jobs::{Enqueued, Job, JobState, Origin, PrinterRow};
use super::page::{Cursor, Page};
use super::visitors::{IssuedRow, NewVisitor, Purged, SealTile, Visitor, VisitorFilter};
use crate::error::{Error, Result};

mod access;
mod archive;
mod dump;
mod erase;
#[cfg(test)]
mod erase_tests;
mod guestbook;
mod handoffs;
mod jobs;
mod notify;
#[cfg(test)]
mod plans;
mod staff;
mod tls;
mod visitors;

/// Schema migrations, applied in order under an advisory lock (two kiosks starting at
/// once migrate once); `schema_migrations` remembers the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_schema.sql"),
    include_str!("migrations/0002_printers.sql"),
    include_str!("migrations/0003_purge_and_wall_names.sql"),
    include_str!("migrations/0004_staff_console_and_booth_screen.sql"),
    include_str!("migrations/0005_erase_and_open_jobs.sql"),
    include_str!("migrations/0006_rate_limits.sql"),
];

/// Connections per kiosk. PostgreSQL's default `max_connections` (100) leaves room for
/// several kiosks and print agents.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection (or a new one) before it gets a 503.
const WAIT: Duration = Duration::from_secs(5);
/// Any fixed key for the migration lock (pg_advisory_xact_lock takes a bigint).
const MIGRATION_LOCK: i64 = 0x6365_7274_7374_616d; // "certstam"

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        // A wrong certificate or a server that wants TLS: a setting to fix, not an outage.
        if let Some(message) = tls::failure(&e) {
            return Error::Db(message);
        }
        let code = e.code();
        // Lost or refused connections and a server shutting down: try again shortly.
        let gone = e.is_closed()
            || code.is_none()
            || code.is_some_and(|c| {
                c.code().starts_with("08")
                    || [
                        SqlState::ADMIN_SHUTDOWN,
                        SqlState::CRASH_SHUTDOWN,
                        SqlState::CANNOT_CONNECT_NOW,
                    ]
                    .contains(c)
            });
        if gone {
            Error::DbUnreachable(described(&e))
        } else if code.is_some_and(|c| c.code().starts_with("53")) {
            // Insufficient resources: the server's disk is full or out of memory.
            Error::Storage(described(&e))
        } else {
            Error::Db(described(&e))
        }
    }
}

/// The driver's words with their cause: its own ("db error", "error connecting to
/// server") say little without the server's message or the socket's error. Never the
/// server's DETAIL: it quotes the row's values (an email, in a unique violation).
fn described(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{e}: {} {}: {}", db.severity(), db.code().code(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Error::DbUnreachable(other.to_string()),
        }
    }
}

/// Is this setting a PostgreSQL URL (rather than a SQLite path)?
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The PostgreSQL backend.
pub struct Postgres {
    pool: Pool,
    /// How to open the connection that listens for other replicas' live events.
    listen: (tokio_postgres::Config, tokio_postgres_rustls::MakeRustlsConnect),
}

impl Postgres {
    /// Connect to `url` and bring the schema up to date. A server that is down gives
    /// [`Error::DbUnreachable`] here; once running, the pool reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self> {
        let (mut config, tls) = tls::parse(url)?;
        let options = config.get_options().unwrap_or_default().to_string();
        config.options(format!("{options} -c synchronous_commit=on").trim());
        config.connect_timeout(WAIT);
        config.application_name("certstamp");
        let listen = (config.clone(), tls.clone());
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Internal(format!("database pool: {e}")))?;
        let pg = Postgres { pool, listen };
        // At start nothing retries: say why (a 503's wording would hide it).
        pg.migrate().await.map_err(|e| match e {
            Error::DbUnreachable(detail) => Error::Db(format!("cannot reach the database: {detail}")),
            e => e,
        })?;
        Ok(pg)
    }

    async fn conn(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: i64 = tx
            .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await?
            .get(0);
        let applied = applied.max(0) as usize;
        if applied > MIGRATIONS.len() {
            return Err(Error::Internal(format!(
                "database schema version {applied} is newer than this certstamp ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&((i + 1) as i32), &crate::clock::now_ts()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Counters kept by triggers (see the migration), summed over their shards.
pub(super) const COUNTER: &str = "SELECT COALESCE(SUM(n), 0)::BIGINT FROM counters WHERE key = $1";

async fn counter<C: GenericClient>(c: &C, key: &str) -> Result<u64> {
    let stmt = c.prepare_cached(COUNTER).await?;
    let n: i64 = c.query_one(&stmt, &[&key]).await?.get(0);
    Ok(n.max(0) as u64)
}

#[async_trait]
impl Backend for Postgres {
    fn shared(&self) -> bool {
        true
    }

    fn share_events(&self, events: &crate::events::Events) {
        notify::share(self.pool.clone(), self.listen.0.clone(), self.listen.1.clone(), events);
    }

    async fn insert_visitor_row(&self, v: NewVisitor, token_hash: Vec<u8>, token_pub: [u8; 32]) -> Result<()> {
        visitors::insert(&self.conn().await?, &v, &token_hash, &token_pub).await
    }

    async fn insert_issued_visitor(
        &self,
        v: NewVisitor,
        token: &crate::token::Token,
        row: IssuedRow,
        ticket: Option<Vec<u8>>,
        printer: &str,
    ) -> Result<Option<Enqueued>> {
        let (hash, public) = (token.lookup_hash(), token.public_key());
        let mut c = self.conn().await?;
        // One transaction: a duplicate email leaves none of the three.
        let tx = c.transaction().await?;
        visitors::insert(&tx, &v, &hash, &public).await?;
        visitors::store_issued(&tx, &v.id, &row).await?;
        let queued = match ticket {
            Some(payload) => Some(jobs::enqueue(&tx, &v.id, Origin::Auto, &payload, 0, printer).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(queued)
    }

    async fn token_pub(&self, id: &str) -> Result<Option<[u8; 32]>> {
        visitors::token_pub(&self.conn().await?, id).await
    }

    async fn store_issued(&self, id: &str, row: IssuedRow) -> Result<()> {
        visitors::store_issued(&self.conn().await?, id, &row).await
    }

    async fn note_issuance_problem(&self, id: &str, message: &str, still_pending: bool) -> Result<()> {
        visitors::note_problem(&self.conn().await?, id, message, still_pending).await
    }

    async fn set_backend_ref(&self, id: &str, reference: &str) -> Result<()> {
        visitors::set_backend_ref(&self.conn().await?, id, reference).await
    }

    async fn visitor_by_token_hash(&self, hash: Vec<u8>) -> Result<Option<Visitor>> {
        visitors::by_token_hash(&self.conn().await?, &hash).await
    }

    async fn visitor_by_id(&self, id: &str) -> Result<Option<Visitor>> {
        visitors::by_id(&self.conn().await?, id).await
    }

    async fn visitor_by_serial(&self, serial: &str) -> Result<Option<Visitor>> {
        visitors::by_serial(&self.conn().await?, serial).await
    }

    async fn pending_visitors(&self, issuer_kind: &str) -> Result<Vec<Visitor>> {
        visitors::pending(&self.conn().await?, issuer_kind).await
    }

    async fn visitors_page(&self, filter: VisitorFilter, after: Option<Cursor>, limit: u32) -> Result<Page<Visitor>> {
        visitors::page(&self.conn().await?, filter, after.as_ref(), limit).await
    }

    async fn seals_page(&self, conference: &str, after: Option<Cursor>, limit: u32) -> Result<Page<SealTile>> {
        visitors::seals(&self.conn().await?, conference, after.as_ref(), limit).await
    }

    async fn visitor_count(&self, conference: &str) -> Result<u64> {
        counter(&self.conn().await?, &format!("visitors:{conference}")).await
    }

    async fn issued_count(&self, conference: &str) -> Result<u64> {
        counter(&self.conn().await?, &format!("issued:{conference}")).await
    }

    async fn void(&self, id: &str, reason: &str) -> Result<Option<super::staff::Voided>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let voided = staff::void(&tx, id, reason).await?;
        tx.commit().await?;
        Ok(voided)
    }

    async fn forget(&self, id: &str) -> Result<Option<super::staff::Voided>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let forgotten = staff::forget(&tx, id).await?;
        tx.commit().await?;
        Ok(forgotten)
    }

    async fn erase_deleted(&self) -> Result<()> {
        erase::erase(&self.conn().await?).await
    }

    async fn console_page(
        &self,
        filter: super::staff::Filter,
        search: Option<super::staff::Search>,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page<Visitor>> {
        staff::page(&self.conn().await?, filter, search.as_ref(), after.as_ref(), limit).await
    }

    async fn console_counts(&self) -> Result<super::staff::FilterCounts> {
        staff::counts(&self.conn().await?).await
    }

    async fn console_jobs(&self, done: u32) -> Result<Vec<(Job, String)>> {
        staff::console_jobs(&self.conn().await?, done).await
    }

    async fn retry_job(&self, id: i64) -> Result<bool> {
        staff::retry(&self.conn().await?, id).await
    }

    async fn move_job(&self, id: i64, printer: &str) -> Result<bool> {
        staff::move_job(&self.conn().await?, id, printer).await
    }

    async fn put_kept_link(&self, visitor_id: &str, sealed_url: Vec<u8>) -> Result<()> {
        staff::put_link(&self.conn().await?, visitor_id, &sealed_url).await
    }

    async fn take_kept_link(&self, visitor_id: &str) -> Result<bool> {
        staff::take_link(&self.conn().await?, visitor_id).await
    }

    async fn kept_links(&self) -> Result<Vec<super::staff::KeptLink>> {
        staff::links(&self.conn().await?).await
    }

    async fn revoked(&self, conference: &str) -> Result<Vec<crate::revocation::Revoked>> {
        staff::revoked(&self.conn().await?, conference).await
    }

    async fn create_staff_session(
        &self,
        digest: Vec<u8>,
        generation: Vec<u8>,
        now: i64,
        idle_before: i64,
    ) -> Result<()> {
        access::create_session(&self.conn().await?, &digest, &generation, now, idle_before).await
    }

    async fn staff_session(&self, digest: Vec<u8>) -> Result<Option<super::access::StaffSession>> {
        access::session(&self.conn().await?, &digest).await
    }

    async fn touch_staff_session(&self, digest: Vec<u8>, now: i64) -> Result<()> {
        access::exec(&self.conn().await?, access::TOUCH_SESSION, &[&digest, &now]).await?;
        Ok(())
    }

    async fn end_staff_session(&self, digest: Vec<u8>) -> Result<()> {
        access::exec(&self.conn().await?, access::END_SESSION, &[&digest]).await?;
        Ok(())
    }

    async fn set_staff_flash(&self, digest: Vec<u8>, ok: bool, text: String) -> Result<()> {
        access::exec(
            &self.conn().await?,
            access::SET_FLASH,
            &[&digest, &Some(ok), &Some(text)],
        )
        .await?;
        Ok(())
    }

    async fn clear_staff_flash(&self, digest: Vec<u8>) -> Result<()> {
        let (ok, text) = (None::<bool>, None::<String>);
        access::exec(&self.conn().await?, access::SET_FLASH, &[&digest, &ok, &text]).await?;
        Ok(())
    }

    async fn set_staff_enrolment(&self, digest: Vec<u8>, enrolment: Option<(Vec<u8>, i64)>) -> Result<()> {
        let (sealed, expires) = enrolment.unzip();
        access::exec(
            &self.conn().await?,
            access::SET_ENROLMENT,
            &[&digest, &sealed, &expires],
        )
        .await?;
        Ok(())
    }

    async fn create_enrolment_code(&self, digest: Vec<u8>, expires_at: i64, now: i64) -> Result<()> {
        access::create_code(&self.conn().await?, &digest, expires_at, now).await
    }

    async fn enrolment_code_pending(&self, digest: Vec<u8>, now: i64) -> Result<bool> {
        access::code_pending(&self.conn().await?, &digest, now).await
    }

    async fn redeem_enrolment_code(&self, digest: Vec<u8>, now: i64) -> Result<bool> {
        access::redeem_code(&self.conn().await?, &digest, now).await
    }

    async fn login_failures(&self, client: String, since: i64) -> Result<u32> {
        access::failures(&self.conn().await?, &client, since).await
    }

    async fn count_login_failure(&self, client: String, now: i64, since: i64) -> Result<u32> {
        access::count_failure(&self.conn().await?, &client, now, since).await
    }

    async fn count_hit(&self, key: Vec<u8>, window: i64) -> Result<u32> {
        access::count_hit(&self.conn().await?, &key, window).await
    }

    async fn prune_access(&self, now: i64, idle_before: i64, failures_before: i64) -> Result<()> {
        let c = self.conn().await?;
        access::exec(&c, access::DROP_IDLE_SESSIONS, &[&idle_before]).await?;
        access::exec(&c, access::DROP_EXPIRED_CODES, &[&now]).await?;
        access::exec(&c, handoffs::DROP_EXPIRED_HANDOFFS, &[&now]).await?;
        access::exec(&c, access::DROP_OLD_FAILURES, &[&failures_before]).await?;
        access::exec(&c, access::DROP_OLD_HITS, &[&failures_before]).await?;
        Ok(())
    }

    async fn create_handoff(
        &self,
        id: Vec<u8>,
        session: Vec<u8>,
        sealed_token: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        handoffs::create_handoff(&self.conn().await?, &id, &session, &sealed_token, expires_at, now).await
    }

    async fn handoff(&self, id: Vec<u8>, now: i64) -> Result<Option<super::handoffs::StoredHandoff>> {
        handoffs::handoff(&self.conn().await?, &id, now).await
    }

    async fn end_handoff(&self, id: Vec<u8>) -> Result<bool> {
        handoffs::end_handoff(&self.conn().await?, &id).await
    }

    async fn purge_expired(&self, now: i64) -> Result<Purged> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let purged = visitors::purge_expired(&tx, now).await?;
        tx.commit().await?;
        // Also any rewrite owed by an earlier purge, forget or void: this runs hourly.
        // The purge is committed either way, so a failed rewrite does not undo it.
        if let Err(e) = erase::erase(&c).await {
            tracing::warn!(error = %e, "deleted data stays in the database files until the next upkeep");
        }
        Ok(purged)
    }

    async fn enqueue_job(
        &self,
        visitor_id: &str,
        origin: Origin,
        payload: Vec<u8>,
        dedupe_secs: i64,
        printer: &str,
    ) -> Result<Enqueued> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let res = jobs::enqueue(&tx, visitor_id, origin, &payload, dedupe_secs, printer).await?;
        tx.commit().await?;
        Ok(res)
    }

    async fn interrupt_in_flight_jobs(&self, printer: &str) -> Result<usize> {
        jobs::interrupt_in_flight(&self.conn().await?, printer).await
    }

    async fn next_job(&self, printer: &str) -> Result<Option<Job>> {
        jobs::next(&self.conn().await?, printer).await
    }

    async fn lease_printer(&self, printer: &str, holder: &str, until: i64) -> Result<bool> {
        jobs::lease(&self.conn().await?, printer, holder, until).await
    }

    async fn report_printer(&self, printer: &str, status: &str) -> Result<()> {
        jobs::report(&self.conn().await?, printer, status).await
    }

    async fn printers(&self) -> Result<Vec<PrinterRow>> {
        jobs::printers(&self.conn().await?).await
    }

    async fn start_job(&self, id: i64) -> Result<bool> {
        jobs::start(&self.conn().await?, id).await
    }

    async fn finish_job(&self, id: i64) -> Result<()> {
        jobs::finish(&self.conn().await?, id).await
    }

    async fn fail_job(&self, id: i64, error: &str, next_attempt_at: i64, counts: bool) -> Result<()> {
        jobs::fail(&self.conn().await?, id, error, next_attempt_at, counts).await
    }

    async fn interrupt_job(&self, id: i64, reason: &str) -> Result<()> {
        jobs::set_state_with_reason(&self.conn().await?, id, JobState::Interrupted, reason).await
    }

    async fn cancel_job(&self, id: i64, reason: &str) -> Result<()> {
        jobs::set_state_with_reason(&self.conn().await?, id, JobState::Cancelled, reason).await
    }

    async fn staff_resolve_job(&self, id: i64, to: JobState) -> Result<bool> {
        jobs::staff_resolve(&self.conn().await?, id, to).await
    }

    async fn job(&self, id: i64) -> Result<Option<Job>> {
        jobs::by_id(&self.conn().await?, id).await
    }

    async fn latest_job_for(&self, visitor_id: &str) -> Result<Option<Job>> {
        jobs::latest_for(&self.conn().await?, visitor_id).await
    }

    async fn jobs_page(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Job>> {
        jobs::page(&self.conn().await?, after.as_ref(), limit).await
    }

    async fn printed_count(&self) -> Result<u64> {
        counter(&self.conn().await?, "printed").await
    }

    async fn job_counts(&self) -> Result<Vec<(JobState, u64)>> {
        jobs::counts(&self.conn().await?).await
    }

    async fn check_writable(&self) -> Result<()> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO health (id, checked_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
            )
            .await?;
        c.execute(&stmt, &[&crate::clock::now_ts()]).await?;
        Ok(())
    }

    async fn issued_certificates(&self) -> Result<Vec<crate::store::archive::IssuedRow>> {
        archive::issued_certificates(&self.conn().await?).await
    }

    async fn issued_intermediates(&self) -> Result<Vec<String>> {
        archive::issued_intermediates(&self.conn().await?).await
    }

    async fn unpurged(&self) -> Result<crate::store::archive::Unpurged> {
        archive::unpurged(&self.conn().await?).await
    }

    async fn export(&self) -> Result<crate::store::dump::Dump> {
        let mut c = self.conn().await?;
        // One snapshot: rows written meanwhile are either all in or all out.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let d = dump::export(&tx).await?;
        tx.commit().await?;
        Ok(d)
    }

    async fn import(&self, d: crate::store::dump::Dump) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        dump::import(&tx, &d).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_entry(&self, e: NewEntry) -> Result<Entry> {
        guestbook::upsert(&self.conn().await?, &e).await
    }

    async fn entries_after(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Entry>> {
        guestbook::after(&self.conn().await?, after.as_ref(), limit).await
    }

    async fn entries_page(&self, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)> {
        guestbook::page(&self.conn().await?, limit, offset).await
    }
}
