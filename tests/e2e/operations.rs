//! What operators see: `/metrics` moving with real issuances and prints, `/readyz` naming
//! the check that fails, and a stop (SIGTERM, as a rollout sends it) that lets the ticket
//! being sent finish before the process exits 0.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::printing::{job_status, press_print, stalled_fifo, wait_for};
use crate::support::*;

async fn get(c: &reqwest::Client, k: &Kiosk, path: &str) -> (u16, String, String) {
    let res = c.get(k.at(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    (status, ct, res.text().await.unwrap())
}

/// The value of one series (`name{labels}` exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_with_an_issuance_and_a_print() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    assert_eq!(get(&c, &k, "/healthz").await.0, 200);
    let (status, ct, before) = get(&c, &k, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    for name in [
        "certstamp_issuances_total",
        "certstamp_issuance_duration_seconds",
        "certstamp_http_requests_total",
        "certstamp_http_request_duration_seconds",
        "certstamp_print_jobs",
        "certstamp_print_attempts_total",
        "certstamp_printer_up",
        "certstamp_printer_paper",
        "certstamp_guestbook_entries_total",
        "certstamp_build_info",
    ] {
        assert!(before.contains(&format!("# TYPE {name} ")), "{name} missing:\n{before}");
    }
    assert_eq!(
        sample(
            &before,
            &format!("certstamp_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))
        ),
        Some(1.0)
    );
    assert_eq!(sample(&before, "certstamp_print_jobs{state=\"printed\"}"), Some(0.0));
    assert_eq!(
        sample(
            &before,
            "certstamp_issuances_total{backend=\"local\",outcome=\"issued\"}"
        ),
        Some(0.0)
    );

    let email = "ada@example.org";
    let page = issue(&c, &k, "Ada Lovelace", email).await;
    press_print(&c, &k, &page).await;
    wait_for(&c, &k, &page, 20, |j| j["state"] == "printed").await;

    let (_, _, after) = get(&c, &k, "/metrics").await;
    let at = |s: &str| sample(&after, s).unwrap_or_else(|| panic!("{s} missing:\n{after}"));
    assert_eq!(
        at("certstamp_issuances_total{backend=\"local\",outcome=\"issued\"}"),
        1.0
    );
    assert_eq!(at("certstamp_issuance_duration_seconds_count{backend=\"local\"}"), 1.0);
    let buckets: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("certstamp_issuance_duration_seconds_bucket{"))
        .collect();
    assert!(buckets.len() > 10, "{buckets:?}");
    assert!(buckets.iter().any(|l| l.contains("le=\"+Inf\"") && l.ends_with(" 1")));
    assert_eq!(
        at("certstamp_http_requests_total{method=\"POST\",route=\"/issue\",status=\"303\"}"),
        1.0
    );
    assert!(at("certstamp_http_request_duration_seconds_count{method=\"GET\",route=\"/c/{token}\"}") >= 1.0);
    assert_eq!(at("certstamp_print_jobs{state=\"printed\"}"), 1.0);
    assert_eq!(at("certstamp_print_attempts_total{result=\"printed\"}"), 1.0);
    assert_eq!(at("certstamp_printer_up"), 1.0, "the spool always takes a job");
    assert_eq!(at("certstamp_printer_paper{state=\"unknown\"}"), 1.0);
    // Route patterns only: no token, no email.
    assert!(!after.contains(page.trim_start_matches("/c/")) && !after.contains(email));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_names_the_check_that_fails() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let (status, ct, text) = get(&c, &k, "/readyz").await;
    assert_eq!((status, ct.as_str()), (200, "text/plain; charset=utf-8"));
    assert_eq!(
        text,
        "[+]database ok\n[+]ca ok\n[+]printer skipped: a spool has nothing to ask\nreadyz check passed\n"
    );
    drop(k);

    // A network printer nobody answers for: not ready, and it says which check and why.
    let dead = free_port();
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &["--printer", &format!("tcp://127.0.0.1:{dead}")]);
    let (status, _, text) = get(&c, &k, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("[+]database ok\n[+]ca ok\n[-]printer failed: the printer is not reachable"),
        "{text}"
    );
    assert!(text.ends_with("readyz check failed\n"), "{text}");
    // The Deployment's probe leaves the printer out: visitors still get certificates.
    let (status, _, text) = get(&c, &k, "/readyz?exclude=printer").await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("printer"), "{text}");
    let (_, _, metrics) = get(&c, &k, "/metrics").await;
    assert_eq!(sample(&metrics, "certstamp_printer_up"), Some(0.0), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_a_ticket_is_being_sent_lets_it_finish_and_exits_0() {
    let data = tempfile::tempdir().unwrap();
    let dev = tempfile::tempdir().unwrap();
    // A printer device that takes the first page of the ticket, then stops reading.
    let (fifo, mut reader) = stalled_fifo(dev.path());
    let mut k = Kiosk::start(data.path(), &["--printer", &format!("file:{}", fifo.display())]);
    let c = client();
    let page = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    press_print(&c, &k, &page).await;
    wait_for(&c, &k, &page, 20, |j| j["state"] == "printing").await;

    // The stop comes mid-ticket. The kiosk stops listening but waits for the ticket.
    let pid = k.pid();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(k.running(), "the kiosk quit with a ticket half sent:\n{}", k.logs());
    assert!(
        reqwest::get(k.at("/healthz")).await.is_err(),
        "it stopped taking requests"
    );

    // The printer reads again: the rest of the ticket goes out, then the process exits 0.
    let mut ticket = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    let status = loop {
        match reader.read(&mut buf) {
            Ok(n) => ticket.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        if let Some(status) = k.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM:\n{}", k.logs());
        std::thread::sleep(Duration::from_millis(20));
    };
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => ticket.extend_from_slice(&buf[..n]),
        }
    }
    assert!(status.success(), "{status}:\n{}", k.logs());
    assert!(ticket.starts_with(&[0x1b, 0x40]), "the whole ticket, from ESC @");
    assert!(ticket.windows(2).any(|w| w == [0x1d, 0x56]), "to the cut");

    // After a restart the job is printed, not interrupted: nothing for staff to decide.
    let k = Kiosk::start_on(
        data.path(),
        k.port,
        k.guestbook_port,
        &["--printer", &format!("spool:{}", data.path().join("after").display())],
    );
    assert_eq!(job_status(&c, &k, &page).await["job"]["state"], "printed");
    assert!(!k.logs().contains("marked interrupted"));
}
