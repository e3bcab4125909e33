//! The cert-manager backend: every visitor certificate is a cert-manager `Certificate`
//! signed by the conference's CA `Issuer`. `submit` creates the Certificate and returns
//! at once; a per-Certificate watch then reads the Secret, checks it against the booth
//! root and stores it exactly as the local CA path does.
//!
//! We never write to Certificates after creating them (no status, no patches): print
//! state and everything else of ours lives in SQLite.

use std::collections::{BTreeMap, HashSet};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::{Client, CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{IssuedCert, Issuer, LeafRequest, Submitted};
use crate::config::{CertManagerSettings, Conference, Settings};
use crate::error::{Error, Result};
use crate::issuer::local::{self, CaPaths};
use crate::pki::{self, KeyedCert};
use crate::store::Store;

/// Pure YAML generation for `certstamp ca k8s-manifests` and `deploy/base`.
pub mod manifests;

/// Label on everything the kiosk creates.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label naming the conference slug.
pub const CONFERENCE_LABEL: &str = "certstamp.io/conference";
/// Label naming the visitor id a Certificate belongs to.
pub const VISITOR_LABEL: &str = "certstamp.io/visitor";
/// Label saying what a Certificate is for: `visitor` or `guestbook`.
pub const ROLE_LABEL: &str = "certstamp.io/role";

/// Shown when cert-manager has not answered within the issuance timeout.
pub const DELAYED: &str = "Issuance is taking longer than usual; this page keeps checking.";
/// Shown while the Kubernetes API or cert-manager's webhook cannot be reached.
pub const UNREACHABLE: &str = "The certificate authority is not reachable right now; this page keeps checking.";

/// The subset of cert-manager's `Certificate` (cert-manager.io/v1) that certstamp uses.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "Certificate",
    namespaced,
    status = "CertificateStatus",
    shortname = "cert"
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// Subject CN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// Subject RDNs besides the CN (used for intermediates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// rfc822Name SANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_addresses: Vec<String>,
    /// dNSName SANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// iPAddress SANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// Go duration string, e.g. `8760h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// CA:TRUE. cert-manager spells it `isCA`, not camelCase `isCa`.
    #[serde(default, rename = "isCA", skip_serializing_if = "Option::is_none")]
    pub is_ca: Option<bool>,
    /// Key type and PEM encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PrivateKey>,
    /// Key usages, exact cert-manager strings ("digital signature", "client auth", ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<String>,
    /// The Secret cert-manager writes.
    pub secret_name: String,
    /// Labels and annotations copied onto the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,
    /// Who signs.
    pub issuer_ref: IssuerRef,
}

/// `spec.subject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// O.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// OU.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
    /// L.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub localities: Vec<String>,
}

/// `spec.privateKey`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateKey {
    /// `ECDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// 256 for P-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// `PKCS8` so `tls.key` is a `PRIVATE KEY` block, like the local CA's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// `Never`: a visitor certificate is never re-keyed behind the visitor's back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_policy: Option<String>,
}

/// `spec.issuerRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct IssuerRef {
    /// Issuer name.
    pub name: String,
    /// `Issuer` or `ClusterIssuer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `cert-manager.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// `spec.secretTemplate`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretTemplate {
    /// Labels for the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `status`, read only. Times stay strings: we never compute with them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// Ready, Issuing, ...
    #[serde(default)]
    pub conditions: Vec<CertificateCondition>,
    /// Leaf NotAfter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Failed attempts since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_issuance_attempts: Option<i64>,
}

/// cert-manager's own condition type (not `metav1.Condition`: reason and message are optional).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCondition {
    /// `Ready` or `Issuing`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Where a Certificate stands, as far as the kiosk cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// `Ready=True` for the current generation: the Secret holds the certificate.
    Ready,
    /// `Issuing=False` with a failure reason: cert-manager retries only hours later, so we stop.
    Failed(String),
    /// Anything else.
    Waiting,
}

