//! Erasing what a purge, "forget" or void deleted from PostgreSQL's files.
//!
//! PostgreSQL never overwrites a row in place: an UPDATE or DELETE leaves the old
//! version in its page (and its index entries) until a vacuum, and a plain VACUUM only
//! marks that space free, bytes and all. So overwriting columns before deleting would
//! add one more copy, not remove one. `VACUUM (FULL)` copies the live rows into new
//! files (table, TOAST and every index) and deletes the old ones: afterwards no file of
//! the database holds what was removed. The price is an exclusive lock on each table
//! while it is copied (0.9 s for 10 000 visitors on a 2-core test machine, during
//! which requests wait); it runs only when something was deleted, waits at most
//! [`LOCK_WAIT`] for the lock, and otherwise leaves the debt for the next hourly upkeep.
//!
//! A rewrite keeps rows a running transaction may still see, so it first waits for
//! every transaction older than the deletion to end. What it cannot see: snapshots of
//! other database users (a `pg_dump` by the superuser, a standby's
//! `hot_standby_feedback`) hold rows back the same way, unseen.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use crate::error::Result;

/// Run in the transaction that deletes personal data: it and every deletion before it
/// are owed a rewrite (`xid`: the newest deleting transaction).
pub(super) const OWE: &str = "INSERT INTO erase_owed (id, n, xid) VALUES (1, 1, pg_current_xact_id()) \
    ON CONFLICT (id) DO UPDATE SET n = erase_owed.n + 1, xid = GREATEST(erase_owed.xid, EXCLUDED.xid)";
const OWED: &str = "SELECT n, xid::text FROM erase_owed WHERE id = 1";
/// Whether every transaction that could still see the deleted rows has ended: none
/// older than the deletion runs anywhere, and no session of this database (of this
/// user: others' are hidden from it) holds an older snapshot. Until then a rewrite
/// would have to copy the deleted rows along.
const NOBODY_SEES_THEM: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8 \
    AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
    AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL \
    AND age(backend_xmin) >= age((($1::text::bigint % 4294967296)::text)::xid))";
/// Cleared only if nothing was deleted since the rewrite began.
const PAID: &str = "DELETE FROM erase_owed WHERE id = 1 AND n = $1";
/// Every table that holds personal data.
const REWRITE: &str = "VACUUM (FULL) visitors, guestbook, print_jobs, kept_links";
/// How long the rewrite waits for a table's lock (others queue behind it meanwhile).
const LOCK_WAIT: &str = "3s";
/// How long it waits for older transactions (other kiosks' requests) to end.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

pub(super) async fn owe<C: GenericClient>(c: &C) -> Result<()> {
    c.execute(OWE, &[]).await?;
    Ok(())
}

/// Rewrite the tables if a deletion is owed. Older transactions still running or a
/// busy table only postpone it (logged): the deletion itself is done, and the next
/// upkeep on any kiosk rewrites.
pub(super) async fn erase(c: &deadpool_postgres::Client) -> Result<()> {
    let Some((n, xid)) = c
        .query_opt(OWED, &[])
        .await?
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)))
    else {
        return Ok(());
    };
    let waited = tokio::time::Instant::now();
    while !c.query_one(NOBODY_SEES_THEM, &[&xid]).await?.get::<_, bool>(0) {
        if waited.elapsed() > SNAPSHOT_WAIT {
            tracing::warn!(
                "a transaction older than the deletion is still running; deleted data leaves the database files at the next hourly upkeep"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // VACUUM cannot run in a transaction, so the timeout is the session's, reset after.
    c.batch_execute(&format!("SET lock_timeout = '{LOCK_WAIT}'")).await?;
    let rewritten = c.batch_execute(REWRITE).await;
    c.batch_execute("RESET lock_timeout").await?;
    match rewritten {
        Ok(()) => {
            c.execute(PAID, &[&n]).await?;
            Ok(())
        }
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            tracing::warn!("the tables were busy; deleted data leaves the database files at the next hourly upkeep");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
