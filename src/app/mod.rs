//! The use cases: what a visitor, staff or the guestbook can do, each as one method on
//! [`App`], the state every handler and worker shares. `web` turns requests into these
//! calls; everything below (store, issuer, queue, guestbook rules) knows nothing of them.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{IssuerKind, Settings};
use crate::error::Result;
use crate::events::Events;
use crate::guestbook::Guestbook;
use crate::issuer::cert_manager::CertManagerIssuer;
use crate::issuer::local::LocalIssuer;
use crate::issuer::{Issuer, Outcomes, Report};
use crate::limit::ClientLimit;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::store::Store;
use crate::token::{FormKey, Token};

/// The staff passphrase, sessions, and which browser is the booth screen.
pub mod access;
/// The print agent: the print worker alone, beside its printer.
pub mod agent;
/// Page parts and zips, computed once and cached in memory.
mod derived;
/// Signing the guestbook, through the kiosk or over mutual TLS.
mod guestbook;
/// Submitting visitors, recording what the issuer reports, resuming, retention.
mod issuance;
/// The booth screen's handoff pages.
mod kiosk;
/// Readiness checks and metrics, for the probes and Prometheus.
mod operations;
/// Asking for a ticket.
mod printing;
/// Each conference's CRL, signed on every void.
mod revocation;
/// Staff actions: void, reissue, forget, print-job decisions.
mod staff;
/// A visitor's link: lookup and the zip.
mod visitor;

pub use derived::{CertParts, CertText, RootPin};
pub use issuance::{FieldErrors, Submission, Valid};
pub use operations::Check;
pub use printing::{CHOICE_TTL, served_names};
pub use staff::{Handoff, JobAction, Reissued};

/// Shared by every request and worker; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct App(Arc<Parts>);

impl Deref for App {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What [`App`] shares.
pub struct Parts {
    /// Resolved configuration.
    pub settings: Arc<Settings>,
    /// The database.
    pub store: Store,
    /// The issuing backend.
    pub issuer: Arc<dyn Issuer>,
    /// Certificate requests per client, across replicas on a shared database.
    issue_limiter: ClientLimit,
    /// The staff passphrase, sessions and booth-screen enrolment.
    pub access: access::Access,
    /// Each conference's latest CRL.
    crls: revocation::Crls,
    /// Guestbook trust settings and per-certificate limits.
    pub guestbook: Guestbook,
    /// The print queue.
    pub queue: Queue,
    /// Signs form tokens (CSRF) for browser sessions.
    pub form_key: FormKey,
    /// What just happened, for live screens.
    pub events: Events,
    /// Counters and gauges for `/metrics`.
    pub metrics: Metrics,
    /// Where backends report; handed to `Issuer::resume`.
    outcomes: Outcomes,
    /// What pages derive from a row, computed once (bounded, in memory only).
    derived: derived::Derived,
    /// The printer choice pages show, read at most a second ago.
    printer_choice: printing::ChoiceCache,
    /// Taken once by [`App::start`], which consumes the reports.
    reports: Mutex<Option<UnboundedReceiver<Report>>>,
}

impl App {
    /// Open the data dir, database and issuer for `settings`. Starts nothing.
    pub async fn open(settings: Settings) -> Result<Self> {
        crate::files::tighten_tree(&settings.data_dir)?;
        let store = Store::connect(&settings.database).await?;
        let (outcomes, reports) = Outcomes::channel();
        let issuer: Arc<dyn Issuer> = match settings.issuer {
            // Kiosks sharing a database share one CA: none may make its own.
            IssuerKind::Local if store.is_shared() => {
                Arc::new(LocalIssuer::open_shared(&settings.data_dir, &settings.conference)?)
            }
            IssuerKind::Local => Arc::new(LocalIssuer::open(&settings.data_dir, &settings.conference)?),
            // An unreachable API only means not ready: the kiosk serves and retries.
            IssuerKind::CertManager => Arc::new(CertManagerIssuer::open(&settings, outcomes.clone()).await?),
        };
        Self::assemble(settings, store, issuer, outcomes, reports)
    }

    /// Assemble from parts with a fresh outcome channel (tests bring their own issuer or store).
    pub fn with_parts(settings: Settings, store: Store, issuer: Arc<dyn Issuer>) -> Result<Self> {
        let (outcomes, reports) = Outcomes::channel();
        Self::assemble(settings, store, issuer, outcomes, reports)
    }

    fn assemble(
        settings: Settings,
        store: Store,
        issuer: Arc<dyn Issuer>,
        outcomes: Outcomes,
        reports: UnboundedReceiver<Report>,
    ) -> Result<Self> {
        let current = issuer.clone();
        let guestbook = Guestbook::new(
            &issuer.root_pem(),
            move || current.intermediate_pem(),
            settings.guestbook.this_conference_only,
            &store,
        )?;
        let events = Events::new();
        let metrics = Metrics::new();
        metrics.expect_backend(issuer.kind());
        Ok(App(Arc::new(Parts {
            queue: Queue::new(&settings, events.clone(), metrics.clone())?,
            events,
            metrics,
            form_key: match &settings.form_key_file {
                Some(shared) => FormKey::load_shared(shared)?,
                None => FormKey::load_or_create(&settings.data_dir.join("form.key"))?,
            },
            access: access::Access::open(settings.staff_password_hash.as_deref(), settings.data_dir.clone())?,
            crls: revocation::Crls::default(),
            guestbook,
            issue_limiter: ClientLimit::new(settings.issue_rate_per_minute, &store),
            settings: Arc::new(settings),
            store,
            issuer,
            outcomes,
            derived: derived::Derived::new(),
            printer_choice: printing::ChoiceCache::default(),
            reports: Mutex::new(Some(reports)),
        })))
    }

    /// Before serving: purge what retention says, drop ended staff sessions and codes, resume
    /// interrupted issuances, and start the workers (outcome recorder, print queue, hourly
    /// upkeep).
    pub async fn start(&self) -> Result<()> {
        self.purge_expired().await?;
        self.prune_access().await?;
        self.resume_pending().await?;
        self.spawn_recorder();
        self.store.share_events(&self.events);
        self.queue.start(self.store.clone(), self.settings.clone()).await?;
        self.spawn_upkeep();
        Ok(())
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

    /// Stop: wait (bounded) for a ticket being sent.
    pub async fn drain(&self, limit: std::time::Duration) {
        self.queue.drain(limit).await;
    }
}
