//! The cert-manager backend: every visitor certificate is a cert-manager `Certificate`
//! signed by the conference's CA `Issuer`. `submit` creates the Certificate and returns
//! at once; a per-Certificate watch then reads the Secret, checks it against the booth
//! root and reports it on the outcome channel, where it meets the local CA's path.
//!
//! We never write to Certificates after creating them (no status, no patches): print
//! state and everything else of ours lives in the kiosk's store.
//!
//! Files: `crd` (the types), `objects` (what we create, and the Secret check), `api`
//! (what API failures mean), `follow` (create, watch, resume), `manifests` (YAML for
//! the CA hierarchy); this file is the [`Issuer`] implementation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kube::Client;
use kube::api::{DeleteParams, ListParams};

use super::{Issuer, LeafRequest, Outcomes, PendingIssuance, Submitted};
use crate::config::{CertManagerSettings, Conference, Settings};
use crate::error::{Error, Result};
use crate::issuer::local::{self, CaPaths};
use crate::pki::{self, IssuedCert};

mod api;
mod crd;
mod follow;
/// Pure YAML generation for `certstamp ca k8s-manifests` and `deploy/base`.
pub mod manifests;
mod objects;

pub use api::QuickBackoff;
pub use crd::{
    Certificate, CertificateCondition, CertificateSpec, CertificateStatus, IssuerRef, Phase, PrivateKey,
    SecretTemplate, Subject, phase,
};
pub use objects::{
    CONFERENCE_LABEL, MANAGED_BY, ROLE_LABEL, VISITOR_LABEL, certificate_name, go_duration_days, guestbook_certificate,
    issued_from_secret, secret_name, selector, visitor_certificate,
};

use follow::{Inner, Stop};

/// Shown when cert-manager has not answered within the issuance timeout.
pub const DELAYED: &str = "Issuance is taking longer than usual; this page keeps checking.";
/// Shown while the Kubernetes API or cert-manager's webhook cannot be reached.
pub const UNREACHABLE: &str = "The certificate authority is not reachable right now; this page keeps checking.";

/// The cert-manager issuer.
pub struct CertManagerIssuer {
    inner: Arc<Inner>,
}

impl CertManagerIssuer {
    /// Connect with the usual kubeconfig or in-cluster configuration and load the booth
    /// root (from `--root-ca-file` or the data dir). Results of background issuance go to `outcomes`.
    pub async fn open(settings: &Settings, outcomes: Outcomes) -> Result<Self> {
        let root_pem = match &settings.cert_manager.root_ca_file {
            // Mounted from the cluster (the ConfigMap `ca k8s-manifests` prints).
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Error::Invalid(format!(
                    "cannot read the booth root from {} (--root-ca-file): {e}",
                    path.display()
                ))
            })?,
            None => local::load_root_cert(&CaPaths::new(&settings.data_dir))?.ok_or_else(|| {
                Error::Invalid(format!(
                    "cert-manager mode needs the booth root in {}/ca/root.pem or --root-ca-file; run `certstamp ca init --data-dir {}` first",
                    settings.data_dir.display(),
                    settings.data_dir.display()
                ))
            })?,
        };
        pki::CertSummary::parse(&root_pem)?;
        let client = Client::try_default().await.map_err(|e| {
            Error::Invalid(format!(
                "no usable Kubernetes configuration (kubeconfig or in-cluster): {e}"
            ))
        })?;
        Ok(Self::new(
            client,
            settings.cert_manager.clone(),
            settings.conference.clone(),
            root_pem,
            outcomes,
        ))
    }

    /// Assemble from parts; starts nothing.
    pub fn new(
        client: Client,
        settings: CertManagerSettings,
        conf: Conference,
        root_pem: String,
        outcomes: Outcomes,
    ) -> Self {
        CertManagerIssuer {
            inner: Arc::new(Inner::new(client, settings, conf, root_pem, outcomes)),
        }
    }

    /// Switch off the background watch after `submit` (unit tests of single requests).
    #[cfg(test)]
    fn without_followers(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.follow = false;
        }
        self
    }

    /// Follow one named Certificate to its end, as `submit` and `resume` do in the background.
    #[cfg(test)]
    async fn finish(&self, req: &LeafRequest, name: &str) {
        let job = self.inner.visitor_job(req, name);
        self.inner.clone().follow(job).await;
    }

    /// Read a Ready Certificate's Secret.
    #[cfg(test)]
    async fn read_issued(&self, certificate: &str) -> Result<IssuedCert> {
        self.inner.read_issued(certificate).await
    }
}