/// Classify a Certificate by its conditions.
pub fn phase(cert: &Certificate) -> Phase {
    let Some(status) = &cert.status else {
        return Phase::Waiting;
    };
    let generation = cert.metadata.generation;
    let cond = |t: &str| status.conditions.iter().find(|c| c.type_ == t);
    if let Some(r) = cond("Ready")
        && r.status == "True"
        && match (r.observed_generation, generation) {
            (Some(o), Some(g)) => o == g,
            _ => true,
        }
    {
        return Phase::Ready;
    }
    if let Some(i) = cond("Issuing")
        && i.status == "False"
        && i.reason.as_deref() != Some("Issued")
    {
        let reason = i.reason.clone().unwrap_or_else(|| "Failed".into());
        let detail = i.message.clone().unwrap_or_default();
        return Phase::Failed(format!("cert-manager could not sign it ({reason}): {detail}"));
    }
    Phase::Waiting
}

/// A Go duration string for whole days, e.g. 365 -> `8760h`.
pub fn go_duration_days(days: u32) -> String {
    format!("{}h", u64::from(days) * 24)
}

/// The Certificate name for a visitor: derived from the random id only, never from the email.
pub fn certificate_name(visitor_id: &str) -> String {
    format!("certstamp-{visitor_id}")
}

/// The Secret cert-manager writes for a Certificate we create.
pub fn secret_name(certificate: &str) -> String {
    format!("{certificate}-tls")
}

/// The label selector for every visitor Certificate of this conference.
pub fn selector(slug: &str) -> String {
    format!("{MANAGED_BY}=certstamp,{CONFERENCE_LABEL}={slug}")
}

/// Build a visitor's Certificate.
pub fn visitor_certificate(
    name: &str,
    namespace: &str,
    req: &LeafRequest,
    settings: &CertManagerSettings,
    conf: &Conference,
) -> Certificate {
    let labels = BTreeMap::from([
        (MANAGED_BY.to_string(), "certstamp".to_string()),
        (CONFERENCE_LABEL.to_string(), conf.slug.clone()),
        (VISITOR_LABEL.to_string(), req.visitor_id.clone()),
        (ROLE_LABEL.to_string(), "visitor".to_string()),
    ]);
    let mut cert = Certificate::new(
        name,
        CertificateSpec {
            common_name: Some(req.name.clone()),
            email_addresses: vec![req.email.clone()],
            secret_name: secret_name(name),
            duration: Some(go_duration_days(conf.leaf_validity_days)),
            private_key: Some(ecdsa_p256_key()),
            usages: vec!["digital signature".into(), "client auth".into()],
            secret_template: Some(SecretTemplate { labels: labels.clone() }),
            issuer_ref: issuer_ref(settings),
            ..Default::default()
        },
    );
    cert.metadata.namespace = Some(namespace.to_string());
    cert.metadata.labels = Some(labels);
    cert
}

fn ecdsa_p256_key() -> PrivateKey {
    PrivateKey {
        algorithm: Some("ECDSA".into()),
        size: Some(256),
        encoding: Some("PKCS8".into()),
        rotation_policy: Some("Never".into()),
    }
}

fn issuer_ref(settings: &CertManagerSettings) -> IssuerRef {
    IssuerRef {
        name: settings.issuer_name.clone(),
        kind: Some(settings.issuer_kind.clone()),
        group: Some("cert-manager.io".into()),
    }
}

/// Turn cert-manager's Secret into what every backend hands over, after checking that
/// the key matches the leaf and that the chain verifies to the configured booth root.
pub fn issued_from_secret(secret: &Secret, root_pem: &str, now: OffsetDateTime) -> Result<IssuedCert> {
    let data = secret.data.as_ref();
    let get = |k: &str| {
        data.and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .ok_or_else(|| Error::Issuance(format!("cert-manager's Secret has no {k}")))
    };
    let chain = get("tls.crt")?;
    let key = zeroize::Zeroizing::new(get("tls.key")?);
    let ders =
        pki::pem_certs(&chain).map_err(|_| Error::Issuance("cert-manager's tls.crt holds no certificate".into()))?;
    if ders.len() < 2 {
        return Err(Error::Issuance(
            "cert-manager's tls.crt holds no intermediate; is the Issuer's CA the conference intermediate?".into(),
        ));
    }
    let leaf_pem = pki::der_to_pem(&ders[0]);
    let intermediates_pem: String = ders[1..].iter().map(|d| pki::der_to_pem(d)).collect();
    if !pki::key_matches_cert(&key, &leaf_pem).unwrap_or(false) {
        return Err(Error::Issuance(
            "cert-manager's tls.key does not match its certificate (expected a PKCS#8 ECDSA key)".into(),
        ));
    }
    pki::verify_chain(&format!("{leaf_pem}{intermediates_pem}"), root_pem, now).map_err(|e| {
        Error::Issuance(format!(
            "the certificate from cert-manager does not chain to this kiosk's booth root ({e}); check the Issuer's CA Secret"
        ))
    })?;
    Ok(IssuedCert {
        leaf: KeyedCert {
            cert_pem: leaf_pem,
            key_pem: zeroize::Zeroizing::new(key.to_string()),
        },
        intermediates_pem,
        root_pem: root_pem.to_string(),
    })
}

