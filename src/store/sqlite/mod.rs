//! SQLite, the only code that talks to the database file. WAL mode: a pool of reader
//! threads that never wait for writes, and one writer thread that commits writes in
//! groups with `synchronous=FULL`, so a visitor's row is on disk before their 303.
//! Checkpoints run on their own thread, so the writer never stalls on one.
//!
//! Each query lives as a `const` SQL string next to a small function in `visitors.rs`,
//! `jobs.rs` or `guestbook.rs`; this file maps [`Backend`] onto readers and writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};

use super::Backend;
use super::guestbook::{Entry, NewEntry};
use super::jobs::{Enqueued, Job, JobState, Origin, PrinterRow};
use super::page::{Cursor, Page};
use super::visitors::{IssuedRow, NewVisitor, Purged, SealTile, Visitor, VisitorFilter};
use crate::error::{Error, Result};
use crate::token::Token;

mod access;
mod archive;
mod dump;
mod guestbook;
mod handoffs;
mod jobs;
mod readers;
mod staff;
#[cfg(test)]
mod tests;
mod visitors;
mod writer;

use readers::{Commits, Readers};
use writer::Writer;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if is_storage_fault(&e) {
            Error::Storage(e.to_string())
        } else {
            Error::Db(e.to_string())
        }
    }
}

/// Errors that mean the disk, not the query: full, read-only, failing.
pub(super) fn is_storage_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, ReadOnly, SystemIoFailure};
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DiskFull | ReadOnly | SystemIoFailure | CannotOpen))
}

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_visitors.sql"),
    include_str!("../migrations/0002_guestbook.sql"),
    include_str!("../migrations/0003_print_jobs.sql"),
    include_str!("../migrations/0004_failed_frees_email.sql"),
    include_str!("../migrations/0005_indexes_and_counters.sql"),
    include_str!("../migrations/0006_health.sql"),
    include_str!("../migrations/0007_purge_guestbook.sql"),
    include_str!("../migrations/0008_wall_names_guestbook_display_names.sql"),
    include_str!("../migrations/0009_staff_console_and_booth_screen.sql"),
    include_str!("../migrations/0010_printers.sql"),
    include_str!("../migrations/0011_rate_limits.sql"),
];

/// Reader threads; reads are short, so a few serve many concurrent requests.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4)
}

/// Connections for point reads on the runtime's own threads: one per core, as many as
/// can run at once.
fn inline_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4)
}

/// Page cache per connection, in KiB (negative = KiB for SQLite). The OS caches the
/// file too; small caches keep the kiosk's memory flat however large the file grows.
const READER_CACHE_KIB: i64 = 1024;
const WRITER_CACHE_KIB: i64 = 2048;
/// Point reads walk a few pages of an index and a row: the upper levels of the B-trees
/// stay cached in this, and the OS serves the rest.
const INLINE_CACHE_KIB: i64 = 256;

/// The SQLite backend.
pub struct Sqlite {
    readers: Readers,
    writer: Writer,
    checkpointer: Arc<Checkpointer>,
    /// Removed on drop (only for [`Sqlite::temporary`]).
    _temp: Option<TempDir>,
}

impl Sqlite {
    /// Open (or create) the database file and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        // SQLite creates its -wal and -shm files with the database file's mode: make that
        // 0600 before SQLite first creates it, and tighten files an older run left.
        if !path.exists() {
            drop(crate::files::create_private(path)?);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::files::make_private(Path::new(&p))?;
        }
        Self::start(path, None)
    }

    /// A database in a fresh temporary directory, removed on drop (tests).
    pub fn temporary() -> Result<Self> {
        let dir = TempDir::new()?;
        let path = dir.0.join("certstamp.db");
        Self::start(&path, Some(dir))
    }

    fn start(path: &Path, temp: Option<TempDir>) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        // WAL is a property of the file: set once, every later connection uses it.
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Internal(format!("SQLite refused WAL mode (got {mode})")));
        }
        configure(&conn, WRITER_CACHE_KIB)?;
        // Checkpoints happen on their own thread, not inside a visitor's commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        migrate(&mut conn)?;
        let checkpointer = Arc::new(Checkpointer::start(path)?);
        let after = checkpointer.clone();
        let commits = Commits::default();
        let writer = Writer::start(conn, commits.clone(), move |conn| after.after_commit(conn))?;
        let open = |n, cache| (0..n).map(|_| open_reader(path, cache)).collect::<Result<Vec<_>>>();
        Ok(Sqlite {
            readers: Readers::start(
                open(reader_count(), READER_CACHE_KIB)?,
                open(inline_count(), INLINE_CACHE_KIB)?,
                commits,
            )?,
            writer,
            checkpointer,
            _temp: temp,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.write(f).await
    }
}

