//! The one writer, with group commit. Every write is a closure sent to one thread that
//! owns the write connection. The thread takes whatever has queued up (up to
//! [`MAX_BATCH`]), runs each closure inside its own savepoint within one transaction,
//! commits once (one fsync for the whole group, `synchronous=FULL`), and only then
//! answers each caller. A closure that fails rolls back its savepoint alone: the
//! others in the group still commit. No artificial wait: while one group syncs, the
//! next one queues, so groups grow with the load and a lone write commits at once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::readers::Commits;
use crate::error::{Error, Result};

/// Most writes one commit carries; bounds the time one transaction holds the lock and
/// the savepoint journal it keeps in memory (`temp_store=MEMORY`): at 256 a rush of 256
/// clients peaked at 41 MiB RSS, at 64 at 35 MiB, with the same throughput.
pub const MAX_BATCH: usize = 64;

/// Why a group's commit failed, for each caller of that group.
#[derive(Clone)]
struct CommitError {
    message: String,
    storage: bool,
}

impl CommitError {
    fn to_error(&self) -> Error {
        if self.storage {
            Error::Storage(format!("database commit failed: {}", self.message))
        } else {
            Error::Internal(format!("database commit failed: {}", self.message))
        }
    }
}

/// What a write left to do once its group's commit is known: answer its caller.
type Reply = Box<dyn FnOnce(Option<&CommitError>) + Send>;

/// A queued write: runs on the writer's connection, says whether it succeeded, and
/// hands back its reply.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer thread on `conn`. Each commit is counted in `commits` before its
    /// callers hear of it; `committed` is called on that thread after each commit, with
    /// the connection (the checkpointer listens to it).
    pub fn start(conn: Connection, commits: Commits, committed: impl Fn(&Connection) + Send + 'static) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(conn, rx, &commits, committed))?;
        Ok(Writer { tx })
    }

    /// Run `f` in the next group and wait until that group's commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let res = f(conn);
            let ok = res.is_ok();
            let reply: Reply = Box::new(move |commit_error| {
                let out = match (res, commit_error) {
                    (Ok(v), None) => Ok(v),
                    (Ok(_), Some(e)) => Err(e.to_error()),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(out);
            });
            (ok, reply)
        });
        self.tx
            .send(job)
            .map_err(|_| Error::Internal("database writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("database write failed; see the kiosk log".into()))?
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Job>, commits: &Commits, committed: impl Fn(&Connection)) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, batch, commits);
        committed(&conn);
    }
}

/// One transaction for the whole group, one savepoint per job.
fn commit_group(conn: &mut Connection, batch: Vec<Job>, commits: &Commits) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            // Nothing ran. Dropping the jobs drops their reply channels: each caller
            // gets an error, and the cause goes to the log.
            tracing::error!(error = %e, jobs = batch.len(), "database writer could not begin a transaction");
            return;
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        let sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => {
                tracing::error!(error = %e, "database writer could not open a savepoint");
                drop(job);
                continue;
            }
        };
        // A panicking job loses only itself: its reply channel drops (the caller gets
        // an error) and its savepoint rolls back on drop.
        match catch_unwind(AssertUnwindSafe(|| job(&sp))) {
            Ok((true, reply)) => match sp.commit() {
                Ok(()) => replies.push(reply),
                Err(e) => reply(Some(&CommitError {
                    storage: super::is_storage_fault(&e),
                    message: e.to_string(),
                })),
            },
            Ok((false, reply)) => {
                drop(sp);
                replies.push(reply);
            }
            Err(_) => {
                tracing::error!("a database write panicked; rolled back alone");
                drop(sp);
            }
        }
    }
    // Some errors (disk full, I/O) make SQLite roll the whole transaction back by
    // itself; then nothing in this group is on disk, whatever the jobs said.
    let outcome = if tx.is_autocommit() {
        Err(CommitError {
            message: "the transaction was rolled back (disk full or failing)".into(),
            storage: true,
        })
    } else {
        tx.commit().map_err(|e| CommitError {
            storage: super::is_storage_fault(&e),
            message: e.to_string(),
        })
    };
    if outcome.is_ok() {
        // Before any answer: a read after an answer must not reuse an older snapshot.
        commits.count();
    }
    let err = outcome.err();
    if let Some(e) = &err {
        tracing::error!(error = %e.message, "database commit failed; nothing of this group was saved");
    }
    for reply in replies {
        reply(err.as_ref());
    }
}
