//! Several kiosks behaving as one booth: the issuance rate limit is one budget across
//! replicas (counted in PostgreSQL), live screens on one kiosk follow what happens on
//! another (LISTEN/NOTIFY), and a visitor or staff pick which printer a ticket goes to.

use std::path::Path;
use std::time::Duration;

use crate::printing::{FakePrinter, READY, contains, press_print};
use crate::replicas::{Agent, shared_ca, testserver};
use crate::support::{Kiosk, Sse, client, csrf_of, issue, submit};

/// Two kiosks on one fresh database with one CA and one form key; `extra` for both.
fn two_kiosks(url: &str, dirs: (&Path, &Path), form_key: &Path, extra: &[&str]) -> (Kiosk, Kiosk) {
    shared_ca(dirs.0, dirs.1);
    std::fs::write(form_key, rand::random::<[u8; 32]>()).unwrap();
    let fk = form_key.to_str().unwrap();
    let mut args = vec!["--database", url, "--form-key-file", fk];
    args.extend_from_slice(extra);
    (Kiosk::start(dirs.0, &args), Kiosk::start(dirs.1, &args))
}

/// A kiosk without a printer of its own, sending tickets to the agent of `printer` (only
/// when someone presses print), with the booth's queue key.
pub(crate) fn printing_to<'a>(printer: &'a str, queue_key: &'a str) -> [&'a str; 8] {
    [
        "--printer",
        "none",
        "--print-to",
        printer,
        "--auto-print",
        "false",
        "--queue-key-file",
        queue_key,
    ]
}

