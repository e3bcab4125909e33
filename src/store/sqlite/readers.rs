//! A fixed pool of reader threads, each owning one read-only connection. In WAL mode a
//! reader sees the last commit and never waits for the writer. Dedicated threads (not
//! `spawn_blocking`) keep the thread count, and so memory, fixed however many requests
//! queue up in a rush.
//!
//! Point reads (one row by an index, as every visitor link needs) can also run on the
//! caller's own thread, on a few connections kept for that: handing a 10 µs read to a
//! thread and waking the task again costs more than the read itself. Those connections
//! also keep one snapshot for a few point reads in a row ([`HOLD`]): beginning a read
//! transaction takes and releases a lock on the WAL index (two `fcntl` calls and a mutex
//! shared with every other connection of the process), a tenth of a link lookup.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError, Weak, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Longest a point-read connection keeps one snapshot. A commit of this process's writer
/// ends it at once (see [`Commits`]), so a visitor always sees what was acknowledged to
/// them; a commit of another process (a `certstamp store` command) shows after at most
/// this long. Short, too, because a snapshot holds back the checkpoint of later commits.
pub const HOLD: Duration = Duration::from_millis(5);

/// How many commits this process's writer has made. The writer counts a commit before
/// it answers anyone; a point read renews its snapshot when the count moved, so what a
/// caller was told is saved is what the next read sees.
#[derive(Clone, Default)]
pub struct Commits(Arc<AtomicU64>);

impl Commits {
    /// Count one commit (the writer, after it and before answering).
    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Readers {
    tx: mpsc::Sender<Job>,
    /// Connections for point reads on the caller's thread, each taken only if free.
    inline: Arc<[Mutex<Inline>]>,
    commits: Commits,
    /// The closer; its thread stops when the last clone goes.
    closer: Arc<StopCloser>,
}

/// A point-read connection and the snapshot it holds, if any.
struct Inline {
    conn: Connection,
    held: Option<Held>,
}

/// When a held snapshot began, and the commit count then.
struct Held {
    since: Instant,
    commits: u64,
}

impl Inline {
    /// Make sure a snapshot no older than `hold` and no older than commit `commits` is open.
    fn snapshot(&mut self, commits: u64, now: Instant, hold: Duration) -> Result<()> {
        if let Some(h) = &self.held
            && (h.commits != commits || now.duration_since(h.since) >= hold || self.conn.is_autocommit())
        {
            self.end();
        }
        if self.held.is_none() {
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            // The snapshot itself is taken by the first read, after `commits` was read.
            self.held = Some(Held { since: now, commits });
        }
        Ok(())
    }

    /// End the held snapshot, if any.
    fn end(&mut self) {
        self.held = None;
        end_transaction(&self.conn);
    }
}

/// Ends snapshots nobody renewed for [`HOLD`]: an idle kiosk holds none, and a checkpoint
/// never waits for one long. Sleeps until a point read leaves a snapshot open.
struct Closer {
    /// Some snapshot may be open; set by point reads, cleared by the closer.
    armed: AtomicBool,
    /// True once the readers are gone.
    stopped: Mutex<bool>,
    wake: Condvar,
    /// [`HOLD`], but for tests.
    hold: Duration,
}

impl Closer {
    /// A point read left a snapshot open: make sure the closer will look.
    fn arm(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            // Under the lock: the closer is either waiting (and wakes) or not yet
            // checking `armed` (and sees it set).
            let _guard = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_one();
        }
    }

    fn run(&self, inline: &Weak<[Mutex<Inline>]>) {
        loop {
            {
                let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped && !self.armed.load(Ordering::Acquire) {
                    stopped = self.wake.wait(stopped).unwrap_or_else(|p| p.into_inner());
                }
                if *stopped {
                    return;
                }
            }
            std::thread::sleep(self.hold);
            self.armed.store(false, Ordering::Release);
            let Some(inline) = inline.upgrade() else { return };
            let mut left = false;
            for slot in inline.iter() {
                let mut slot = match slot.try_lock() {
                    Ok(slot) => slot,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    // In use: its point read arms the closer again when done.
                    Err(TryLockError::WouldBlock) => continue,
                };
                match &slot.held {
                    Some(h) if h.since.elapsed() >= self.hold => slot.end(),
                    Some(_) => left = true,
                    None => {}
                }
            }
            if left {
                self.armed.store(true, Ordering::Release);
            }
        }
    }
}

