//! An in-process stand-in for the slice of the Kubernetes API certstamp uses, plus a fake
//! cert-manager CA issuer. It is a stand-in, not a kube-apiserver: HTTPS on 127.0.0.1 with
//! a bearer token and a generated kubeconfig, so the kiosk's normal `Client::try_default()`
//! path runs; Certificates (cert-manager.io/v1) and Secrets (v1) with create/get/list/watch/
//! delete, a shared monotonic resourceVersion, uid/generation/creationTimestamp, label and
//! field selectors, JSON-lines watch streams that honour resourceVersion and timeoutSeconds
//! (410 ERROR events after a compaction), and 401/404/409/422/403/500 Status objects. Every
//! Certificate is validated against cert-manager v1.21.1's own CRD schema (draft-04), then
//! against webhook rules; the fake CA issuer signs like cert-manager's CA issuer does.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use certstamp::pki::{self, KeyedCert};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use serde_json::{Value, json};

const TOKEN: &str = "standin-token";

/// What the fake cert-manager does with the next Certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Issuing=True, sign, write the Secret, Ready=True.
    Sign,
    /// Issuing=False reason=Failed, as when the CertificateRequest fails.
    Fail,
    /// Stay at Issuing=True (as with a missing CA Secret) until [`StandIn::release`].
    Hang,
    /// Issuing=True, then end every watch stream and compact the history (re-watches from
    /// an old resourceVersion get a 410 ERROR event), then sign once a new watch arrives.
    DropWatches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Certificate,
    Secret,
}

struct World {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    /// (resourceVersion, kind, event type, object)
    log: Vec<(u64, Kind, &'static str, Value)>,
    /// Watches from before this resourceVersion get 410.
    compacted: u64,
    hung: Vec<(String, String)>,
}

struct Shared {
    world: Mutex<World>,
    changed: tokio::sync::watch::Sender<u64>,
    schema: jsonschema::Validator,
    intermediate: KeyedCert,
    root_pem: String,
    issuer_name: String,
    mode: Mutex<Mode>,
    drop_epoch: AtomicU64,
    webhook_down: Mutex<bool>,
    /// The webhook's CN limit in bytes (64, as in cert-manager; tests may tighten it).
    cn_limit: Mutex<usize>,
    watches: AtomicUsize,
    gone_sent: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// The running stand-in.
pub struct StandIn {
    shared: Arc<Shared>,
    /// Its port on 127.0.0.1 (kept across [`StandIn::stop`] / [`StandIn::start_again`]).
    pub port: u16,
    handle: Mutex<Option<axum_server::Handle<SocketAddr>>>,
    tls: (String, String),
    /// The generated kubeconfig.
    pub kubeconfig: PathBuf,
}

/// The directory with cert-manager's CRDs.
pub fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crds")
}

/// The openAPIV3Schema of a carried CRD (`certificates`, `issuers`, ...).
pub fn crd_schema(plural: &str) -> Value {
    let text = std::fs::read_to_string(crd_dir().join(format!("cert-manager.io_{plural}.yaml"))).unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Draft-04 validator for a carried CRD.
pub fn crd_validator(plural: &str) -> jsonschema::Validator {
    jsonschema::draft4::new(&crd_schema(plural)).unwrap()
}

/// `/spec/usages/0` -> `spec.usages[0]`, as the API server names fields.
fn field_path(pointer: &str, extra: Option<&str>) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').filter(|s| !s.is_empty()).chain(extra) {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Schema problems as Status causes (empty when valid).
pub fn schema_causes(validator: &jsonschema::Validator, obj: &Value) -> Vec<Value> {
    validator
        .iter_errors(obj)
        .map(|e| {
            let (reason, extra) = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    ("FieldValueRequired", property.as_str().map(str::to_string))
                }
                jsonschema::error::ValidationErrorKind::Enum { .. } => ("FieldValueNotSupported", None),
                jsonschema::error::ValidationErrorKind::Type { .. } => ("FieldValueTypeInvalid", None),
                _ => ("FieldValueInvalid", None),
            };
            let field = field_path(&e.instance_path().to_string(), extra.as_deref());
            json!({"reason": reason, "message": e.to_string(), "field": field})
        })
        .collect()
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if !details.is_null() {
        body["details"] = details;
    }
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn not_found(kind: Kind, name: &str) -> Response {
    let (plural, group) = match kind {
        Kind::Certificate => ("certificates.cert-manager.io", "cert-manager.io"),
        Kind::Secret => ("secrets", ""),
    };
    let mut details = json!({"name": name, "kind": plural.split('.').next().unwrap()});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    status(404, "NotFound", format!("{plural} \"{name}\" not found"), details)
}

fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Go `time.ParseDuration` for the h/m/s forms cert-manager users write.
fn go_duration_secs(s: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total as u64)
}

