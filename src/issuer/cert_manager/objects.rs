//! The objects the kiosk creates, built as plain values: names, labels, the visitor and
//! guestbook Certificates, and the check of the Secret cert-manager writes back.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use time::OffsetDateTime;

use super::crd::{Certificate, CertificateSpec, IssuerRef, PrivateKey, SecretTemplate};
use crate::config::{CertManagerSettings, Conference};
use crate::error::{Error, Result};
use crate::issuer::LeafRequest;
use crate::pki::{self, IssuedCert, KeyedCert};

/// Label on everything the kiosk creates.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label naming the conference slug.
pub const CONFERENCE_LABEL: &str = "certstamp.io/conference";
/// Label naming the visitor id a Certificate belongs to.
pub const VISITOR_LABEL: &str = "certstamp.io/visitor";
/// Label saying what a Certificate is for: `visitor` or `guestbook`.
pub const ROLE_LABEL: &str = "certstamp.io/role";

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

/// The guestbook listener's own server Certificate: one per conference, reused across starts.
pub fn guestbook_certificate(
    namespace: &str,
    hostname: &str,
    settings: &CertManagerSettings,
    slug: &str,
) -> Certificate {
    let name = format!("certstamp-guestbook-{slug}");
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
            issuer_ref: issuer_ref(settings),
            ..Default::default()
        },
    );
    cert.metadata.namespace = Some(namespace.to_string());
    cert.metadata.labels = Some(labels);
    cert
}

/// The same Certificate under another name (and Secret), after a name clash.
pub fn renamed(cert: &Certificate, name: &str) -> Certificate {
    let mut c = cert.clone();
    c.metadata.name = Some(name.to_string());
    c.spec.secret_name = secret_name(name);
    c
}

/// Whether an existing object carries every label we put on ours: then an earlier
/// attempt of ours created it, and a 409 counts as done.
pub fn is_ours(existing: &Certificate, ours: &Certificate) -> bool {
    let (have, want) = (existing.metadata.labels.as_ref(), ours.metadata.labels.as_ref());
    want.is_none_or(|w| w.iter().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v)))
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
