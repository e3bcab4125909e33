//! Printer drivers: blocking std I/O with timeouts (call them from `spawn_blocking`).
//!
//! Every call opens its own connection or file handle and closes it again, so a printer that was
//! unplugged or restarted between jobs needs no reconnect logic.
//!
//! Status: where the transport reads back (TCP, character devices) [`Driver::status`] asks the
//! printer with DLE EOT 1, 2 and 4. Many cheap printers never answer; after
//! [`Timeouts::status`] without a reply the status is [`PrinterStatus::Unknown`] and a job is
//! sent anyway, because refusing to print on silence would make those printers unusable.

use crate::Rendered;
use escpos::utils::{RealTimeStatusRequest, RealTimeStatusResponse};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Where jobs go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrinterUri {
    /// `spool:DIR`: write `<job>.bin` and `<job>.png` into a directory (no printer attached).
    Spool(PathBuf),
    /// `file:/dev/usb/lp0`: a character device (the kernel usblp driver).
    Device(PathBuf),
    /// `tcp://HOST[:PORT]`: raw TCP, port 9100 by default.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// Default raw-printing port (HP JetDirect / AppSocket).
pub const DEFAULT_PORT: u16 = 9100;

impl FromStr for PrinterUri {
    type Err = PrintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| PrintError::BadUri {
            uri: s.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = s.strip_prefix("spool:") {
            let dir = rest.strip_prefix("//").unwrap_or(rest);
            if dir.is_empty() {
                return Err(bad("spool: needs a directory"));
            }
            return Ok(PrinterUri::Spool(PathBuf::from(dir)));
        }
        if let Some(rest) = s.strip_prefix("file:") {
            // Accept file:/dev/usb/lp0 and file:///dev/usb/lp0.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad("file: needs an absolute device path such as /dev/usb/lp0"));
            }
            return Ok(PrinterUri::Device(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') || rest.contains('@') {
                return Err(bad("tcp:// needs HOST or HOST:PORT and nothing else"));
            }
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
                match after {
                    "" => (h, None),
                    p => (h, Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?)),
                }
            } else {
                match rest.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') => (h, Some(p)),
                    Some(_) => return Err(bad("put IPv6 addresses in brackets: tcp://[::1]:9100")),
                    None => (rest, None),
                }
            };
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            let port = match port {
                None => DEFAULT_PORT,
                Some(p) => match p.parse::<u16>() {
                    Ok(p) if p != 0 => p,
                    _ => return Err(bad("port must be 1-65535")),
                },
            };
            return Ok(PrinterUri::Tcp {
                host: host.to_string(),
                port,
            });
        }
        Err(bad("unknown scheme"))
    }
}

impl fmt::Display for PrinterUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterUri::Spool(dir) => write!(f, "spool:{}", dir.display()),
            PrinterUri::Device(path) => write!(f, "file:{}", path.display()),
            PrinterUri::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            PrinterUri::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// What the printer says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrinterStatus {
    /// Online, paper present, cover closed.
    Ready,
    /// Paper end sensor triggered.
    PaperOut,
    /// Cover open.
    CoverOpen,
    /// The printer reports itself offline (error, or feed button held).
    Offline,
    /// No read-back: a spool directory, a regular file, or a printer that does not answer DLE EOT.
    Unknown,
}