/// cert-manager's validating webhook, for the rules certstamp could meet.
fn webhook_denial(cert: &Value, cn_limit: usize) -> Option<String> {
    let spec = &cert["spec"];
    let mut problems = Vec::new();
    let cn = spec["commonName"].as_str().unwrap_or("");
    // Go's len(): bytes, not characters.
    if cn.len() > cn_limit {
        problems.push(format!(
            "spec.commonName: Too long: may not be more than {cn_limit} bytes"
        ));
    }
    let ids = ["dnsNames", "emailAddresses", "ipAddresses", "uris", "otherNames"];
    if cn.is_empty() && ids.iter().all(|k| spec[k].as_array().is_none_or(|a| a.is_empty())) {
        problems.push("spec: Invalid value: \"\": at least one of commonName (from the commonName field or from a literalSubject), dnsNames, uriSANs, ipAddresses, emailSANs or otherNames must be set".into());
    }
    for (i, e) in spec["emailAddresses"].as_array().into_iter().flatten().enumerate() {
        let e = e.as_str().unwrap_or("");
        let bare =
            e.split('@').count() == 2 && !e.contains(['<', '>', ' ']) && !e.starts_with('@') && !e.ends_with('@');
        if !bare {
            problems.push(format!(
                "spec.emailAddresses[{i}]: Invalid value: \"{e}\": invalid email address"
            ));
        }
    }
    if let Some(d) = spec["duration"].as_str() {
        match go_duration_secs(d) {
            Some(s) if s >= 3600 => {}
            _ => problems.push(format!(
                "spec.duration: Invalid value: \"{d}\": certificate duration must be greater than 1h0m0s"
            )),
        }
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn ts(t: time::OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

impl Shared {
    fn bump(&self, w: &mut World, kind: Kind, typ: &'static str, obj: &mut Value) {
        w.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(w.rv.to_string());
        w.log.push((w.rv, kind, typ, obj.clone()));
        let _ = self.changed.send(w.rv);
    }

    fn put(&self, kind: Kind, ns: &str, mut obj: Value) -> Value {
        let mut w = self.world.lock().unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let key = (kind, ns.to_string(), name);
        let typ = if w.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        if typ == "ADDED" {
            obj["metadata"]["uid"] = json!(format!("uid-{}", w.rv + 1));
            obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        }
        self.bump(&mut w, kind, typ, &mut obj);
        w.objects.insert(key, obj.clone());
        obj
    }

    /// Replace a Certificate's status (the status subresource: spec and generation untouched).
    fn set_status(&self, ns: &str, name: &str, status: Value) -> bool {
        let mut w = self.world.lock().unwrap();
        let key = (Kind::Certificate, ns.to_string(), name.to_string());
        let Some(mut obj) = w.objects.get(&key).cloned() else {
            return false;
        };
        obj["status"] = status;
        self.bump(&mut w, Kind::Certificate, "MODIFIED", &mut obj);
        w.objects.insert(key, obj);
        true
    }

    fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        let w = self.world.lock().unwrap();
        w.objects.get(&(kind, ns.to_string(), name.to_string())).cloned()
    }

    /// The fake cert-manager: run one Certificate through the issuance pipeline.
    async fn issue(self: Arc<Self>, ns: String, name: String) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Some(cert) = self.get(Kind::Certificate, &ns, &name) else {
            return;
        };
        let issuing = json!({"type": "Issuing", "status": "True", "reason": "DoesNotExist",
            "message": "Issuing certificate as Secret does not exist", "lastTransitionTime": now_rfc3339(),
            "observedGeneration": cert["metadata"]["generation"]});
        let not_ready = json!({"type": "Ready", "status": "False", "reason": "DoesNotExist",
            "message": "Issuing certificate as Secret does not exist", "lastTransitionTime": now_rfc3339(),
            "observedGeneration": cert["metadata"]["generation"]});
        self.set_status(&ns, &name, json!({"conditions": [not_ready, issuing]}));
        let mode = *self.mode.lock().unwrap();
        // A CA Issuer that does not exist leaves the CertificateRequest pending forever.
        let wrong_issuer = cert["spec"]["issuerRef"]["name"] != json!(self.issuer_name);
        match mode {
            _ if wrong_issuer => self.world.lock().unwrap().hung.push((ns, name)),
            Mode::Hang => self.world.lock().unwrap().hung.push((ns, name)),
            Mode::Fail => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let failed = json!({"type": "Issuing", "status": "False", "reason": "Failed",
                    "message": "The certificate request has failed to complete and will be retried: The CSR PEM requests a commonName that is not present in the list of dnsNames or ipAddresses",
                    "lastTransitionTime": now_rfc3339(), "observedGeneration": cert["metadata"]["generation"]});
                self.set_status(
                    &ns,
                    &name,
                    json!({"conditions": [not_ready, failed], "lastFailureTime": now_rfc3339(), "failedIssuanceAttempts": 1}),
                );
            }
            Mode::DropWatches => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let before = self.watches.load(Ordering::SeqCst);
                self.compact();
                self.drop_watches();
                for _ in 0..250 {
                    if self.watches.load(Ordering::SeqCst) > before {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                self.sign(&ns, &name);
            }
            Mode::Sign => self.sign(&ns, &name),
        }
    }

    fn compact(&self) {
        let mut w = self.world.lock().unwrap();
        // Writes elsewhere in etcd moved on; everything up to now is compacted away.
        w.rv += 1;
        w.compacted = w.rv;
        w.log.clear();
    }

    fn drop_watches(&self) {
        self.drop_epoch.fetch_add(1, Ordering::SeqCst);
        let rv = self.world.lock().unwrap().rv;
        let _ = self.changed.send(rv);
    }

    /// Sign like cert-manager's CA issuer and write the Secret, then Ready=True.
    fn sign(&self, ns: &str, name: &str) {
        let Some(cert) = self.get(Kind::Certificate, ns, name) else {
            return;
        };
        let spec = &cert["spec"];
        let (leaf_pem, key_pem) = sign_spec(spec, &self.intermediate);
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut labels = spec["secretTemplate"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        labels.insert("controller.cert-manager.io/fao".into(), json!("true"));
        let strs = |k: &str| {
            spec[k]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                .unwrap_or_default()
        };
        let mut annotations = json!({
            "cert-manager.io/certificate-name": name,
            "cert-manager.io/issuer-name": spec["issuerRef"]["name"],
            "cert-manager.io/issuer-kind": spec["issuerRef"]["kind"].as_str().unwrap_or("Issuer"),
            "cert-manager.io/issuer-group": spec["issuerRef"]["group"].as_str().unwrap_or("cert-manager.io"),
            "cert-manager.io/common-name": spec["commonName"].as_str().unwrap_or(""),
            "cert-manager.io/alt-names": strs("dnsNames"),
            "cert-manager.io/ip-sans": strs("ipAddresses"),
            "cert-manager.io/uri-sans": "",
        });
        if !strs("emailAddresses").is_empty() {
            annotations["cert-manager.io/email-sans"] = json!(strs("emailAddresses"));
        }
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": spec["secretName"], "namespace": ns, "labels": labels, "annotations": annotations},
            "data": {
                "tls.crt": b(&format!("{leaf_pem}{}", self.intermediate.cert_pem)),
                "tls.key": b(&key_pem),
                "ca.crt": b(&self.root_pem),
            }
        });
        self.put(Kind::Secret, ns, secret);
        let summary = pki::CertSummary::parse(&leaf_pem).unwrap();
        let ready = json!({"type": "Ready", "status": "True", "reason": "Ready",
            "message": "Certificate is up to date and has not expired", "lastTransitionTime": now_rfc3339(),
            "observedGeneration": cert["metadata"]["generation"]});
        let renewal = summary.not_before + (summary.not_after - summary.not_before) * 2 / 3;
        self.set_status(
            ns,
            name,
            json!({"conditions": [ready], "notBefore": ts(summary.not_before), "notAfter": ts(summary.not_after),
                   "renewalTime": ts(renewal), "revision": 1}),
        );
    }
}

