//! The runtime: create a Certificate, watch it until cert-manager settles it, read its
//! Secret, and pick up where a restart left off. Visitor results go out as reports on
//! the app's outcome channel; nothing here writes the store.

use std::collections::{BTreeMap, HashSet};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use time::OffsetDateTime;

use super::DELAYED;
use super::api::{ApiFailure, classify_create, describe, retry_backoff};
use super::crd::{Certificate, Phase, phase};
use super::objects::{
    VISITOR_LABEL, certificate_name, is_ours, issued_from_secret, renamed, secret_name, selector, visitor_certificate,
};
use crate::config::{CertManagerSettings, Conference};
use crate::error::{Error, Result};
use crate::issuer::{LeafRequest, Outcome, Outcomes, PendingIssuance};
use crate::pki::IssuedCert;

/// One Certificate the kiosk creates and waits for.
#[derive(Debug, Clone)]
pub(super) struct Job {
    /// The object as we want it; its name changes after a clash with someone else's.
    pub(super) cert: Certificate,
    /// What a new name after a clash is derived from.
    base: String,
    /// Whose certificate; `None` for the guestbook's own.
    pub(super) visitor: Option<String>,
}

impl Job {
    /// The Certificate's current name.
    pub(super) fn name(&self) -> String {
        self.cert.name_any()
    }

    fn label(&self) -> &str {
        self.visitor.as_deref().unwrap_or("guestbook")
    }
}

/// Why a watch stopped without a certificate.
#[derive(Debug)]
pub(super) enum Stop {
    /// An API call or the Secret failed for good.
    Failed(Error),
    /// cert-manager itself gave up (its words, ready to show).
    Refused(String),
    /// The watch stream ended (the process is stopping).
    Ended,
}

/// What a watch tells its owner on the way.
pub(super) enum Progress {
    /// The deadline passed; the watch carries on.
    Delayed,
    /// The Certificate went missing and was created again under this name.
    Renamed(String),
}

/// Shared by the issuer and its background tasks.
pub(super) struct Inner {
    pub(super) certs: Api<Certificate>,
    pub(super) secrets: Api<Secret>,
    pub(super) namespace: String,
    pub(super) settings: CertManagerSettings,
    pub(super) conf: Conference,
    pub(super) root_pem: String,
    /// The intermediate seen in the latest issued chain.
    pub(super) intermediate_pem: RwLock<String>,
    pub(super) outcomes: Outcomes,
    /// Visitor ids with a live follower task.
    following: Mutex<HashSet<String>>,
    /// Set while creates fail with 5xx (cert-manager's webhook unreachable).
    pub(super) webhook_down: AtomicBool,
    /// Unit tests of single requests switch the background watch off.
    pub(super) follow: bool,
}

impl Inner {
    pub(super) fn new(
        client: Client,
        settings: CertManagerSettings,
        conf: Conference,
        root_pem: String,
        outcomes: Outcomes,
    ) -> Self {
        let ns = settings.namespace.clone();
        Inner {
            certs: Api::namespaced(client.clone(), &ns),
            secrets: Api::namespaced(client, &ns),
            namespace: ns,
            settings,
            conf,
            root_pem,
            intermediate_pem: RwLock::new(String::new()),
            outcomes,
            following: Mutex::new(HashSet::new()),
            webhook_down: AtomicBool::new(false),
            follow: true,
        }
    }

    /// A visitor's Certificate, under `name` (after a restart it may carry a suffix).
    pub(super) fn visitor_job(&self, req: &LeafRequest, name: &str) -> Job {
        Job {
            cert: visitor_certificate(name, &self.namespace, req, &self.settings, &self.conf),
            base: certificate_name(&req.visitor_id),
            visitor: Some(req.visitor_id.clone()),
        }
    }

    /// The guestbook's server Certificate.
    pub(super) fn server_job(&self, cert: Certificate) -> Job {
        Job {
            base: cert.name_any(),
            cert,
            visitor: None,
        }
    }