/// Why a job or a status query failed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    /// The URI is not one of the supported forms.
    #[error("bad printer URI {uri:?}: {reason} (use spool:DIR, file:/dev/usb/lpN or tcp://HOST[:PORT])")]
    BadUri {
        /// The text given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The job id would not make a safe file name.
    #[error("bad job id {0:?}: use 1-64 characters from A-Z a-z 0-9 . _ - (not starting with .)")]
    BadJobId(String),
    /// Nothing answers: connection refused, host unreachable, device node missing (unplugged).
    #[error("printer {target} is offline: {reason}")]
    Offline {
        /// The printer URI.
        target: String,
        /// The underlying cause.
        reason: String,
    },
    /// Connecting or writing took longer than the timeout.
    #[error("printer {target} timed out while {during}")]
    Timeout {
        /// The printer URI.
        target: String,
        /// "connecting", "writing", ...
        during: &'static str,
    },
    /// The printer reports paper out.
    #[error("printer is out of paper")]
    PaperOut,
    /// The printer reports its cover open.
    #[error("printer cover is open")]
    CoverOpen,
    /// The printer answers but reports itself offline.
    #[error("printer {target} reports it is offline")]
    NotReady {
        /// The printer URI.
        target: String,
    },
    /// The device node is held by another driver (ipp-usb, CUPS usb backend).
    #[error("{target} is busy: another driver (ipp-usb, CUPS) holds it; see printer/hardware/README.md")]
    Busy {
        /// The printer URI.
        target: String,
    },
    /// The kiosk user may not open the device.
    #[error("permission denied on {target}: install printer/hardware/99-certstamp-printer.rules")]
    PermissionDenied {
        /// The printer URI.
        target: String,
    },
    /// Any other I/O error.
    #[error("I/O error on {target}: {source}")]
    Io {
        /// The printer URI or file.
        target: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl PrintError {
    /// Whether the same job may succeed later without changing configuration (queue and retry),
    /// as opposed to errors that need an operator (bad URI, permissions, device held elsewhere).
    pub fn retryable(&self) -> bool {
        match self {
            PrintError::Offline { .. }
            | PrintError::Timeout { .. }
            | PrintError::PaperOut
            | PrintError::CoverOpen
            | PrintError::NotReady { .. } => true,
            PrintError::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::Interrupted
                    | ErrorKind::WouldBlock
                    | ErrorKind::BrokenPipe
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected
            ),
            PrintError::BadUri { .. }
            | PrintError::BadJobId(_)
            | PrintError::Busy { .. }
            | PrintError::PermissionDenied { .. } => false,
        }
    }

    fn from_io(target: &str, during: &'static str, e: io::Error) -> Self {
        let target = target.to_string();
        match e.kind() {
            ErrorKind::ConnectionRefused
            | ErrorKind::NotFound
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::AddrNotAvailable
            | ErrorKind::NetworkDown => PrintError::Offline {
                target,
                reason: e.to_string(),
            },
            ErrorKind::TimedOut | ErrorKind::WouldBlock => PrintError::Timeout { target, during },
            ErrorKind::PermissionDenied => PrintError::PermissionDenied { target },
            ErrorKind::ResourceBusy => PrintError::Busy { target },
            _ => PrintError::Io { target, source: e },
        }
    }
}

/// Timeouts for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// A whole job write (TCP: per write call; devices: the whole job).
    pub write: Duration,
    /// Waiting for each DLE EOT answer before calling the status Unknown.
    pub status: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            write: Duration::from_secs(10),
            status: Duration::from_millis(500),
        }
    }
}

/// Sends jobs to one printer.
#[derive(Debug, Clone)]
pub struct Driver {
    uri: PrinterUri,
    timeouts: Timeouts,
}

/// DLE EOT n: real-time status request.
fn dle_eot(n: u8) -> [u8; 3] {
    [0x10, 0x04, n]
}

/// Maps DLE EOT answers (n = 1, 2, 4) to a status. `None` = not asked or no valid answer.
pub fn classify_status(printer: u8, offline_cause: Option<u8>, paper: Option<u8>) -> PrinterStatus {
    use RealTimeStatusRequest as Q;
    use RealTimeStatusResponse as A;
    let Ok(s1) = A::parse(Q::Printer, printer) else {
        return PrinterStatus::Unknown;
    };
    let s2 = offline_cause.and_then(|b| A::parse(Q::OfflineCause, b).ok());
    let s4 = paper.and_then(|b| A::parse(Q::RollPaperSensor, b).ok());
    let flag = |m: &Option<std::collections::HashMap<A, bool>>, k: A| m.as_ref().and_then(|m| m.get(&k).copied());
    if flag(&s2, A::CoverClosed) == Some(false) {
        PrinterStatus::CoverOpen
    } else if flag(&s2, A::PrintingStopsDueToPaperEnd) == Some(true)
        || flag(&s4, A::RollPaperEndSensorPaperPresent) == Some(false)
    {
        PrinterStatus::PaperOut
    } else if s1.get(&A::Online) == Some(&false) {
        PrinterStatus::Offline
    } else {
        PrinterStatus::Ready
    }
}