#[async_trait]
impl Issuer for CertManagerIssuer {
    fn kind(&self) -> &'static str {
        "cert-manager"
    }

    fn name_rule(&self, name: &str) -> Option<&'static str> {
        // cert-manager's webhook counts the CN in bytes (Go's len), so say so before it refuses.
        (name.len() > 64).then_some(
            "Your name is too long for this booth's certificate authority: at most 64 bytes \
             (about 21 characters in CJK scripts, 32 in Greek or Cyrillic).",
        )
    }

    async fn submit(&self, req: &LeafRequest) -> Result<Submitted> {
        let inner = &self.inner;
        let mut job = inner.visitor_job(req, &certificate_name(&req.visitor_id));
        // A visitor waits for the redirect; past a few seconds of outage we answer and keep trying.
        let give_up = Instant::now() + Duration::from_secs(3);
        let delayed = match inner.create(&mut job, Some(give_up)).await {
            Ok(()) => None,
            Err(Error::Unavailable(_)) => Some(UNREACHABLE.to_string()),
            Err(e) => return Err(e),
        };
        let reference = job.name();
        inner.spawn_follow(job);
        Ok(Submitted::Pending { reference, delayed })
    }

    async fn resume(&self, pending: Vec<PendingIssuance>, outcomes: &Outcomes) {
        // Listing waits for the API; the kiosk serves meanwhile.
        tokio::spawn(self.inner.clone().resume(pending, outcomes.clone()));
    }

    fn root_pem(&self) -> String {
        self.inner.root_pem.clone()
    }

    fn intermediate_pem(&self) -> String {
        self.inner
            .intermediate_pem
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    async fn server_cert(&self, hostname: &str) -> Result<IssuedCert> {
        let inner = &self.inner;
        let cert = guestbook_certificate(&inner.namespace, hostname, &inner.settings, &inner.conf.slug);
        let mut job = inner.server_job(cert);
        let wait = Duration::from_secs(inner.settings.timeout_secs);
        let work = async {
            inner.create(&mut job, None).await?;
            match inner.watch(&mut job, None, &|_| {}).await {
                Ok(issued) => Ok(issued),
                Err(Stop::Failed(e)) => Err(e),
                Err(Stop::Refused(msg)) => Err(Error::Issuance(msg)),
                Err(Stop::Ended) => Err(Error::Unavailable("the watch ended".into())),
            }
        };
        tokio::time::timeout(wait, work).await.map_err(|_| {
            Error::Unavailable(format!(
                "cert-manager did not issue the guestbook's server certificate within {} s",
                wait.as_secs()
            ))
        })?
    }

    async fn ready(&self) -> std::result::Result<(), String> {
        if self.inner.webhook_down.load(Ordering::Relaxed) {
            return Err("cert-manager's webhook refuses Certificates (is cert-manager running?)".into());
        }
        let lp = ListParams::default().labels(&selector(&self.inner.conf.slug)).limit(1);
        let probe = self.inner.certs.list_metadata(&lp);
        match tokio::time::timeout(Duration::from_secs(3), probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the Kubernetes API refused: {}", api::describe(&e))),
            Err(_) => Err("the Kubernetes API did not answer within 3 s".into()),
        }
    }

    async fn forget(&self, reference: &str) -> Result<()> {
        let dp = DeleteParams::default();
        let gone = |r: std::result::Result<(), kube::Error>| match r {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Error::Unavailable(api::describe(&e))),
        };
        gone(self.inner.certs.delete(reference, &dp).await.map(|_| ()))?;
        gone(
            self.inner
                .secrets
                .delete(&secret_name(reference), &dp)
                .await
                .map(|_| ()),
        )?;
        tracing::info!(certificate = %reference, "deleted Certificate and Secret after retention");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
