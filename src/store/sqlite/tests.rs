//! The SQLite backend against real database files: the queries, the writer's group
//! commit, the reader pool, and the query plans.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::writer::Writer;
use super::*;

/// A writer on a fresh file, and a way to look at the file from another connection.
fn writer_on_temp_file() -> (TempDir, Writer, Arc<AtomicUsize>) {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("w.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    configure(&conn, 256).unwrap();
    conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)").unwrap();
    let commits = Arc::new(AtomicUsize::new(0));
    let counted = commits.clone();
    let writer = Writer::start(conn, Commits::default(), move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    (dir, writer, commits)
}

fn count(dir: &TempDir) -> i64 {
    let c = Connection::open(dir.0.join("w.db")).unwrap();
    c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn group_commit_answers_only_after_its_commit_and_a_bad_row_fails_alone() {
    let (dir, writer, commits) = writer_on_temp_file();
    // Hold the writer inside a first job until the others have queued behind it, so
    // they form one group.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let blocker = tokio::spawn({
        let w = writer.clone();
        async move {
            w.write(move |c| {
                let _ = started_tx.send(());
                release_rx.recv().unwrap();
                c.execute("INSERT INTO t VALUES (0)", [])?;
                Ok(())
            })
            .await
        }
    });
    started_rx.await.unwrap();
    let mut waiting = Vec::new();
    for v in [1, 2, 2, 3] {
        let w = writer.clone();
        waiting.push(tokio::spawn(async move {
            w.write(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [v])?)).await
        }));
    }
    // Everything is queued, nothing committed: no caller may have an answer yet.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(waiting.iter().all(|h| !h.is_finished()));
    assert_eq!(count(&dir), 0, "nothing is visible before the commit");
    release_tx.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let results: Vec<_> = futures::future::join_all(waiting)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
    assert!(
        matches!(&results[2], Err(Error::Db(e)) if e.contains("UNIQUE")),
        "the duplicate fails alone: {:?}",
        results[2]
    );
    // Every answer came after its commit, and the four queued writes shared one.
    assert_eq!(count(&dir), 4);
    // The commit hook runs just after the answers go out: give it a moment.
    for _ in 0..100 {
        if commits.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(commits.load(Ordering::SeqCst), 2, "blocker's commit + one group");
}

#[tokio::test]
async fn a_panicking_write_fails_alone() {
    let (dir, writer, _) = writer_on_temp_file();
    let bad = writer.write(|c| -> Result<()> {
        c.execute("INSERT INTO t VALUES (7)", [])?;
        panic!("bug in a write");
    });
    let good = writer.write(|c| Ok(c.execute("INSERT INTO t VALUES (8)", [])?));
    let (bad, good) = tokio::join!(bad, good);
    assert!(bad.is_err());
    assert_eq!(good.unwrap(), 1);
    assert_eq!(count(&dir), 1, "the panicking write's row was rolled back");
    writer
        .write(|c| Ok(c.execute("INSERT INTO t VALUES (9)", [])?))
        .await
        .unwrap();
}

#[test]
fn reads_proceed_while_a_write_transaction_is_open() {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("r.db");
    let store = Sqlite::open(&path).unwrap();
    drop(store);
    let mut w = Connection::open(&path).unwrap();
    let tx = w
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO counters VALUES ('x', 1) ON CONFLICT (key) DO UPDATE SET n = 1",
        [],
    )
    .unwrap();
    // The write lock is held; a reader still answers at once with the last commit.
    let r = open_reader(&path, super::INLINE_CACHE_KIB).unwrap();
    r.busy_timeout(std::time::Duration::ZERO).unwrap();
    assert_eq!(super::counter(&r, "x").unwrap(), 0);
    assert!(r.execute("DELETE FROM counters", []).is_err(), "readers are query-only");
    tx.commit().unwrap();
    assert_eq!(super::counter(&r, "x").unwrap(), 1);
}

