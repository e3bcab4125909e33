//! Both listeners on one set of rules, so one client cannot take the kiosk offline:
//! a bound on open connections (in total and per client address, checked as each
//! connection is accepted), a time limit on request headers and TLS handshakes, and
//! an idle limit on sockets where no byte moves. A connection over a limit is closed at
//! once (the web listener first writes a short 503), so the accept loop never waits.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::app::App;
use crate::config::ConnectionSettings;
use crate::limit::{ConnectionLimits, ConnectionPass, Refused};
use crate::web;

/// File descriptors kept free for everything but client connections: the database,
/// spool files, the printer, the Kubernetes API, and accepting one to refuse it.
const FD_RESERVE: u64 = 100;

/// What a client over the web listener's limit reads before the connection closes.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Retry-After: 10\r\nConnection: close\r\nContent-Length: 53\r\n\r\nThe kiosk is busy. Please try again in a few seconds.";

/// The soft open-file limit of this process (Linux), if it can be read.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The connection bound that fits the open-file limit: a listener that runs out of file
/// descriptors cannot even accept a connection to refuse it.
pub fn fitting_max(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => configured.min(n.saturating_sub(FD_RESERVE).max(16) as usize),
        None => configured,
    }
}

/// The limits both listeners share.
#[derive(Clone)]
pub struct Limits {
    connections: Arc<ConnectionLimits>,
    settings: ConnectionSettings,
    refusals: Arc<Mutex<RefusalLog>>,
}

/// Refusals are logged at most every ten seconds, with a count: a flood must not flood the log.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    since: u64,
}

impl Limits {
    /// Limits from the settings, fitted to this process's open-file limit.
    pub fn new(settings: &ConnectionSettings) -> Self {
        let nofile = open_file_limit();
        let max = fitting_max(settings.max, nofile);
        if max < settings.max {
            tracing::warn!(
                configured = settings.max,
                max,
                open_file_limit = nofile,
                "connection limit lowered to fit the open-file limit; raise LimitNOFILE (ulimit -n) to allow more"
            );
        }
        Limits {
            connections: ConnectionLimits::new(max, settings.max_per_client.min(max)),
            settings: settings.clone(),
            refusals: Arc::default(),
        }
    }

    fn refused(&self, listener: &'static str, why: Refused) {
        let mut log = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        log.since += 1;
        let due = log.last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            let reason = match why {
                Refused::Full => "all connection places are taken",
                Refused::ClientFull => "one client address holds all its connection places",
            };
            tracing::warn!(listener, refused = log.since, reason, "refusing connections");
            log.last = Some(Instant::now());
            log.since = 0;
        }
    }

    fn gate(&self, listener: &'static str, per_client: bool, busy: Option<&'static [u8]>) -> Gate {
        Gate {
            limits: self.clone(),
            listener,
            per_client,
            busy,
        }
    }
}

/// Admits or refuses each accepted connection, and wraps the admitted ones.
#[derive(Clone)]
struct Gate {
    limits: Limits,
    listener: &'static str,
    per_client: bool,
    busy: Option<&'static [u8]>,
}

impl<S> Accept<TcpStream, S> for Gate {
    type Stream = Guarded<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let client: Option<IpAddr> = stream.peer_addr().ok().map(|a| a.ip());
        let admitted = self.limits.connections.admit(client.filter(|_| self.per_client));
        std::future::ready(match admitted {
            Ok(pass) => {
                let _ = stream.set_nodelay(true);
                Ok((Guarded::new(stream, self.limits.settings.idle_timeout, pass), service))
            }
            Err(why) => {
                self.limits.refused(self.listener, why);
                if let Some(busy) = self.busy {
                    // Never wait: whatever fits the socket buffer now (all of it, normally).
                    let _ = stream.try_write(busy);
                }
                Err(io::Error::other("connection limit reached"))
            }
        })
    }
}

/// An admitted connection: holds its place until dropped, and fails a read or write that
/// has waited longer than the idle timeout since the last byte moved either way.
pub struct Guarded<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _pass: ConnectionPass,
}

impl<S> Guarded<S> {
    fn new(inner: S, idle: Duration, pass: ConnectionPass) -> Self {
        Guarded {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _pass: pass,
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(tokio::time::Instant::now() + self.idle);
    }

    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no data moved within the idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.waiting(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.waiting(cx),
        }
    }

    // Vectored writes pass through: without them hyper copies every body into its own
    // buffer before writing (a 350 KB wall page, once per open connection).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.waiting(cx),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.waiting(cx),
            done => done,
        }
    }
}

/// HTTP/1 only, with the header timeout on every request (hyper starts it whenever it waits
/// for a request head, so it also closes connections kept alive with nothing to ask).
fn configure<A>(
    server: axum_server::Server<SocketAddr, A>,
    settings: &ConnectionSettings,
) -> axum_server::Server<SocketAddr, A> {
    let mut server = server.http1_only().first_request_timeout(settings.header_timeout);
    server
        .http_builder()
        .http1()
        .keep_alive(true)
        .header_read_timeout(settings.header_timeout);
    server
}

/// The web listener, served until `handle` says stop.
pub fn web(
    listener: std::net::TcpListener,
    app: App,
    handle: Handle<SocketAddr>,
    limits: &Limits,
) -> io::Result<impl Future<Output = io::Result<()>> + use<>> {
    // Behind a trusted proxy every connection comes from the proxy: only the total applies.
    let per_client = !app.settings.trust_forwarded_for;
    let gate = limits.gate("web", per_client, Some(BUSY));
    let server = configure(axum_server::from_tcp(listener)?, &limits.settings)
        .acceptor(gate)
        .handle(handle);
    let service = web::router(app).into_make_service_with_connect_info::<SocketAddr>();
    Ok(server.serve(service))
}

/// Bind the guestbook's mutual-TLS listener and return its address and the server, which
/// stops when `handle` says so.
pub async fn guestbook(
    app: App,
    handle: Handle<SocketAddr>,
    limits: &Limits,
) -> anyhow::Result<(SocketAddr, impl Future<Output = io::Result<()>> + use<>)> {
    let listen = app.settings.guestbook.listen;
    let config = app
        .guestbook
        .tls_config(&app.settings.guestbook, app.issuer.as_ref())
        .await?;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (guestbook): {e}"))?;
    let addr = listener.local_addr()?;
    let tls = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
        .handshake_timeout(limits.settings.header_timeout)
        .acceptor(limits.gate("guestbook", true, None));
    let server = configure(axum_server::from_tcp(listener)?, &limits.settings)
        .acceptor(tls)
        .handle(handle);
    Ok((addr, server.serve(web::mtls::router(app).into_make_service())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_leaves_file_descriptors_for_the_rest() {
        assert_eq!(fitting_max(512, Some(1024)), 512);
        assert_eq!(fitting_max(512, Some(256)), 156);
        assert_eq!(fitting_max(512, Some(50)), 16);
        assert_eq!(fitting_max(512, None), 512);
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn the_busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    }
}
