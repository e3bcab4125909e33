//! Drivers against real transports: a TCP listener on 127.0.0.1 playing the printer, a spool
//! directory, and character/regular files.

use certstamp_printer::{
    Driver, PrintError, PrinterStatus, PrinterUri, Profile, Rendered, Timeouts, render, sample_ticket,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

fn job() -> Rendered {
    render(
        &sample_ticket("https://certstamp.example/c/1"),
        &Profile::by_name("80mm").unwrap(),
    )
    .unwrap()
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        write: Duration::from_secs(5),
        status: Duration::from_millis(200),
    }
}

/// How the fake printer answers DLE EOT n.
#[derive(Clone, Copy)]
enum Answers {
    Silent,
    Ready,
    PaperOut,
    CoverOpen,
}

impl Answers {
    fn reply(self, n: u8) -> Option<u8> {
        // Every status byte has bit 1 and bit 4 set (0x12).
        match (self, n) {
            (Answers::Silent, _) => None,
            (Answers::Ready, _) => Some(0x12),
            (Answers::PaperOut, 1) => Some(0x1A), // offline
            (Answers::PaperOut, 2) => Some(0x32), // stopped by paper end
            (Answers::PaperOut, 4) => Some(0x72), // paper end sensor
            (Answers::CoverOpen, 1) => Some(0x1A),
            (Answers::CoverOpen, 2) => Some(0x16), // cover open
            (Answers::CoverOpen, _) => Some(0x12),
            _ => Some(0x12),
        }
    }
}

/// What one connection to the fake printer carried.
struct Conn {
    /// The n of each DLE EOT n received before any job data.
    queries: Vec<u8>,
    /// Everything after the queries.
    data: Vec<u8>,
}

/// A printer on 127.0.0.1: answers leading DLE EOT queries on each connection, then records
/// everything else that connection sends until EOF.
fn fake_printer(answers: Answers, connections: usize) -> (u16, mpsc::Receiver<Conn>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut s, _)) = listener.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut data = Vec::new();
            let mut queries = Vec::new();
            let mut buf = [0u8; 4096];
            let mut queries_done = false;
            loop {
                let n = match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                data.extend_from_slice(&buf[..n]);
                // Real-time queries arrive before any job data and wait for their answer.
                while !queries_done && data.len() >= 3 && data[0] == 0x10 && data[1] == 0x04 {
                    queries.push(data[2]);
                    if let Some(b) = answers.reply(data[2]) {
                        s.write_all(&[b]).unwrap();
                    }
                    data.drain(..3);
                }
                if !data.is_empty() && data[0] != 0x10 {
                    queries_done = true;
                }
            }
            let _ = tx.send(Conn { queries, data });
        }
    });
    (port, rx)
}

fn tcp(port: u16) -> Driver {
    Driver::open(&PrinterUri::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .with_timeouts(quick())
}

#[test]
fn tcp_printer_receives_exactly_the_job() {
    let (port, rx) = fake_printer(Answers::Ready, 2);
    let job = job();
    tcp(port).send("job-1", &job).unwrap();
    let status_conn = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status_conn.queries, [1, 2, 4]);
    assert!(status_conn.data.is_empty(), "status connection carried data");
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(got.queries.is_empty());
    assert_eq!(got.data.len(), job.escpos.len());
    assert!(got.data == job.escpos, "job bytes differ");
}

#[test]
fn tcp_silent_printer_is_unknown_and_still_prints() {
    let (port, rx) = fake_printer(Answers::Silent, 2);
    let d = tcp(port);
    let job = job();
    // status() takes one connection, send() two (status + job).
    let (port2, rx2) = fake_printer(Answers::Silent, 1);
    assert_eq!(tcp(port2).status().unwrap(), PrinterStatus::Unknown);
    let unanswered = rx2.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(unanswered.queries, [1], "one unanswered DLE EOT 1, then give up");
    assert!(unanswered.data.is_empty());
    d.send("job-2", &job).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap().data == job.escpos);
}

