//! Exact requests against kube's tower-test mock: method, path, query and body.

use std::time::Duration;

use axum::http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower_test::mock::{self, Handle};

use super::*;
use crate::issuer::{Outcome, Report};
use crate::pki::KeyedCert;
use k8s_openapi::api::core::v1::Secret;
use tokio::sync::mpsc::UnboundedReceiver;

type MockHandle = Handle<Request<Body>, Response<Body>>;

const NS: &str = "booth";
const ID: &str = "0123456789abcdef01234567";

fn conf() -> Conference {
    let today = OffsetDateTime::now_utc().date();
    Conference {
        name: "KubeCon EU".into(),
        slug: "kc-eu".into(),
        city: "Amsterdam".into(),
        start: today,
        end: today,
        leaf_validity_days: 365,
        retention_days: 30,
    }
}

fn settings() -> CertManagerSettings {
    CertManagerSettings {
        namespace: NS.into(),
        issuer_name: "kc-eu".into(),
        issuer_kind: "Issuer".into(),
        timeout_secs: 30,
        root_ca_file: None,
    }
}

fn request() -> LeafRequest {
    LeafRequest {
        visitor_id: ID.into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
    }
}

struct Pki {
    root: KeyedCert,
    int: KeyedCert,
}

fn pki_chain() -> Pki {
    let now = OffsetDateTime::now_utc();
    let root = pki::new_root(now, 20).unwrap();
    let int = pki::new_intermediate(&root, "KubeCon EU", "kc-eu", "Amsterdam", now, 10).unwrap();
    Pki { root, int }
}

fn leaf_under(int: &KeyedCert) -> KeyedCert {
    let now = OffsetDateTime::now_utc();
    let end = pki::CertSummary::parse(&int.cert_pem).unwrap().not_after;
    let p = pki::leaf_params("Ada Lovelace", "ada@example.org", now, time::Duration::days(30), end).unwrap();
    pki::sign_with_new_key(&p, int).unwrap()
}

fn tls_secret(leaf: &KeyedCert, int: &KeyedCert, root: &KeyedCert) -> Value {
    let b = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": format!("certstamp-{ID}-tls"), "namespace": NS, "resourceVersion": "7"},
        "data": {
            "tls.crt": b(&format!("{}{}", leaf.cert_pem, int.cert_pem)),
            "tls.key": b(&leaf.key_pem),
            "ca.crt": b(&root.cert_pem),
        }
    })
}

fn issuer(root_pem: &str) -> (CertManagerIssuer, MockHandle, UnboundedReceiver<Report>) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, NS);
    let (outcomes, reports) = Outcomes::channel();
    (
        CertManagerIssuer::new(client, settings(), conf(), root_pem.into(), outcomes),
        handle,
        reports,
    )
}

fn reply(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
}

/// Next request, its body as JSON (Null when empty).
async fn next(handle: &mut MockHandle) -> (Method, String, Value, mock::SendResponse<Response<Body>>) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("a request within 5 s")
        .expect("the service is still up");
    let method = req.method().clone();
    let uri = req.uri().to_string();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (method, uri, body, send)
}

fn expected_certificate(name: &str) -> Value {
    let labels = json!({
        "app.kubernetes.io/managed-by": "certstamp",
        "certstamp.io/conference": "kc-eu",
        "certstamp.io/role": "visitor",
        "certstamp.io/visitor": ID,
    });
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "commonName": "Ada Lovelace",
            "emailAddresses": ["ada@example.org"],
            "duration": "8760h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Never"},
            "usages": ["digital signature", "client auth"],
            "secretName": format!("{name}-tls"),
            "secretTemplate": {"labels": labels},
            "issuerRef": {"name": "kc-eu", "kind": "Issuer", "group": "cert-manager.io"},
        }
    })
}

fn created(mut body: Value) -> Value {
    body["metadata"]["uid"] = json!("u-1");
    body["metadata"]["resourceVersion"] = json!("5");
    body["metadata"]["generation"] = json!(1);
    body
}

const CERTS: &str = "/apis/cert-manager.io/v1/namespaces/booth/certificates";

#[tokio::test]
async fn submit_posts_exactly_the_certificate_and_answers_pending() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    let server = tokio::spawn(async move {
        let (m, uri, body, send) = next(&mut h).await;
        assert_eq!(m, Method::POST);
        assert_eq!(uri, format!("{CERTS}?"));
        assert_eq!(body, expected_certificate(&format!("certstamp-{ID}")));
        send.send_response(reply(201, &created(body)));
    });
    let out = cm.submit(&request()).await.unwrap();
    server.await.unwrap();
    assert!(matches!(out, Submitted::Pending { reference, delayed: None } if reference == format!("certstamp-{ID}")));
}

