//! The running kiosk: the state every handler and worker shares, the issuing flow
//! both backends go through, background upkeep, and `serve`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{IssuerKind, Settings};
use crate::error::Result;
use crate::guestbook::Guestbook;
use crate::issuer::cert_manager::CertManagerIssuer;
use crate::issuer::local::LocalIssuer;
use crate::issuer::{Issuer, LeafRequest, Submitted};
use crate::store::Store;
use crate::store::visitors::NewVisitor;
use crate::token::Token;
use crate::web::forms::RateLimiter;

/// Shared by every request and worker; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct AppInner {
    /// Resolved configuration.
    pub settings: Arc<Settings>,
    /// The database.
    pub store: Store,
    /// The issuing backend.
    pub issuer: Arc<dyn Issuer>,
    /// Certificate requests per client address.
    pub issue_limiter: Arc<RateLimiter<IpAddr>>,
    /// Password for user `staff`.
    pub staff_password: Arc<String>,
    /// Guestbook trust settings and per-certificate limits.
    pub guestbook: Arc<Guestbook>,
    /// The print queue.
    pub queue: crate::queue::Queue,
}

/// Read or create the staff password file (mode 0600) when none is configured.
fn staff_password(settings: &Settings) -> Result<String> {
    if let Some(p) = &settings.staff_password {
        return Ok(p.clone());
    }
    let path = settings.data_dir.join("staff-password");
    if let Ok(p) = std::fs::read_to_string(&path) {
        return Ok(p.trim().to_string());
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let password: String = rand::random::<[u8; 12]>().iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(f, "{password}")?;
    tracing::info!(path = %path.display(), "generated a staff password (user `staff`); read it from this file");
    Ok(password)
}

impl AppState {
    /// Open the data dir, database and issuer for `settings`.
    pub async fn open(settings: Settings) -> Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let store = Store::open(&settings.data_dir.join("certstamp.db"))?;
        let issuer: Arc<dyn Issuer> = match settings.issuer {
            IssuerKind::Local => Arc::new(LocalIssuer::open(&settings.data_dir, &settings.conference)?),
            // Resumes its pending visitors in the background; an unreachable API only means not ready.
            IssuerKind::CertManager => Arc::new(CertManagerIssuer::open(&settings, store.clone()).await?),
        };
        Self::with_parts(settings, store, issuer)
    }

    /// Assemble state from parts (tests pass their own issuer or store).
    pub fn with_parts(settings: Settings, store: Store, issuer: Arc<dyn Issuer>) -> Result<Self> {
        let current = issuer.clone();
        let guestbook = Guestbook::new(
            &issuer.root_pem(),
            move || current.intermediate_pem(),
            settings.guestbook.this_conference_only,
        )?;
        Ok(AppState(Arc::new(AppInner {
            queue: crate::queue::Queue::new(&settings)?,
            staff_password: Arc::new(staff_password(&settings)?),
            guestbook: Arc::new(guestbook),
            issue_limiter: Arc::new(RateLimiter::new(settings.issue_rate_per_minute)),
            settings: Arc::new(settings),
            store,
            issuer,
        })))
    }

    /// The absolute URL of a visitor's certificate page (what the QR encodes).
    pub fn page_url(&self, token: &Token) -> String {
        format!("{}/c/{}", self.settings.public_url, token.as_str())
    }

    /// The guestbook's mTLS sign URL, as shown in README.txt.
    pub fn guestbook_sign_url(&self) -> String {
        let g = &self.settings.guestbook;
        format!("https://{}:{}/sign", g.hostname, g.listen.port())
    }

    /// Mark cookies `Secure` when the kiosk is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.settings.public_url.starts_with("https://")
    }

    /// Record a validated submission durably, then ask the issuer. Returns the
    /// visitor's token; the page shows pending, failed or issued from the store.
    pub async fn issue(&self, name: String, email: String, email_lc: String) -> Result<Token> {
        let token = Token::generate();
        let id: String = rand::random::<[u8; 12]>().iter().map(|b| format!("{b:02x}")).collect();
        let new = NewVisitor {
            id: id.clone(),
            conference: self.settings.conference.slug.clone(),
            name: name.clone(),
            email: email.clone(),
            email_lc,
            issuer_kind: self.issuer.kind().to_string(),
            backend_ref: None,
            retention_until: self.settings.conference.retention_until().unix_timestamp(),
        };
        self.store.insert_visitor(new, &token).await?;
        if self.settings.printer.auto_print {
            // Queued now, while the token is at hand; it prints once the certificate exists.
            let url = self.page_url(&token);
            self.queue
                .enqueue(&self.store, &id, crate::store::jobs::Origin::Auto, &url)
                .await?;
        }
        self.submit(LeafRequest {
            visitor_id: id,
            name,
            email,
        })
        .await;
        self.queue.wake();
        Ok(token)
    }

    /// Submit a stored visitor to the issuer and record the outcome. Errors are stored
    /// on the visitor (staff see them; the page shows them), never lost.
    async fn submit(&self, req: LeafRequest) {
        let outcome = match self.issuer.submit(&req).await {
            Ok(Submitted::Issued(cert)) => self.store.complete_issuance(&req.visitor_id, cert).await,
            Ok(Submitted::Pending { reference }) => self.store.set_backend_ref(&req.visitor_id, &reference).await,
            Err(e) => {
                tracing::warn!(visitor = %req.visitor_id, error = %e, "issuance failed");
                let msg = if e.is_public() {
                    e.to_string()
                } else {
                    "internal error; see the kiosk log".into()
                };
                self.store.note_issuance_problem(&req.visitor_id, &msg, false).await
            }
        };
        if let Err(e) = outcome {
            tracing::error!(visitor = %req.visitor_id, error = %e, "could not record issuance; will retry at next start");
        }
    }

    /// Finish local issuances that a crash interrupted between the insert and the signature.
    pub async fn resume_local_pending(&self) -> Result<()> {
        if self.issuer.kind() != "local" {
            return Ok(());
        }
        for v in self.store.pending_visitors("local").await? {
            let Some(email) = v.email.clone() else { continue };
            tracing::info!(visitor = %v.id, "resuming interrupted issuance");
            self.submit(LeafRequest {
                visitor_id: v.id.clone(),
                name: v.name.clone(),
                email,
            })
            .await;
        }
        Ok(())
    }

    /// Purge emails and keys past retention, and let the backend drop its copies.
    pub async fn purge_expired(&self) -> Result<usize> {
        let purged = self.store.purge_expired(crate::store::now_ts()).await?;
        self.store.purge_job_payloads().await?;
        self.store.purge_job_payloads().await?;
        for (id, reference) in &purged {
            if let Some(r) = reference
                && let Err(e) = self.issuer.forget(r).await
            {
                tracing::warn!(visitor = %id, error = %e, "could not delete backend objects after retention");
            }
        }
        if !purged.is_empty() {
            tracing::info!(count = purged.len(), "purged emails and keys past retention");
        }
        Ok(purged.len())
    }

    /// Background upkeep: the retention purge, hourly after the one at start.
    pub fn spawn_background(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                if let Err(e) = state.purge_expired().await {
                    tracing::error!(error = %e, "retention purge failed");
                }
            }
        });
    }
}