/// Asks DLE EOT 1, 2, 4 through `ask`, which returns `None` when no byte came in time.
fn query<E>(mut ask: impl FnMut(u8) -> Result<Option<u8>, E>) -> Result<PrinterStatus, E> {
    let Some(s1) = ask(1)? else {
        return Ok(PrinterStatus::Unknown);
    };
    if RealTimeStatusResponse::parse(RealTimeStatusRequest::Printer, s1).is_err() {
        return Ok(PrinterStatus::Unknown);
    }
    let s2 = ask(2)?;
    let s4 = ask(4)?;
    Ok(classify_status(s1, s2, s4))
}

fn check_job_id(id: &str) -> Result<(), PrintError> {
    let ok = (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PrintError::BadJobId(id.to_string()))
    }
}

fn status_to_result(status: PrinterStatus, target: &str) -> Result<(), PrintError> {
    match status {
        PrinterStatus::Ready | PrinterStatus::Unknown => Ok(()),
        PrinterStatus::PaperOut => Err(PrintError::PaperOut),
        PrinterStatus::CoverOpen => Err(PrintError::CoverOpen),
        PrinterStatus::Offline => Err(PrintError::NotReady {
            target: target.to_string(),
        }),
    }
}

impl Driver {
    /// A driver for `uri`. Opens nothing yet: each call connects on its own.
    pub fn open(uri: &PrinterUri) -> Self {
        Driver {
            uri: uri.clone(),
            timeouts: Timeouts::default(),
        }
    }

    /// Replaces the default timeouts (3 s connect, 10 s write, 0.5 s per status answer).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The printer this driver talks to.
    pub fn uri(&self) -> &PrinterUri {
        &self.uri
    }

    /// Asks the printer how it is. Transport failures are errors; silence is `Unknown`.
    pub fn status(&self) -> Result<PrinterStatus, PrintError> {
        let target = self.uri.to_string();
        match &self.uri {
            PrinterUri::Spool(dir) => match fs::metadata(dir) {
                Ok(m) if !m.is_dir() => Err(PrintError::Io {
                    target,
                    source: io::Error::new(ErrorKind::NotADirectory, "spool path is not a directory"),
                }),
                _ => Ok(PrinterStatus::Unknown),
            },
            PrinterUri::Device(path) => self.device_status(path, &target),
            PrinterUri::Tcp { host, port } => {
                let mut s = self.connect(host, *port, &target)?;
                s.set_read_timeout(Some(self.timeouts.status))
                    .map_err(|e| PrintError::from_io(&target, "querying status", e))?;
                let status = query(|n| {
                    s.write_all(&dle_eot(n))
                        .map_err(|e| PrintError::from_io(&target, "querying status", e))?;
                    let mut b = [0u8; 1];
                    match s.read(&mut b) {
                        Ok(1) => Ok(Some(b[0])),
                        Ok(_) => Ok(None),
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
                        Err(e) => Err(PrintError::from_io(&target, "querying status", e)),
                    }
                })?;
                let _ = s.shutdown(Shutdown::Both);
                Ok(status)
            }
        }
    }

