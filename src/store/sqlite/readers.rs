//! A fixed pool of reader threads, each owning one read-only connection. In WAL mode a
//! reader sees the last commit and never waits for the writer. Dedicated threads (not
//! `spawn_blocking`) keep the thread count, and so memory, fixed however many requests
//! queue up in a rush.

use std::sync::{Arc, Mutex, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Readers {
    tx: mpsc::Sender<Job>,
}

impl Readers {
    /// Start one thread per connection.
    pub fn start(conns: Vec<Connection>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("db-reader-{i}"))
                .spawn(move || run(conn, &rx))?;
        }
        Ok(Readers { tx })
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
