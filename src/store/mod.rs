//! SQLite, the only module that talks to the database. One connection behind a
//! mutex, used from `spawn_blocking`: a kiosk writes a few rows a minute, and one
//! writer keeps every transaction simple. WAL with `synchronous=FULL` makes a commit
//! durable before the visitor sees the redirect.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Store timestamps are Unix seconds.
pub use crate::clock::now_ts;

/// What the static archive and `certstamp verify` read.
pub mod archive;
/// Guestbook entries, one per signing certificate.
pub mod guestbook;
/// Print jobs: the durable queue behind the print worker.
pub mod jobs;
/// What the staff console lists and changes: pages of visitors, forgetting, reissued links, CRLs.
pub mod staff;
/// Visitors and their certificates.
pub mod visitors;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e.to_string())
    }
}

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_visitors.sql"),
    include_str!("migrations/0002_guestbook.sql"),
    include_str!("migrations/0003_print_jobs.sql"),
    include_str!("migrations/0004_failed_frees_email.sql"),
    include_str!("migrations/0005_staff_console.sql"),
];

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Open (or create) the database file and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted emails and keys are overwritten, not left in free pages of the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection in a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(Error::internal)?
    }

    /// Fold the write-ahead log into the database file and empty it, so data just
    /// deleted survives in neither file.
    pub async fn checkpoint(&self) -> Result<()> {
        self.call(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Run `f` on the connection on this thread (for CLI commands and tests).
    pub fn call_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
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