/// How an API call went wrong, for deciding what to do next.
#[derive(Debug)]
enum ApiFailure {
    /// 409 AlreadyExists.
    Exists,
    /// Worth retrying: connection trouble, 5xx (webhook unreachable), 429.
    Transient(String),
    /// Everything else: a message safe to show.
    Final(Error),
}

/// Never log Status messages: a webhook may echo the name or email back.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("HTTP {} {}", s.code, s.reason),
        other => other.to_string(),
    }
}

fn classify_create(e: kube::Error) -> ApiFailure {
    match e {
        kube::Error::Api(s) if s.code == 409 || s.reason == "AlreadyExists" => ApiFailure::Exists,
        kube::Error::Api(s) if s.code == 403 => ApiFailure::Final(Error::Invalid(webhook_message(&s.message))),
        kube::Error::Api(s) if s.code == 422 => {
            let fields: Vec<String> = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| format!("{} ({})", c.field, c.reason))
                .collect();
            let what = if fields.is_empty() {
                s.message.clone()
            } else {
                fields.join(", ")
            };
            ApiFailure::Final(Error::Issuance(format!(
                "the Kubernetes API rejected the Certificate as invalid: {what}; this is a kiosk bug or a cert-manager version mismatch"
            )))
        }
        kube::Error::Api(s) if s.code >= 500 || s.code == 429 => {
            ApiFailure::Transient(format!("HTTP {} {}", s.code, s.reason))
        }
        kube::Error::Api(s) if s.code == 401 => ApiFailure::Final(Error::Unavailable(
            "the kiosk's Kubernetes credentials were refused".into(),
        )),
        kube::Error::Api(s) => ApiFailure::Final(Error::Issuance(format!(
            "the Kubernetes API answered {} {}",
            s.code, s.reason
        ))),
        other => ApiFailure::Transient(other.to_string()),
    }
}

/// cert-manager's webhook messages name the field; say it in words a visitor understands.
fn webhook_message(message: &str) -> String {
    let detail = message.split_once("denied the request: ").map_or(message, |(_, d)| d);
    if detail.contains("spec.commonName") {
        // cert-manager counts bytes (Go `len`), so names in non-Latin scripts hit it sooner.
        "Your name is too long for a certificate: cert-manager allows at most 64 bytes of UTF-8 \
         (letters outside basic Latin take 2-4 bytes each). Please try a shorter form of your name."
            .into()
    } else if detail.contains("spec.emailAddresses") {
        "The certificate authority does not accept this email address. Please check it and try again.".into()
    } else {
        format!("The certificate authority refused this request: {detail}")
    }
}

/// Doubling backoff for retries and for the watcher (kube's default grows to 30 s;
/// a kiosk queue wants to catch up within seconds).
#[derive(Debug, Clone)]
pub struct QuickBackoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl QuickBackoff {
    /// From `min` doubling to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        QuickBackoff { next: min, min, max }
    }
}

impl Iterator for QuickBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(d)
    }
}

impl Backoff for QuickBackoff {
    fn reset(&mut self) {
        self.next = self.min;
    }
}

fn retry_backoff() -> QuickBackoff {
    QuickBackoff::new(Duration::from_millis(200), Duration::from_secs(5))
}

/// One Certificate the kiosk is waiting for.
#[derive(Debug, Clone)]
struct Job {
    req: LeafRequest,
    name: String,
}

/// The cert-manager issuer.
pub struct CertManagerIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    certs: Api<Certificate>,
    secrets: Api<Secret>,
    namespace: String,
    settings: CertManagerSettings,
    conf: Conference,
    root_pem: String,
    /// The intermediate seen in the latest issued chain.
    intermediate_pem: RwLock<String>,
    store: Store,
    /// Visitor ids with a live follower task.
    following: Mutex<HashSet<String>>,
    /// Set while creates fail with 5xx (cert-manager's webhook unreachable).
    webhook_down: AtomicBool,
    /// Tests of single requests switch the background watch off.
    follow: bool,
}