#[tokio::test]
async fn name_clash_with_someone_else_retries_under_a_new_name() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    let name = format!("certstamp-{ID}");
    let server = tokio::spawn(async move {
        let (m, _, _, send) = next(&mut h).await;
        assert_eq!(m, Method::POST);
        let msg = format!("certificates.cert-manager.io \"{name}\" already exists");
        let details = json!({"name": name, "group": "cert-manager.io", "kind": "certificates"});
        send.send_response(reply(409, &status(409, "AlreadyExists", &msg, details)));
        // Whose is it? Not this visitor's.
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!((m, uri), (Method::GET, format!("{CERTS}/{name}")));
        let mut other = expected_certificate(&name);
        other["metadata"]["labels"]["certstamp.io/visitor"] = json!("someone-else");
        send.send_response(reply(200, &created(other)));
        let (m, uri, body, send) = next(&mut h).await;
        assert_eq!((m, uri), (Method::POST, format!("{CERTS}?")));
        let new_name = body["metadata"]["name"].as_str().unwrap().to_string();
        assert!(
            new_name.starts_with(&format!("{name}-")) && new_name.len() == name.len() + 7,
            "{new_name}"
        );
        assert_eq!(body, expected_certificate(&new_name));
        send.send_response(reply(201, &created(body)));
        new_name
    });
    let out = cm.submit(&request()).await.unwrap();
    let new_name = server.await.unwrap();
    assert!(matches!(out, Submitted::Pending { reference, delayed: None } if reference == new_name));
}

#[tokio::test]
async fn conflict_with_our_own_earlier_create_counts_as_created() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    let name = format!("certstamp-{ID}");
    let server = tokio::spawn(async move {
        let (_, _, body, send) = next(&mut h).await;
        send.send_response(reply(409, &status(409, "AlreadyExists", "exists", json!({}))));
        let (m, _, _, send) = next(&mut h).await;
        assert_eq!(m, Method::GET);
        send.send_response(reply(200, &created(body)));
    });
    let out = cm.submit(&request()).await.unwrap();
    server.await.unwrap();
    assert!(matches!(out, Submitted::Pending { reference, delayed: None } if reference == name));
}

#[tokio::test]
async fn webhook_denial_is_a_visitor_facing_message() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    tokio::spawn(async move {
        let (_, _, _, send) = next(&mut h).await;
        let msg = "admission webhook \"webhook.cert-manager.io\" denied the request: spec.commonName: Too long: may not be more than 64 bytes";
        send.send_response(reply(403, &status(403, "Forbidden", msg, Value::Null)));
    });
    let err = cm.submit(&request()).await.unwrap_err();
    assert!(matches!(&err, Error::Invalid(m) if m.contains("64 bytes")), "{err}");
    assert!(err.is_public());
}

#[tokio::test]
async fn schema_rejection_names_the_field() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    tokio::spawn(async move {
        let (_, _, _, send) = next(&mut h).await;
        let details = json!({"name": "x", "group": "cert-manager.io", "kind": "Certificate", "causes": [
            {"reason": "FieldValueNotSupported", "message": "Unsupported value", "field": "spec.usages[0]"}]});
        send.send_response(reply(
            422,
            &status(422, "Invalid", "Certificate.cert-manager.io \"x\" is invalid", details),
        ));
    });
    let err = cm.submit(&request()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Issuance(m) if m.contains("spec.usages[0]")),
        "{err}"
    );
}

#[tokio::test]
async fn webhook_unreachable_is_retried() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let cm = cm.without_followers();
    tokio::spawn(async move {
        let (_, _, _, send) = next(&mut h).await;
        let msg = "Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connection refused";
        send.send_response(reply(500, &status(500, "InternalError", msg, Value::Null)));
        let (m, _, body, send) = next(&mut h).await;
        assert_eq!(m, Method::POST);
        send.send_response(reply(201, &created(body)));
    });
    assert!(matches!(
        cm.submit(&request()).await.unwrap(),
        Submitted::Pending { .. }
    ));
}

#[tokio::test]
async fn secret_404_right_after_ready_is_retried_then_read() {
    let p = pki_chain();
    let leaf = leaf_under(&p.int);
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let secret = tls_secret(&leaf, &p.int, &p.root);
    tokio::spawn(async move {
        let path = format!("/api/v1/namespaces/booth/secrets/certstamp-{ID}-tls");
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!((m, uri.as_str()), (Method::GET, path.as_str()));
        let details = json!({"name": format!("certstamp-{ID}-tls"), "kind": "secrets"});
        send.send_response(reply(404, &status(404, "NotFound", "secrets not found", details)));
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!((m, uri.as_str()), (Method::GET, path.as_str()));
        send.send_response(reply(200, &secret));
    });
    let issued = cm.read_issued(&format!("certstamp-{ID}")).await.unwrap();
    assert_eq!(issued.leaf.cert_pem, leaf.cert_pem);
    assert_eq!(issued.intermediates_pem, p.int.cert_pem);
    assert_eq!(issued.root_pem, p.root.cert_pem);
    assert_eq!(cm.intermediate_pem(), p.int.cert_pem);
}