    /// POST the Certificate. 409 from an earlier attempt of ours counts as done; a clash
    /// with someone else's object picks a new name. Transient failures retry until `give_up`.
    pub(super) async fn create(&self, job: &mut Job, give_up: Option<Instant>) -> Result<()> {
        let mut backoff = retry_backoff();
        loop {
            let failure = match self.certs.create(&PostParams::default(), &job.cert).await {
                Ok(_) => {
                    self.webhook_down.store(false, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => {
                    if matches!(&e, kube::Error::Api(s) if s.code >= 500) {
                        self.webhook_down.store(true, Ordering::Relaxed);
                    }
                    tracing::warn!(visitor = %job.label(), certificate = %job.name(), error = %describe(&e), "creating the Certificate failed");
                    classify_create(e)
                }
            };
            match failure {
                ApiFailure::Exists => match self.certs.get_opt(&job.name()).await {
                    Ok(Some(existing)) if is_ours(&existing, &job.cert) => return Ok(()),
                    Ok(_) => {
                        let suffix: String = crate::token::random_hex::<3>();
                        job.cert = renamed(&job.cert, &format!("{}-{suffix}", job.base));
                        tracing::info!(visitor = %job.label(), certificate = %job.name(), "name taken by another object; retrying under a new name");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "reading the clashing Certificate failed");
                    }
                },
                ApiFailure::Final(e) => return Err(e),
                ApiFailure::Transient(msg) => {
                    if give_up.is_some_and(|t| Instant::now() >= t) {
                        return Err(Error::Unavailable(msg));
                    }
                }
            }
            tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(5))).await;
        }
    }

    /// GET the Secret of a Ready Certificate; a 404 right after Ready is briefly retried.
    pub(super) async fn read_issued(&self, certificate: &str) -> Result<IssuedCert> {
        let name = secret_name(certificate);
        let mut backoff = retry_backoff();
        let mut not_found = 0;
        loop {
            match self.secrets.get(&name).await {
                Ok(secret) => {
                    let issued = issued_from_secret(&secret, &self.root_pem, OffsetDateTime::now_utc())?;
                    if let Ok(mut i) = self.intermediate_pem.write() {
                        i.clone_from(&issued.intermediates_pem);
                    }
                    return Ok(issued);
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    not_found += 1;
                    if not_found >= 10 {
                        return Err(Error::Issuance(
                            "cert-manager reported the certificate ready but its Secret does not exist".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    tracing::warn!(secret = %name, error = %describe(&e), "reading the certificate Secret failed; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(5))).await;
                }
            }
        }
    }

    /// Watch one Certificate until it is Ready (read its Secret) or failed. Past `deadline`
    /// the owner hears [`Progress::Delayed`] once and the watch carries on. A Certificate
    /// that is missing (the create never landed, or it was deleted) is created again.
    pub(super) async fn watch(
        &self,
        job: &mut Job,
        deadline: Option<tokio::time::Instant>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> std::result::Result<IssuedCert, Stop> {
        let mut delayed = deadline.is_none();
        loop {
            let cfg = watcher::Config::default().fields(&format!("metadata.name={}", job.name()));
            let mut stream = pin!(watcher::watcher(self.certs.clone(), cfg).backoff(retry_backoff()));
            let mut seen = false;
            let recreate = loop {
                let next = match deadline {
                    Some(deadline) if !delayed => match tokio::time::timeout_at(deadline, stream.next()).await {
                        Ok(n) => n,
                        Err(_) => {
                            delayed = true;
                            progress(Progress::Delayed);
                            continue;
                        }
                    },
                    _ => stream.next().await,
                };
                let Some(event) = next else { return Err(Stop::Ended) };
                match event {
                    Err(e) => {
                        tracing::debug!(certificate = %job.name(), error = %e, "watch error; the watcher retries")
                    }
                    Ok(Event::Init) => seen = false,
                    Ok(Event::InitDone) if !seen => break true,
                    Ok(Event::InitDone) => {}
                    Ok(Event::Delete(_)) => break true,
                    Ok(Event::Apply(c) | Event::InitApply(c)) => {
                        seen = true;
                        match phase(&c) {
                            Phase::Waiting => {}
                            Phase::Ready => return self.read_issued(&job.name()).await.map_err(Stop::Failed),
                            Phase::Failed(msg) => return Err(Stop::Refused(msg)),
                        }
                    }
                }
            };
            if recreate {
                tracing::info!(visitor = %job.label(), certificate = %job.name(), "Certificate missing; creating it");
                let before = job.name();
                self.create(job, None).await.map_err(Stop::Failed)?;
                if job.name() != before {
                    progress(Progress::Renamed(job.name()));
                }
            }
        }
    }

    /// Spawn a follower unless the tests switched them off.
    pub(super) fn spawn_follow(self: &Arc<Self>, job: Job) {
        if !self.follow {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move { inner.follow(job).await });
    }

    /// Follow one visitor's Certificate to its end and report it. One follower per visitor.
    pub(super) async fn follow(self: Arc<Self>, mut job: Job) {
        let Some(id) = job.visitor.clone() else { return };
        {
            let Ok(mut f) = self.following.lock() else { return };
            if !f.insert(id.clone()) {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.settings.timeout_secs);
        let (outcomes, name) = (self.outcomes.clone(), job.name());
        let progress = |p: Progress| match p {
            Progress::Delayed => {
                tracing::warn!(visitor = %id, certificate = %name, "issuance is taking longer than the timeout; still watching");
                outcomes.send(&id, Outcome::Delayed(DELAYED.into()));
            }
            Progress::Renamed(new) => outcomes.send(&id, Outcome::Reference(new)),
        };
        match self.watch(&mut job, Some(deadline), &progress).await {
            Ok(issued) => outcomes.send(&id, Outcome::Issued(issued)),
            Err(Stop::Refused(msg)) => {
                tracing::warn!(visitor = %id, certificate = %job.name(), "cert-manager reported a failed issuance");
                outcomes.send(&id, Outcome::Failed(msg));
            }
            Err(Stop::Failed(e)) => {
                tracing::warn!(visitor = %id, certificate = %job.name(), error = %e, "issuance failed");
                outcomes.send(&id, Outcome::Failed(e.to_string()));
            }
            // Still pending in the store: the next start resumes it.
            Err(Stop::Ended) => {}
        }
        if let Ok(mut f) = self.following.lock() {
            f.remove(&id);
        }
    }

    /// Find each pending visitor's Certificate (by label first: a clash may have renamed
    /// it), retrying until the API answers, then follow them all.
    pub(super) async fn resume(self: Arc<Self>, pending: Vec<PendingIssuance>, outcomes: Outcomes) {
        if pending.is_empty() {
            return;
        }
        let mut backoff = retry_backoff();
        let found = loop {
            match self
                .certs
                .list(&ListParams::default().labels(&selector(&self.conf.slug)))
                .await
            {
                Ok(list) => break list.items,
                Err(e) => {
                    tracing::warn!(error = %describe(&e), "listing Certificates failed; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(5))).await;
                }
            }
        };
        let by_visitor: BTreeMap<String, String> = found
            .iter()
            .filter_map(|c| Some((c.labels().get(VISITOR_LABEL)?.clone(), c.name_any())))
            .collect();
        tracing::info!(count = pending.len(), "resuming pending cert-manager issuances");
        for p in pending {
            let id = &p.req.visitor_id;
            let name = by_visitor
                .get(id)
                .cloned()
                .or(p.reference.clone())
                .unwrap_or_else(|| certificate_name(id));
            if p.reference.as_deref() != Some(name.as_str()) {
                outcomes.send(id, Outcome::Reference(name.clone()));
            }
            self.spawn_follow(self.visitor_job(&p.req, &name));
        }
    }
}