/// The leaf cert-manager's CA issuer would sign for `spec` (PKCS#8 key, random serial,
/// NotBefore = now, NotAfter = now + duration, SKI and AKI).
fn sign_spec(spec: &Value, ca: &KeyedCert) -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in spec["subject"]["organizations"].as_array().into_iter().flatten() {
        dn.push(DnType::OrganizationName, o.as_str().unwrap());
    }
    if let Some(cn) = spec["commonName"].as_str() {
        dn.push(DnType::CommonName, cn);
    }
    p.distinguished_name = dn;
    let mut sans = Vec::new();
    for d in spec["dnsNames"].as_array().into_iter().flatten() {
        sans.push(SanType::DnsName(d.as_str().unwrap().try_into().unwrap()));
    }
    for e in spec["emailAddresses"].as_array().into_iter().flatten() {
        sans.push(SanType::Rfc822Name(e.as_str().unwrap().try_into().unwrap()));
    }
    for ip in spec["ipAddresses"].as_array().into_iter().flatten() {
        sans.push(SanType::IpAddress(ip.as_str().unwrap().parse().unwrap()));
    }
    p.subject_alt_names = sans;
    let is_ca = spec["isCA"].as_bool().unwrap_or(false);
    p.is_ca = if is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    let usages: Vec<&str> = spec["usages"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["digital signature", "key encipherment"]);
    for u in usages.iter().copied().chain(is_ca.then_some("cert sign")) {
        match u {
            "digital signature" => p.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "key encipherment" => p.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "cert sign" => p.key_usages.push(KeyUsagePurpose::KeyCertSign),
            "crl sign" => p.key_usages.push(KeyUsagePurpose::CrlSign),
            "client auth" => p.extended_key_usages.push(ExtendedKeyUsagePurpose::ClientAuth),
            "server auth" => p.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth),
            other => panic!("the stand-in does not sign usage {other:?}"),
        }
    }
    let secs = spec["duration"]
        .as_str()
        .and_then(go_duration_secs)
        .unwrap_or(2160 * 3600);
    p.not_before = now;
    p.not_after = now + time::Duration::seconds(secs as i64);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.use_authority_key_identifier_extension = true;
    let ca_key = KeyPair::from_pem(&ca.key_pem).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn kind_of(path: &str) -> Kind {
    if path.starts_with("/apis/cert-manager.io/") {
        Kind::Certificate
    } else {
        Kind::Secret
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn unauthorized() -> Response {
    status(401, "Unauthorized", "Unauthorized".into(), Value::Null)
}

/// `a=b,c!=d,e` against an object's labels.
fn labels_match(selector: Option<&String>, obj: &Value) -> bool {
    let Some(sel) = selector else { return true };
    let labels = &obj["metadata"]["labels"];
    sel.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim_end_matches('=')].as_str() == Some(v)
        } else {
            labels.get(term).is_some()
        }
    })
}