#[tokio::test]
async fn watch_until_ready_then_read_the_secret_and_report_it() {
    let p = pki_chain();
    let leaf = leaf_under(&p.int);
    let (cm, mut h, mut reports) = issuer(&p.root.cert_pem);
    let name = format!("certstamp-{ID}");
    let secret = tls_secret(&leaf, &p.int, &p.root);
    let cert = created(expected_certificate(&name));
    let n = name.clone();
    tokio::spawn(async move {
        let name = n;
        // The watcher lists by name first...
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!(m, Method::GET);
        assert!(uri.starts_with(&format!("{CERTS}?")), "{uri}");
        assert!(uri.contains(&format!("fieldSelector=metadata.name%3D{name}")), "{uri}");
        assert!(!uri.contains("watch=true"), "{uri}");
        let mut issuing = cert.clone();
        issuing["status"] = json!({"conditions": [
            {"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "Issuing certificate as Secret does not exist"},
            {"type": "Ready", "status": "False", "reason": "DoesNotExist", "observedGeneration": 1}]});
        send.send_response(reply(
            200,
            &json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateList",
                    "metadata": {"resourceVersion": "6"}, "items": [issuing]}),
        ));
        // ...then watches from the list's resourceVersion.
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!(m, Method::GET);
        assert!(uri.contains("watch=true") && uri.contains("resourceVersion=6"), "{uri}");
        assert!(uri.contains(&format!("fieldSelector=metadata.name%3D{name}")), "{uri}");
        let mut stale = cert.clone();
        // Ready for an older generation is not done yet.
        stale["metadata"]["generation"] = json!(2);
        stale["metadata"]["resourceVersion"] = json!("7");
        stale["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]});
        let mut ready = stale.clone();
        ready["metadata"]["resourceVersion"] = json!("8");
        ready["status"] =
            json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "observedGeneration": 2}]});
        let lines = format!(
            "{}\n{}\n",
            json!({"type": "MODIFIED", "object": stale}),
            json!({"type": "MODIFIED", "object": ready})
        );
        send.send_response(
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(lines.into_bytes()))
                .unwrap(),
        );
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!(
            (m, uri),
            (Method::GET, format!("/api/v1/namespaces/booth/secrets/{name}-tls"))
        );
        send.send_response(reply(200, &secret));
    });
    tokio::time::timeout(Duration::from_secs(10), cm.finish(&request(), &name))
        .await
        .unwrap();
    let report = reports.try_recv().unwrap();
    assert_eq!(report.visitor_id, ID);
    let Outcome::Issued(issued) = report.outcome else {
        panic!("expected Issued, got {:?}", report.outcome)
    };
    assert_eq!(issued.leaf.cert_pem, leaf.cert_pem);
    assert!(reports.try_recv().is_err(), "one report per issuance");
}