#[test]
fn tcp_status_reads_paper_out_and_cover_open() {
    let (port, _rx) = fake_printer(Answers::PaperOut, 1);
    assert_eq!(tcp(port).status().unwrap(), PrinterStatus::PaperOut);
    let (port, _rx) = fake_printer(Answers::CoverOpen, 1);
    assert_eq!(tcp(port).status().unwrap(), PrinterStatus::CoverOpen);
    let (port, _rx) = fake_printer(Answers::Ready, 1);
    assert_eq!(tcp(port).status().unwrap(), PrinterStatus::Ready);
}

#[test]
fn tcp_paper_out_refuses_the_job() {
    let (port, rx) = fake_printer(Answers::PaperOut, 2);
    let err = tcp(port).send("job-3", &job()).unwrap_err();
    assert!(matches!(err, PrintError::PaperOut), "{err}");
    assert!(err.retryable());
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // No second connection: nothing was sent.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn tcp_listener_down_is_retryable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let d = tcp(port);
    let err = d.send("job-4", &job()).unwrap_err();
    assert!(matches!(err, PrintError::Offline { .. }), "{err:?}");
    assert!(err.retryable(), "{err}");
    assert!(d.status().unwrap_err().retryable());
}

#[test]
fn tcp_peer_that_hangs_up_mid_job_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        // Status connection: silent; job connection: read a little, then close.
        for i in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf);
            if i == 1 {
                drop(s);
            } else {
                thread::sleep(Duration::from_millis(300));
            }
        }
    });
    let mut big = job();
    big.escpos = vec![0u8; 32 << 20]; // larger than the socket buffers
    let err = tcp(port).send("job-5", &big).unwrap_err();
    assert!(err.retryable(), "{err:?}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("certstamp-printer-drivers")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn spool_writes_bin_and_png_atomically() {
    let dir = scratch("spool");
    let d = Driver::open(&format!("spool:{}", dir.display()).parse().unwrap());
    assert_eq!(d.status().unwrap(), PrinterStatus::Unknown);
    let job = job();
    d.send("ticket-7", &job).unwrap();
    assert_eq!(std::fs::read(dir.join("ticket-7.bin")).unwrap(), job.escpos);
    assert_eq!(std::fs::read(dir.join("ticket-7.png")).unwrap(), job.preview_png());
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Job ids cannot escape the directory.
    let err = d.send("../evil", &job).unwrap_err();
    assert!(matches!(err, PrintError::BadJobId(_)));
    assert!(!err.retryable());
}

#[test]
fn spool_on_a_file_is_an_error() {
    let dir = scratch("spool-file");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::write(&dir, b"not a dir").unwrap();
    let d = Driver::open(&PrinterUri::Spool(dir.clone()));
    assert!(d.status().is_err());
    assert!(d.send("x", &job()).is_err());
    std::fs::remove_file(&dir).unwrap();
}

#[test]
fn device_file_gets_the_job() {
    let dir = scratch("device");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lp0");
    std::fs::write(&path, b"").unwrap();
    let d = Driver::open(&format!("file:{}", path.display()).parse().unwrap());
    // A regular file has no read-back, and status() must not write into it.
    assert_eq!(d.status().unwrap(), PrinterStatus::Unknown);
    let job = job();
    d.send("j", &job).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), job.escpos);
}

#[test]
fn character_device_without_read_back_is_unknown() {
    // /dev/null is a character device that swallows writes and reads EOF.
    let d = Driver::open(&"file:/dev/null".parse().unwrap()).with_timeouts(quick());
    assert_eq!(d.status().unwrap(), PrinterStatus::Unknown);
    d.send("j", &job()).unwrap();
}

#[test]
fn unplugged_device_is_retryable() {
    let d = Driver::open(&"file:/dev/usb/lp-certstamp-missing".parse().unwrap());
    let err = d.send("j", &job()).unwrap_err();
    assert!(matches!(err, PrintError::Offline { .. }), "{err:?}");
    assert!(err.retryable());
    assert!(d.status().unwrap_err().retryable());
}

#[test]
fn never_accepted_connection_is_unknown_quickly() {
    // The kernel completes the handshake into the backlog, but nobody ever reads or answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let _keep = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = std::time::Instant::now();
    let status = tcp(port).status().unwrap(); // accepted by the backlog, never answered
    assert_eq!(status, PrinterStatus::Unknown);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}
