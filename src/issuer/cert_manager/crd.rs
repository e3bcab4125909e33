//! The subset of cert-manager's `Certificate` (cert-manager.io/v1) that certstamp uses,
//! and how its conditions read. Types only: nothing here talks to the API.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