impl CertManagerIssuer {
    /// Connect with the usual kubeconfig or in-cluster configuration, load the booth root
    /// from the data dir, and resume every pending visitor in the background.
    pub async fn open(settings: &Settings, store: Store) -> Result<Self> {
        let paths = CaPaths::new(&settings.data_dir);
        let root_pem = local::load_root_cert(&paths)?.ok_or_else(|| {
            Error::Invalid(format!(
                "cert-manager mode needs the booth root in {}/ca/root.pem; run `certstamp ca init --data-dir {}` first",
                settings.data_dir.display(),
                settings.data_dir.display()
            ))
        })?;
        pki::CertSummary::parse(&root_pem)?;
        let client = Client::try_default().await.map_err(|e| {
            Error::Invalid(format!(
                "no usable Kubernetes configuration (kubeconfig or in-cluster): {e}"
            ))
        })?;
        let issuer = Self::new(
            client,
            settings.cert_manager.clone(),
            settings.conference.clone(),
            root_pem,
            store,
        );
        issuer.spawn_resume();
        Ok(issuer)
    }

    /// Assemble from parts; starts nothing.
    pub fn new(
        client: Client,
        settings: CertManagerSettings,
        conf: Conference,
        root_pem: String,
        store: Store,
    ) -> Self {
        let ns = settings.namespace.clone();
        CertManagerIssuer {
            inner: Arc::new(Inner {
                certs: Api::namespaced(client.clone(), &ns),
                secrets: Api::namespaced(client, &ns),
                namespace: ns,
                settings,
                conf,
                root_pem,
                intermediate_pem: RwLock::new(String::new()),
                store,
                following: Mutex::new(HashSet::new()),
                webhook_down: AtomicBool::new(false),
                follow: true,
            }),
        }
    }

    /// Switch off the background watch after `submit` (unit tests of single requests).
    #[doc(hidden)]
    pub fn without_followers(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.follow = false;
        }
        self
    }

    /// Resume every pending visitor: the kiosk may have been killed between create and Ready,
    /// or before the create landed at all.
    fn spawn_resume(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.resume().await });
    }

    /// Wait for one named Certificate to become Ready and store it for `visitor_id`
    /// (exposed for tests; `submit` and the resume path use it).
    #[doc(hidden)]
    pub async fn finish(&self, visitor_id: &str, name: &str, email: &str, display_name: &str) {
        let job = Job {
            req: LeafRequest {
                visitor_id: visitor_id.into(),
                name: display_name.into(),
                email: email.into(),
            },
            name: name.into(),
        };
        self.inner.clone().follow_job(job).await;
    }

    /// Read a Ready Certificate's Secret and store the result (exposed for tests).
    #[doc(hidden)]
    pub async fn complete_from_secret(&self, visitor_id: &str, certificate: &str) -> Result<()> {
        let issued = self.inner.read_issued(certificate).await?;
        self.inner.store.complete_issuance(visitor_id, issued).await
    }
}

impl Inner {
    fn visitor_cert(&self, job: &Job) -> Certificate {
        visitor_certificate(&job.name, &self.namespace, &job.req, &self.settings, &self.conf)
    }

