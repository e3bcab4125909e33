//! One chromedriver for the whole test binary, started on first use on a free loopback
//! port. Each test opens its own session (its own Chromium and profile) on it.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::free_port;

/// What to run when the browser is missing.
pub const INSTALL_HINT: &str = "install Debian's Chromium and its driver: `apt-get install -y chromium chromium-driver` (or run `bash .ci/install-test-deps`)";

/// Flags for a headless Chromium that stays off the network except for the pages asked
/// (also used by tests that run Chromium without the driver).
pub const HEADLESS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Debian's Chromium; panics with an install hint when it is missing.
pub fn chromium() -> PathBuf {
    find(&["chromium", "chromium-browser"]).unwrap_or_else(|| panic!("Chromium is not installed: {INSTALL_HINT}"))
}

static DRIVER: OnceLock<Result<String, String>> = OnceLock::new();

/// `http://127.0.0.1:PORT` of the shared chromedriver; panics with an install hint
/// when it cannot start.
pub fn url() -> &'static str {
    match DRIVER.get_or_init(start) {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn start() -> Result<String, String> {
    let exe = find(&["chromedriver"]).ok_or_else(|| format!("chromedriver is not installed: {INSTALL_HINT}"))?;
    if find(&["chromium", "chromium-browser"]).is_none() {
        return Err(format!("Chromium is not installed: {INSTALL_HINT}"));
    }
    let port = free_port();
    let log = log_path();
    let (tx, rx) = mpsc::channel();
    // The driver dies with this thread (PDEATHSIG), and this thread lives as long as the
    // test binary, so no chromedriver outlives the tests.
    std::thread::spawn(move || {
        let mut cmd = Command::new(&exe);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot run {}: {e}; {INSTALL_HINT}", exe.display())));
            }
        }
    });
    rx.recv().map_err(|e| e.to_string())??;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "chromedriver did not listen on port {port} within 30 s; see {}",
                log_path().display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("http://127.0.0.1:{port}"))
}

/// `target/e2e/`: screenshots, reports and the driver's log, kept for a person to look at.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log_path() -> PathBuf {
    artifacts_dir().join("chromedriver.log")
}