/// Run the kiosk (web pages and the mTLS guestbook) until SIGINT/SIGTERM.
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if settings.public_url == format!("http://{listen}") {
        // The default public URL follows the real port when asked for port 0.
        settings.public_url = format!("http://{addr}");
    }
    let state = AppState::open(settings).await?;
    state.purge_expired().await?;
    state.resume_local_pending().await?;
    state.queue.start(state.store.clone(), state.settings.clone()).await?;
    state.spawn_background();
    let handle = axum_server::Handle::new();
    // Without its server certificate (say cert-manager cannot sign it yet) the guestbook
    // comes up later from a background retry; the kiosk still issues and prints meanwhile.
    let first = tokio::time::timeout(
        GUESTBOOK_FIRST_TRY,
        crate::web::mtls::bind(state.clone(), handle.clone()),
    )
    .await;
    let guestbook = match first {
        Ok(Ok((guestbook_addr, server))) => {
            println!("certstamp guestbook listening on https://{guestbook_addr}");
            tracing::info!(%guestbook_addr, "guestbook ready");
            Some(server)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "guestbook listener not started; retrying in the background");
            tokio::spawn(retry_guestbook(state.clone(), handle.clone()));
            None
        }
        Err(_) => {
            tracing::error!("guestbook server certificate is slow to arrive; retrying in the background");
            tokio::spawn(retry_guestbook(state.clone(), handle.clone()));
            None
        }
    };
    // Tests and humans read this line to find the port; it comes after the guestbook's.
    println!("certstamp listening on http://{addr}");
    tracing::info!(%addr, issuer = state.issuer.kind(), "kiosk ready");
    let app = crate::web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let web = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        handle.graceful_shutdown(Some(crate::guestbook::SHUTDOWN_GRACE));
    });
    match guestbook {
        // Either listener failing stops the kiosk rather than leaving half of it up.
        Some(guestbook) => drop(tokio::try_join!(web.into_future(), guestbook)?),
        None => web.await?,
    }
    state.queue.drain(Duration::from_secs(15)).await;
    Ok(())
}

/// How long start-up waits for the guestbook before going on without it.
const GUESTBOOK_FIRST_TRY: Duration = Duration::from_secs(10);

/// Keep trying to start the guestbook (5 s doubling to 5 min), then serve it.
async fn retry_guestbook(state: AppState, handle: axum_server::Handle<SocketAddr>) {
    let mut delay = Duration::from_secs(5);
    loop {
        tokio::time::sleep(delay).await;
        match crate::web::mtls::bind(state.clone(), handle.clone()).await {
            Ok((guestbook_addr, server)) => {
                tracing::info!(%guestbook_addr, "guestbook ready");
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "guestbook listener stopped");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "guestbook listener still not started");
                delay = (delay * 2).min(Duration::from_secs(300));
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Used by `ca` subcommands: the data dir must exist before files go in.
pub fn ensure_dir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p)?;
    Ok(())
}