/// Dropped with the last [`Readers`] clone: the closer thread ends.
struct StopCloser(Arc<Closer>);

impl Drop for StopCloser {
    fn drop(&mut self) {
        *self.0.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.wake.notify_one();
    }
}

impl Readers {
    /// Start one thread per connection in `conns`; keep `inline` for point reads, whose
    /// snapshots end when `commits` moves.
    pub fn start(conns: Vec<Connection>, inline: Vec<Connection>, commits: Commits) -> Result<Self> {
        Self::holding(conns, inline, commits, HOLD)
    }

    fn holding(conns: Vec<Connection>, inline: Vec<Connection>, commits: Commits, hold: Duration) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("db-reader-{i}"))
                .spawn(move || run(conn, &rx))?;
        }
        let inline: Arc<[Mutex<Inline>]> = inline
            .into_iter()
            .map(|conn| Mutex::new(Inline { conn, held: None }))
            .collect();
        let closer = Arc::new(Closer {
            armed: AtomicBool::new(false),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            hold,
        });
        let (weak, c) = (Arc::downgrade(&inline), closer.clone());
        std::thread::Builder::new()
            .name("db-snapshots".into())
            .spawn(move || c.run(&weak))?;
        Ok(Readers {
            tx,
            inline,
            commits,
            closer: Arc::new(StopCloser(closer)),
        })
    }

    /// Run `f`, a point read that finds its rows by an index, inside one read
    /// transaction: right here on a free inline connection, on a snapshot it may share
    /// with the point reads just before it (see [`HOLD`]); when none is free (as many
    /// point reads at once as there are inline connections), on the next free reader
    /// thread. It blocks the caller's thread for as long as the read takes, so nothing
    /// that scans belongs here.
    pub async fn point_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(mut slot) = self.inline.iter().find_map(|c| c.try_lock().ok()) else {
            return self
                .read(move |c| {
                    let _tx = Snapshot::begin(c)?;
                    f(c)
                })
                .await;
        };
        slot.snapshot(self.commits.now(), Instant::now(), self.closer.0.hold)?;
        // A panicking read becomes an error, as on the reader threads; the guard is
        // released normally, so the connection is not poisoned.
        let out = catch_unwind(AssertUnwindSafe(|| f(&slot.conn))).unwrap_or_else(|_| {
            tracing::error!("a database read panicked");
            Err(Error::Internal("a database read failed; see the kiosk log".into()))
        });
        if out.is_ok() {
            drop(slot);
            self.closer.0.arm();
        } else {
            slot.end();
        }
        out
    }

    /// Run `f` on the next free reader.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.tx
            .send(job)
            .map_err(|_| Error::Internal("database readers stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("a database read failed; see the kiosk log".into()))?
    }
}

/// `COMMIT` a read transaction, if one is open (a failed statement may have ended it).
fn end_transaction(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]))
    {
        tracing::error!(error = %e, "could not end a read transaction");
    }
}

/// A read transaction: the reads inside see one snapshot. `BEGIN` and `COMMIT` come from
/// the statement cache (rusqlite's transactions run them as batches, parsed anew each
/// time: a tenth of a link lookup's cost). Ends when dropped, also after an error or a panic.
struct Snapshot<'c>(&'c Connection);

impl<'c> Snapshot<'c> {
    /// Begin one on `conn`.
    fn begin(conn: &'c Connection) -> Result<Self> {
        conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(Snapshot(conn))
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        end_transaction(self.0);
    }
}

