//! The store's one test suite, run against both backends: SQLite in a temporary file
//! and PostgreSQL in a private server started for the test process
//! ([`testserver`](super::postgres)). Each test gets two handles: for PostgreSQL they
//! are two separate pools on one database, i.e. two kiosks; for SQLite (one Pi) the
//! second is a clone of the first.

use std::path::Path;

use super::guestbook::NewEntry;
use super::jobs::{Enqueued, JobState, Origin};
use super::visitors::{IssueState, IssuedRow, NewVisitor, VisitorFilter};
use super::{Store, now_ts};
use crate::error::Error;
use crate::issuer::LeafRequest;
use crate::token::Token;

#[path = "postgres/testserver.rs"]
pub(crate) mod testserver;

/// A fresh SQLite store, twice.
async fn sqlite() -> (Store, Store) {
    let s = Store::in_memory().unwrap();
    (s.clone(), s)
}

/// A fresh PostgreSQL database, opened by two kiosks.
async fn postgres() -> (Store, Store) {
    let url = testserver::shared().fresh_database();
    let a = Store::connect(&url).await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    assert!(a.is_shared() && b.is_shared());
    (a, b)
}

/// Each test, once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (a, b) = super::sqlite().await;
                    super::$name(a, b).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (a, b) = super::postgres().await;
                    super::$name(a, b).await
                }
            )*
        }
    };
}

on_both_backends!(
    insert_complete_purge,
    upsert_keeps_one_entry_per_certificate_and_the_star,
    keyset_pages_walk_every_row_once_newest_first,
    jobs_page_and_printed_counter,
    duplicate_email_in_a_rush_gets_its_409_while_the_rest_commit,
    readers_see_each_acknowledged_write_and_never_wait_for_the_writer,
    the_same_email_at_two_kiosks_at_once_gives_one_certificate,
    a_double_tap_on_two_kiosks_queues_one_ticket,
    guestbook_signatures_from_two_kiosks_each_get_their_own_place,
    the_health_row_takes_a_write_and_job_counts_list_every_state,
    each_printer_has_its_own_queue_and_one_worker_at_a_time,
    seals_carry_a_name_only_for_visitors_who_agreed,
    a_visitor_signed_on_the_spot_is_stored_whole_or_not_at_all,
    console_searches_filters_counts_and_keyset_pages,
    void_and_forget_clear_keys_jobs_and_kept_links,
    kept_links_until_taken_and_the_queue_open_jobs_first,
    staff_sessions_flash_and_enrolment_are_kept_by_digest,
    enrolment_codes_work_once_before_they_expire,
    pruning_access_drops_only_what_has_ended,
    login_failures_count_per_client_in_one_minute_windows,
    handoffs_live_until_ended_or_expired,
    a_link_reads_its_visitor_newest_job_and_kept_link_together,
    rate_limit_hits_count_once_each_across_kiosks_per_window,
);

pub(crate) fn new(id: &str, email: &str) -> NewVisitor {
    NewVisitor {
        id: id.into(),
        conference: "c".into(),
        name: "Ada".into(),
        email: email.into(),
        email_lc: email.to_lowercase(),
        issuer_kind: "local".into(),
        backend_ref: None,
        retention_until: now_ts() + 3600,
        show_on_wall: false,
    }
}

pub(crate) fn ca(dir: &Path) -> crate::issuer::local::LocalIssuer {
    let conf = crate::config::Conference {
        name: "C".into(),
        slug: "c".into(),
        city: "X".into(),
        start: time::OffsetDateTime::now_utc().date(),
        end: time::OffsetDateTime::now_utc().date(),
        leaf_validity_days: 1,
        retention_days: 1,
    };
    crate::issuer::local::LocalIssuer::open(dir, &conf).unwrap()
}

pub(crate) fn leaf(id: &str) -> LeafRequest {
    LeafRequest {
        visitor_id: id.into(),
        name: "Ada".into(),
        email: format!("{id}@x.io"),
    }
}

async fn insert_complete_purge(store: Store, _other: Store) {
    let dir = tempfile::tempdir().unwrap();

    let ca = ca(dir.path());
    let t = Token::generate();
    store.insert_visitor(new("v1", "Ada@x.io"), &t).await.unwrap();
    let dup = store.insert_visitor(new("v2", "ada@X.IO"), &Token::generate()).await;
    assert!(matches!(dup, Err(Error::AlreadyIssued)));
    let issued = ca.sign(&leaf("v1")).unwrap();
    let key = issued.leaf.key_pem.clone();
    store.complete_issuance("v1", issued).await.unwrap();
    let v = store.visitor_by_token(&t).await.unwrap().unwrap();
    assert_eq!(v.state, IssueState::Issued);
    assert_eq!(&t.open(v.sealed_key.as_ref().unwrap()).unwrap()[..], key.as_bytes());
    assert!(store.visitor_by_token(&Token::generate()).await.unwrap().is_none());
    assert_eq!(store.issued_count("c").await.unwrap(), 1);
    assert_eq!(store.visitor_count("c").await.unwrap(), 1);
    let purged = store.purge_expired(now_ts() + 7200).await.unwrap();
    assert_eq!(purged.visitors.len(), 1);
    let v = store.visitor_by_token(&t).await.unwrap().unwrap();
    assert!(v.sealed_key.is_none() && v.email.is_none() && v.cert_pem.is_none() && v.name.is_empty());
    assert!(v.serial.is_some() && v.fingerprint.is_some() && v.not_after.is_some());
    assert_eq!(v.state, IssueState::Issued);
    assert_eq!(store.issued_count("c").await.unwrap(), 1, "counts stay");
    assert!(store.purge_expired(now_ts() + 7200).await.unwrap().visitors.is_empty());
    // Voiding frees the email for a reissue.
    store
        .insert_visitor(new("v3", "b@x.io"), &Token::generate())
        .await
        .unwrap();
    assert!(store.void("v3", "voided").await.unwrap().is_some());
    store
        .insert_visitor(new("v4", "b@x.io"), &Token::generate())
        .await
        .unwrap();
    assert!(matches!(
        store.complete_issuance("nobody", ca.sign(&leaf("x")).unwrap()).await,
        Err(Error::NotFound)
    ));
}

