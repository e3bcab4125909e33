//! A real PostgreSQL server for tests: Debian's `postgresql` binaries, a private cluster
//! in a temporary directory, listening on 127.0.0.1 only, one database per test.
//! Shared by the store's unit tests and the end-to-end tests (`#[path]`-included).
//!
//! The server refuses to run as root, so under root the cluster belongs to the
//! `postgres` user (or `nobody`). A small shell wrapper owns the server: it stops it
//! and removes the directory when this process exits (even when killed), since the
//! wrapper's stdin, a pipe from this process, closes then.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USER: &str = "certstamp";
const PASSWORD: &str = "certstamp-test";
const HINT: &str = "PostgreSQL's server binaries are missing: `apt-get install postgresql` \
    (bash .ci/install-test-deps installs it)";

const WRAPPER: &str = r#"dir=$1; shift
"$@" & pid=$!
while read -r cmd; do
  case $cmd in
    down) kill -INT $pid; wait $pid;;
    up) "$@" & pid=$!;;
  esac
done
kill -INT $pid 2>/dev/null; wait $pid; rm -rf "$dir""#;

/// A running private server.
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    wrapper: Mutex<(Child, Option<ChildStdin>)>,
    databases: AtomicUsize,
}

/// The newest installed server's bin directory.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| panic!("{HINT}"))
}

/// Who runs the server: us, or (as root) an unprivileged system user.
fn run_as() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to our effective user: root or not, without unsafe code.
    if std::fs::metadata("/proc/self").map_or(1, |m| m.uid()) != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 3 && f[0] == name {
                return Some((f[2].parse().unwrap(), f[3].parse().unwrap()));
            }
        }
    }
    panic!("running as root, but neither a `postgres` nor a `nobody` user exists to run PostgreSQL");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(program);
    if let Some((uid, gid)) = owner {
        c.uid(uid).gid(gid);
    }
    c.env_remove("PGDATA").env("LC_ALL", "C");
    c
}

/// A server certificate and key (PEM files) for a cluster that takes TLS only.
pub struct TlsFiles<'a> {
    /// The server's certificate (chain), PEM.
    pub cert: &'a Path,
    /// Its private key, PEM.
    pub key: &'a Path,
}

impl PgServer {
    /// initdb a cluster and start it; panics with an install hint when PostgreSQL is missing.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A cluster with `ssl = on` whose pg_hba takes TCP connections over TLS only
    /// (`hostssl`): a plain connection is refused.
    pub fn start_tls(files: TlsFiles<'_>) -> Self {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<TlsFiles<'_>>) -> Self {
        let bin = bin_dir();
        let owner = run_as();
        let dir = std::env::temp_dir().join(format!("certstamp-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let data = dir.join("data");
        let out = command(&bin.join("initdb"), owner)
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--no-locale",
            ])
            .args(["-E", "UTF8", "--no-sync", "--pwfile", pwfile.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("initdb: {e}; {HINT}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut settings = Vec::new();
        if let Some(files) = tls {
            // The server reads its key only when the server's user owns it, mode 0600.
            for (from, name) in [(files.cert, "server.crt"), (files.key, "server.key")] {
                let to = dir.join(name);
                std::fs::copy(from, &to).unwrap();
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
                }
                let key = if name == "server.crt" {
                    "ssl_cert_file"
                } else {
                    "ssl_key_file"
                };
                settings.push(format!("{key}={}", to.display()));
            }
            settings.push("ssl=on".into());
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        }
        let port = free_port();
        let mut wrapper = command(Path::new("/bin/sh"), owner);
        wrapper
            .args(["-c", WRAPPER, "pg-wrapper", dir.to_str().unwrap()])
            .arg(bin.join("postgres"))
            .args(["-D", data.to_str().unwrap(), "-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args([
                "-c",
                "max_connections=300",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ])
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("server.log")).unwrap()));
        let mut child = wrapper.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let server = PgServer {
            dir,
            bin,
            port,
            wrapper: Mutex::new((child, Some(stdin))),
            databases: AtomicUsize::new(0),
        };
        server.wait_ready();
        server
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (owned by the test: its files may be read).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// Run one statement as the superuser through `psql`.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
                &self.url(db),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fresh, empty database; returns its URL.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Stop the server (fast shutdown: open sessions are cut, commits are kept).
    pub fn down(&self) {
        self.tell("down");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "PostgreSQL did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start it again on the same port and data.
    pub fn up(&self) {
        self.tell("up");
        self.wait_ready();
    }

    fn tell(&self, line: &str) {
        let mut w = self.wrapper.lock().unwrap();
        let stdin = w.1.as_mut().expect("server dropped");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if let Ok(Some(status)) = self.wrapper.lock().unwrap().0.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                panic!("PostgreSQL exited ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut w = self.wrapper.lock().unwrap();
        // Closing stdin makes the wrapper stop the server and remove the directory.
        drop(w.1.take());
        let _ = w.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One server per test process, started on first use.
pub fn shared() -> &'static PgServer {
    static SERVER: std::sync::OnceLock<PgServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}
