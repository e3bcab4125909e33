//! Nobody can take the kiosk offline: one client holding as many connections as it can
//! open (with the kiosk's open-file limit at 1,024), slow headers, slow TLS handshakes and
//! slow bodies on both listeners are all cut off, while everybody else is still served.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

/// Short limits so the test sees them act.
const HEADER_SECS: u64 = 2;
const BODY_SECS: u64 = 2;
const IDLE_SECS: u64 = 4;
const PER_CLIENT: usize = 64;

fn short_limits() -> Vec<String> {
    [
        ("--header-timeout", HEADER_SECS.to_string()),
        ("--body-timeout", BODY_SECS.to_string()),
        ("--idle-timeout", IDLE_SECS.to_string()),
        ("--max-connections-per-client", PER_CLIENT.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

fn start(data: &Path, open_files: Option<u64>) -> Kiosk {
    let args = short_limits();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Kiosk::start_limited(
        data,
        &args,
        ChildLimits {
            open_files,
            umask: None,
        },
    )
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Whether the kiosk has closed this connection (reading whatever it said first).
fn closed_by_peer(s: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn root_pem(data: &Path) -> String {
    std::fs::read_to_string(data.join("ca/root.pem")).unwrap()
}

/// A rustls client config trusting the booth root, optionally presenting an identity.
fn tls_config(ca_pem: &str, identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

async fn tls_connect(port: u16, config: Arc<rustls::ClientConfig>) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Read until the peer closes or `limit` passes; returns what came and when it ended.
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(s: &mut S, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_holding_connections_cannot_take_the_kiosk_offline() {
    let data = tempfile::tempdir().unwrap();
    let k = start(data.path(), Some(1024));
    let web: SocketAddr = format!("127.0.0.1:{}", k.port).parse().unwrap();
    let guestbook: SocketAddr = format!("127.0.0.1:{}", k.guestbook_port).parse().unwrap();

    // 127.0.0.2 opens connections to both listeners until refused or 2,000, and says nothing.
    let flood_started = Instant::now();
    let mut held = Vec::new();
    for i in 0..2000 {
        let to = if i % 2 == 0 { web } else { guestbook };
        match tokio::time::timeout(Duration::from_secs(2), connect_from("127.0.0.2", to)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    let flood_took = flood_started.elapsed();
    eprintln!("opened {} connections from 127.0.0.2 in {flood_took:?}", held.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still_open = held.iter().filter(|s| !closed_by_peer(s)).count();
    eprintln!("{still_open} stayed open");
    assert!(
        (1..=PER_CLIENT).contains(&still_open),
        "{still_open} of {} connections from one address stayed open (limit {PER_CLIENT}); flood took {flood_took:?}",
        held.len()
    );

    // Meanwhile another address is served on both listeners, each within a second.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let res = quick
        .get(k.at("/healthz"))
        .send()
        .await
        .expect("web /healthz within 1 s");
    assert_eq!(res.status(), 200);
    let tls = tls_client(&root_pem(data.path()), None);
    let res = tokio::time::timeout(
        Duration::from_secs(1),
        tls.get(format!("{}/healthz", k.guestbook_url)).send(),
    )
    .await
    .expect("guestbook /healthz within 1 s")
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");

    // Over-limit web connections read a 503 before the close.
    let mut extra = connect_from("127.0.0.2", web).await.unwrap();
    let (said, closed) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    if still_open == PER_CLIENT {
        assert!(said.starts_with("HTTP/1.1 503"), "{said:?}");
        assert!(closed.is_some());
    }

    // Every held connection is closed within the idle timeout (counted from its opening).
    let deadline = flood_started + flood_took + Duration::from_secs(IDLE_SECS) + Duration::from_secs(1);
    tokio::time::sleep_until(deadline.into()).await;
    let open = held.iter().filter(|s| !closed_by_peer(s)).count();
    assert_eq!(open, 0, "connections still open after the idle timeout");
    let logs = k.logs();
    assert!(logs.contains("refusing connections"), "{logs}");
    assert!(!logs.contains("ERROR"), "{logs}");
    // And the kiosk is still fully there.
    let c = client();
    issue(&c, &k, "After Flood", "after.flood@example.org").await;
}

#[tokio::test]
async fn slow_headers_handshakes_and_bodies_are_cut_off_on_both_listeners() {
    let data = tempfile::tempdir().unwrap();
    let k = start(data.path(), None);
    let bound = |secs: u64| Duration::from_secs(secs) + Duration::from_millis(1500);

    // Web: headers trickling in are cut off within the header timeout.
    let mut s = TcpStream::connect(("127.0.0.1", k.port)).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(bound(HEADER_SECS) + Duration::from_secs(3), trickle).await;
    let elapsed = started.elapsed();
    assert!(elapsed < bound(HEADER_SECS), "slow headers ran for {elapsed:?}");

    // Web: a body trickling in gets a 408 within the body timeout, and the connection closes.
    let mut s = TcpStream::connect(("127.0.0.1", k.port)).await.unwrap();
    s.write_all(
        b"POST /issue HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        while w.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (said, closed) = read_until_closed(&mut r, Duration::from_secs(15)).await;
    writer.abort();
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(
        closed.is_some_and(|t| t < bound(BODY_SECS)),
        "slow body ran for {:?}",
        started.elapsed()
    );

    // Web: a connection that never sends a byte is closed within the header timeout.
    let mut s = TcpStream::connect(("127.0.0.1", k.port)).await.unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(closed.is_some_and(|t| t < bound(HEADER_SECS)), "{closed:?}");

    // Guestbook: a TLS handshake that never starts is cut off within the header timeout.
    let mut s = TcpStream::connect(("127.0.0.1", k.guestbook_port)).await.unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(closed.is_some_and(|t| t < bound(HEADER_SECS)), "{closed:?}");

    // Guestbook: slow headers after the handshake.
    let root = root_pem(data.path());
    let mut s = tls_connect(k.guestbook_port, tls_config(&root, None)).await;
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut cut = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() || s.flush().await.is_err() {
            cut = true;
            break;
        }
    }
    assert!(cut && started.elapsed() < bound(HEADER_SECS), "{:?}", started.elapsed());

    // Guestbook: a slow /sign body from a real visitor's certificate gets a 408.
    let c = client();
    let page = issue(&c, &k, "Slow Body", "slow.body@example.org").await;
    let dir = tempfile::tempdir().unwrap();
    fetch_bundle(&c, &k, &page, dir.path()).await;
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let mut s = tls_connect(
        k.guestbook_port,
        tls_config(&read("ca.pem"), Some((&read("chain.pem"), &read("key.pem")))),
    )
    .await;
    s.write_all(
        b"POST /sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nmessage=",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        while w.write_all(b"a").await.is_ok() && w.flush().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (said, closed) = read_until_closed(&mut r, Duration::from_secs(15)).await;
    writer.abort();
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("took too long"), "{said}");
    assert!(
        closed.is_some_and(|t| t < bound(BODY_SECS)),
        "slow body ran for {:?}",
        started.elapsed()
    );
    assert!(!k.logs().contains("ERROR"), "{}", k.logs());
}