pub(crate) fn entry(serial: &str, message: &str, star: bool) -> NewEntry {
    NewEntry {
        issuer: "CN=int".into(),
        serial: serial.into(),
        name: "Ada".into(),
        message: message.into(),
        star,
    }
}

async fn upsert_keeps_one_entry_per_certificate_and_the_star(store: Store, _other: Store) {
    let first = store.upsert_entry(entry("01", "hello", true)).await.unwrap();
    let again = store.upsert_entry(entry("01", "again", false)).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(again.message, "again");
    assert!(again.star, "a star once earned stays");
    store.upsert_entry(entry("02", "other", false)).await.unwrap();
    store.upsert_entry(entry("01", "newest", true)).await.unwrap();
    let (page, total) = store.entries_page(10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page[0].message, "newest", "a new signature moves the entry to the top");
    let (page, _) = store.entries_page(1, 1).await.unwrap();
    assert_eq!(page.len(), 1);
}

async fn keyset_pages_walk_every_row_once_newest_first(store: Store, _other: Store) {
    let dir = tempfile::tempdir().unwrap();

    let ca = ca(dir.path());
    for i in 0..7 {
        let id = format!("v{i}");
        store
            .insert_visitor(new(&id, &format!("{id}@x.io")), &Token::generate())
            .await
            .unwrap();
        if i % 2 == 0 {
            store
                .complete_issuance(&id, ca.sign(&leaf(&id)).unwrap())
                .await
                .unwrap();
        }
        store
            .upsert_entry(entry(&format!("{i:02}"), "hi", false))
            .await
            .unwrap();
    }
    store.void("v6", "voided").await.unwrap();
    // Same-second rows: the id breaks the tie, so nothing repeats or goes missing.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.visitors_page(VisitorFilter::default(), after, 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|v| v.id.clone()));
        match page.next {
            Some(c) => after = Some(c.to_string().parse().unwrap()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first (equal times: id descending)");
    assert_eq!(seen.len(), 7);
    let issued = VisitorFilter {
        state: Some(IssueState::Issued),
    };
    let page = store.visitors_page(issued, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(page.next.is_none());
    // The wall: issued and not voided only.
    let first = store.seals_page("c", None, 2).await.unwrap();
    let rest = store.seals_page("c", first.next.clone(), 2).await.unwrap();
    let ids: Vec<_> = first.items.iter().chain(&rest.items).map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(!ids.contains(&"v6") && rest.next.is_none());
    assert!(first.items.iter().all(|s| s.fingerprint.len() == 95));
    // Guestbook keyset pages agree with the offset pages.
    let (by_offset, total) = store.entries_page(10, 0).await.unwrap();
    let p1 = store.entries_after(None, 4).await.unwrap();
    let p2 = store.entries_after(p1.next.clone(), 4).await.unwrap();
    assert_eq!(total, 7);
    assert_eq!([p1.items, p2.items].concat(), by_offset);
    assert!(p2.next.is_none());
}

async fn jobs_page_and_printed_counter(store: Store, _other: Store) {
    store
        .insert_visitor(new("v1", "a@x.io"), &Token::generate())
        .await
        .unwrap();
    for _ in 0..5 {
        store
            .enqueue_job("v1", Origin::Staff, vec![1], 0, "default")
            .await
            .unwrap();
    }
    let p1 = store.jobs_page(None, 3).await.unwrap();
    let p2 = store.jobs_page(p1.next.clone(), 3).await.unwrap();
    let ids: Vec<i64> = p1.items.iter().chain(&p2.items).map(|j| j.id).collect();
    assert_eq!(ids, vec![5, 4, 3, 2, 1]);
    assert!(store.start_job(2).await.unwrap());
    store.finish_job(2).await.unwrap();
    store.interrupt_job(3, "cut off").await.unwrap();
    assert!(store.staff_resolve_job(3, JobState::Printed).await.unwrap());
    assert_eq!(store.printed_count().await.unwrap(), 2);
}

async fn duplicate_email_in_a_rush_gets_its_409_while_the_rest_commit(store: Store, _other: Store) {
    let mut tasks = Vec::new();
    for i in 0..40 {
        // Half of them arrive through the other kiosk.
        let store = if i % 2 == 0 { store.clone() } else { _other.clone() };
        // Every tenth submission reuses the email of the one before it.
        let email = format!("p{}@x.io", if i % 10 == 9 { i - 1 } else { i });
        tasks.push(tokio::spawn(async move {
            store
                .insert_visitor(new(&format!("v{i}"), &email), &Token::generate())
                .await
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let dups = results
        .iter()
        .filter(|r| matches!(r, Err(Error::AlreadyIssued)))
        .count();
    assert_eq!(dups, 4);
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::AlreadyIssued)))
    );
    assert_eq!(store.visitor_count("c").await.unwrap(), 36);
}

async fn readers_see_each_acknowledged_write_and_never_wait_for_the_writer(store: Store, _other: Store) {
    let writes = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let t = Token::generate();
                store
                    .insert_visitor(new(&format!("w{i}"), &format!("w{i}@x.io")), &t)
                    .await
                    .unwrap();
                // Acknowledged means committed: any reader sees it right away.
                assert!(store.visitor_by_token(&t).await.unwrap().is_some());
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..200 {
                let n = store.visitor_count("c").await.unwrap();
                assert!(n >= last, "counts never go back");
                last = n;
            }
        }));
    }
    writes.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(store.visitor_count("c").await.unwrap(), 200);
}