#[test]
fn migrations_keep_counters_of_existing_rows() {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("m.db");
    let conn = Connection::open(&path).unwrap();
    for sql in &MIGRATIONS[..4] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 4).unwrap();
    conn.execute_batch(
        "INSERT INTO visitors (id, conference, token_hash, token_pub, name, state, issuer_kind, created_at, retention_until) \
         VALUES ('a', 'c', x'01', x'02', 'A', 'issued', 'local', 1, 2), ('b', 'c', x'03', x'04', 'B', 'pending', 'local', 1, 2);",
    )
    .unwrap();
    drop(conn);
    let store = Sqlite::open(&path).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(store.issued_count("c")).unwrap(), 1);
    assert_eq!(rt.block_on(store.visitor_count("c")).unwrap(), 2);
}

/// Every statement the backend runs, with whether it may walk its index in order and
/// stop at a LIMIT (a bounded scan); any other full scan or sort fails the test.
const QUERIES: &[(&str, &str, bool)] = &[
    ("visitors::INSERT", visitors::INSERT, false),
    ("visitors::TOKEN_PUB", visitors::TOKEN_PUB, false),
    ("visitors::STORE_ISSUED", visitors::STORE_ISSUED, false),
    ("visitors::NOTE_PROBLEM", visitors::NOTE_PROBLEM, false),
    ("visitors::SET_BACKEND_REF", visitors::SET_BACKEND_REF, false),
    ("visitors::BY_TOKEN_HASH", visitors::BY_TOKEN_HASH, false),
    ("visitors::BY_ID", visitors::BY_ID, false),
    ("visitors::BY_SERIAL", visitors::BY_SERIAL, false),
    ("visitors::PENDING", visitors::PENDING, false),
    ("visitors::PAGE_ALL", visitors::PAGE_ALL, false),
    ("visitors::PAGE_STATE", visitors::PAGE_STATE, false),
    ("visitors::SEALS", visitors::SEALS, false),
    ("staff::PAGE_ALL", staff::PAGE_ALL, false),
    ("staff::PAGE_PENDING", staff::PAGE_PENDING, false),
    ("staff::PAGE_FAILED", staff::PAGE_FAILED, false),
    ("staff::PAGE_VOIDED", staff::PAGE_VOIDED, false),
    ("staff::ONE_WITH_ROWID", staff::ONE_WITH_ROWID, false),
    // Part of a name has no index: walks newest first and stops when a page is full.
    ("staff::SEARCH", staff::SEARCH, true),
    ("staff::COUNT_ALL", staff::COUNT_ALL, false),
    ("staff::COUNT_PENDING", staff::COUNT_PENDING, false),
    ("staff::COUNT_FAILED", staff::COUNT_FAILED, false),
    // Walks the partial index of voided visitors only.
    ("staff::COUNT_VOIDED", staff::COUNT_VOIDED, true),
    ("staff::JOBS_IN_STATE", staff::JOBS_IN_STATE, false),
    ("staff::VOID_ROW", staff::VOID_ROW, false),
    ("staff::FORGET_ROW", staff::FORGET_ROW, false),
    ("staff::FORGET_ENTRIES", staff::FORGET_ENTRIES, false),
    ("staff::CANCEL_OPEN_JOBS", staff::CANCEL_OPEN_JOBS, false),
    ("staff::DROP_PAYLOADS", staff::DROP_PAYLOADS, false),
    ("staff::CONFERENCE_OF", staff::CONFERENCE_OF, false),
    ("staff::PUT_LINK", staff::PUT_LINK, false),
    ("staff::TAKE_LINK", staff::TAKE_LINK, false),
    ("staff::HAS_LINK", staff::HAS_LINK, false),
    // Kept links are few (dropped when opened): oldest first, at most a screenful.
    ("staff::LINKS", staff::LINKS, true),
    ("staff::REVOKED", staff::REVOKED, false),
    ("staff::RETRY", staff::RETRY, false),
    ("access::CREATE_SESSION", access::CREATE_SESSION, false),
    ("access::DROP_IDLE_SESSIONS", access::DROP_IDLE_SESSIONS, false),
    ("access::SESSION", access::SESSION, false),
    ("access::TOUCH_SESSION", access::TOUCH_SESSION, false),
    ("access::END_SESSION", access::END_SESSION, false),
    ("access::SET_FLASH", access::SET_FLASH, false),
    ("access::SET_ENROLMENT", access::SET_ENROLMENT, false),
    ("access::CREATE_CODE", access::CREATE_CODE, false),
    ("access::DROP_EXPIRED_CODES", access::DROP_EXPIRED_CODES, false),
    ("access::CODE_PENDING", access::CODE_PENDING, false),
    ("access::REDEEM_CODE", access::REDEEM_CODE, false),
    ("access::FAILURES", access::FAILURES, false),
    ("access::COUNT_FAILURE", access::COUNT_FAILURE, false),
    ("access::DROP_OLD_FAILURES", access::DROP_OLD_FAILURES, false),
    ("visitors::DUE", visitors::DUE, false),
    ("visitors::DUE_JOBS", visitors::DUE_JOBS, false),
    ("visitors::PURGE_GUESTBOOK", visitors::PURGE_GUESTBOOK, false),
    ("visitors::CANCEL_DUE_JOBS", visitors::CANCEL_DUE_JOBS, false),
    ("visitors::DROP_DUE_PAYLOADS", visitors::DROP_DUE_PAYLOADS, false),
    ("handoffs::CREATE", handoffs::CREATE, false),
    ("handoffs::DROP_EXPIRED", handoffs::DROP_EXPIRED, false),
    ("handoffs::LIVE", handoffs::LIVE, false),
    ("handoffs::END", handoffs::END, false),
    ("visitors::PURGE", visitors::PURGE, false),
    ("jobs::OPEN_FOR_VISITOR", jobs::OPEN_FOR_VISITOR, false),
    ("jobs::INSERT", jobs::INSERT, false),
    ("jobs::INTERRUPT_IN_FLIGHT", jobs::INTERRUPT_IN_FLIGHT, false),
    ("jobs::CANCEL_UNISSUABLE", jobs::CANCEL_UNISSUABLE, false),
    // Walks the partial index of open jobs only, oldest first, and stops at the first.
    ("jobs::NEXT", jobs::NEXT, true),
    ("jobs::START", jobs::START, false),
    ("jobs::FINISH", jobs::FINISH, false),
    ("jobs::FAIL", jobs::FAIL, false),
    ("jobs::SET_STATE_WITH_REASON", jobs::SET_STATE_WITH_REASON, false),
    ("jobs::STAFF_CANCEL", jobs::STAFF_CANCEL, false),
    ("jobs::STAFF_PRINTED", jobs::STAFF_PRINTED, false),
    ("jobs::BY_ID", jobs::BY_ID, false),
    ("jobs::LATEST_FOR", jobs::LATEST_FOR, false),
    ("jobs::PAGE", jobs::PAGE, false),
    ("guestbook::UPSERT", guestbook::UPSERT, false),
    ("guestbook::AFTER", guestbook::AFTER, false),
    ("guestbook::BY_OFFSET", guestbook::BY_OFFSET, true),
    ("COUNTER", super::COUNTER, false),
];

