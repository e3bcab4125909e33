//! The cluster side of the CA hierarchy as plain objects, no I/O: the booth root as a
//! `kubernetes.io/tls` Secret (so it survives cluster rebuilds and equals local mode's),
//! its certificate alone as a ConfigMap for the kiosk to mount, a CA Issuer on the root, the
//! conference intermediate as a cert-manager Certificate, and the conference's CA Issuer
//! that signs visitors. Also the kiosk's RBAC for `deploy/base`.

use base64::Engine;
use serde_json::{Value, json};

use super::{Certificate, CertificateSpec, IssuerRef, PrivateKey, Subject};
use crate::config::Conference;
use crate::error::{Error, Result};
use crate::pki::KeyedCert;

/// The Secret holding the booth root and its key.
pub const ROOT_SECRET: &str = "certstamp-root-ca";
/// The ConfigMap holding only the booth root certificate (`ca.crt`), which the kiosk mounts.
pub const ROOT_CONFIGMAP: &str = "certstamp-root-ca";
/// The CA Issuer on the booth root.
pub const ROOT_ISSUER: &str = "certstamp-root";
/// Intermediate lifetime: 10 years, as in local mode.
pub const INTERMEDIATE_HOURS: u64 = 10 * 365 * 24;

const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "certstamp");

/// The intermediate's Secret (and Certificate) name for a conference.
pub fn intermediate_secret(slug: &str) -> String {
    format!("{slug}-ca")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The booth root as a `kubernetes.io/tls` Secret: tls.crt, tls.key and ca.crt = root.
pub fn root_secret(namespace: &str, root: &KeyedCert) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": ROOT_SECRET, "namespace": namespace, "labels": {PART_OF.0: PART_OF.1}},
        "data": {
            "tls.crt": b64(&root.cert_pem),
            "tls.key": b64(&root.key_pem),
            "ca.crt": b64(&root.cert_pem),
        }
    })
}

/// The booth root certificate, without its key, as a ConfigMap: `ca.crt` = root.
pub fn root_configmap(namespace: &str, root_cert_pem: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ROOT_CONFIGMAP, "namespace": namespace, "labels": {PART_OF.0: PART_OF.1}},
        "data": {"ca.crt": root_cert_pem},
    })
}

fn ca_issuer(namespace: &str, name: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": namespace, "labels": {PART_OF.0: PART_OF.1}},
        "spec": {"ca": {"secretName": secret}}
    })
}

/// The conference intermediate as a cert-manager Certificate issued by the root Issuer.
/// `hours` is its lifetime; keep it inside the root's (cert-manager does not cap it).
pub fn intermediate_certificate(namespace: &str, conf: &Conference, hours: u64) -> Result<Value> {
    let mut cn = format!("{} intermediate CA", conf.name);
    // cert-manager's webhook allows 64 bytes of CN.
    if cn.len() > 64 {
        cn = format!("{} intermediate CA", conf.slug);
    }
    let name = intermediate_secret(&conf.slug);
    let mut cert = Certificate::new(
        &name,
        CertificateSpec {
            common_name: Some(cn),
            subject: Some(Subject {
                organizations: vec!["certstamp".into()],
                organizational_units: vec![conf.slug.clone()],
                localities: vec![conf.city.clone()],
            }),
            duration: Some(format!("{hours}h")),
            is_ca: Some(true),
            private_key: Some(PrivateKey {
                algorithm: Some("ECDSA".into()),
                size: Some(256),
                encoding: Some("PKCS8".into()),
                rotation_policy: Some("Never".into()),
            }),
            usages: vec!["cert sign".into(), "crl sign".into(), "digital signature".into()],
            secret_name: name.clone(),
            issuer_ref: IssuerRef {
                name: ROOT_ISSUER.into(),
                kind: Some("Issuer".into()),
                group: Some("cert-manager.io".into()),
            },
            ..Default::default()
        },
    );
    cert.metadata.namespace = Some(namespace.into());
    cert.metadata.labels = Some([(PART_OF.0.to_string(), PART_OF.1.to_string())].into());
    serde_json::to_value(&cert).map_err(Error::internal)
}

/// Root Issuer, conference intermediate Certificate and the conference's CA Issuer.
pub fn hierarchy(namespace: &str, conf: &Conference, intermediate_hours: u64) -> Result<Vec<Value>> {
    Ok(vec![
        ca_issuer(namespace, ROOT_ISSUER, ROOT_SECRET),
        intermediate_certificate(namespace, conf, intermediate_hours)?,
        ca_issuer(namespace, &conf.slug, &intermediate_secret(&conf.slug)),
    ])
}

/// What `certstamp ca k8s-manifests` prints: the root Secret and ConfigMap, then [`hierarchy`].
/// The intermediate's lifetime is capped one day short of the root's remaining life.
pub fn bootstrap(
    namespace: &str,
    conf: &Conference,
    root: &KeyedCert,
    now: time::OffsetDateTime,
) -> Result<Vec<Value>> {
    let root_end = crate::pki::CertSummary::parse(&root.cert_pem)?.not_after;
    let left = (root_end - now).whole_hours() - 24;
    if left < 24 {
        return Err(Error::Invalid(
            "the booth root expires within two days; it cannot sign an intermediate".into(),
        ));
    }
    let hours = INTERMEDIATE_HOURS.min(left as u64);
    let mut objects = vec![root_secret(namespace, root), root_configmap(namespace, &root.cert_pem)];
    objects.extend(hierarchy(namespace, conf, hours)?);
    Ok(objects)
}

/// The kiosk's identity and exactly the access it uses, in its own namespace.
pub fn kiosk_rbac(namespace: &str) -> Vec<Value> {
    let labels = json!({PART_OF.0: PART_OF.1});
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "certstamp", "namespace": namespace, "labels": labels},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "certstamp", "namespace": namespace, "labels": labels},
            "rules": [
                {
                    "apiGroups": ["cert-manager.io"],
                    "resources": ["certificates"],
                    "verbs": ["create", "get", "list", "watch", "delete"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "verbs": ["get", "delete"],
                },
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "certstamp", "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "certstamp"},
            "subjects": [{"kind": "ServiceAccount", "name": "certstamp", "namespace": namespace}],
        }),
    ]
}

/// Objects as a multi-document YAML stream.
pub fn to_yaml(objects: &[Value]) -> Result<String> {
    serde_saphyr::to_string_multiple(objects).map_err(Error::internal)
}