/// Only `metadata.name` and `metadata.namespace`, as for custom resources.
fn fields_match(selector: Option<&String>, obj: &Value) -> Result<bool, String> {
    let Some(sel) = selector else { return Ok(true) };
    for term in sel.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = term
            .split_once('=')
            .ok_or_else(|| format!("invalid field selector {term:?}"))?;
        let v = v.trim_start_matches('=');
        let actual = match k {
            "metadata.name" => &obj["metadata"]["name"],
            "metadata.namespace" => &obj["metadata"]["namespace"],
            _ => return Err(format!("field label not supported: {k}")),
        };
        if actual.as_str() != Some(v) {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn collection(
    State(s): State<Arc<Shared>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    s.requests
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    if !authorized(req.headers()) {
        return unauthorized();
    }
    let kind = kind_of(&path);
    if req.method() == axum::http::Method::POST {
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
        return create(s, kind, ns, &bytes);
    }
    if let Err(m) = fields_match(q.get("fieldSelector"), &json!({})) {
        return status(400, "BadRequest", m, Value::Null);
    }
    if q.get("watch").map(String::as_str) == Some("true") || q.get("watch").map(String::as_str) == Some("1") {
        return watch(s, kind, ns, q);
    }
    let w = s.world.lock().unwrap();
    let mut items: Vec<Value> = w
        .objects
        .iter()
        .filter(|((k, n, _), o)| {
            *k == kind
                && *n == ns
                && labels_match(q.get("labelSelector"), o)
                && fields_match(q.get("fieldSelector"), o) == Ok(true)
        })
        .map(|(_, o)| o.clone())
        .collect();
    // Built-in list items carry no apiVersion/kind; custom resources keep them.
    if kind == Kind::Secret {
        for i in &mut items {
            if let Some(m) = i.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
        }
    }
    let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut meta = json!({"resourceVersion": w.rv.to_string()});
    if start + page.len() < total {
        meta["continue"] = json!((start + page.len()).to_string());
        meta["remainingItemCount"] = json!(total - start - page.len());
    }
    let (api_version, list_kind) = match kind {
        Kind::Certificate => ("cert-manager.io/v1", "CertificateList"),
        Kind::Secret => ("v1", "SecretList"),
    };
    axum::Json(json!({"apiVersion": api_version, "kind": list_kind, "metadata": meta, "items": page})).into_response()
}

fn create(s: Arc<Shared>, kind: Kind, ns: String, bytes: &Bytes) -> Response {
    let Ok(mut obj) = serde_json::from_slice::<Value>(bytes) else {
        return status(400, "BadRequest", "the body is not JSON".into(), Value::Null);
    };
    if kind != Kind::Certificate {
        return status(
            405,
            "MethodNotAllowed",
            "the stand-in creates Secrets itself".into(),
            Value::Null,
        );
    }
    if obj["apiVersion"] != "cert-manager.io/v1" || obj["kind"] != "Certificate" {
        return status(
            400,
            "BadRequest",
            "expected a cert-manager.io/v1 Certificate".into(),
            Value::Null,
        );
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    if let Some(body_ns) = obj["metadata"]["namespace"].as_str()
        && body_ns != ns
    {
        return status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request".into(),
            Value::Null,
        );
    }
    let invalid = |causes: Vec<Value>| {
        let msg = causes
            .iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c["field"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        status(
            422,
            "Invalid",
            format!("Certificate.cert-manager.io \"{name}\" is invalid: {msg}"),
            json!({"name": name, "group": "cert-manager.io", "kind": "Certificate", "causes": causes}),
        )
    };
    if !is_dns1123_subdomain(&name) {
        return invalid(vec![json!({"reason": "FieldValueInvalid", "field": "metadata.name",
            "message": "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"})]);
    }
    let causes = schema_causes(&s.schema, &obj);
    if !causes.is_empty() {
        return invalid(causes);
    }
    // The API server calls the webhook after schema validation.
    if *s.webhook_down.lock().unwrap() {
        return status(
            500,
            "InternalError",
            "Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": failed to call webhook: Post \"https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s\": dial tcp 10.43.0.12:443: connect: connection refused".into(),
            json!({"causes": [{"message": "failed calling webhook \"webhook.cert-manager.io\""}]}),
        );
    }
    let cn_limit = *s.cn_limit.lock().unwrap();
    if let Some(denied) = webhook_denial(&obj, cn_limit) {
        return status(
            403,
            "Forbidden",
            format!("admission webhook \"webhook.cert-manager.io\" denied the request: {denied}"),
            Value::Null,
        );
    }
    if s.get(kind, &ns, &name).is_some() {
        return status(
            409,
            "AlreadyExists",
            format!("certificates.cert-manager.io \"{name}\" already exists"),
            json!({"name": name, "group": "cert-manager.io", "kind": "certificates"}),
        );
    }
    obj["metadata"]["namespace"] = json!(ns);
    obj["metadata"]["generation"] = json!(1);
    obj["metadata"]["managedFields"] = json!([{"manager": "certstamp", "operation": "Update",
        "apiVersion": "cert-manager.io/v1", "time": now_rfc3339(), "fieldsType": "FieldsV1"}]);
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    let stored = s.put(kind, &ns, obj);
    tokio::spawn(s.clone().issue(ns, name));
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

fn watch(s: Arc<Shared>, kind: Kind, ns: String, q: HashMap<String, String>) -> Response {
    s.watches.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, Infallible>>();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let epoch = s.drop_epoch.load(Ordering::SeqCst);
    let mut changed = s.changed.subscribe();
    let from: Option<u64> = q
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .filter(|r| *r != 0);
    let matches = move |q: &HashMap<String, String>, k: Kind, o: &Value| {
        k == kind
            && o["metadata"]["namespace"].as_str() == Some(ns.as_str())
            && labels_match(q.get("labelSelector"), o)
            && fields_match(q.get("fieldSelector"), o) == Ok(true)
    };
    tokio::spawn(async move {
        let line = |typ: &str, obj: &Value| {
            let mut l = serde_json::to_vec(&json!({"type": typ, "object": obj})).unwrap();
            l.push(b'\n');
            Ok(Bytes::from(l))
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut cursor = {
            let w = s.world.lock().unwrap();
            match from {
                Some(rv) if rv < w.compacted => {
                    s.gone_sent.fetch_add(1, Ordering::SeqCst);
                    let err = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {rv} ({})", w.rv), "reason": "Expired", "code": 410});
                    let _ = tx.unbounded_send(line("ERROR", &err));
                    return;
                }
                Some(rv) => rv,
                None => {
                    // No resourceVersion: synthetic ADDED for what exists now.
                    for ((k, _, _), o) in w.objects.iter() {
                        if matches(&q, *k, o) {
                            let _ = tx.unbounded_send(line("ADDED", o));
                        }
                    }
                    w.rv
                }
            }
        };
        loop {
            let events: Vec<(u64, &'static str, Value)> = {
                let w = s.world.lock().unwrap();
                let out = w
                    .log
                    .iter()
                    .filter(|(rv, k, _, o)| *rv > cursor && matches(&q, *k, o))
                    .map(|(rv, _, t, o)| (*rv, *t, o.clone()))
                    .collect();
                cursor = cursor.max(w.rv);
                out
            };
            for (_, typ, obj) in events {
                if tx.unbounded_send(line(typ, &obj)).is_err() {
                    return;
                }
            }
            if s.drop_epoch.load(Ordering::SeqCst) != epoch || tx.is_closed() {
                return;
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(rx))
        .unwrap()
}

async fn object(
    State(s): State<Arc<Shared>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    s.requests
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    if !authorized(req.headers()) {
        return unauthorized();
    }
    let kind = kind_of(req.uri().path());
    match *req.method() {
        axum::http::Method::GET => match s.get(kind, &ns, &name) {
            Some(o) => axum::Json(o).into_response(),
            None => not_found(kind, &name),
        },
        axum::http::Method::DELETE => {
            let mut w = s.world.lock().unwrap();
            match w.objects.remove(&(kind, ns.clone(), name.clone())) {
                Some(mut o) => {
                    s.bump(&mut w, kind, "DELETED", &mut o);
                    let (group, plural) = match kind {
                        Kind::Certificate => ("cert-manager.io", "certificates"),
                        Kind::Secret => ("", "secrets"),
                    };
                    axum::Json(
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": group, "kind": plural, "uid": o["metadata"]["uid"]}}),
                    )
                    .into_response()
                }
                None => not_found(kind, &name),
            }
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the stand-in does not support this verb".into(),
            Value::Null,
        ),
    }
}

impl StandIn {
    /// Start with a fake CA issuer named `issuer_name` that signs with `intermediate`
    /// (which must chain to `root_pem`, the kiosk data dir's root).
    pub async fn start(dir: &Path, issuer_name: &str, intermediate: KeyedCert, root_pem: &str) -> StandIn {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (changed, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                rv: 100,
                objects: BTreeMap::new(),
                log: Vec::new(),
                compacted: 0,
                hung: Vec::new(),
            }),
            changed,
            schema: crd_validator("certificates"),
            intermediate,
            root_pem: root_pem.to_string(),
            issuer_name: issuer_name.to_string(),
            mode: Mutex::new(Mode::Sign),
            drop_epoch: AtomicU64::new(0),
            webhook_down: Mutex::new(false),
            cn_limit: Mutex::new(64),
            watches: AtomicUsize::new(0),
            gone_sent: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        // The API server's own TLS identity, unrelated to the booth CA.
        let now = time::OffsetDateTime::now_utc();
        let api_ca = pki::new_root(now, 1).unwrap();
        let server = pki::sign_with_new_key(
            &pki::server_params("localhost", now, time::Duration::days(1), now + time::Duration::days(1)).unwrap(),
            &api_ca,
        )
        .unwrap();
        let port = crate::support::free_port();
        let kubeconfig = dir.join("kubeconfig");
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {}\nusers:\n- name: kiosk\n  user:\n    token: {TOKEN}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: kiosk\n    namespace: booth\ncurrent-context: standin\n",
                b(&api_ca.cert_pem)
            ),
        )
        .unwrap();
        let s = StandIn {
            shared,
            port,
            handle: Mutex::new(None),
            tls: (server.cert_pem.clone(), server.key_pem.to_string()),
            kubeconfig,
        };
        s.start_again().await;
        s
    }

    /// Serve (again) on the same port.
    pub async fn start_again(&self) {
        let app = Router::new()
            .route(
                "/apis/cert-manager.io/v1/namespaces/{ns}/certificates",
                get(collection).post(collection),
            )
            .route(
                "/apis/cert-manager.io/v1/namespaces/{ns}/certificates/{name}",
                get(object).delete(object),
            )
            .route("/api/v1/namespaces/{ns}/secrets", get(collection))
            .route("/api/v1/namespaces/{ns}/secrets/{name}", get(object).delete(object))
            .fallback(|req: Request| async move {
                status(
                    404,
                    "NotFound",
                    format!(
                        "the server could not find the requested resource ({})",
                        req.uri().path()
                    ),
                    Value::Null,
                )
            })
            .with_state(self.shared.clone());
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            self.tls.0.clone().into_bytes(),
            self.tls.1.clone().into_bytes(),
        )
        .await
        .unwrap();
        let handle = axum_server::Handle::new();
        let server =
            axum_server::bind_rustls(SocketAddr::from(([127, 0, 0, 1], self.port)), config).handle(handle.clone());
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        handle.listening().await.expect("stand-in listens");
        *self.handle.lock().unwrap() = Some(handle);
    }

    /// Close the port: connections are refused until [`StandIn::start_again`].
    pub async fn stop(&self) {
        if let Some(h) = self.handle.lock().unwrap().take() {
            h.shutdown();
        }
        self.drop_watches();
        // Wait until the port really refuses.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the stand-in still accepts connections");
    }

    /// What the fake cert-manager does with new Certificates.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Tighten the webhook's CN rule, to reach a denial the kiosk's form does not foresee.
    pub fn set_cn_limit(&self, bytes: usize) {
        *self.shared.cn_limit.lock().unwrap() = bytes;
    }

    /// Creates fail with 500 as when cert-manager's webhook is unreachable.
    pub fn set_webhook_down(&self, down: bool) {
        *self.shared.webhook_down.lock().unwrap() = down;
    }

    /// Sign every Certificate left hanging in Issuing (and sign new ones from now on).
    pub fn release(&self) {
        self.set_mode(Mode::Sign);
        let hung = std::mem::take(&mut self.shared.world.lock().unwrap().hung);
        for (ns, name) in hung {
            self.shared.sign(&ns, &name);
        }
    }

    /// End every open watch stream.
    pub fn drop_watches(&self) {
        self.shared.drop_watches();
    }

    /// Certificates in a namespace.
    pub fn certificates(&self, ns: &str) -> Vec<Value> {
        self.objects(Kind::Certificate, ns)
    }

    /// Secrets in a namespace.
    pub fn secrets(&self, ns: &str) -> Vec<Value> {
        self.objects(Kind::Secret, ns)
    }

    /// Visitor Certificates only (labelled with a visitor id), not the guestbook's own.
    pub fn visitor_certificates(&self, ns: &str) -> Vec<Value> {
        self.certificates(ns).into_iter().filter(is_visitor).collect()
    }

    /// Visitor Secrets only.
    pub fn visitor_secrets(&self, ns: &str) -> Vec<Value> {
        self.secrets(ns).into_iter().filter(is_visitor).collect()
    }

    fn objects(&self, kind: Kind, ns: &str) -> Vec<Value> {
        let w = self.shared.world.lock().unwrap();
        w.objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && n == ns)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Every request line seen (`METHOD /path?query`).
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Watch requests served so far.
    pub fn watch_count(&self) -> usize {
        self.shared.watches.load(Ordering::SeqCst)
    }

    /// 410 ERROR events sent so far.
    pub fn gone_count(&self) -> usize {
        self.shared.gone_sent.load(Ordering::SeqCst)
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A reqwest client that trusts the stand-in and sends its token.
    pub fn http(&self) -> reqwest::Client {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let ca_b64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
            .unwrap();
        let ca = base64::engine::general_purpose::STANDARD.decode(ca_b64).unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let roots = rustls_pemfile::certs(&mut &ca[..])
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store.add(r).unwrap();
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(store)
            .with_no_client_auth();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .default_headers(headers)
            .build()
            .unwrap()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(h) = self.handle.lock().unwrap().take() {
            h.shutdown();
        }
    }
}

/// Poll `f` until it returns `Some`, or panic with `what` after a generous deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_visitor(o: &Value) -> bool {
    o["metadata"]["labels"]["certstamp.io/visitor"].is_string()
}