async fn the_same_email_at_two_kiosks_at_once_gives_one_certificate(store: Store, other: Store) {
    for round in 0..5 {
        let email = format!("race{round}@x.io");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { store.clone() } else { other.clone() };
                let (id, email) = (format!("r{round}k{i}"), email.clone());
                tokio::spawn(async move { s.insert_visitor(new(&id, &email), &Token::generate()).await })
            })
            .collect();
        let results: Vec<_> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(Error::AlreadyIssued)))
        );
    }
    assert_eq!(other.visitor_count("c").await.unwrap(), 5);
}

async fn a_double_tap_on_two_kiosks_queues_one_ticket(store: Store, other: Store) {
    store
        .insert_visitor(new("v1", "a@x.io"), &Token::generate())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            tokio::spawn(async move {
                s.enqueue_job("v1", Origin::Visitor, vec![1], 30, "default")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let results = futures::future::join_all(tasks).await;
    let new = results.iter().filter(|r| matches!(r, Ok(Enqueued::New(_)))).count();
    assert_eq!(new, 1, "one tap queues, the others find its job");
    // Staff reprints are never folded into the visitor's job.
    assert!(matches!(
        other
            .enqueue_job("v1", Origin::Staff, vec![2], 30, "default")
            .await
            .unwrap(),
        Enqueued::New(_)
    ));
    assert_eq!(store.jobs_page(None, 10).await.unwrap().items.len(), 2);
}

async fn guestbook_signatures_from_two_kiosks_each_get_their_own_place(store: Store, other: Store) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            tokio::spawn(async move {
                s.upsert_entry(entry(&format!("{:02}", i % 10), "hi", i % 3 == 0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = other.entries_after(after, 3).await.unwrap();
        seen.extend(page.items.iter().map(|e| e.id));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10, "one entry per certificate, each listed once");
    assert_eq!(store.entries_page(100, 0).await.unwrap().1, 10);
}

async fn the_health_row_takes_a_write_and_job_counts_list_every_state(store: Store, other: Store) {
    store.check_writable().await.unwrap();
    other.check_writable().await.unwrap();
    store
        .insert_visitor(new("v1", "a@x.io"), &Token::generate())
        .await
        .unwrap();
    store
        .enqueue_job("v1", Origin::Staff, vec![1], 0, "default")
        .await
        .unwrap();
    let counts = other.job_counts().await.unwrap();
    assert_eq!(counts.len(), JobState::ALL.len());
    assert_eq!(counts[0], (JobState::Queued, 1));
    assert_eq!(store.interrupt_in_flight_jobs("default").await.unwrap(), 0);
    assert!(store.start_job(1).await.unwrap());
    assert!(!other.start_job(1).await.unwrap(), "a job starts once, whoever asks");
    assert_eq!(other.interrupt_in_flight_jobs("default").await.unwrap(), 1);
    assert_eq!(store.job(1).await.unwrap().unwrap().state, JobState::Interrupted);
}

/// A booth with a bit of everything: issued, pending, failed, voided and purged
/// visitors; jobs in every state; guestbook entries with and without a star; links kept
/// after a reissue; a staff session (which a migration leaves behind).
async fn busy_booth(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    for i in 0..12 {
        let id = format!("m{i:02}");
        store
            .insert_visitor(new(&id, &format!("{id}@x.io")), &Token::generate())
            .await
            .unwrap();
        match i % 4 {
            0 | 1 => store
                .complete_issuance(&id, ca.sign(&leaf(&id)).unwrap())
                .await
                .unwrap(),
            2 => store.note_issuance_problem(&id, "refused", false).await.unwrap(),
            _ => store.set_backend_ref(&id, "cert-x").await.unwrap(),
        }
        store
            .enqueue_job(
                &id,
                Origin::Auto,
                vec![i as u8; 8],
                0,
                if i % 2 == 0 { "front" } else { "back" },
            )
            .await
            .unwrap();
        store
            .upsert_entry(entry(&format!("{i:02}"), "hello", i % 3 == 0))
            .await
            .unwrap();
    }
    store.void("m01", "voided").await.unwrap();
    assert!(store.start_job(1).await.unwrap());
    store.finish_job(1).await.unwrap();
    store.fail_job(2, "paper out", now_ts() + 60, true).await.unwrap();
    store.interrupt_job(5, "cut off").await.unwrap();
    store.cancel_job(6, "no").await.unwrap();
    store.upsert_entry(entry("03", "signed again", false)).await.unwrap();
    // Some rows past retention: email and key gone, certificate kept.
    let early = NewVisitor {
        retention_until: now_ts() - 10,
        ..new("old", "old@x.io")
    };
    store.insert_visitor(early, &Token::generate()).await.unwrap();
    store
        .complete_issuance("old", ca.sign(&leaf("old")).unwrap())
        .await
        .unwrap();
    store.purge_expired(now_ts()).await.unwrap();
    store.put_kept_link("m04", vec![4; 40]).await.unwrap();
    store.put_kept_link("m08", vec![8; 40]).await.unwrap();
    store
        .create_staff_session(vec![9; 32], vec![1; 16], now_ts(), now_ts() - 3600)
        .await
        .unwrap();
}

/// What the kiosk reads, beyond the rows: counters, pages and counts.
async fn summary(s: &Store) -> Vec<String> {
    vec![
        format!("{}", s.visitor_count("c").await.unwrap()),
        format!("{}", s.issued_count("c").await.unwrap()),
        format!("{}", s.printed_count().await.unwrap()),
        format!("{:?}", s.job_counts().await.unwrap()),
        format!("{:?}", s.entries_page(100, 0).await.unwrap()),
        format!(
            "{:?}",
            s.kept_links()
                .await
                .unwrap()
                .iter()
                .map(|k| (&k.visitor_id, &k.name, &k.sealed_url, k.created_at))
                .collect::<Vec<_>>()
        ),
        format!(
            "{:?}",
            s.visitors_page(VisitorFilter::default(), None, 100)
                .await
                .unwrap()
                .items
                .iter()
                .map(|v| (&v.id, v.state, &v.email, v.sealed_key.is_some()))
                .collect::<Vec<_>>()
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_sqlite_to_postgres_and_back_leaves_identical_data() {
    let source = Store::in_memory().unwrap();
    busy_booth(&source).await;
    let pg = postgres().await.0;
    let copied = super::dump::copy(&source, &pg).await.unwrap();
    assert_eq!(
        (
            copied.visitors.len(),
            copied.jobs.len(),
            copied.guestbook.len(),
            copied.kept_links.len()
        ),
        (13, 12, 12, 2)
    );
    // Sessions stay behind: staff sign in again after the move.
    assert!(pg.staff_session(vec![9; 32]).await.unwrap().is_none());
    assert!(source.staff_session(vec![9; 32]).await.unwrap().is_some());
    assert_eq!(
        summary(&pg).await,
        summary(&source).await,
        "counters rebuilt, pages alike"
    );
    let back = Store::in_memory().unwrap();
    super::dump::copy(&pg, &back).await.unwrap();
    assert_eq!(back.export().await.unwrap(), source.export().await.unwrap());
    assert_eq!(summary(&back).await, summary(&source).await);
    assert_eq!(back.export().await.unwrap().kept_links.len(), 2);
    // Both carry on where the source stopped: new ids after the copied ones, the email
    // rule intact, a new signature on top.
    for s in [&pg, &back] {
        let Enqueued::New(job) = s
            .enqueue_job("m00", Origin::Staff, vec![1], 0, "default")
            .await
            .unwrap()
        else {
            panic!("a staff reprint is a new job")
        };
        assert_eq!(job.id, 13);
        let dup = s.insert_visitor(new("again", "m00@x.io"), &Token::generate()).await;
        assert!(matches!(dup, Err(Error::AlreadyIssued)));
        s.upsert_entry(entry("99", "after the move", false)).await.unwrap();
        assert!(s.take_kept_link("m04").await.unwrap(), "a kept link is opened once");
        assert_eq!(
            s.entries_after(None, 1).await.unwrap().items[0].message,
            "after the move"
        );
    }
    // A database that already has rows is never merged into.
    let err = super::dump::copy(&source, &pg).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

async fn each_printer_has_its_own_queue_and_one_worker_at_a_time(store: Store, other: Store) {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    for (i, printer) in ["front", "back", "front"].iter().enumerate() {
        let id = format!("p{i}");
        store
            .insert_visitor(new(&id, &format!("{id}@x.io")), &Token::generate())
            .await
            .unwrap();
        store
            .complete_issuance(&id, ca.sign(&leaf(&id)).unwrap())
            .await
            .unwrap();
        store
            .enqueue_job(&id, Origin::Visitor, vec![1], 30, printer)
            .await
            .unwrap();
    }
    let front = other.next_job("front").await.unwrap().unwrap();
    assert_eq!((front.id, front.printer.as_str()), (1, "front"));
    assert_eq!(store.next_job("back").await.unwrap().unwrap().id, 2);
    assert!(store.next_job("nowhere").await.unwrap().is_none());
    // One holder at a time; the holder renews; a lapsed lease can be taken over.
    let now = now_ts();
    assert!(store.lease_printer("front", "agent-a", now + 10).await.unwrap());
    assert!(!other.lease_printer("front", "agent-b", now + 10).await.unwrap());
    assert!(store.lease_printer("front", "agent-a", now + 20).await.unwrap());
    assert!(other.lease_printer("back", "agent-b", now + 10).await.unwrap());
    assert!(store.lease_printer("back", "agent-b", now - 1).await.unwrap());
    assert!(
        other.lease_printer("back", "agent-c", now + 10).await.unwrap(),
        "lapsed: taken over"
    );
    // Taking a printer over interrupts only that printer's in-flight job.
    assert!(store.start_job(1).await.unwrap());
    assert!(store.start_job(2).await.unwrap());
    assert_eq!(other.interrupt_in_flight_jobs("back").await.unwrap(), 1);
    assert_eq!(store.job(1).await.unwrap().unwrap().state, JobState::Printing);
    assert_eq!(store.job(2).await.unwrap().unwrap().state, JobState::Interrupted);
    // Staff send a waiting job to another printer; one being sent or done stays put.
    assert!(other.move_job(3, "back").await.unwrap());
    assert_eq!(store.next_job("back").await.unwrap().unwrap().id, 3);
    assert!(store.next_job("front").await.unwrap().is_none());
    assert!(!other.move_job(1, "back").await.unwrap(), "printing");
    assert!(!other.move_job(2, "front").await.unwrap(), "interrupted");
    assert_eq!(store.job(1).await.unwrap().unwrap().printer, "front");
    // Status reports are seen from every kiosk.
    store.report_printer("front", "ready").await.unwrap();
    other.report_printer("back", "out of paper").await.unwrap();
    let printers = other.printers().await.unwrap();
    let seen: Vec<_> = printers
        .iter()
        .map(|p| (p.name.as_str(), p.status.as_str(), p.served))
        .collect();
    assert_eq!(seen, [("back", "out of paper", true), ("front", "ready", true)]);
}

async fn seals_carry_a_name_only_for_visitors_who_agreed(store: Store, _other: Store) {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    for (id, show) in [("a", true), ("b", false)] {
        let v = NewVisitor {
            name: format!("Visitor {id}"),
            show_on_wall: show,
            ..new(id, &format!("{id}@x.io"))
        };
        store.insert_visitor(v, &Token::generate()).await.unwrap();
        store.complete_issuance(id, ca.sign(&leaf(id)).unwrap()).await.unwrap();
    }
    let seals = store.seals_page("c", None, 10).await.unwrap().items;
    let names: Vec<(&str, Option<&str>)> = seals.iter().map(|s| (s.id.as_str(), s.name.as_deref())).collect();
    assert_eq!(names, [("b", None), ("a", Some("Visitor a"))]);
    assert!(store.visitor_by_id("a").await.unwrap().unwrap().show_on_wall);
    assert!(!store.visitor_by_id("b").await.unwrap().unwrap().show_on_wall);
}

async fn a_visitor_signed_on_the_spot_is_stored_whole_or_not_at_all(store: Store, _other: Store) {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    let t = Token::generate();
    let issued = ca.sign(&leaf("v1")).unwrap();
    let key = issued.leaf.key_pem.clone();
    let row = IssuedRow::seal(&t.public_key(), &issued).unwrap();
    let queued = store
        .insert_issued_visitor(new("v1", "ada@x.io"), &t, row, Some(b"sealed link".to_vec()), "front")
        .await
        .unwrap();
    let Some(Enqueued::New(job)) = queued else {
        panic!("{queued:?}")
    };
    assert_eq!(
        (job.visitor_id.as_str(), job.state, job.printer.as_str()),
        ("v1", JobState::Queued, "front")
    );
    let v = store.visitor_by_token(&t).await.unwrap().unwrap();
    assert_eq!(v.state, IssueState::Issued);
    assert_eq!(&t.open(v.sealed_key.as_ref().unwrap()).unwrap()[..], key.as_bytes());
    assert_eq!(store.issued_count("c").await.unwrap(), 1);

    // The same email again: a 409, and neither a second row nor a second ticket.
    let t2 = Token::generate();
    let row = IssuedRow::seal(&t2.public_key(), &ca.sign(&leaf("v2")).unwrap()).unwrap();
    let dup = store
        .insert_issued_visitor(new("v2", "ADA@x.io"), &t2, row, Some(b"x".to_vec()), "front")
        .await;
    assert!(matches!(dup, Err(Error::AlreadyIssued)), "{dup:?}");
    assert!(store.visitor_by_id("v2").await.unwrap().is_none());
    assert!(store.latest_job_for("v2").await.unwrap().is_none());
    assert_eq!(store.visitor_count("c").await.unwrap(), 1);

    // Without automatic printing there is no ticket.
    let t3 = Token::generate();
    let row = IssuedRow::seal(&t3.public_key(), &ca.sign(&leaf("v3")).unwrap()).unwrap();
    let none = store
        .insert_issued_visitor(new("v3", "b@x.io"), &t3, row, None, "front")
        .await
        .unwrap();
    assert!(none.is_none() && store.latest_job_for("v3").await.unwrap().is_none());
}

// ---- the staff console, staff access and the booth screen ----

async fn add(store: &Store, id: &str, name: &str, email: &str) {
    let v = NewVisitor {
        name: name.into(),
        ..new(id, email)
    };
    store.insert_visitor(v, &Token::generate()).await.unwrap();
}

/// A certificate row with just what the console and the CRL read.
fn issued_row(serial: &str) -> IssuedRow {
    IssuedRow {
        cert_pem: "cert".into(),
        intermediates_pem: String::new(),
        root_pem: String::new(),
        sealed_key: vec![1],
        serial: serial.into(),
        fingerprint: "FF".into(),
        not_before: 0,
        not_after: now_ts() + 3600,
    }
}

async fn console_ids(
    store: &Store,
    filter: super::staff::Filter,
    search: &str,
    after: Option<super::page::Cursor>,
) -> (Vec<String>, Option<super::page::Cursor>) {
    let page = store
        .console_page(filter, super::staff::Search::of(search), after, 25)
        .await
        .unwrap();
    (page.items.into_iter().map(|v| v.id).collect(), page.next)
}

async fn console_searches_filters_counts_and_keyset_pages(store: Store, other: Store) {
    use super::staff::Filter;
    for i in 0..30 {
        add(
            &store,
            &format!("v{i:02}"),
            &format!("Visitor {i}"),
            &format!("v{i}@example.org"),
        )
        .await;
    }
    add(&other, "ar", "ليلى", "layla@example.org").await;
    add(&other, "pct", "100% Ada_", "ada@example.org").await;
    store.store_issued("v03", issued_row("7F:0A:BC")).await.unwrap();
    store.note_issuance_problem("v04", "refused", false).await.unwrap();
    store.void("v05", "x").await.unwrap().unwrap();
    store
        .enqueue_job("v06", Origin::Visitor, vec![1], 0, "default")
        .await
        .unwrap();
    let (first, next) = console_ids(&other, Filter::All, "", None).await;
    assert_eq!(first.len(), 25);
    assert_eq!(&first[..2], ["pct", "ar"], "newest first");
    // Within one second, in the order they came (not by their ids).
    assert_eq!(&first[2..5], ["v29", "v28", "v27"]);
    let (rest, end) = console_ids(&other, Filter::All, "", next).await;
    assert_eq!(rest.len(), 7);
    assert!(end.is_none() && !rest.iter().any(|id| first.contains(id)));
    assert_eq!(other.console_counts().await.unwrap(), [32, 29, 1, 1, 1]);
    assert_eq!(console_ids(&store, Filter::All, "ليلى", None).await.0, ["ar"]);
    assert_eq!(console_ids(&store, Filter::All, "LAYLA@", None).await.0, ["ar"]);
    assert_eq!(console_ids(&store, Filter::All, "visitor 29", None).await.0, ["v29"]);
    assert_eq!(console_ids(&store, Filter::All, "7f:0a", None).await.0, ["v03"]);
    assert_eq!(console_ids(&store, Filter::All, "7f0abc", None).await.0, ["v03"]);
    assert_eq!(
        console_ids(&store, Filter::All, "100%", None).await.0,
        ["pct"],
        "wildcards are literal"
    );
    assert_eq!(console_ids(&store, Filter::All, "a_", None).await.0, ["pct"]);
    assert!(console_ids(&store, Filter::All, "nobody", None).await.0.is_empty());
    assert_eq!(console_ids(&store, Filter::Failed, "", None).await.0, ["v04"]);
    assert_eq!(console_ids(&store, Filter::Voided, "", None).await.0, ["v05"]);
    assert_eq!(console_ids(&store, Filter::WaitingToPrint, "", None).await.0, ["v06"]);
    let pending = console_ids(&store, Filter::Pending, "", None).await.0;
    assert_eq!(pending.len(), 25);
    assert!(!["v03", "v04", "v05"].iter().any(|id| pending.contains(&id.to_string())));
}

async fn void_and_forget_clear_keys_jobs_and_kept_links(store: Store, other: Store) {
    add(&store, "a", "Ada", "ada@example.org").await;
    add(&store, "b", "Bo", "bo@example.org").await;
    store.store_issued("a", issued_row("01:02")).await.unwrap();
    store.store_issued("b", issued_row("01:03")).await.unwrap();
    store
        .enqueue_job("a", Origin::Visitor, vec![9], 0, "default")
        .await
        .unwrap();
    store.put_kept_link("a", vec![7]).await.unwrap();
    let v = store.void("a", "The certificate was voided.").await.unwrap().unwrap();
    assert_eq!(v.conference, "c");
    assert_eq!(v.cancelled.len(), 1);
    assert_eq!(v.cancelled[0].state, JobState::Cancelled);
    assert!(other.void("a", "again").await.unwrap().is_none(), "once, on any kiosk");
    assert!(store.void("nobody", "x").await.unwrap().is_none());
    let a = other.visitor_by_id("a").await.unwrap().unwrap();
    assert!(a.sealed_key.is_none() && a.voided_at.is_some() && a.email.is_some());
    assert!(other.job(v.cancelled[0].id).await.unwrap().unwrap().payload.is_none());
    assert!(other.kept_links().await.unwrap().is_empty());
    // A certificate that arrives for a voided visitor gets no key.
    store.store_issued("a", issued_row("01:02")).await.unwrap();
    assert!(store.visitor_by_id("a").await.unwrap().unwrap().sealed_key.is_none());
    let revoked = other.revoked("c").await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].serial, "01:02");
    assert!(other.revoked("elsewhere").await.unwrap().is_empty());
    assert!(store.forget("b").await.unwrap().is_some());
    assert!(other.forget("b").await.unwrap().is_none());
    store.erase_deleted().await.unwrap();
    let b = other.visitor_by_id("b").await.unwrap().unwrap();
    assert!(b.email.is_none() && b.sealed_key.is_none() && b.cert_pem.is_none());
    assert!(b.voided_at.is_some() && b.purged_at.is_some());
    assert_eq!(store.revoked("c").await.unwrap().len(), 2);
    // The email is free again after either.
    add(&other, "a2", "Ada", "ada@example.org").await;
    add(&other, "b2", "Bo", "bo@example.org").await;
}

async fn kept_links_until_taken_and_the_queue_open_jobs_first(store: Store, other: Store) {
    add(&store, "a", "Ada", "ada@example.org").await;
    store.put_kept_link("a", vec![1, 2]).await.unwrap();
    store.put_kept_link("a", vec![3]).await.unwrap();
    let links = other.kept_links().await.unwrap();
    assert_eq!(links.len(), 1, "one link per visitor, the newest");
    assert_eq!((links[0].name.as_str(), &links[0].sealed_url[..]), ("Ada", &[3u8][..]));
    assert!(other.take_kept_link("a").await.unwrap());
    assert!(!store.take_kept_link("a").await.unwrap());
    let mut ids = Vec::new();
    for _ in 0..3 {
        match store
            .enqueue_job("a", Origin::Staff, vec![1], 0, "default")
            .await
            .unwrap()
        {
            Enqueued::New(job) => ids.push(job.id),
            Enqueued::Existing(_) => panic!("staff reprints always queue"),
        }
    }
    let [j1, j2, j3] = ids[..] else { unreachable!() };
    store.staff_resolve_job(j1, JobState::Cancelled).await.unwrap();
    store.fail_job(j2, "paper", now_ts() + 60, true).await.unwrap();
    assert!(other.retry_job(j2).await.unwrap());
    assert!(!other.retry_job(j3).await.unwrap(), "only failed jobs are retried");
    let jobs = other.console_jobs(1).await.unwrap();
    let listed: Vec<i64> = jobs.iter().map(|(j, _)| j.id).collect();
    assert_eq!(listed, [j3, j2, j1]);
    assert_eq!(jobs[0].1, "Ada");
    assert_eq!(other.console_jobs(0).await.unwrap().len(), 2);
    // A job staff cancelled stays cancelled when an attempt reports late.
    store.fail_job(j1, "late", now_ts(), true).await.unwrap();
    assert_eq!(store.job(j1).await.unwrap().unwrap().state, JobState::Cancelled);
}

async fn staff_sessions_flash_and_enrolment_are_kept_by_digest(store: Store, other: Store) {
    let d = vec![1u8; 32];
    store.create_staff_session(d.clone(), vec![7; 8], 100, 0).await.unwrap();
    let s = other.staff_session(d.clone()).await.unwrap().unwrap();
    assert_eq!((s.generation, s.created_at, s.last_seen), (vec![7; 8], 100, 100));
    assert!(s.flash.is_none() && s.enrolment.is_none());
    other.touch_staff_session(d.clone(), 160).await.unwrap();
    other.set_staff_flash(d.clone(), false, "no".into()).await.unwrap();
    other
        .set_staff_enrolment(d.clone(), Some((vec![9], 700)))
        .await
        .unwrap();
    let s = store.staff_session(d.clone()).await.unwrap().unwrap();
    assert_eq!(s.last_seen, 160);
    assert_eq!(s.flash, Some((false, "no".into())));
    assert_eq!(s.enrolment, Some((vec![9], 700)));
    store.clear_staff_flash(d.clone()).await.unwrap();
    store.set_staff_enrolment(d.clone(), None).await.unwrap();
    let s = other.staff_session(d.clone()).await.unwrap().unwrap();
    assert!(s.flash.is_none() && s.enrolment.is_none());
    // A new login drops sessions idle since the cut-off, and logout ends one.
    let e = vec![2u8; 32];
    other
        .create_staff_session(e.clone(), vec![7; 8], 200, 160)
        .await
        .unwrap();
    assert!(store.staff_session(d).await.unwrap().is_none());
    store.end_staff_session(e.clone()).await.unwrap();
    assert!(other.staff_session(e).await.unwrap().is_none());
}

async fn enrolment_codes_work_once_before_they_expire(store: Store, other: Store) {
    store.create_enrolment_code(vec![1], 700, 100).await.unwrap();
    store.create_enrolment_code(vec![2], 150, 100).await.unwrap();
    assert!(other.enrolment_code_pending(vec![1], 100).await.unwrap());
    assert!(!other.redeem_enrolment_code(vec![3], 100).await.unwrap());
    // Two kiosks redeeming at once: exactly one succeeds.
    let (x, y) = tokio::join!(
        store.redeem_enrolment_code(vec![1], 100),
        other.redeem_enrolment_code(vec![1], 100)
    );
    assert!(x.unwrap() ^ y.unwrap());
    assert!(!store.redeem_enrolment_code(vec![1], 100).await.unwrap());
    assert!(!store.enrolment_code_pending(vec![1], 100).await.unwrap());
    assert!(!store.enrolment_code_pending(vec![2], 150).await.unwrap());
    assert!(!other.redeem_enrolment_code(vec![2], 150).await.unwrap(), "expired");
}

async fn pruning_access_drops_only_what_has_ended(store: Store, other: Store) {
    store.create_staff_session(vec![1], vec![0], 100, 0).await.unwrap();
    store.create_staff_session(vec![2], vec![0], 500, 0).await.unwrap();
    store.create_enrolment_code(vec![1], 200, 100).await.unwrap();
    store.create_enrolment_code(vec![2], 900, 100).await.unwrap();
    store.create_handoff(vec![1], vec![0], vec![0], 200, 100).await.unwrap();
    store.create_handoff(vec![2], vec![0], vec![0], 900, 100).await.unwrap();
    store.count_login_failure("192.0.2.1".into(), 100, 40).await.unwrap();
    store.count_login_failure("192.0.2.2".into(), 500, 440).await.unwrap();
    other.prune_access(600, 300, 540 - 60).await.unwrap();
    assert!(store.staff_session(vec![1]).await.unwrap().is_none());
    assert!(store.staff_session(vec![2]).await.unwrap().is_some());
    // Expired rows are gone, not only filtered by the reads: asked as of before they
    // expired, nothing answers.
    assert!(!store.enrolment_code_pending(vec![1], 100).await.unwrap());
    assert!(store.enrolment_code_pending(vec![2], 600).await.unwrap());
    assert!(store.handoff(vec![1], 100).await.unwrap().is_none());
    assert!(store.handoff(vec![2], 600).await.unwrap().is_some());
    assert_eq!(store.login_failures("192.0.2.1".into(), 0).await.unwrap(), 0);
    assert_eq!(store.login_failures("192.0.2.2".into(), 0).await.unwrap(), 1);
}

async fn login_failures_count_per_client_in_one_minute_windows(store: Store, other: Store) {
    let a = || "192.0.2.1".to_string();
    for n in 1..=3 {
        let kiosk = if n % 2 == 0 { &other } else { &store };
        assert_eq!(
            kiosk.count_login_failure(a(), 100 + n, 100 + n - 60).await.unwrap(),
            n as u32,
            "every kiosk counts into one window"
        );
    }
    assert_eq!(store.count_login_failure("192.0.2.2".into(), 104, 44).await.unwrap(), 1);
    assert_eq!(other.login_failures(a(), 150 - 60).await.unwrap(), 3);
    // The window started at 101: a minute later it is over and starts again.
    assert_eq!(other.login_failures(a(), 161 - 60).await.unwrap(), 0);
    assert_eq!(store.count_login_failure(a(), 161, 161 - 60).await.unwrap(), 1);
    assert_eq!(other.login_failures(a(), 170 - 60).await.unwrap(), 1);
}

async fn handoffs_live_until_ended_or_expired(store: Store, other: Store) {
    store.create_handoff(vec![1], vec![9], vec![7], 400, 100).await.unwrap();
    store.create_handoff(vec![2], vec![9], vec![8], 150, 100).await.unwrap();
    let h = other.handoff(vec![1], 100).await.unwrap().unwrap();
    assert_eq!((h.session, h.sealed_token), (vec![9], vec![7]));
    assert!(other.handoff(vec![2], 150).await.unwrap().is_none(), "expired");
    assert!(other.handoff(vec![3], 100).await.unwrap().is_none());
    assert!(other.end_handoff(vec![1]).await.unwrap());
    assert!(!store.end_handoff(vec![1]).await.unwrap());
    assert!(store.handoff(vec![1], 100).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_there_says_why_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Store::connect(&format!("postgres://u:p@127.0.0.1:{port}/db"))
        .await
        .err()
        .expect("nothing listens there");
    let text = err.to_string();
    assert!(
        text.contains("cannot reach the database") && text.contains("refused"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_names_the_statement_problem_never_the_row() {
    let url = testserver::shared().fresh_database();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let sql = "CREATE TABLE t (email TEXT UNIQUE); INSERT INTO t VALUES ('secret@x.io')";
    client.batch_execute(sql).await.unwrap();
    let e = client
        .batch_execute("INSERT INTO t VALUES ('secret@x.io')")
        .await
        .unwrap_err();
    let text = Error::from(e).to_string();
    assert!(text.contains("23505") && text.contains("t_email_key"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

async fn rate_limit_hits_count_once_each_across_kiosks_per_window(store: Store, other: Store) {
    let key = || vec![7u8; 32];
    // Two kiosks counting at once: every hit gets its own number, none is lost.
    let hits = (0..20).map(|i| {
        let kiosk = if i % 2 == 0 { store.clone() } else { other.clone() };
        async move { kiosk.count_hit(key(), 120).await.unwrap() }
    });
    let mut counts = futures::future::join_all(hits).await;
    counts.sort();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
    assert_eq!(store.count_hit(vec![8u8; 32], 120).await.unwrap(), 1, "per key");
    // A replica whose clock is behind counts into the newer window; a newer one starts over.
    assert_eq!(other.count_hit(key(), 60).await.unwrap(), 21);
    assert_eq!(store.count_hit(key(), 180).await.unwrap(), 1);
    assert_eq!(other.count_hit(key(), 120).await.unwrap(), 2);
    // Pruning drops windows that ended: the key starts over even within its window.
    store.prune_access(240, 0, 180).await.unwrap();
    assert_eq!(other.count_hit(key(), 180).await.unwrap(), 1);
}

async fn a_link_reads_its_visitor_newest_job_and_kept_link_together(store: Store, other: Store) {
    let t = Token::generate();
    store.insert_visitor(new("a", "ada@example.org"), &t).await.unwrap();
    assert!(
        other
            .visitor_by_link(Token::generate().lookup_hash())
            .await
            .unwrap()
            .is_none()
    );
    let view = other.visitor_by_link(t.lookup_hash()).await.unwrap().unwrap();
    assert_eq!((view.visitor.id.as_str(), view.latest_job.map(|j| j.id)), ("a", None));
    // `false` is a promise that there is none; `true` may be a guess (take_kept_link decides).
    assert!(!view.kept_link || !other.take_kept_link("a").await.unwrap());
    let mut queued = Vec::new();
    for _ in 0..2 {
        match store
            .enqueue_job("a", Origin::Staff, vec![1], 0, "default")
            .await
            .unwrap()
        {
            Enqueued::New(job) => queued.push(job.id),
            Enqueued::Existing(_) => panic!("staff reprints always queue"),
        }
    }
    store.put_kept_link("a", vec![1, 2]).await.unwrap();
    let view = other.visitor_by_link(t.lookup_hash()).await.unwrap().unwrap();
    assert_eq!(view.latest_job.map(|j| j.id), queued.last().copied(), "the newest job");
    assert!(view.kept_link);
    assert!(other.take_kept_link("a").await.unwrap());
}