/// Wait until the current minute has at least `secs` left, so a test's hits share one
/// rate-limit window (windows are whole minutes).
async fn with_time_left_in_this_minute(secs: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = 60 - now % 60;
    if left < secs {
        tokio::time::sleep(Duration::from_secs(left)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_issue_rate_limit_is_one_budget_across_kiosks() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (a_dir, b_dir, keys) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b) = two_kiosks(
        &url,
        (a_dir.path(), b_dir.path()),
        &keys.path().join("form.key"),
        &["--issue-rate-per-minute", "4"],
    );
    with_time_left_in_this_minute(20).await;
    // One client (127.0.0.1) alternating between the kiosks: four in all, not four each.
    let c = client();
    let mut codes = Vec::new();
    for i in 0..8 {
        let kiosk = if i % 2 == 0 { &a } else { &b };
        let res = submit(&c, kiosk, "Ada", &format!("limit{i}@example.org")).await;
        codes.push(res.status().as_u16());
        if res.status() == 429 {
            let body = res.text().await.unwrap();
            assert!(
                body.contains("<html") && body.contains("minute"),
                "a clear page: {body}"
            );
        }
    }
    assert_eq!(codes, [303, 303, 303, 303, 429, 429, 429, 429]);

    // The database keeps a keyed digest per client, never the address.
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = db.query("SELECT key, hits FROM rate_limits", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let (key, hits): (Vec<u8>, i32) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(hits, 8);
    assert!(!String::from_utf8_lossy(&key).contains("127.0.0.1"), "{key:?}");
}

/// A print agent for `printer` named `name` on the database `url`, with the booth's queue key.
fn agent(printer: &FakePrinter, name: &str, url: &str, queue_key: &Path, dir: &Path) -> Agent {
    agent_at(&format!("tcp://127.0.0.1:{}", printer.port), name, url, queue_key, dir)
}

/// A print agent for the printer at `uri`.
pub(crate) fn agent_at(uri: &str, name: &str, url: &str, queue_key: &Path, dir: &Path) -> Agent {
    let args: Vec<String> = [
        "--printer",
        uri,
        "--printer-name",
        name,
        "--database",
        url,
        "--queue-key-file",
        queue_key.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Agent::start(&args)
}

const SOON: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screens_on_one_kiosk_follow_visitors_and_tickets_of_another() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (a_dir, b_dir, keys, agent_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let queue_key = keys.path().join("queue.key");
    std::fs::write(&queue_key, rand::random::<[u8; 32]>()).unwrap();
    let printer = FakePrinter::new(READY);
    let _agent = agent(&printer, "front", &url, &queue_key, agent_dir.path());
    let qk = queue_key.to_str().unwrap();
    let (a, b) = two_kiosks(
        &url,
        (a_dir.path(), b_dir.path()),
        &keys.path().join("form.key"),
        &printing_to("front", qk),
    );
    let c = client();
    let live = |k: &Kiosk| {
        let (c, at) = (c.clone(), k.at("/wall/live"));
        async move { c.get(at).send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        live(&b).await.contains("<strong>0</strong> certificates"),
        "{}",
        live(&b).await
    );

    // A visitor issued on A: B's wall hears of it, and B's shared wall render shows them.
    let mut wall = Sse::open(&c, &b, "/wall/events").await;
    let page = issue(&c, &a, "Ada", "ada@example.org").await;
    let (_, took) = wall.next("change", SOON).await;
    println!("kiosk B's wall heard of kiosk A's visitor after {took:?}");
    let shown = live(&b).await;
    assert!(shown.contains("<strong>1</strong> certificate"), "{shown}");

    // Their page open on B follows the ticket queued on A and printed by the agent.
    let mut mine = Sse::open(&c, &b, &format!("{page}/events")).await;
    press_print(&c, &a, &page).await;
    let first = mine.next("job", SOON).await.0;
    let states = mine.job_states_until_printed(first, SOON).await;
    assert_eq!(
        states,
        [
            "{\"state\":\"queued\"}",
            "{\"state\":\"printing\"}",
            "{\"state\":\"printed\"}"
        ],
        "queued on kiosk A, printing and printed by the agent"
    );

    // PostgreSQL restarts: whatever was missed, B's screens are told to reload, and
    // B hears A again once both are back.
    pg.down();
    pg.up();
    let (_, took) = wall.next("resync", Duration::from_secs(30)).await;
    println!("kiosk B's wall was told to reload {took:?} after the database came back");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while c.get(a.at("/readyz")).send().await.unwrap().status() != 200 {
        assert!(std::time::Instant::now() < deadline, "kiosk A did not reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    issue(&c, &a, "Grace", "grace@example.org").await;
    wall.next("change", SOON).await;
    assert!(live(&b).await.contains("<strong>2</strong> certificates"));
}

/// How many tickets `printer` received for the certificate page `page`.
fn tickets(printer: &FakePrinter, page: &str) -> usize {
    printer.jobs().iter().filter(|j| contains(j, page.as_bytes())).count()
}

/// Wait until `printer` has printed `n` tickets for `page`.
async fn until_printed(printer: &FakePrinter, page: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tickets(printer, page) < n {
        assert!(std::time::Instant::now() < deadline, "{page} not printed {n} times");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_goes_to_the_printer_picked_and_only_there() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (dir, spare, keys, d1, d2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    shared_ca(dir.path(), spare.path());
    let queue_key = keys.path().join("queue.key");
    std::fs::write(&queue_key, rand::random::<[u8; 32]>()).unwrap();
    let (front, mut back) = (FakePrinter::new(READY), FakePrinter::new(READY));
    let _front_agent = agent(&front, "front", &url, &queue_key, d1.path());
    let mut args = vec!["--database", &url];
    args.extend(printing_to("front", queue_key.to_str().unwrap()));
    let k = Kiosk::start(dir.path(), &args);
    let c = client();
    let page = issue(&c, &k, "Ada", "ada@example.org").await;
    let html = |c: &reqwest::Client, at: String| {
        let c = c.clone();
        async move { c.get(at).send().await.unwrap().text().await.unwrap() }
    };

    // One printer: nothing to pick.
    let one = html(&c, k.at(&page)).await;
    assert!(one.contains("id=\"print-button\"") && !one.contains("<select"), "{one}");

    // A second printer's agent starts: the page offers both, this kiosk's own first picked,
    // once the choice pages keep (read at most `CHOICE_TTL` ago) is read again.
    let _back_agent = agent(&back, "back", &url, &queue_key, d2.path());
    let deadline = std::time::Instant::now() + certstamp::app::CHOICE_TTL + Duration::from_secs(10);
    let two = loop {
        let two = html(&c, k.at(&page)).await;
        if two.contains("<select") || std::time::Instant::now() > deadline {
            break two;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        two.contains(
            "<label for=\"print-printer\">Print at</label>\n<select id=\"print-printer\" name=\"printer\">\
             <option value=\"back\">back</option><option value=\"front\" selected>front</option></select>"
        ),
        "{two}"
    );
    let print = |printer: &'static str| {
        let (c, at, csrf) = (c.clone(), k.at(&format!("{page}/print")), csrf_of(&two));
        async move {
            c.post(at)
                .form(&[("csrf", csrf.as_str()), ("printer", printer)])
                .send()
                .await
                .unwrap()
        }
    };

    // A printer nobody serves: a clear 400 page and no job.
    let res = print("nowhere").await;
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("That printer is not serving the booth right now"),
        "{body}"
    );
    let status = html(&c, k.at(&format!("{page}/print"))).await;
    assert!(status.contains("\"job\":null"), "{status}");

    // The visitor picks the back printer: it prints there, and only there.
    assert_eq!(print("back").await.status(), 303);
    until_printed(&back, &page, 1).await;
    assert_eq!(tickets(&front, &page), 0);

    // Staff reprint it on the front printer from the console.
    let console = crate::support::staff_page(&c, &k).await;
    assert!(
        console.contains("aria-label=\"Printer for the reprint of job-000001\"") && console.contains("· on back"),
        "{console}"
    );
    let reprint = |printer: &'static str| {
        let (c, at, csrf) = (c.clone(), k.at("/staff/jobs/1/reprint"), csrf_of(&console));
        async move {
            c.post(at)
                .form(&[("csrf", csrf.as_str()), ("back", "/staff"), ("printer", printer)])
                .send()
                .await
                .unwrap()
        }
    };
    let res = reprint("nowhere").await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("That printer is not serving the booth right now")
    );
    assert_eq!(reprint("front").await.status(), 303);
    until_printed(&front, &page, 1).await;
    assert!(
        crate::support::staff_page(&c, &k)
            .await
            .contains("Reprint of job-000001 queued as a new job on front."),
    );
    // A reprint form without a printer (as before) goes where the job went.
    assert_eq!(
        crate::support::staff_post(&c, &k, "/staff/jobs/1/reprint")
            .await
            .status(),
        303
    );
    until_printed(&back, &page, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (tickets(&front, &page), tickets(&back, &page)),
        (1, 2),
        "each where it was sent, once"
    );

    // The back printer goes away with a reprint waiting: staff send it to the front one.
    back.down();
    assert_eq!(reprint("back").await.status(), 303);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !html(&c, k.at(&format!("{page}/print")))
        .await
        .contains("\"state\":\"failed\"")
    {
        assert!(std::time::Instant::now() < deadline, "the reprint never waited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let console = crate::support::staff_page(&c, &k).await;
    assert!(
        console.contains("<form method=\"post\" action=\"/staff/jobs/4/move\">")
            && console.contains(
                "aria-label=\"Printer to send job-000004 to\"><option value=\"front\">front</option></select>"
            ),
        "{console}"
    );
    let res = c
        .post(k.at("/staff/jobs/4/move"))
        .form(&[
            ("csrf", csrf_of(&console).as_str()),
            ("back", "/staff"),
            ("printer", "front"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    until_printed(&front, &page, 2).await;
    assert!(
        crate::support::staff_page(&c, &k)
            .await
            .contains("job-000004 will print on front.")
    );
    back.up();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        (tickets(&front, &page), tickets(&back, &page)),
        (2, 2),
        "moved, not copied"
    );
}
