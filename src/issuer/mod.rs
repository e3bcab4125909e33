//! Issuing visitor certificates. Both backends sit behind [`Issuer`], so pages, the zip,
//! the print queue and the guestbook never know which one signed.
//!
//! A backend never writes the store. What it finishes on the spot comes back from
//! [`Issuer::submit`]; what it finishes later (cert-manager's watch, a resumed request)
//! arrives as a [`Report`] on the [`Outcomes`] channel that the app consumes: store it,
//! then wake the print queue. Both paths end in the same `app` function.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::pki::{IssuedCert, KeyedCert};

/// cert-manager `Certificate`s through the Kubernetes API; the only module that talks to Kubernetes.
pub mod cert_manager;
/// The rcgen CA kept in the data dir.
pub mod local;

/// What a visitor asked for, already validated.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// Random visitor id (never derived from the email); names backend objects.
    pub visitor_id: String,
    /// Trimmed display name: the CN.
    pub name: String,
    /// Bare email: the rfc822Name SAN.
    pub email: String,
}

/// The outcome of submitting a request.
#[derive(Debug)]
pub enum Submitted {
    /// Signed on the spot (local CA).
    Issued(IssuedCert),
    /// Accepted; the backend reports the result later on its [`Outcomes`] channel.
    /// `reference` names the backend object (e.g. the Certificate's name).
    Pending {
        /// Backend object name.
        reference: String,
        /// Why it may take a while (the backend is unreachable and keeps trying).
        delayed: Option<String>,
    },
}

/// What became of a visitor's request after `submit` returned.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The certificate is ready.
    Issued(IssuedCert),
    /// The backend refused for good; the message is safe to show to staff and the visitor.
    Failed(String),
    /// Still on its way, but slower than usual; the message says so.
    Delayed(String),
    /// The backend object that carries the request now has this name (a clash, a recreate).
    Reference(String),
}

/// One visitor's [`Outcome`].
#[derive(Debug)]
pub struct Report {
    /// Whose request.
    pub visitor_id: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Where backends send [`Report`]s; the app owns the receiving end. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outcomes(mpsc::UnboundedSender<Report>);

impl Outcomes {
    /// A channel: backends get the sender, the app reads the receiver.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Outcomes(tx), rx)
    }

    /// Report an outcome. After the app stopped listening there is nobody left to tell:
    /// the request stays pending in the store and is resumed at the next start.
    pub fn send(&self, visitor_id: &str, outcome: Outcome) {
        let _ = self.0.send(Report {
            visitor_id: visitor_id.to_string(),
            outcome,
        });
    }

    /// Report a failed `submit`: the message a visitor may read.
    pub fn failed(&self, visitor_id: &str, e: &Error) {
        self.send(visitor_id, Outcome::Failed(public_failure(e)));
    }
}

/// What a visitor and staff read about a failed issuance; internals stay in the log.
pub fn public_failure(e: &Error) -> String {
    if e.is_public() {
        e.to_string()
    } else {
        "internal error; see the kiosk log".into()
    }
}

/// A stored request that a restart interrupted before its certificate was stored.
#[derive(Debug, Clone)]
pub struct PendingIssuance {
    /// The request.
    pub req: LeafRequest,
    /// The backend object, when one was recorded.
    pub reference: Option<String>,
}

/// A certificate authority the kiosk can ask for visitor certificates.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// Short name for logs, the store and the staff page: `local` or `cert-manager`.
    fn kind(&self) -> &'static str;

    /// Ask for a visitor certificate.
    async fn submit(&self, req: &LeafRequest) -> Result<Submitted>;

    /// Whether [`Issuer::submit`] answers with the certificate itself, talking to nothing
    /// else. Then the kiosk signs before it stores, and stores visitor, certificate and
    /// ticket in one commit. A backend that creates objects elsewhere (cert-manager) keeps
    /// the default: the visitor is stored first, so no object outlives a crash unknown.
    fn signs_on_the_spot(&self) -> bool {
        false
    }

    /// Pick up requests a restart interrupted; every result arrives on `outcomes`.
    /// By default each is simply submitted again.
    async fn resume(&self, pending: Vec<PendingIssuance>, outcomes: &Outcomes) {
        for p in pending {
            let id = &p.req.visitor_id;
            tracing::info!(visitor = %id, "resuming interrupted issuance");
            match self.submit(&p.req).await {
                Ok(Submitted::Issued(cert)) => outcomes.send(id, Outcome::Issued(cert)),
                Ok(Submitted::Pending { reference, .. }) => outcomes.send(id, Outcome::Reference(reference)),
                Err(e) => {
                    tracing::warn!(visitor = %id, error = %e, "resumed issuance failed");
                    outcomes.failed(id, &e);
                }
            }
        }
    }

    /// The booth root (PEM): the only trust anchor anywhere in certstamp.
    fn root_pem(&self) -> String;

    /// The current conference's intermediate (PEM).
    fn intermediate_pem(&self) -> String;

    /// A TLS server certificate for the guestbook listener.
    async fn server_cert(&self, hostname: &str) -> Result<IssuedCert>;

    /// A backend's own limit on names beyond the form's rules, as a message for the visitor.
    fn name_rule(&self, _name: &str) -> Option<&'static str> {
        None
    }

    /// Whether the backend can take requests now (for `/readyz`), or why not.
    async fn ready(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Delete whatever the backend keeps for a visitor after the retention period.
    async fn forget(&self, _reference: &str) -> Result<()> {
        Ok(())
    }

    /// The intermediate of conference `slug` with its key, to sign that conference's CRL;
    /// `None` when this backend does not hold the key (cert-manager keeps it in the cluster)
    /// or the conference has no intermediate here.
    fn crl_signer(&self, _slug: &str) -> Result<Option<KeyedCert>> {
        Ok(None)
    }
}
