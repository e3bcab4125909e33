//! Several kiosks, one booth: two kiosk processes, each with its own data dir, share a
//! real PostgreSQL (a private server on loopback) and one CA mounted into both, as the
//! booth-ha deployment does. `store migrate` moves the booth to SQLite and back.

use std::path::Path;
use std::process::Command;

use crate::support::{Kiosk, client, issue, submit, submit_at};

#[path = "../../src/store/postgres/testserver.rs"]
pub(crate) mod testserver;

/// `certstamp ca init` in `a`, and the same `ca/` files copied into `b` (one Secret,
/// mounted into each replica).
pub(crate) fn shared_ca(a: &Path, b: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_certstamp"))
        .args(["ca", "init", "--data-dir"])
        .arg(a)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = Command::new("cp").arg("-a").arg(a.join("ca")).arg(b).status().unwrap();
    assert!(copy.success());
}

fn certstamp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_certstamp"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_kiosks_share_one_postgres_and_one_ca() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (a_dir, b_dir, lone) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    shared_ca(a_dir.path(), b_dir.path());

    // A replica without the shared CA refuses to start rather than make its own.
    let out = Command::new(env!("CARGO_BIN_EXE_certstamp"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--guestbook-listen",
            "127.0.0.1:0",
            "--database",
            &url,
        ])
        .arg("--data-dir")
        .arg(lone.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("does not create its own CA"),
        "{said}"
    );
    assert!(!lone.path().join("ca").exists());

    let a = Kiosk::start(a_dir.path(), &["--database", &url]);
    let b = Kiosk::start_with_env(b_dir.path(), &[], &[("CERTSTAMP_DATABASE", url.as_str())]);
    assert!(
        !a_dir.path().join("certstamp.db").exists(),
        "no SQLite file beside PostgreSQL"
    );

    // Visitors at both kiosks at once; each page opens on the other kiosk too.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (k_url, k_other) = if i % 2 == 0 {
                (a.url.clone(), b.url.clone())
            } else {
                (b.url.clone(), a.url.clone())
            };
            tokio::spawn(async move {
                let c = client();
                let email = format!("v{i}@example.org");
                let res = submit_at(&c, &k_url, "Ada", &email).await.unwrap();
                assert_eq!(res.status(), 303);
                let page = res.headers()["location"].to_str().unwrap().to_string();
                let other = client().get(format!("{k_other}{page}")).send().await.unwrap();
                assert_eq!(other.status(), 200, "any kiosk shows any visitor's page");
                page
            })
        })
        .collect();
    let pages: Vec<String> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(pages.len(), 16);

    // The same email at both kiosks at once: one certificate, one 409.
    for round in 0..3 {
        let email = format!("race{round}@example.org");
        let (ca, cb) = (client(), client());
        let (ra, rb) = tokio::join!(submit(&ca, &a, "Ada", &email), submit(&cb, &b, "Ada", &email));
        let mut codes = [ra.status().as_u16(), rb.status().as_u16()];
        codes.sort();
        assert_eq!(codes, [303, 409], "round {round}");
    }

    // SIGKILL one kiosk in a rush: every acknowledged visitor is there for the other.
    let mut a = a;
    let rush: Vec<_> = (0..20)
        .map(|i| {
            let url = a.url.clone();
            tokio::spawn(async move {
                let c = client();
                let email = format!("rush{i}@example.org");
                let res = submit_at(&c, &url, "Ada", &email).await.ok()?;
                (res.status() == 303).then(|| res.headers()["location"].to_str().unwrap().to_string())
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    a.kill();
    let acknowledged: Vec<String> = futures::future::join_all(rush)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    let c = client();
    for page in pages.iter().chain(&acknowledged) {
        let res = c.get(b.at(page)).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "acknowledged at the killed kiosk, served by the survivor"
        );
    }
    let after = issue(&c, &b, "Grace", "after@example.org").await;
    assert!(after.starts_with("/c/"));
    drop(b);

    // Move the booth to SQLite and back: the copy is checked row by row, and a kiosk on
    // the SQLite copy still opens the pages.
    let file = a_dir.path().join("moved.db");
    let out = certstamp(&["store", "migrate", "--from", &url, "--to", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("reads back identical"), "{said}");
    let again = pg.fresh_database();
    let out = certstamp(&["store", "migrate", "--from", file.to_str().unwrap(), "--to", &again]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let into_full = certstamp(&["store", "migrate", "--from", file.to_str().unwrap(), "--to", &again]);
    assert!(!into_full.status.success(), "never merges into a database with rows");
    let sqlite_kiosk = Kiosk::start(a_dir.path(), &["--database", file.to_str().unwrap()]);
    for page in pages.iter().take(3).chain(std::iter::once(&after)) {
        assert_eq!(c.get(sqlite_kiosk.at(page)).send().await.unwrap().status(), 200);
    }
}

/// A running `certstamp print-agent`.
pub(crate) struct Agent {
    child: std::process::Child,
    args: Vec<String>,
}

impl Agent {
    pub(crate) fn start(args: &[String]) -> Agent {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_certstamp"))
            .arg("print-agent")
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("agent output").unwrap();
        assert!(first.contains("print agent serving printer"), "{first}");
        std::thread::spawn(move || lines.for_each(drop));
        Agent {
            child,
            args: args.to_vec(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Submit at `kiosk` (a fresh browser each) and return the certificate page paths.
async fn rush(kiosk: &str, prefix: &str, n: usize) -> Vec<tokio::task::JoinHandle<Option<String>>> {
    (0..n)
        .map(|i| {
            let (url, email) = (kiosk.to_string(), format!("{prefix}{i}@example.org"));
            tokio::spawn(async move {
                let c = client();
                let res = submit_at(&c, &url, "Ada", &email).await.ok()?;
                (res.status() == 303).then(|| res.headers()["location"].to_str().unwrap().to_string())
            })
        })
        .collect()
}

/// How often `page` appears in the jobs a printer received.
fn printed(printer: &FakePrinter, page: &str) -> usize {
    printer.jobs().iter().filter(|j| contains(j, page.as_bytes())).count()
}

use crate::printing::{FakePrinter, READY, contains};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_print_agents_print_each_ticket_once_on_its_printer() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (a_dir, b_dir, secrets) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    shared_ca(a_dir.path(), b_dir.path());
    // One booth, one queue key and one form key, as from one Secret.
    let (queue_key, form_key) = (secrets.path().join("queue.key"), secrets.path().join("form.key"));
    std::fs::write(&queue_key, rand::random::<[u8; 32]>()).unwrap();
    std::fs::write(&form_key, rand::random::<[u8; 32]>()).unwrap();
    let (qk, fk) = (queue_key.to_str().unwrap(), form_key.to_str().unwrap());
    let (front, back) = (FakePrinter::new(READY), FakePrinter::new(READY));
    let agent_args = |printer: &FakePrinter, name: &str, dir: &Path| -> Vec<String> {
        [
            "--printer",
            &format!("tcp://127.0.0.1:{}", printer.port),
            "--printer-name",
            name,
            "--database",
            &url,
            "--queue-key-file",
            qk,
            "--data-dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut front_agent = Agent::start(&agent_args(&front, "front", d1.path()));
    let _back_agent = Agent::start(&agent_args(&back, "back", d2.path()));
    let kiosk = |dir: &Path, to: &str| {
        Kiosk::start(
            dir,
            &[
                "--database",
                &url,
                "--printer",
                "none",
                "--print-to",
                to,
                "--auto-print",
                "true",
                "--queue-key-file",
                qk,
                "--form-key-file",
                fk,
            ],
        )
    };
    let (a, b) = (kiosk(a_dir.path(), "front"), kiosk(b_dir.path(), "back"));

    // A form from one kiosk is accepted by the other: the form key is shared.
    let c = client();
    let html = c.get(a.at("/")).send().await.unwrap().text().await.unwrap();
    let res = c
        .post(b.at("/issue"))
        .form(&[
            ("name", "Ada"),
            ("email", "cross@example.org"),
            ("consent", "yes"),
            ("csrf", &crate::support::csrf_of(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let cross = res.headers()["location"].to_str().unwrap().to_string();

    // Visitors at both kiosks at once: each ticket once, on its kiosk's printer.
    let (at_a, at_b) = (rush(&a.url, "a", 6).await, rush(&b.url, "b", 6).await);
    let at_a: Vec<String> = futures::future::join_all(at_a)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let mut at_b: Vec<String> = futures::future::join_all(at_b)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    at_b.push(cross);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while front.jobs().len() < 6 || back.jobs().len() < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "front {} back {}",
            front.jobs().len(),
            back.jobs().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for page in &at_a {
        assert_eq!((printed(&front, page), printed(&back, page)), (1, 0), "{page}");
    }
    for page in &at_b {
        assert_eq!((printed(&front, page), printed(&back, page)), (0, 1), "{page}");
    }

    // SIGKILL the front agent during a rush; it resumes when it comes back, and nothing
    // prints twice (a job it may have been sending waits for staff as interrupted).
    let more = rush(&a.url, "more", 8).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    front_agent.kill();
    let more: Vec<String> = futures::future::join_all(more)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let front_agent = Agent::start(&front_agent.args.clone());
    let store = certstamp::store::Store::connect(&url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let jobs = store.jobs_page(None, 100).await.unwrap().items;
        let open = jobs.iter().filter(|j| j.state.is_open()).count();
        if open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} jobs still open after the agent came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let jobs = store.jobs_page(None, 100).await.unwrap().items;
    for page in at_a.iter().chain(&more) {
        assert!(printed(&front, page) <= 1, "printed twice: {page}");
        assert_eq!(printed(&back, page), 0);
    }
    let interrupted = jobs
        .iter()
        .filter(|j| j.state == certstamp::store::jobs::JobState::Interrupted)
        .count();
    let on_paper: usize = more.iter().map(|p| printed(&front, p)).sum();
    assert!(
        on_paper + interrupted >= more.len(),
        "every ticket printed or waiting for staff"
    );
    assert!(
        on_paper >= more.len() - interrupted.min(1),
        "the restarted agent printed the rest"
    );
    // Staff on any kiosk see both printers' status in the database.
    let printers = store.printers().await.unwrap();
    let names: Vec<_> = printers.iter().map(|p| (p.name.as_str(), p.served)).collect();
    assert_eq!(names, [("back", true), ("front", true)]);
    let staff = crate::support::staff_page(&client(), &b).await;
    assert!(
        staff.contains(r#"<td data-label="Printer">front</td>"#)
            && staff.contains(r#"<td data-label="Printer">back</td>"#),
        "{staff}"
    );
    drop(front_agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarting_gives_a_clear_503_then_the_kiosk_carries_on() {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let (dir, spare) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    shared_ca(dir.path(), spare.path());
    let k = Kiosk::start(dir.path(), &["--database", &url]);
    let c = client();
    let mut pages = Vec::new();
    for i in 0..3 {
        pages.push(issue(&c, &k, "Ada", &format!("before{i}@example.org")).await);
    }

    pg.down();
    let res = submit(&c, &k, "Ada", "during@example.org").await;
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(body.contains("Temporarily unavailable"), "{body}");
    assert!(
        body.contains("database cannot be reached right now, so nothing was saved"),
        "{body}"
    );
    assert!(
        !body.contains("127.0.0.1") && !body.contains("certstamp-test"),
        "no detail on the page"
    );
    assert_eq!(c.get(k.at(&pages[0])).send().await.unwrap().status(), 503);
    assert_eq!(c.get(k.at("/readyz")).send().await.unwrap().status(), 503);
    assert!(
        k.logs().contains("database unreachable"),
        "the detail goes to the log:\n{}",
        k.logs()
    );

    // Back up: the pool reconnects by itself; nothing acknowledged is lost.
    pg.up();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.get(k.at("/readyz")).send().await.unwrap().status() != 200 {
        assert!(std::time::Instant::now() < deadline, "the kiosk did not reconnect");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for page in &pages {
        assert_eq!(c.get(k.at(page)).send().await.unwrap().status(), 200);
    }
    issue(&c, &k, "Ada", "during@example.org").await;
    let store = certstamp::store::Store::connect(&url).await.unwrap();
    assert_eq!(
        store.visitor_count("demo").await.unwrap(),
        4,
        "three before, one after, none lost or doubled"
    );
}
