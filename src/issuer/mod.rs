//! Issuing visitor certificates. Both backends sit behind [`Issuer`], so pages, the zip,
//! the print queue and the guestbook never know which one signed.

use async_trait::async_trait;

use crate::error::Result;
use crate::pki::KeyedCert;

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

/// A finished certificate as every backend hands it over.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// Leaf certificate and its PKCS#8 private key.
    pub leaf: KeyedCert,
    /// Intermediates after the leaf, PEM (what TLS clients send after the leaf).
    pub intermediates_pem: String,
    /// The booth root, PEM.
    pub root_pem: String,
}

impl IssuedCert {
    /// Leaf then intermediates: `chain.pem`.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.leaf.cert_pem, self.intermediates_pem)
    }
}

/// The outcome of submitting a request.
#[derive(Debug)]
pub enum Submitted {
    /// Signed on the spot (local CA).
    Issued(IssuedCert),
    /// Accepted; finished later by the backend's own background task, which stores the result.
    /// `reference` names the backend object (e.g. the Certificate's name).
    Pending {
        /// Backend object name.
        reference: String,
    },
}

/// A certificate authority the kiosk can ask for visitor certificates.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// Short name for logs and the staff page: `local` or `cert-manager`.
    fn kind(&self) -> &'static str;

    /// Ask for a visitor certificate.
    async fn submit(&self, req: &LeafRequest) -> Result<Submitted>;

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

    /// Whether the backend can take requests now (for `/readyz`).
    async fn ready(&self) -> bool {
        true
    }

    /// Delete whatever the backend keeps for a visitor after the retention period.
    async fn forget(&self, _reference: &str) -> Result<()> {
        Ok(())
    }
}