#[tokio::test]
async fn forget_deletes_the_certificate_and_its_secret() {
    let p = pki_chain();
    let (cm, mut h, _) = issuer(&p.root.cert_pem);
    let name = format!("certstamp-{ID}");
    let n = name.clone();
    tokio::spawn(async move {
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!((m, uri), (Method::DELETE, format!("{CERTS}/{n}?")));
        send.send_response(reply(
            200,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
        let (m, uri, _, send) = next(&mut h).await;
        assert_eq!(
            (m, uri),
            (Method::DELETE, format!("/api/v1/namespaces/booth/secrets/{n}-tls?"))
        );
        // Already gone is fine.
        send.send_response(reply(404, &status(404, "NotFound", "secrets not found", json!({}))));
    });
    cm.forget(&name).await.unwrap();
}

fn with_conditions(conditions: Value, generation: i64) -> Certificate {
    let mut v = created(expected_certificate("c"));
    v["metadata"]["generation"] = json!(generation);
    v["status"] = json!({ "conditions": conditions });
    serde_json::from_value(v).unwrap()
}

#[test]
fn phases_follow_cert_manager_conditions() {
    let ready = json!([{"type": "Ready", "status": "True", "observedGeneration": 1}]);
    assert_eq!(phase(&with_conditions(ready.clone(), 1)), Phase::Ready);
    assert_eq!(phase(&with_conditions(ready, 2)), Phase::Waiting);
    let no_gen = json!([{"type": "Ready", "status": "True"}]);
    assert_eq!(phase(&with_conditions(no_gen, 3)), Phase::Ready);
    let issuing = json!([{"type": "Issuing", "status": "True", "reason": "DoesNotExist"}]);
    assert_eq!(phase(&with_conditions(issuing, 1)), Phase::Waiting);
    let issued_ssa = json!([{"type": "Issuing", "status": "False", "reason": "Issued"}]);
    assert_eq!(phase(&with_conditions(issued_ssa, 1)), Phase::Waiting);
    let failed = json!([{"type": "Issuing", "status": "False", "reason": "Failed",
        "message": "The certificate request has failed to complete and will be retried: boom"}]);
    match phase(&with_conditions(failed, 1)) {
        Phase::Failed(m) => assert!(m.contains("Failed") && m.contains("boom"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_are_checked_against_the_booth_root() {
    let p = pki_chain();
    let leaf = leaf_under(&p.int);
    let now = OffsetDateTime::now_utc();
    let good: Secret = serde_json::from_value(tls_secret(&leaf, &p.int, &p.root)).unwrap();
    let issued = issued_from_secret(&good, &p.root.cert_pem, now).unwrap();
    assert_eq!(issued.chain_pem(), format!("{}{}", leaf.cert_pem, p.int.cert_pem));
    // Another booth's root.
    let other = pki_chain();
    let err = issued_from_secret(&good, &other.root.cert_pem, now).unwrap_err();
    assert!(err.to_string().contains("booth root"), "{err}");
    // Key of another certificate.
    let mut swapped = leaf.clone();
    swapped.key_pem = leaf_under(&p.int).key_pem;
    let bad: Secret = serde_json::from_value(tls_secret(&swapped, &p.int, &p.root)).unwrap();
    assert!(
        issued_from_secret(&bad, &p.root.cert_pem, now)
            .unwrap_err()
            .to_string()
            .contains("does not match")
    );
    // Leaf only.
    let mut v = tls_secret(&leaf, &p.int, &p.root);
    v["data"]["tls.crt"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &leaf.cert_pem
    ));
    let short: Secret = serde_json::from_value(v).unwrap();
    assert!(issued_from_secret(&short, &p.root.cert_pem, now).is_err());
}

#[test]
fn durations_and_names() {
    assert_eq!(go_duration_days(365), "8760h");
    assert_eq!(go_duration_days(1), "24h");
    assert_eq!(certificate_name("ab12"), "certstamp-ab12");
    assert_eq!(secret_name("certstamp-ab12"), "certstamp-ab12-tls");
    assert_eq!(
        selector("kc-eu"),
        "app.kubernetes.io/managed-by=certstamp,certstamp.io/conference=kc-eu"
    );
    let crd = <Certificate as kube::CustomResourceExt>::crd();
    assert_eq!(crd.spec.scope, "Namespaced");
}

#[test]
fn bootstrap_manifests_build_the_hierarchy_from_the_local_root() {
    let p = pki_chain();
    let objects = manifests::bootstrap("booth", &conf(), &p.root, OffsetDateTime::now_utc()).unwrap();
    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "ConfigMap", "Issuer", "Certificate", "Issuer"]);
    assert_eq!(objects[0]["type"], "kubernetes.io/tls");
    let b = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    assert_eq!(objects[0]["data"]["tls.crt"], b(&p.root.cert_pem));
    assert_eq!(objects[0]["data"]["ca.crt"], b(&p.root.cert_pem));
    assert_eq!(objects[0]["data"]["tls.key"], b(&p.root.key_pem));
    // The kiosk mounts the root certificate alone, never the key.
    assert_eq!(objects[1]["metadata"]["name"], manifests::ROOT_CONFIGMAP);
    assert_eq!(objects[1]["data"], serde_json::json!({"ca.crt": p.root.cert_pem}));
    assert_eq!(objects[2]["spec"]["ca"]["secretName"], manifests::ROOT_SECRET);
    assert_eq!(objects[3]["spec"]["isCA"], true);
    assert_eq!(objects[3]["spec"]["secretName"], "kc-eu-ca");
    assert_eq!(objects[3]["spec"]["issuerRef"]["name"], manifests::ROOT_ISSUER);
    assert_eq!(objects[3]["spec"]["duration"], "87600h");
    assert_eq!(objects[4]["metadata"]["name"], "kc-eu");
    assert_eq!(objects[4]["spec"]["ca"]["secretName"], "kc-eu-ca");
    let yaml = manifests::to_yaml(&objects).unwrap();
    let back: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(back, objects);
}