    /// Delivers one job. Checks the status first where the transport reads back and refuses to
    /// send into paper-out, cover-open or offline; `Unknown` goes ahead.
    pub fn send(&self, job_id: &str, job: &Rendered) -> Result<(), PrintError> {
        check_job_id(job_id)?;
        let target = self.uri.to_string();
        match &self.uri {
            PrinterUri::Spool(dir) => {
                private_dir(dir).map_err(|e| PrintError::from_io(&target, "creating", e))?;
                // The PNG first: whoever watches for .bin finds its preview already there.
                write_atomic(dir, &format!("{job_id}.png"), &job.preview_png())
                    .map_err(|e| PrintError::from_io(&target, "writing", e))?;
                write_atomic(dir, &format!("{job_id}.bin"), &job.escpos)
                    .map_err(|e| PrintError::from_io(&target, "writing", e))
            }
            PrinterUri::Device(path) => {
                status_to_result(self.device_status(path, &target)?, &target)?;
                let mut f = open_device(path, false).map_err(|e| PrintError::from_io(&target, "opening", e))?;
                write_with_deadline(&mut f, &job.escpos, self.timeouts.write)
                    .map_err(|e| PrintError::from_io(&target, "writing", e))
            }
            PrinterUri::Tcp { host, port } => {
                status_to_result(self.status()?, &target)?;
                // A fresh connection, so the job stream holds the job bytes and nothing else.
                let mut s = self.connect(host, *port, &target)?;
                let io = |e| PrintError::from_io(&target, "writing", e);
                s.set_write_timeout(Some(self.timeouts.write)).map_err(io)?;
                s.write_all(&job.escpos).map_err(io)?;
                s.flush().map_err(io)?;
                s.shutdown(Shutdown::Write).map_err(io)?;
                // Drain briefly: closing with unread data would reset the connection.
                let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                let mut sink = [0u8; 256];
                while let Ok(n) = s.read(&mut sink) {
                    if n == 0 {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Deletes what the printer keeps of a job: a `spool:` printer's `.bin` and `.png` (and
    /// any half-written temporary); other printers keep nothing. Returns how many files went.
    pub fn forget(&self, job_id: &str) -> Result<usize, PrintError> {
        check_job_id(job_id)?;
        let PrinterUri::Spool(dir) = &self.uri else {
            return Ok(0);
        };
        let mut removed = 0;
        for name in [".png", ".bin"].iter().flat_map(|ext| {
            let file = format!("{job_id}{ext}");
            [format!(".{file}.tmp"), file]
        }) {
            match fs::remove_file(dir.join(&name)) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(PrintError::from_io(&self.uri.to_string(), "deleting", e)),
            }
        }
        Ok(removed)
    }

    fn connect(&self, host: &str, port: u16, target: &str) -> Result<TcpStream, PrintError> {
        let addrs = (host, port).to_socket_addrs().map_err(|e| PrintError::Offline {
            target: target.to_string(),
            reason: format!("cannot resolve {host}: {e}"),
        })?;
        let mut last = io::Error::new(ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeouts.connect) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(PrintError::from_io(target, "connecting", last))
    }

    fn device_status(&self, path: &Path, target: &str) -> Result<PrinterStatus, PrintError> {
        use std::os::unix::fs::FileTypeExt;
        let meta = fs::metadata(path).map_err(|e| PrintError::from_io(target, "opening", e))?;
        if !meta.file_type().is_char_device() {
            // A plain file (tests, captures): nothing to ask, and asking would write into it.
            return Ok(PrinterStatus::Unknown);
        }
        let mut f = open_device(path, true).map_err(|e| PrintError::from_io(target, "opening", e))?;
        let wait = self.timeouts.status;
        query(|n| {
            write_with_deadline(&mut f, &dle_eot(n), wait)
                .map_err(|e| PrintError::from_io(target, "querying status", e))?;
            read_byte_with_deadline(&mut f, wait).map_err(|e| PrintError::from_io(target, "querying status", e))
        })
    }
}

/// Linux O_NONBLOCK on the architectures a kiosk runs on; elsewhere devices block.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
const O_NONBLOCK: i32 = 0;

/// Non-blocking, so a wedged printer (usblp blocks writes while out of paper) cannot hang us.
fn open_device(path: &Path, read: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(read)
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

fn write_with_deadline(f: &mut File, mut data: &[u8], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    while !data.is_empty() {
        match f.write(data) {
            Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "device accepted no data")),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(ErrorKind::TimedOut, "device write timed out"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
    f.flush()
}

fn read_byte_with_deadline(f: &mut File, limit: Duration) -> io::Result<Option<u8>> {
    let deadline = Instant::now() + limit;
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b) {
            Ok(1) => return Ok(Some(b[0])),
            Ok(_) => return Ok(None), // EOF: the device has no read-back
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A spool directory holds tickets with the visitors' links: 0700, whatever the umask.
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    if fs::metadata(dir)?.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `dir/name` (mode 0600) via a hidden temporary file, fsync and rename, so readers
/// never see a partial file.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_files_are_private_and_forgotten_on_request() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = std::env::temp_dir().join(format!("certstamp-spool-test-{}", std::process::id()));
        let dir = tmp.join("spool");
        let driver = Driver::open(&PrinterUri::Spool(dir.clone()));
        let profile = crate::Profile::by_name("58mm").unwrap();
        let job = crate::render(&crate::sample_ticket("https://example.org/c/x"), &profile).unwrap();
        driver.send("job-000007", &job).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("job-000007.bin")), 0o600);
        assert_eq!(mode(&dir.join("job-000007.png")), 0o600);
        assert_eq!(driver.forget("job-000007").unwrap(), 2);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(driver.forget("job-000007").unwrap(), 0, "forgetting twice is fine");
        assert!(driver.forget("../etc/passwd").is_err());
        let tcp = Driver::open(&"tcp://127.0.0.1:9".parse().unwrap());
        assert_eq!(tcp.forget("job-000007").unwrap(), 0, "a real printer keeps nothing");
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn uris_parse() {
        let p = |s: &str| s.parse::<PrinterUri>();
        assert_eq!(
            p("spool:/var/spool/x").unwrap(),
            PrinterUri::Spool("/var/spool/x".into())
        );
        assert_eq!(p("spool:rel/dir").unwrap(), PrinterUri::Spool("rel/dir".into()));
        assert_eq!(
            p("file:/dev/usb/lp0").unwrap(),
            PrinterUri::Device("/dev/usb/lp0".into())
        );
        assert_eq!(
            p("file:///dev/usb/lp1").unwrap(),
            PrinterUri::Device("/dev/usb/lp1".into())
        );
        assert_eq!(
            p("tcp://10.0.0.5").unwrap(),
            PrinterUri::Tcp {
                host: "10.0.0.5".into(),
                port: 9100
            }
        );
        assert_eq!(
            p("tcp://printer.local:9101/").unwrap(),
            PrinterUri::Tcp {
                host: "printer.local".into(),
                port: 9101
            }
        );
        assert_eq!(
            p("tcp://[::1]:9100").unwrap(),
            PrinterUri::Tcp {
                host: "::1".into(),
                port: 9100
            }
        );
        for bad in [
            "",
            "lp0",
            "usb://x",
            "tcp://",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://h:x",
            "file:dev/lp0",
            "spool:",
            "tcp://::1",
            "tcp://[::1",
            "tcp://h/path",
            "http://h:9100",
        ] {
            let e = p(bad).unwrap_err();
            assert!(matches!(e, PrintError::BadUri { .. }), "{bad}");
            assert!(e.to_string().contains("tcp://HOST"), "{e}");
            assert!(!e.retryable());
        }
        for s in ["spool:/x", "file:/dev/usb/lp0", "tcp://h:9100", "tcp://[::1]:9100"] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn status_bytes_classify() {
        // Fixed bits: bit 1 and bit 4 set, bits 0 and 7 clear.
        assert_eq!(classify_status(0x12, Some(0x12), Some(0x12)), PrinterStatus::Ready);
        assert_eq!(classify_status(0x1A, Some(0x16), Some(0x12)), PrinterStatus::CoverOpen);
        assert_eq!(classify_status(0x1A, Some(0x32), Some(0x72)), PrinterStatus::PaperOut);
        assert_eq!(classify_status(0x12, None, Some(0x72)), PrinterStatus::PaperOut);
        assert_eq!(classify_status(0x1A, Some(0x12), Some(0x12)), PrinterStatus::Offline);
        assert_eq!(classify_status(0x12, None, None), PrinterStatus::Ready);
        assert_eq!(classify_status(0xFF, None, None), PrinterStatus::Unknown);
        // Paper near end only is still ready.
        assert_eq!(classify_status(0x12, Some(0x12), Some(0x1E)), PrinterStatus::Ready);
    }

    #[test]
    fn job_ids() {
        assert!(check_job_id("job-42_a.b").is_ok());
        for bad in ["", ".hidden", "../x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_job_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retryable_classes() {
        let io = |k| PrintError::from_io("t", "writing", io::Error::new(k, "x"));
        assert!(io(ErrorKind::ConnectionRefused).retryable());
        assert!(io(ErrorKind::TimedOut).retryable());
        assert!(io(ErrorKind::NotFound).retryable());
        assert!(io(ErrorKind::ConnectionReset).retryable());
        assert!(!io(ErrorKind::PermissionDenied).retryable());
        assert!(!io(ErrorKind::ResourceBusy).retryable());
        assert!(PrintError::PaperOut.retryable());
        assert!(!PrintError::BadJobId("x".into()).retryable());
    }
}
