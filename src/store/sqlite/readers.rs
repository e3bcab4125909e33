//! A fixed pool of reader threads, each owning one read-only connection. In WAL mode a
//! reader sees the last commit and never waits for the writer. Dedicated threads (not
//! `spawn_blocking`) keep the thread count, and so memory, fixed however many requests
//! queue up in a rush.
//!
//! Point reads (one row by an index, as every visitor link needs) can also run on the
//! caller's own thread, on a few connections kept for that: handing a 10 µs read to a
//! thread and waking the task again costs more than the read itself.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Readers {
    tx: mpsc::Sender<Job>,
    /// Connections for point reads on the caller's thread, each taken only if free.
    inline: Arc<[Mutex<Connection>]>,
}

impl Readers {
    /// Start one thread per connection in `conns`; keep `inline` for point reads.
    pub fn start(conns: Vec<Connection>, inline: Vec<Connection>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("db-reader-{i}"))
                .spawn(move || run(conn, &rx))?;
        }
        Ok(Readers {
            tx,
            inline: inline.into_iter().map(Mutex::new).collect(),
        })
    }

    /// Run `f`, a point read that finds its rows by an index, right here on a free
    /// inline connection; when none is free (as many point reads at once as there are
    /// inline connections), on the next free reader thread. It blocks the caller's
    /// thread for as long as the read takes, so nothing that scans belongs here.
    pub async fn point_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(conn) = self.inline.iter().find_map(|c| c.try_lock().ok()) else {
            return self.read(f).await;
        };
        // A panicking read becomes an error, as on the reader threads; the guard is
        // released normally, so the connection is not poisoned.
        catch_unwind(AssertUnwindSafe(|| f(&conn))).unwrap_or_else(|_| {
            tracing::error!("a database read panicked");
            Err(Error::Internal("a database read failed; see the kiosk log".into()))
        })
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

/// A read transaction: the reads inside see one snapshot. `BEGIN` and `COMMIT` come from
/// the statement cache (rusqlite's transactions run them as batches, parsed anew each
/// time: a tenth of a link lookup's cost). Ends when dropped, also after an error or a panic.
pub struct Snapshot<'c>(pub &'c Connection);

impl<'c> Snapshot<'c> {
    /// Begin one on `conn`.
    pub fn begin(conn: &'c Connection) -> Result<Self> {
        conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(Snapshot(conn))
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        // A failed statement may have ended the transaction already.
        if !self.0.is_autocommit()
            && let Err(e) = self.0.prepare_cached("COMMIT").and_then(|mut s| s.execute([]))
        {
            tracing::error!(error = %e, "could not end a read transaction");
        }
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
        let r = Readers::start(conns(1), conns(1)).unwrap();
        let here = std::thread::current().name().unwrap_or("").to_string();
        assert_eq!(thread_of(&r).await, here);
        let held = r.inline[0].lock().unwrap();
        assert_eq!(thread_of(&r).await, "db-reader-0");
        drop(held);
        assert_eq!(thread_of(&r).await, here);
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
        let r = Readers::start(conns(1), conns(1)).unwrap();
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
