//! The purge and "forget" on PostgreSQL leave no byte of what they removed in the
//! database's files: the test owns the private cluster, so it reads the table, index
//! and catalog files themselves after a checkpoint.

use std::path::Path;

use crate::store::jobs::Origin;
use crate::store::tests::{ca, entry, leaf, new, testserver};
use crate::store::visitors::NewVisitor;
use crate::store::{Store, now_ts};
use crate::token::Token;

/// Files under `dir` holding `needle`, by name.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_and_forgotten_visitors_leave_no_bytes_in_the_database_files() {
    let server = testserver::shared();
    let url = server.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = Store::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    // A small booth: every value of a column fits in the planner's statistics, so an
    // ANALYZE would copy each name and email into pg_statistic if it were allowed to.
    for i in 0..40 {
        let id = format!("k{i:02}");
        store
            .insert_visitor(new(&id, &format!("keep{i:02}@x.io")), &Token::generate())
            .await
            .unwrap();
        store
            .complete_issuance(&id, ca.sign(&leaf(&id)).unwrap())
            .await
            .unwrap();
    }
    let person = |id: &str, email: &str, name: &str, retention_until: i64| NewVisitor {
        name: name.into(),
        retention_until,
        ..new(id, email)
    };
    // One visitor past retention, one whom staff forget.
    let cases = [
        ("p", "purge.me.4417@example.org", "Zebedee Purgeworthy", now_ts() - 10),
        ("f", "forget.me.9931@example.org", "Quentin Forgotten", now_ts() + 3600),
    ];
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for (id, email, name, until) in cases {
        store
            .insert_visitor(person(id, email, name, until), &Token::generate())
            .await
            .unwrap();
        let issued = ca.sign(&leaf(id)).unwrap();
        // A line of the certificate's base64 (it names the email) no other certificate
        // shares, and the end of the sealed key.
        let kept = store.visitor_by_id("k00").await.unwrap().unwrap().cert_pem.unwrap();
        let cert_line = issued
            .leaf
            .cert_pem
            .lines()
            .find(|l| l.len() > 40 && !kept.contains(l))
            .unwrap()
            .to_string();
        store.complete_issuance(id, issued).await.unwrap();
        let v = store.visitor_by_id(id).await.unwrap().unwrap();
        let sealed = v.sealed_key.clone().unwrap();
        let words = format!("guestbook words of {id} 4417");
        store
            .upsert_entry(entry(v.serial.as_deref().unwrap(), &words, false))
            .await
            .unwrap();
        let ticket = format!("sealed ticket of {id} 4417").into_bytes();
        store
            .enqueue_job(id, Origin::Auto, ticket.clone(), 0, "default")
            .await
            .unwrap();
        needles.extend([
            email.as_bytes().to_vec(),
            cert_line.into_bytes(),
            sealed[sealed.len() - 24..].to_vec(),
            words.into_bytes(),
            ticket,
        ]);
        if id == "p" {
            // Purged: the name goes too (the forgotten visitor's stays for the console).
            needles.push(name.as_bytes().to_vec());
        }
    }
    server.psql(&db, "ANALYZE");
    server.psql(&db, "CHECKPOINT");
    let oid = server.psql(&db, "SELECT oid FROM pg_database WHERE datname = current_database()");
    let files = server.data_dir().join("base").join(oid);
    assert!(
        !files_with(&files, needles[0].as_slice()).is_empty(),
        "the test looks where the rows are"
    );

    let purged = store.purge_expired(now_ts()).await.unwrap();
    assert_eq!(purged.visitors.len(), 1);
    assert!(store.forget("f").await.unwrap().is_some());
    store.erase_deleted().await.unwrap();
    assert_eq!(server.psql(&db, "SELECT COUNT(*) FROM erase_owed"), "0");
    server.psql(&db, "CHECKPOINT");

    let mut left = Vec::new();
    for needle in &needles {
        for file in files_with(&files, needle) {
            let relation = server.psql(
                &db,
                &format!(
                    "SELECT COALESCE((SELECT relname FROM pg_class WHERE relfilenode = {}), '?')",
                    file.split(['_', '.']).next().unwrap().parse::<u64>().unwrap_or(0)
                ),
            );
            left.push(format!("{:?} in {file} ({relation})", String::from_utf8_lossy(needle)));
        }
    }
    assert!(left.is_empty(), "removed data still in the files:\n{}", left.join("\n"));
    // The rest of the booth is untouched.
    assert_eq!(store.issued_count("c").await.unwrap(), 42);
    let kept = store.visitor_by_id("k07").await.unwrap().unwrap();
    assert_eq!(kept.email.as_deref(), Some("keep07@x.io"));
    assert!(kept.sealed_key.is_some());
    let forgotten = store.visitor_by_id("f").await.unwrap().unwrap();
    assert_eq!(forgotten.name, "Quentin Forgotten");
    assert!(forgotten.email.is_none() && forgotten.sealed_key.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_that_cannot_get_its_lock_is_done_by_the_next_upkeep() {
    let server = testserver::shared();
    let url = server.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = Store::connect(&url).await.unwrap();
    let email = "busy.booth.5521@example.org";
    store.insert_visitor(new("b", email), &Token::generate()).await.unwrap();
    server.psql(&db, "CHECKPOINT");
    let oid = server.psql(&db, "SELECT oid FROM pg_database WHERE datname = current_database()");
    let files = server.data_dir().join("base").join(oid);
    assert!(!files_with(&files, email.as_bytes()).is_empty());
    // Someone reads the guestbook in a long transaction: the rewrite cannot lock it.
    let (reader, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    reader
        .batch_execute("BEGIN; LOCK TABLE guestbook IN ACCESS SHARE MODE")
        .await
        .unwrap();
    assert!(store.forget("b").await.unwrap().is_some());
    let started = std::time::Instant::now();
    store.erase_deleted().await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "it gives up, not hangs"
    );
    assert_eq!(server.psql(&db, "SELECT n FROM erase_owed"), "1", "still owed");
    // Once the reader is done, the hourly upkeep (the purge, with nothing due) rewrites.
    reader.batch_execute("COMMIT").await.unwrap();
    assert!(store.purge_expired(now_ts()).await.unwrap().visitors.is_empty());
    assert_eq!(server.psql(&db, "SELECT COUNT(*) FROM erase_owed"), "0");
    server.psql(&db, "CHECKPOINT");
    assert_eq!(files_with(&files, email.as_bytes()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_older_than_the_deletion_postpones_the_rewrite() {
    let server = testserver::shared();
    let url = server.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = Store::connect(&url).await.unwrap();
    let email = "old.snapshot.6613@example.org";
    store.insert_visitor(new("o", email), &Token::generate()).await.unwrap();
    // A report started before the forget still may read the email (its snapshot is older,
    // though it locks no table of ours): a rewrite now would copy the row along, so it
    // waits, then leaves the debt for the upkeep.
    let (report, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    report
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT COUNT(*) FROM counters")
        .await
        .unwrap();
    assert!(store.forget("o").await.unwrap().is_some());
    store.erase_deleted().await.unwrap();
    assert_eq!(server.psql(&db, "SELECT n FROM erase_owed"), "1", "still owed");
    report.batch_execute("COMMIT").await.unwrap();
    store.erase_deleted().await.unwrap();
    assert_eq!(server.psql(&db, "SELECT COUNT(*) FROM erase_owed"), "0");
    server.psql(&db, "CHECKPOINT");
    let oid = server.psql(&db, "SELECT oid FROM pg_database WHERE datname = current_database()");
    let files = server.data_dir().join("base").join(oid);
    assert_eq!(files_with(&files, email.as_bytes()), Vec::<String>::new());
}