#[test]
fn no_query_scans_a_table_or_sorts() {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("plan.db");
    drop(Sqlite::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    // Plans depend on statistics: give the planner a realistic picture first.
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
         INSERT INTO visitors (id, conference, token_hash, token_pub, name, email, email_lc, state, issuer_kind, \
         created_at, issued_at, retention_until, serial, fingerprint) \
         SELECT printf('v%05d', i), 'c', randomblob(32), randomblob(32), 'N', 'e' || i, 'e' || i, \
         CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'issued' END, 'local', i, i, i + 100000, printf('%x', i), 'f' FROM n; \
         INSERT INTO print_jobs (visitor_id, origin, state, created_at, updated_at, next_attempt_at) \
         SELECT id, 'visitor', 'printed', 1, 1, 1 FROM visitors; \
         ANALYZE;",
    )
    .unwrap();
    let mut problems = Vec::new();
    for (name, sql, bounded) in QUERIES {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Unbound parameters plan like any value: bind NULLs and read the plan rows.
        for i in 1..=stmt.parameter_count() {
            stmt.raw_bind_parameter(i, rusqlite::types::Null).unwrap();
        }
        let mut rows = stmt.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get::<_, String>(3).unwrap());
        }
        for line in &plan {
            let full_scan = line.starts_with("SCAN ") && !line.starts_with("SCAN CONSTANT");
            let sort = line.contains("TEMP B-TREE");
            if sort || (full_scan && !bounded) {
                problems.push(format!("{name}: {line}"));
            }
            if full_scan && *bounded && !line.contains("USING") {
                problems.push(format!("{name}: bounded scan without an index: {line}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "query plans that walk a whole table:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_read_only_or_full_disk_is_a_storage_fault_not_a_bug() {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("ro.db");
    drop(Sqlite::open(&path).unwrap());
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let e = conn.execute("INSERT INTO counters VALUES ('x', 1)", []).unwrap_err();
    assert!(matches!(Error::from(e), Error::Storage(_)));
    let e = conn.execute("INSERT INTO nope VALUES (1)", []).unwrap_err();
    assert!(matches!(Error::from(e), Error::Db(_)), "a bad query stays a bug");
    for kind in [std::io::ErrorKind::StorageFull, std::io::ErrorKind::ReadOnlyFilesystem] {
        assert!(matches!(Error::from(std::io::Error::from(kind)), Error::Storage(_)));
    }
    assert!(matches!(
        Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        Error::Io(_)
    ));
}

/// A rush keeps the checkpoint thread from copying every frame (here a reader's snapshot
/// holds it back, as commits landing mid-copy do), and SQLite starts the WAL over only
/// once every frame is in: the WAL grew for as long as the rush lasted. The writer now
/// finishes a long WAL between commits, and the next commit starts it over.
#[test]
fn a_long_wal_starts_over_once_the_writer_finishes_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.0.join("w.db");
    let w = Connection::open(&path).unwrap();
    w.pragma_update(None, "journal_mode", "WAL").unwrap();
    configure(&w, 256).unwrap();
    w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // Trimmed to nothing when it starts over: the WAL file's size shows where it writes.
    w.pragma_update(None, "journal_size_limit", 0).unwrap();
    w.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
    let commit = |rows: usize| {
        w.execute_batch(&format!(
            "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO t SELECT zeroblob(8000) FROM n; COMMIT;"
        ))
        .unwrap()
    };
    let wal_len = || std::fs::metadata(path.with_file_name("w.db-wal")).unwrap().len();
    let ckpt = Connection::open(&path).unwrap();
    configure(&ckpt, 256).unwrap();
    let long = AtomicBool::new(false);

    commit(2100);
    let r = open_reader(&path, 256).unwrap();
    let snapshot = r.unchecked_transaction().unwrap();
    let _: i64 = snapshot.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    commit(10);
    assert!(!passive(&ckpt, &long).unwrap(), "the snapshot held frames back");
    assert!(
        long.load(Ordering::Relaxed),
        "a WAL of over {LONG_WAL_FRAMES} frames is long"
    );
    drop(snapshot);
    commit(1);
    let grown = wal_len();
    assert!(
        grown > 16 << 20,
        "the next commit went on at the WAL's end ({grown} bytes)"
    );

    finish_long_wal(&w, &long);
    assert!(!long.load(Ordering::Relaxed));
    commit(1);
    assert!(
        wal_len() < 64 << 10,
        "the WAL started over: {grown} bytes, then {}",
        wal_len()
    );
}