    /// POST the Certificate. 409 from an earlier attempt of ours counts as done; a clash
    /// with someone else's object picks a new name. Transient failures retry until `give_up`.
    async fn create(&self, job: &mut Job, give_up: Option<Instant>) -> Result<()> {
        let mut backoff = retry_backoff();
        loop {
            let cert = self.visitor_cert(job);
            let failure = match self.certs.create(&PostParams::default(), &cert).await {
                Ok(_) => {
                    self.webhook_down.store(false, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => {
                    if matches!(&e, kube::Error::Api(s) if s.code >= 500) {
                        self.webhook_down.store(true, Ordering::Relaxed);
                    }
                    tracing::warn!(visitor = %job.req.visitor_id, certificate = %job.name, error = %describe(&e), "creating the Certificate failed");
                    classify_create(e)
                }
            };
            match failure {
                ApiFailure::Exists => match self.certs.get_opt(&job.name).await {
                    Ok(Some(existing)) if existing.labels().get(VISITOR_LABEL) == Some(&job.req.visitor_id) => {
                        return Ok(());
                    }
                    Ok(_) => {
                        let suffix: String = rand::random::<[u8; 3]>().iter().map(|b| format!("{b:02x}")).collect();
                        job.name = format!("{}-{suffix}", certificate_name(&job.req.visitor_id));
                        tracing::info!(visitor = %job.req.visitor_id, certificate = %job.name, "name taken by another object; retrying under a new name");
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
    async fn read_issued(&self, certificate: &str) -> Result<IssuedCert> {
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

    async fn note(&self, visitor_id: &str, message: &str, still_pending: bool) {
        if let Err(e) = self
            .store
            .note_issuance_problem(visitor_id, message, still_pending)
            .await
        {
            tracing::error!(visitor = %visitor_id, error = %e, "could not record an issuance problem");
        }
    }

    /// Spawn a follower unless one already runs for this visitor.
    fn spawn_follow(self: &Arc<Self>, job: Job) {
        if !self.follow {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move { inner.follow_job(job).await });
    }

    /// Watch one Certificate until it is Ready (store it) or failed (say why). Past the
    /// timeout the visitor page says so and the watch carries on. A Certificate that is
    /// missing (create never landed, or deleted) is created again.
    async fn follow_job(self: Arc<Self>, mut job: Job) {
        let id = job.req.visitor_id.clone();
        {
            let Ok(mut f) = self.following.lock() else { return };
            if !f.insert(id.clone()) {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.settings.timeout_secs);
        let mut delayed = false;
        'rewatch: loop {
            let cfg = watcher::Config::default().fields(&format!("metadata.name={}", job.name));
            let mut stream = pin!(watcher::watcher(self.certs.clone(), cfg).backoff(retry_backoff()));
            let mut seen = false;
            loop {
                let next = if delayed {
                    stream.next().await
                } else {
                    match tokio::time::timeout_at(deadline, stream.next()).await {
                        Ok(n) => n,
                        Err(_) => {
                            delayed = true;
                            tracing::warn!(visitor = %id, certificate = %job.name, "issuance is taking longer than the timeout; still watching");
                            self.note(&id, DELAYED, true).await;
                            continue;
                        }
                    }
                };
                let Some(event) = next else { break 'rewatch };
                let missing = match event {
                    Err(e) => {
                        tracing::debug!(certificate = %job.name, error = %e, "watch error; the watcher retries");
                        continue;
                    }
                    Ok(Event::Init) => {
                        seen = false;
                        continue;
                    }
                    Ok(Event::InitDone) => !seen,
                    Ok(Event::Delete(_)) => true,
                    Ok(Event::Apply(c) | Event::InitApply(c)) => {
                        seen = true;
                        match phase(&c) {
                            Phase::Waiting => continue,
                            Phase::Ready => {
                                match self.read_issued(&job.name).await {
                                    Ok(issued) => {
                                        if let Err(e) = self.store.complete_issuance(&id, issued).await {
                                            tracing::error!(visitor = %id, error = %e, "could not store the issued certificate");
                                        }
                                    }
                                    Err(e) => {
                                        tracing::warn!(visitor = %id, certificate = %job.name, error = %e, "unusable certificate from cert-manager");
                                        self.note(&id, &e.to_string(), false).await;
                                    }
                                }
                                break 'rewatch;
                            }
                            Phase::Failed(msg) => {
                                tracing::warn!(visitor = %id, certificate = %job.name, "cert-manager reported a failed issuance");
                                self.note(&id, &msg, false).await;
                                break 'rewatch;
                            }
                        }
                    }
                };
                if missing {
                    tracing::info!(visitor = %id, certificate = %job.name, "Certificate missing; creating it");
                    let before = job.name.clone();
                    match self.create(&mut job, None).await {
                        Ok(()) if job.name != before => {
                            if let Err(e) = self.store.set_backend_ref(&id, &job.name).await {
                                tracing::error!(visitor = %id, error = %e, "could not record the new Certificate name");
                            }
                            continue 'rewatch;
                        }
                        Ok(()) => {}
                        Err(e) => {
                            self.note(&id, &e.to_string(), false).await;
                            break 'rewatch;
                        }
                    }
                }
            }
        }
        if let Ok(mut f) = self.following.lock() {
            f.remove(&id);
        }
    }

    /// Pick up every pending visitor after a start, retrying until the API answers.
    async fn resume(self: Arc<Self>) {
        let pending = match self.store.pending_visitors("cert-manager").await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read pending visitors");
                return;
            }
        };
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
        for v in pending {
            let Some(email) = v.email.clone() else { continue };
            let name = by_visitor
                .get(&v.id)
                .cloned()
                .or(v.backend_ref.clone())
                .unwrap_or_else(|| certificate_name(&v.id));
            if v.backend_ref.as_deref() != Some(name.as_str())
                && let Err(e) = self.store.set_backend_ref(&v.id, &name).await
            {
                tracing::error!(visitor = %v.id, error = %e, "could not record the Certificate name");
            }
            self.spawn_follow(Job {
                req: LeafRequest {
                    visitor_id: v.id.clone(),
                    name: v.name.clone(),
                    email,
                },
                name,
            });
        }
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
        let mut job = Job {
            req: req.clone(),
            name: certificate_name(&req.visitor_id),
        };
        // A visitor waits for the redirect; past a few seconds of outage we answer and keep trying.
        let give_up = Instant::now() + Duration::from_secs(3);
        match inner.create(&mut job, Some(give_up)).await {
            Ok(()) => {}
            Err(Error::Unavailable(_)) => inner.note(&req.visitor_id, UNREACHABLE, true).await,
            Err(e) => return Err(e),
        }
        let reference = job.name.clone();
        inner.spawn_follow(job);
        Ok(Submitted::Pending { reference })
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
        let name = format!("certstamp-guestbook-{}", inner.conf.slug);
        let labels = BTreeMap::from([
            (MANAGED_BY.to_string(), "certstamp".to_string()),
            (ROLE_LABEL.to_string(), "guestbook".to_string()),
        ]);
        let mut cert = Certificate::new(
            &name,
            CertificateSpec {
                common_name: Some(hostname.to_string()),
                dns_names: vec![hostname.to_string()],
                ip_addresses: vec!["127.0.0.1".into()],
                secret_name: secret_name(&name),
                duration: Some("2160h".into()),
                private_key: Some(ecdsa_p256_key()),
                usages: vec!["digital signature".into(), "server auth".into()],
                secret_template: Some(SecretTemplate { labels: labels.clone() }),
                issuer_ref: issuer_ref(&inner.settings),
                ..Default::default()
            },
        );
        cert.metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(inner.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        let wait = Duration::from_secs(inner.settings.timeout_secs);
        let work = async {
            let mut backoff = retry_backoff();
            loop {
                match inner.certs.create(&PostParams::default(), &cert).await {
                    Ok(_) => break,
                    Err(e) => match classify_create(e) {
                        // Issued on an earlier start: reuse it.
                        ApiFailure::Exists => break,
                        ApiFailure::Final(e) => return Err(e),
                        ApiFailure::Transient(_) => {
                            tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(5))).await;
                        }
                    },
                }
            }
            let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
            let mut stream = pin!(watcher::watcher(inner.certs.clone(), cfg).backoff(retry_backoff()));
            while let Some(ev) = stream.next().await {
                if let Ok(Event::Apply(c) | Event::InitApply(c)) = ev {
                    match phase(&c) {
                        Phase::Ready => return inner.read_issued(&name).await,
                        Phase::Failed(msg) => return Err(Error::Issuance(msg)),
                        Phase::Waiting => {}
                    }
                }
            }
            Err(Error::Unavailable("the watch ended".into()))
        };
        tokio::time::timeout(wait, work).await.map_err(|_| {
            Error::Unavailable(format!(
                "cert-manager did not issue the guestbook's server certificate within {} s",
                wait.as_secs()
            ))
        })?
    }

    async fn ready(&self) -> bool {
        if self.inner.webhook_down.load(Ordering::Relaxed) {
            return false;
        }
        let lp = ListParams::default().labels(&selector(&self.inner.conf.slug)).limit(1);
        let probe = self.inner.certs.list_metadata(&lp);
        matches!(tokio::time::timeout(Duration::from_secs(3), probe).await, Ok(Ok(_)))
    }

    async fn forget(&self, reference: &str) -> Result<()> {
        let dp = DeleteParams::default();
        let gone = |r: std::result::Result<(), kube::Error>| match r {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Error::Unavailable(describe(&e))),
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
