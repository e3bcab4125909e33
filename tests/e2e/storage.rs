//! The data disk fills up: on a small tmpfs of its own the kiosk answers submissions with a
//! clear 503 page and saves nothing of them, keeps serving what it can read, keeps the
//! queued ticket, and carries on by itself once space returns (no restart): the refused
//! visitor can register with the same email, and the ticket prints exactly once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::printing::{FakePrinter, READY, press_print, wait_for};
use crate::support::*;

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs failed ({}): the disk-full test needs root or CAP_SYS_ADMIN, as CI has",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem of `dir` to the last byte; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Whatever is left below one chunk, byte by byte.
    while let Ok(1) = f.write(&[0]) {}
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_gets_a_clear_503_loses_nothing_and_recovers_by_itself() {
    let mnt = tempfile::tempdir().unwrap();
    let _tmpfs = Tmpfs::mount(mnt.path(), "24m");
    let data = mnt.path().join("data");
    let mut printer = FakePrinter::new(READY);
    printer.down();
    let uri = format!("tcp://127.0.0.1:{}", printer.port);
    let k = Kiosk::start(&data, &["--printer", &uri]);
    let c = client();

    // Ada's ticket waits in the queue: the printer is off.
    let ada = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    press_print(&c, &k, &ada).await;
    wait_for(&c, &k, &ada, 30, |j| j["state"] == "failed").await;

    // The disk fills up.
    let filler = fill(mnt.path());
    printer.up();
    let res = submit(&c, &k, "Grace Hopper", "grace@example.org").await;
    assert_eq!(res.status(), 503);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("cannot save anything right now") && html.contains("nothing was saved"),
        "{html}"
    );
    // What only needs reading still works.
    assert_eq!(c.get(k.at(&ada)).send().await.unwrap().status(), 200);
    assert_eq!(c.get(k.at("/guestbook")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(k.at("/healthz")).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        printer.jobs().is_empty(),
        "nothing can print while its state cannot be saved"
    );

    // Space returns: no restart, the kiosk carries on by itself.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    let job = wait_for(&c, &k, &ada, 90, |j| j["state"] == "printed").await;
    assert_eq!(job["state"], "printed");
    eprintln!("the queued ticket printed {:?} after space returned", started.elapsed());
    // Nothing of the refused submission was kept: the same email registers now.
    let grace = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    assert_eq!(c.get(k.at(&grace)).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(printer.jobs().len(), 1, "the ticket printed exactly once");
    let logs = k.logs();
    assert!(logs.contains("storage fault"), "{logs}");

    // The database is whole.
    drop(k);
    let db = rusqlite::Connection::open(data.join("certstamp.db")).unwrap();
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let visitors: i64 = db.query_row("SELECT COUNT(*) FROM visitors", [], |r| r.get(0)).unwrap();
    assert_eq!(visitors, 2, "Ada and Grace, nothing half-written");
}