/// How long a connection waits for a lock before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the WAL file is trimmed back to once it starts over.
const WAL_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

/// Settings every connection needs (`synchronous` is per connection, not per file).
fn configure(conn: &Connection, cache_kib: i64) -> Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content is overwritten with zeros, so what the purge removes is gone from the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Savepoint sub-journals stay in memory: a group commit's savepoints cost no file
    // writes, and no page with personal data spills into a temp file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The connection that starts the WAL over trims the file back to this size.
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_reader(path: &Path, cache_kib: i64) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn, cache_kib)?;
    // Read-write open (WAL readers need the shared-memory file) but refuse writes.
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if applied > MIGRATIONS.len() {
        return Err(Error::Internal(format!(
            "database schema version {applied} is newer than this certstamp ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Copies the WAL back into the database file after commits, on its own connection and
/// thread. PASSIVE never blocks the writer or readers; a busy moment is retried later.
///
/// Under a steady stream of commits that alone never catches up: frames land while it
/// copies, SQLite starts the WAL over only once every frame is in, and the WAL (with its
/// index, mapped into memory) grew by about 30 KB a visitor for as long as a rush
/// lasted. So a long WAL is finished on the writer's own thread, between two commits
/// ([`Checkpointer::after_commit`]), where no frame can land during the copy.
struct Checkpointer {
    tx: mpsc::SyncSender<Fold>,
    /// Set when the checkpoint thread found at least [`LONG_WAL_FRAMES`] in the WAL.
    long: Arc<AtomicBool>,
}

/// What the checkpoint thread is asked for.
enum Fold {
    /// A PASSIVE checkpoint soon (after commits).
    Soon,
    /// Copy the whole WAL in and truncate the file to zero bytes, then answer.
    Truncate(tokio::sync::oneshot::Sender<()>),
}

/// Commits between checkpoint attempts coalesce into one.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(250);

/// WAL frames (4 KiB pages) past which the writer finishes the checkpoint itself: 16 MiB,
/// the size the WAL file is trimmed back to.
const LONG_WAL_FRAMES: i64 = WAL_LIMIT_BYTES / 4096;

impl Checkpointer {
    fn start(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        configure(&conn, 256)?;
        let long = Arc::new(AtomicBool::new(false));
        let flag = long.clone();
        let (tx, rx) = mpsc::sync_channel::<Fold>(4);
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut replies = Vec::new();
                    if let Fold::Soon = first {
                        std::thread::sleep(CHECKPOINT_PAUSE);
                    }
                    for f in std::iter::once(first).chain(rx.try_iter()) {
                        if let Fold::Truncate(reply) = f {
                            replies.push(reply);
                        }
                    }
                    let truncate = !replies.is_empty();
                    let folded = if truncate {
                        checkpoint(&conn, "TRUNCATE").map(|w| w.done)
                    } else {
                        passive(&conn, &flag)
                    };
                    match folded {
                        Ok(true) => {}
                        // A passive checkpoint meeting busy readers is routine under load.
                        Ok(false) if !truncate => {
                            tracing::debug!("WAL checkpoint could not finish (busy); retried after the next commit")
                        }
                        Ok(false) => tracing::warn!(
                            mode = "TRUNCATE",
                            "WAL checkpoint could not finish (busy); retried after the next commit"
                        ),
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next commit"),
                    }
                    for r in replies {
                        let _ = r.send(());
                    }
                }
            })?;
        Ok(Checkpointer { tx, long })
    }

    /// Called on the writer's thread after each commit, with its connection: finish a
    /// long WAL there (the next commit then starts it over), and ask for a checkpoint.
    fn after_commit(&self, conn: &Connection) {
        finish_long_wal(conn, &self.long);
        self.nudge();
    }

    /// Ask for a checkpoint soon; never blocks (one pending request is enough).
    fn nudge(&self) {
        let _ = self.tx.try_send(Fold::Soon);
    }

    /// Fold the whole WAL into the database and truncate it, waiting until done.
    async fn truncate(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        let tx = self.tx.clone();
        // The channel is small and the thread may be mid-checkpoint: send off the runtime.
        let sent = tokio::task::spawn_blocking(move || tx.send(Fold::Truncate(reply))).await;
        if matches!(sent, Ok(Ok(()))) {
            let _ = done.await;
        }
    }
}

/// On the writer's thread, between commits: a WAL the checkpoint thread left long is
/// copied in here, so the next commit starts it over.
fn finish_long_wal(conn: &Connection, long: &AtomicBool) {
    if long.swap(false, Ordering::Relaxed)
        && let Err(e) = checkpoint(conn, "PASSIVE")
    {
        tracing::warn!(error = %e, "WAL checkpoint on the writer failed; retried later");
    }
}

/// The checkpoint thread's PASSIVE checkpoint. A long WAL gets more passes straight
/// away, until few frames land during one, and is then left to the writer to finish
/// (`long`): what the writer copies, while no visitor's commit can proceed, stays small.
/// True when every frame was copied in.
fn passive(conn: &Connection, long: &AtomicBool) -> rusqlite::Result<bool> {
    let mut wal = checkpoint(conn, "PASSIVE")?;
    if wal.frames < LONG_WAL_FRAMES {
        return Ok(wal.done);
    }
    for _ in 0..CATCH_UP_PASSES {
        let before = wal.frames;
        wal = checkpoint(conn, "PASSIVE")?;
        // Fewer frames than before: the WAL has started over already.
        if wal.frames - before <= TAIL_FRAMES {
            break;
        }
    }
    // Even with every frame copied, commits may have landed during the copy.
    long.store(true, Ordering::Relaxed);
    Ok(wal.done)
}

/// Extra passes a long WAL gets, and the frames landing during one that are few enough
/// for the writer to copy (1 MiB).
const CATCH_UP_PASSES: usize = 4;
const TAIL_FRAMES: i64 = 256;

/// What a checkpoint found.
struct Wal {
    /// Every frame was copied in.
    done: bool,
    /// Frames in the WAL.
    frames: i64,
}

/// One checkpoint in `mode` on `conn`.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Wal> {
    // SQLite answers (blocked, frames in the WAL, frames copied into the database).
    let (blocked, frames, copied) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })?;
    Ok(Wal {
        done: blocked == 0 && copied == frames,
        frames,
    })
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let name: String = crate::token::random_hex::<8>();
        let dir = std::env::temp_dir().join(format!("certstamp-store-{name}"));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn insert_visitor_row(&self, v: NewVisitor, token_hash: Vec<u8>, token_pub: [u8; 32]) -> Result<()> {
        self.write(move |c| visitors::insert(c, &v, &token_hash, &token_pub))
            .await
    }

    async fn insert_issued_visitor(
        &self,
        v: NewVisitor,
        token: &Token,
        row: IssuedRow,
        ticket: Option<Vec<u8>>,
        printer: &str,
    ) -> Result<Option<Enqueued>> {
        let (hash, public) = (token.lookup_hash(), token.public_key());
        let printer = printer.to_string();
        // One savepoint: a duplicate email (or a full disk) leaves none of the three.
        self.write(move |c| {
            visitors::insert(c, &v, &hash, &public)?;
            visitors::store_issued(c, &v.id, &row)?;
            ticket
                .map(|payload| jobs::enqueue(c, &v.id, Origin::Auto, &payload, 0, &printer))
                .transpose()
        })
        .await
    }

    async fn token_pub(&self, id: &str) -> Result<Option<[u8; 32]>> {
        let id = id.to_string();
        self.read(move |c| visitors::token_pub(c, &id)).await
    }

    async fn store_issued(&self, id: &str, row: IssuedRow) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| visitors::store_issued(c, &id, &row)).await
    }

    async fn note_issuance_problem(&self, id: &str, message: &str, still_pending: bool) -> Result<()> {
        let (id, message) = (id.to_string(), message.to_string());
        self.write(move |c| visitors::note_problem(c, &id, &message, still_pending))
            .await
    }

    async fn set_backend_ref(&self, id: &str, reference: &str) -> Result<()> {
        let (id, reference) = (id.to_string(), reference.to_string());
        self.write(move |c| visitors::set_backend_ref(c, &id, &reference)).await
    }

    async fn visitor_by_token_hash(&self, hash: Vec<u8>) -> Result<Option<Visitor>> {
        self.read(move |c| visitors::by_token_hash(c, &hash)).await
    }

    async fn visitor_by_link(&self, token_hash: Vec<u8>) -> Result<Option<super::LinkView>> {
        // Every visitor link's first step: three indexed lookups on one snapshot, run in place.
        self.readers
            .point_read(move |c| {
                let Some(visitor) = visitors::by_token_hash(c, &token_hash)? else {
                    return Ok(None);
                };
                let latest_job = jobs::latest_for(c, &visitor.id)?;
                let kept_link = staff::has_link(c, &visitor.id)?;
                Ok(Some(super::LinkView {
                    visitor,
                    latest_job,
                    kept_link,
                }))
            })
            .await
    }

    async fn visitor_by_id(&self, id: &str) -> Result<Option<Visitor>> {
        let id = id.to_string();
        self.read(move |c| visitors::by_id(c, &id)).await
    }

    async fn visitor_by_serial(&self, serial: &str) -> Result<Option<Visitor>> {
        let serial = serial.to_string();
        self.read(move |c| visitors::by_serial(c, &serial)).await
    }

    async fn pending_visitors(&self, issuer_kind: &str) -> Result<Vec<Visitor>> {
        let kind = issuer_kind.to_string();
        self.read(move |c| visitors::pending(c, &kind)).await
    }

    async fn visitors_page(&self, filter: VisitorFilter, after: Option<Cursor>, limit: u32) -> Result<Page<Visitor>> {
        self.read(move |c| visitors::page(c, filter, after.as_ref(), limit))
            .await
    }

    async fn seals_page(&self, conference: &str, after: Option<Cursor>, limit: u32) -> Result<Page<SealTile>> {
        let conference = conference.to_string();
        self.read(move |c| visitors::seals(c, &conference, after.as_ref(), limit))
            .await
    }

    async fn visitor_count(&self, conference: &str) -> Result<u64> {
        let key = format!("visitors:{conference}");
        self.read(move |c| counter(c, &key)).await
    }

    async fn issued_count(&self, conference: &str) -> Result<u64> {
        let key = format!("issued:{conference}");
        self.read(move |c| counter(c, &key)).await
    }

    async fn void(&self, id: &str, reason: &str) -> Result<Option<super::staff::Voided>> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.write(move |c| staff::void(c, &id, &reason)).await
    }

    async fn forget(&self, id: &str) -> Result<Option<super::staff::Voided>> {
        let id = id.to_string();
        self.write(move |c| staff::forget(c, &id)).await
    }

    async fn erase_deleted(&self) -> Result<()> {
        self.checkpointer.truncate().await;
        Ok(())
    }

    async fn console_page(
        &self,
        filter: super::staff::Filter,
        search: Option<super::staff::Search>,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page<Visitor>> {
        self.read(move |c| staff::page(c, filter, search.as_ref(), after.as_ref(), limit))
            .await
    }

    async fn console_counts(&self) -> Result<super::staff::FilterCounts> {
        self.read(staff::counts).await
    }

    async fn console_jobs(&self, done: u32) -> Result<Vec<(Job, String)>> {
        self.read(move |c| staff::console_jobs(c, done)).await
    }

    async fn retry_job(&self, id: i64) -> Result<bool> {
        self.write(move |c| staff::retry(c, id)).await
    }

    async fn move_job(&self, id: i64, printer: &str) -> Result<bool> {
        let printer = printer.to_string();
        self.write(move |c| staff::move_job(c, id, &printer)).await
    }

    async fn put_kept_link(&self, visitor_id: &str, sealed_url: Vec<u8>) -> Result<()> {
        let id = visitor_id.to_string();
        self.write(move |c| staff::put_link(c, &id, &sealed_url)).await
    }

    async fn take_kept_link(&self, visitor_id: &str) -> Result<bool> {
        // Every page view asks: a reader answers the usual "none", the writer only deletes.
        let id = visitor_id.to_string();
        if !self.read(move |c| staff::has_link(c, &id)).await? {
            return Ok(false);
        }
        let id = visitor_id.to_string();
        self.write(move |c| staff::take_link(c, &id)).await
    }

    async fn kept_links(&self) -> Result<Vec<super::staff::KeptLink>> {
        self.read(staff::links).await
    }

    async fn revoked(&self, conference: &str) -> Result<Vec<crate::revocation::Revoked>> {
        let conference = conference.to_string();
        self.read(move |c| staff::revoked(c, &conference)).await
    }

    async fn purge_expired(&self, now: i64) -> Result<Purged> {
        let purged = self.write(move |c| visitors::purge_expired(c, now)).await?;
        if !purged.visitors.is_empty() {
            // The purged rows' old pages may still sit in the WAL: fold it in and empty it.
            self.checkpointer.truncate().await;
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
        let (visitor_id, printer) = (visitor_id.to_string(), printer.to_string());
        self.write(move |c| jobs::enqueue(c, &visitor_id, origin, &payload, dedupe_secs, &printer))
            .await
    }

    async fn interrupt_in_flight_jobs(&self, printer: &str) -> Result<usize> {
        let printer = printer.to_string();
        self.write(move |c| jobs::interrupt_in_flight(c, &printer)).await
    }

    async fn next_job(&self, printer: &str) -> Result<Option<Job>> {
        let printer = printer.to_string();
        self.write(move |c| jobs::next(c, &printer)).await
    }

    async fn lease_printer(&self, printer: &str, holder: &str, until: i64) -> Result<bool> {
        let (printer, holder) = (printer.to_string(), holder.to_string());
        self.write(move |c| jobs::lease(c, &printer, &holder, until)).await
    }

    async fn report_printer(&self, printer: &str, status: &str) -> Result<()> {
        let (printer, status) = (printer.to_string(), status.to_string());
        self.write(move |c| jobs::report(c, &printer, &status)).await
    }

    async fn printers(&self) -> Result<Vec<PrinterRow>> {
        self.read(jobs::printers).await
    }

    async fn start_job(&self, id: i64) -> Result<bool> {
        self.write(move |c| jobs::start(c, id)).await
    }

    async fn finish_job(&self, id: i64) -> Result<()> {
        self.write(move |c| jobs::finish(c, id)).await
    }

    async fn fail_job(&self, id: i64, error: &str, next_attempt_at: i64, counts: bool) -> Result<()> {
        let error = error.to_string();
        self.write(move |c| jobs::fail(c, id, &error, next_attempt_at, counts))
            .await
    }

    async fn interrupt_job(&self, id: i64, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.write(move |c| jobs::set_state_with_reason(c, id, JobState::Interrupted, &reason))
            .await
    }

    async fn cancel_job(&self, id: i64, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.write(move |c| jobs::set_state_with_reason(c, id, JobState::Cancelled, &reason))
            .await
    }

    async fn staff_resolve_job(&self, id: i64, to: JobState) -> Result<bool> {
        self.write(move |c| jobs::staff_resolve(c, id, to)).await
    }

    async fn job(&self, id: i64) -> Result<Option<Job>> {
        self.read(move |c| jobs::by_id(c, id)).await
    }

    async fn latest_job_for(&self, visitor_id: &str) -> Result<Option<Job>> {
        let visitor_id = visitor_id.to_string();
        self.read(move |c| jobs::latest_for(c, &visitor_id)).await
    }

    async fn jobs_page(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Job>> {
        self.read(move |c| jobs::page(c, after.as_ref(), limit)).await
    }

    async fn printed_count(&self) -> Result<u64> {
        self.read(|c| counter(c, "printed")).await
    }

    async fn job_counts(&self) -> Result<Vec<(JobState, u64)>> {
        self.read(jobs::counts).await
    }

    async fn check_writable(&self) -> Result<()> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO health (id, checked_at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )?
            .execute([crate::clock::now_ts()])?;
            Ok(())
        })
        .await
    }

    async fn issued_certificates(&self) -> Result<Vec<crate::store::archive::IssuedRow>> {
        self.read(archive::issued_certificates).await
    }

    async fn issued_intermediates(&self) -> Result<Vec<String>> {
        self.read(archive::issued_intermediates).await
    }

    async fn unpurged(&self) -> Result<crate::store::archive::Unpurged> {
        self.read(archive::unpurged).await
    }

    async fn export(&self) -> Result<crate::store::dump::Dump> {
        self.read(dump::export).await
    }

    async fn import(&self, d: crate::store::dump::Dump) -> Result<()> {
        self.write(move |c| dump::import(c, &d)).await
    }

    async fn create_staff_session(
        &self,
        digest: Vec<u8>,
        generation: Vec<u8>,
        now: i64,
        idle_before: i64,
    ) -> Result<()> {
        self.write(move |c| access::create_session(c, &digest, &generation, now, idle_before))
            .await
    }

    async fn staff_session(&self, digest: Vec<u8>) -> Result<Option<super::access::StaffSession>> {
        self.read(move |c| access::session(c, &digest)).await
    }

    async fn touch_staff_session(&self, digest: Vec<u8>, now: i64) -> Result<()> {
        self.write(move |c| access::execute(c, access::TOUCH_SESSION, rusqlite::params![digest, now]))
            .await
    }

    async fn end_staff_session(&self, digest: Vec<u8>) -> Result<()> {
        self.write(move |c| access::execute(c, access::END_SESSION, [digest]))
            .await
    }

    async fn set_staff_flash(&self, digest: Vec<u8>, ok: bool, text: String) -> Result<()> {
        self.write(move |c| access::execute(c, access::SET_FLASH, rusqlite::params![digest, ok, text]))
            .await
    }

    async fn clear_staff_flash(&self, digest: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            access::execute(
                c,
                access::SET_FLASH,
                rusqlite::params![digest, None::<bool>, None::<String>],
            )
        })
        .await
    }

    async fn set_staff_enrolment(&self, digest: Vec<u8>, enrolment: Option<(Vec<u8>, i64)>) -> Result<()> {
        let (sealed, expires) = enrolment.unzip();
        self.write(move |c| access::execute(c, access::SET_ENROLMENT, rusqlite::params![digest, sealed, expires]))
            .await
    }

    async fn create_enrolment_code(&self, digest: Vec<u8>, expires_at: i64, now: i64) -> Result<()> {
        self.write(move |c| access::create_code(c, &digest, expires_at, now))
            .await
    }

    async fn enrolment_code_pending(&self, digest: Vec<u8>, now: i64) -> Result<bool> {
        self.read(move |c| access::code_pending(c, &digest, now)).await
    }

    async fn redeem_enrolment_code(&self, digest: Vec<u8>, now: i64) -> Result<bool> {
        self.write(move |c| access::redeem_code(c, &digest, now)).await
    }

    async fn login_failures(&self, client: String, since: i64) -> Result<u32> {
        self.read(move |c| access::failures(c, &client, since)).await
    }

    async fn count_login_failure(&self, client: String, now: i64, since: i64) -> Result<u32> {
        self.write(move |c| access::count_failure(c, &client, now, since)).await
    }

    async fn count_hit(&self, key: Vec<u8>, window: i64) -> Result<u32> {
        self.write(move |c| access::count_hit(c, &key, window)).await
    }

    async fn prune_access(&self, now: i64, idle_before: i64, failures_before: i64) -> Result<()> {
        self.write(move |c| {
            access::execute(c, access::DROP_IDLE_SESSIONS, [idle_before])?;
            access::execute(c, access::DROP_EXPIRED_CODES, [now])?;
            access::execute(c, handoffs::DROP_EXPIRED, [now])?;
            access::execute(c, access::DROP_OLD_FAILURES, [failures_before])?;
            access::execute(c, access::DROP_OLD_HITS, [failures_before])
        })
        .await
    }

    async fn create_handoff(
        &self,
        id: Vec<u8>,
        session: Vec<u8>,
        sealed_token: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        self.write(move |c| handoffs::create(c, &id, &session, &sealed_token, expires_at, now))
            .await
    }

    async fn handoff(&self, id: Vec<u8>, now: i64) -> Result<Option<super::handoffs::StoredHandoff>> {
        self.read(move |c| handoffs::live(c, &id, now)).await
    }

    async fn end_handoff(&self, id: Vec<u8>) -> Result<bool> {
        self.write(move |c| handoffs::end(c, &id)).await
    }

    async fn upsert_entry(&self, e: NewEntry) -> Result<Entry> {
        self.write(move |c| guestbook::upsert(c, &e)).await
    }

    async fn entries_after(&self, after: Option<Cursor>, limit: u32) -> Result<Page<Entry>> {
        self.read(move |c| guestbook::after(c, after.as_ref(), limit)).await
    }

    async fn entries_page(&self, limit: u32, offset: u64) -> Result<(Vec<Entry>, u64)> {
        self.read(move |c| guestbook::page(c, limit, offset)).await
    }
}

/// Counters kept by triggers (see migration 0005), so no count scans a table.
const COUNTER: &str = "SELECT n FROM counters WHERE key = ?1";

fn counter(c: &Connection, key: &str) -> Result<u64> {
    use rusqlite::OptionalExtension;
    let n: Option<i64> = c.prepare_cached(COUNTER)?.query_row([key], |r| r.get(0)).optional()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}
