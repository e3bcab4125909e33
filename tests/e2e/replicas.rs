//! Several kiosks, one booth: two kiosk processes, each with its own data dir, share a
//! real PostgreSQL (a private server on loopback) and one CA mounted into both, as the
//! booth-ha deployment does. `store migrate` moves the booth to SQLite and back.

use std::path::Path;
use std::process::Command;

use crate::support::{Kiosk, client, issue, submit};

#[path = "../../src/store/postgres/testserver.rs"]
mod testserver;

/// `certstamp ca init` in `a`, and the same `ca/` files copied into `b` (one Secret,
/// mounted into each replica).
fn shared_ca(a: &Path, b: &Path) {
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
                let html = c.get(format!("{k_url}/")).send().await.unwrap().text().await.unwrap();
                let csrf = crate::support::csrf_of(&html);
                let email = format!("v{i}@example.org");
                let res = c
                    .post(format!("{k_url}/issue"))
                    .form(&[
                        ("name", "Ada"),
                        ("email", email.as_str()),
                        ("consent", "yes"),
                        ("csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
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
                let html = c.get(format!("{url}/")).send().await.ok()?.text().await.ok()?;
                let csrf = crate::support::csrf_of(&html);
                let email = format!("rush{i}@example.org");
                let res = c
                    .post(format!("{url}/issue"))
                    .form(&[
                        ("name", "Ada"),
                        ("email", email.as_str()),
                        ("consent", "yes"),
                        ("csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .ok()?;
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