fn run(conn: Connection, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Hold the lock only to take a job, not to run it.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        // A panicking read drops its reply channel (the caller gets an error); the
        // thread and its connection live on.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn))).is_err() {
            tracing::error!("a database read panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conns(n: usize) -> Vec<Connection> {
        (0..n).map(|_| Connection::open_in_memory().unwrap()).collect()
    }

    /// Which thread a read ran on.
    async fn thread_of(r: &Readers) -> String {
        r.point_read(|_| Ok(std::thread::current().name().unwrap_or("").to_string()))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    #[expect(clippy::await_holding_lock, reason = "holding the inline connection is the point")]
    async fn a_point_read_runs_in_place_and_on_a_reader_when_the_inline_connection_is_busy() {
        let r = Readers::start(conns(1), conns(1), Commits::default()).unwrap();
        let here = std::thread::current().name().unwrap_or("").to_string();
        assert_eq!(thread_of(&r).await, here);
        let held = r.inline[0].lock().unwrap();
        assert_eq!(thread_of(&r).await, "db-reader-0");
        drop(held);
        assert_eq!(thread_of(&r).await, here);
    }

    /// Readers on a WAL file, and a second connection that writes to it.
    fn on_a_file(dir: &std::path::Path, commits: &Commits, hold: Duration) -> (Readers, Connection) {
        let path = dir.join("r.db");
        let w = Connection::open(&path).unwrap();
        let mode: String = w.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        w.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let open = || vec![Connection::open(&path).unwrap()];
        (Readers::holding(open(), open(), commits.clone(), hold).unwrap(), w)
    }

    async fn rows(r: &Readers) -> i64 {
        r.point_read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))?))
            .await
            .unwrap()
    }

    /// Whether the inline connection holds a snapshot now.
    fn holds(r: &Readers) -> bool {
        let slot = r.inline[0].lock().unwrap();
        assert_eq!(slot.held.is_some(), !slot.conn.is_autocommit());
        slot.held.is_some()
    }

    /// Wait (up to a generous bound, not a timing target) for the closer.
    async fn until_released(r: &Readers) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while holds(r) {
            assert!(Instant::now() < deadline, "the idle snapshot was never ended");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_held_snapshot_serves_the_next_point_read_until_a_commit_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let commits = Commits::default();
        // A hold far longer than the test: nothing here depends on timing.
        let (r, w) = on_a_file(dir.path(), &commits, Duration::from_secs(3600));
        assert_eq!(rows(&r).await, 0);
        assert!(holds(&r), "a point read leaves its snapshot for the next one");
        // Not counted (another process's commit): the same snapshot answers.
        w.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_eq!(rows(&r).await, 0);
        // This process's writer counts a commit before its callers hear of it: seen at once.
        w.execute("INSERT INTO t VALUES (2)", []).unwrap();
        commits.count();
        assert_eq!(rows(&r).await, 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn any_commit_shows_once_the_hold_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = on_a_file(dir.path(), &Commits::default(), HOLD);
        assert_eq!(rows(&r).await, 0);
        w.execute("INSERT INTO t VALUES (1)", []).unwrap();
        until_released(&r).await;
        assert_eq!(rows(&r).await, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_snapshot_ends_so_a_checkpoint_can_start_the_wal_over() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = on_a_file(dir.path(), &Commits::default(), HOLD);
        w.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_eq!(rows(&r).await, 1);
        until_released(&r).await;
        let busy: i64 = w
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap();
        assert_eq!(busy, 0, "no reader holds the WAL");
        assert_eq!(std::fs::metadata(dir.path().join("r.db-wal")).unwrap().len(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_point_read_ends_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (r, _w) = on_a_file(dir.path(), &Commits::default(), Duration::from_secs(3600));
        assert_eq!(rows(&r).await, 0);
        let failed = r
            .point_read(|c| Ok(c.query_row("SELECT nothing FROM nowhere", [], |row| row.get::<_, i64>(0))?))
            .await;
        assert!(failed.is_err());
        assert!(!holds(&r));
        assert_eq!(rows(&r).await, 0);
    }

    #[test]
    fn a_snapshot_ends_when_dropped_after_success_error_or_panic() {
        let c = Connection::open_in_memory().unwrap();
        drop(Snapshot::begin(&c).unwrap());
        assert!(c.is_autocommit());
        let failed = (|| -> Result<i64> {
            let tx = Snapshot::begin(&c)?;
            Ok(tx.0.query_row("SELECT nothing FROM nowhere", [], |r| r.get(0))?)
        })();
        assert!(failed.is_err());
        assert!(c.is_autocommit());
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _tx = Snapshot::begin(&c).unwrap();
            panic!("a bug in a read");
        }));
        assert!(panicked.is_err());
        assert!(c.is_autocommit(), "the next read can begin");
        drop(Snapshot::begin(&c).unwrap());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_point_read_is_an_error_and_the_connection_serves_on() {
        let r = Readers::start(conns(1), conns(1), Commits::default()).unwrap();
        let failed = r.point_read::<(), _>(|_| panic!("a bug in a read")).await;
        assert!(matches!(failed, Err(Error::Internal(_))), "{failed:?}");
        let one: i64 = r
            .point_read(|c| Ok(c.query_row("SELECT 1", [], |row| row.get(0))?))
            .await
            .unwrap();
        assert_eq!(one, 1);
        assert!(!r.inline[0].is_poisoned());
    }
}
