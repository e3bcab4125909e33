//! Printing through the kiosk: spool previews, a real TCP printer on loopback, backoff
//! while it is down or out of paper, de-duplication, and SIGKILL in the middle.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// Press the print button on a certificate page (with the page's CSRF token).
pub(crate) async fn press_print(c: &reqwest::Client, k: &Kiosk, page: &str) {
    let html = c.get(k.at(page)).send().await.unwrap().text().await.unwrap();
    let res = c
        .post(k.at(&format!("{page}/print")))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("{page}#print"));
}

/// The JSON print status of a page.
pub(crate) async fn job_status(c: &reqwest::Client, k: &Kiosk, page: &str) -> serde_json::Value {
    let res = c.get(k.at(&format!("{page}/print"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().await.unwrap()
}

/// Poll the JSON status until `want(job)` or panic after `secs`.
pub(crate) async fn wait_for(
    c: &reqwest::Client,
    k: &Kiosk,
    page: &str,
    secs: u64,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = job_status(c, k, page).await;
        if want(&s["job"]) {
            return s["job"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "print job never got there: {s}\n{}",
            k.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spool_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn spool_prints_a_preview_that_scans_and_double_taps_print_once() {
    let data = tempfile::tempdir().unwrap();
    let spool = data.path().join("spool");
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let page = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    assert_eq!(job_status(&c, &k, &page).await["job"], serde_json::Value::Null);
    press_print(&c, &k, &page).await;
    press_print(&c, &k, &page).await;
    let job = wait_for(&c, &k, &page, 20, |j| j["state"] == "printed").await;
    assert_eq!(job["id"], 1);
    assert_eq!(spool_files(&spool), ["job-000001.bin", "job-000001.png"]);
    assert_eq!(zbar(&spool.join("job-000001.png")), vec![k.at(&page)]);
    let html = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Your ticket has been printed"));
    // The page shows the same seal as the ticket.
    assert!(html.contains("class=\"seal\""), "no seal on the page");
    // The public wall shows counts and seals, never names or emails.
    let wall = c.get(k.at("/wall")).send().await.unwrap().text().await.unwrap();
    assert!(
        wall.contains("<strong>1</strong> certificate issued") && wall.contains("<strong>1</strong> ticket printed"),
        "{wall}"
    );
    assert!(
        wall.contains("<svg") && !wall.contains("Ada") && !wall.contains("example.org"),
        "{wall}"
    );
    // A third tap within the window is still the same job.
    press_print(&c, &k, &page).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(job_status(&c, &k, &page).await["job"]["id"], 1);
    assert_eq!(spool_files(&spool).len(), 2);

    // A staff reprint is an explicit new job.
    let res = staff_post(&c, &k, "/staff/jobs/1/reprint").await;
    assert_eq!(res.status(), 303);
    wait_for(&c, &k, &page, 20, |j| j["id"] == 2 && j["state"] == "printed").await;
    assert_eq!(spool_files(&spool).len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_print_queues_a_ticket_at_issuance() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &["--auto-print", "true"]);
    let c = client();
    let page = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    let job = wait_for(&c, &k, &page, 20, |j| j["state"] == "printed").await;
    assert_eq!(job["id"], 1);
    // Pressing print right after is the same ticket, not a second one.
    press_print(&c, &k, &page).await;
    assert_eq!(job_status(&c, &k, &page).await["job"]["id"], 1);
}

/// How the fake network printer answers DLE EOT.
pub(crate) const READY: u8 = 0;
const PAPER_OUT: u8 = 1;

/// A raw TCP (port 9100) printer on loopback that answers real-time status queries and
/// records every job it receives. It can be taken down and brought back on its port.
pub(crate) struct FakePrinter {
    pub(crate) port: u16,
    mode: Arc<AtomicU8>,
    jobs: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakePrinter {
    pub(crate) fn new(mode: u8) -> Self {
        let mut p = FakePrinter {
            port: free_port(),
            mode: Arc::new(AtomicU8::new(mode)),
            jobs: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        p.up();
        p
    }

    pub(crate) fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let (mode, jobs, stop) = (self.mode.clone(), self.jobs.clone(), self.stop.clone());
        self.thread = Some(thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = conn else { continue };
                let (mode, jobs) = (mode.clone(), jobs.clone());
                thread::spawn(move || serve_printer_conn(s, mode.load(Ordering::SeqCst), &jobs));
            }
        }));
    }

    pub(crate) fn down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    pub(crate) fn jobs(&self) -> Vec<Vec<u8>> {
        self.jobs.lock().unwrap().clone()
    }
}

impl Drop for FakePrinter {
    fn drop(&mut self) {
        self.down();
    }
}

fn serve_printer_conn(mut s: TcpStream, mode: u8, jobs: &Mutex<Vec<Vec<u8>>>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        data.extend_from_slice(&buf[..n]);
        // Real-time status queries come alone on their own connection and wait for a byte.
        while data.len() >= 3 && data[0] == 0x10 && data[1] == 0x04 {
            let reply = match (mode, data[2]) {
                (PAPER_OUT, 1) => 0x1A,
                (PAPER_OUT, 2) => 0x32,
                (PAPER_OUT, 4) => 0x72,
                _ => 0x12,
            };
            let _ = s.write_all(&[reply]);
            data.drain(..3);
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    if !data.is_empty() {
        jobs.lock().unwrap().push(data);
    }
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_printer_down_then_back_prints_once_and_paper_out_holds_the_queue() {
    let data = tempfile::tempdir().unwrap();
    let mut printer = FakePrinter::new(READY);
    let uri = format!("tcp://127.0.0.1:{}", printer.port);
    let k = Kiosk::start(data.path(), &["--printer", &uri]);
    let c = client();

    // Ready: the printer gets one job carrying the page URL as a native QR, then a cut.
    let page = issue(&c, &k, "Ada", "ada@example.org").await;
    press_print(&c, &k, &page).await;
    wait_for(&c, &k, &page, 20, |j| j["state"] == "printed").await;
    let jobs = printer.jobs();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].starts_with(&[0x1b, 0x40]), "job starts with ESC @");
    assert!(contains(&jobs[0], k.at(&page).as_bytes()), "QR payload is the page URL");
    assert!(contains(&jobs[0], &[0x1d, 0x56]), "job has a cut");

    // Down: the job fails and retries with growing backoff; the page says it waits.
    printer.down();
    let page2 = issue(&c, &k, "Bob", "bob@example.org").await;
    press_print(&c, &k, &page2).await;
    let job = wait_for(&c, &k, &page2, 20, |j| {
        j["state"] == "failed" && j["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert!(job["last_error"].as_str().unwrap().contains("not reachable"), "{job}");
    let html = c.get(k.at(&page2)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Waiting for the printer"));
    let attempts_then = job["attempts"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = job_status(&c, &k, &page2).await["job"]["attempts"].as_u64().unwrap();
    assert!(
        later <= attempts_then + 1,
        "no hot loop: {attempts_then} -> {later} attempts in 1.5 s"
    );
    // Back: it prints exactly once.
    printer.up();
    wait_for(&c, &k, &page2, 70, |j| j["state"] == "printed").await;
    assert_eq!(printer.jobs().len(), 2);

    // Paper out: the queue holds, nothing is sent, staff see why.
    printer.mode.store(PAPER_OUT, Ordering::SeqCst);
    let page3 = issue(&c, &k, "Cy", "cy@example.org").await;
    press_print(&c, &k, &page3).await;
    let job = wait_for(&c, &k, &page3, 20, |j| j["state"] == "failed").await;
    assert!(job["last_error"].as_str().unwrap().contains("out of paper"), "{job}");
    assert_eq!(printer.jobs().len(), 2);
    let staff = staff_page(&c, &k).await;
    assert!(staff.contains("The printer is out of paper."));
    printer.mode.store(READY, Ordering::SeqCst);
    wait_for(&c, &k, &page3, 70, |j| j["state"] == "printed").await;
    assert_eq!(printer.jobs().len(), 3);
}

/// A FIFO with a reader that never reads and a one-page pipe buffer: the kiosk's write
/// blocks part-way, so the job sits in `printing` for as long as we like.
pub(crate) fn stalled_fifo(dir: &Path) -> (PathBuf, std::fs::File) {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let path = dir.join("lp0");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: plain libc calls on a path and a descriptor we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    // SAFETY: F_SETPIPE_SZ on our own pipe descriptor.
    unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    (path, reader)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_with_queued_and_in_flight_jobs_loses_nothing_and_prints_nothing_twice() {
    let data = tempfile::tempdir().unwrap();
    let dev = tempfile::tempdir().unwrap();
    let (fifo, _reader) = stalled_fifo(dev.path());
    let mut k = Kiosk::start(data.path(), &["--printer", &format!("file:{}", fifo.display())]);
    let c = client();
    let mut pages = Vec::new();
    for (name, email) in [
        ("One", "one@example.org"),
        ("Two", "two@example.org"),
        ("Three", "three@example.org"),
    ] {
        pages.push(issue(&c, &k, name, email).await);
    }
    for p in &pages {
        press_print(&c, &k, p).await;
    }
    wait_for(&c, &k, &pages[0], 20, |j| j["state"] == "printing").await;
    assert_eq!(job_status(&c, &k, &pages[1]).await["job"]["state"], "queued");
    k.kill();

    // Back up with a working printer: the queued jobs print once each, in order; the
    // in-flight one is interrupted and not reprinted on its own.
    let spool = data.path().join("after");
    let k = Kiosk::start_on(
        data.path(),
        k.port,
        k.guestbook_port,
        &["--printer", &format!("spool:{}", spool.display())],
    );
    wait_for(&c, &k, &pages[2], 20, |j| j["state"] == "printed").await;
    wait_for(&c, &k, &pages[1], 20, |j| j["state"] == "printed").await;
    let first = job_status(&c, &k, &pages[0]).await["job"].clone();
    assert_eq!(first["state"], "interrupted", "{first}");
    assert!(k.logs().contains("marked interrupted"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        spool_files(&spool),
        ["job-000002.bin", "job-000002.png", "job-000003.bin", "job-000003.png"]
    );
    // The visitor pressing print again does not silently reprint it either.
    press_print(&c, &k, &pages[0]).await;
    assert_eq!(job_status(&c, &k, &pages[0]).await["job"]["id"], 1);
    // Staff decide: it did print.
    let staff = staff_page(&c, &k).await;
    assert!(staff.contains("may or may not have printed"));
    let res = staff_post(&c, &k, "/staff/jobs/1/done").await;
    assert_eq!(res.status(), 303);
    assert_eq!(job_status(&c, &k, &pages[0]).await["job"]["state"], "printed");
    assert_eq!(spool_files(&spool).len(), 4);
}

#[test]
fn printer_preview_and_test_commands() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let out = data.path().join("ticket.png");
    for profile in ["80mm", "58mm"] {
        let res = run(
            env!("CARGO_BIN_EXE_certstamp"),
            &[
                "printer",
                "preview",
                "--out",
                out.to_str().unwrap(),
                "--data-dir",
                d,
                "--printer-profile",
                profile,
            ],
            data.path(),
        );
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
        assert_eq!(zbar(&out), vec!["http://127.0.0.1:8080/".to_string()]);
    }
    let spool = data.path().join("spool");
    let res = run(
        env!("CARGO_BIN_EXE_certstamp"),
        &["printer", "test", "--data-dir", d],
        data.path(),
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(spool_files(&spool), ["test-ticket.bin", "test-ticket.png"]);
    let bad = run(
        env!("CARGO_BIN_EXE_certstamp"),
        &["printer", "test", "--data-dir", d, "--printer", "lpt1"],
        data.path(),
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("lpt1"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
