//! cert-manager mode end to end: the real kiosk binary talks HTTPS to the in-process
//! Kubernetes API stand-in (`kube_standin`) through a generated kubeconfig.

use std::path::Path;

use certstamp::issuer::local::{self, CaPaths};
use certstamp::pki::{self, KeyedCert};
use serde_json::Value;

use crate::deploy::{kustomize, validate_builtin, yaml_docs};
use crate::issuance::check_bundle_with_openssl;
use crate::kube_standin::{Mode, StandIn, crd_validator, eventually, schema_causes};
use crate::support::*;

const ISSUED: &str = "Your X.509 client certificate is ready";
const FAILED: &str = "Issuing your certificate failed:";

struct Booth {
    data: tempfile::TempDir,
    root: KeyedCert,
    api: StandIn,
}

/// A data dir with the booth root (as `certstamp ca init` makes it), a conference
/// intermediate signed by it, and the stand-in whose CA Issuer `kc-eu` holds it.
async fn booth() -> Booth {
    let data = tempfile::tempdir().unwrap();
    let root = local::load_or_create_root(&CaPaths::new(data.path())).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let int = pki::new_intermediate(&root, "KubeCon EU", "kc-eu", "Amsterdam", now, 10).unwrap();
    let api = StandIn::start(data.path(), "kc-eu", int, &root.cert_pem).await;
    Booth { data, root, api }
}

fn kiosk(b: &Booth, extra: &[&str]) -> Kiosk {
    let mut args = vec![
        "--issuer",
        "cert-manager",
        "--namespace",
        "booth",
        "--conference-slug",
        "kc-eu",
        "--conference-name",
        "KubeCon EU",
    ];
    args.extend_from_slice(extra);
    let kubeconfig = b.api.kubeconfig.to_str().unwrap().to_string();
    tokio::task::block_in_place(|| Kiosk::start_with_env(b.data.path(), &args, &[("KUBECONFIG", &kubeconfig)]))
}

async fn page(c: &reqwest::Client, k: &Kiosk, path: &str) -> String {
    c.get(k.at(path)).send().await.unwrap().text().await.unwrap()
}

/// Poll a visitor page until it contains `needle`.
async fn page_with(c: &reqwest::Client, k: &Kiosk, path: &str, needle: &str) -> String {
    eventually(&format!("{path} to show {needle:?}"), || async {
        let html = page(c, k, path).await;
        html.contains(needle).then_some(html)
    })
    .await
}

async fn readyz(k: &Kiosk) -> u16 {
    reqwest::get(k.at("/readyz")).await.unwrap().status().as_u16()
}

fn visitor_certificate(b: &Booth) -> Value {
    let certs: Vec<Value> = b
        .api
        .visitor_certificates("booth")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["certstamp.io/role"] == "visitor")
        .collect();
    assert_eq!(certs.len(), 1, "{certs:#?}");
    certs.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_happy_path_zip_verifies_and_retention_deletes_objects() {
    let b = booth().await;
    let k = kiosk(&b, &[]);
    let c = client();
    let (name, email) = ("Ada Lovelace", "Ada.Lovelace@Example.org");
    let path = issue(&c, &k, name, email).await;
    page_with(&c, &k, &path, ISSUED).await;
    assert_eq!(readyz(&k).await, 200);

    // The Certificate the kiosk created, as stored by the stand-in.
    let cert = visitor_certificate(&b);
    let cert_name = cert["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        cert_name.starts_with("certstamp-") && !cert_name.contains("ada"),
        "{cert_name}"
    );
    let labels = &cert["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "certstamp");
    assert_eq!(labels["certstamp.io/conference"], "kc-eu");
    let spec = &cert["spec"];
    assert_eq!(spec["commonName"], name);
    assert_eq!(spec["emailAddresses"], serde_json::json!([email]));
    assert_eq!(spec["duration"], "8760h");
    assert_eq!(spec["usages"], serde_json::json!(["digital signature", "client auth"]));
    assert_eq!(spec["privateKey"]["rotationPolicy"], "Never");
    assert_eq!(spec["issuerRef"]["name"], "kc-eu");
    assert_eq!(spec["secretTemplate"]["labels"]["certstamp.io/conference"], "kc-eu");
    // We never write status: the stand-in's last status is the fake cert-manager's Ready.
    assert_eq!(cert["status"]["conditions"][0]["type"], "Ready");
    assert!(
        b.api
            .requests()
            .iter()
            .all(|r| !r.starts_with("PATCH") && !r.starts_with("PUT"))
    );

    // The zip verifies with the real openssl, chained to the data dir's root.
    let dir = tempfile::tempdir().unwrap();
    let password = fetch_bundle(&c, &k, &path, dir.path()).await;
    check_bundle_with_openssl(dir.path(), &password, name, email);
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert_eq!(ca, b.root.cert_pem);
    let chain = std::fs::read_to_string(dir.path().join("chain.pem")).unwrap();
    assert_eq!(pki::pem_certs(&chain).unwrap().len(), 2);
    let logs = k.logs();
    assert!(
        !logs.to_lowercase().contains("ada.lovelace"),
        "an email reached the log:\n{logs}"
    );
    assert!(
        !logs.contains(path.trim_start_matches("/c/")),
        "a token reached the log"
    );

    // Past retention the kiosk deletes the Certificate and its Secret.
    let secret_name = format!("{cert_name}-tls");
    assert!(
        b.api
            .visitor_secrets("booth")
            .iter()
            .any(|s| s["metadata"]["name"] == secret_name.as_str())
    );
    let mut k = k;
    tokio::task::block_in_place(|| k.kill());
    let db = rusqlite::Connection::open(b.data.path().join("certstamp.db")).unwrap();
    db.execute("UPDATE visitors SET retention_until = 0", []).unwrap();
    drop(db);
    let k = tokio::task::block_in_place(|| k.restart());
    eventually("the Certificate and Secret to be deleted", || async {
        (b.api.visitor_certificates("booth").is_empty() && b.api.visitor_secrets("booth").is_empty()).then_some(())
    })
    .await;
    let html = page(&c, &k, &path).await;
    assert!(html.contains("Deleted as promised"), "{html}");
    // Issuing, the guestbook's server certificate, resuming and retention: the Role in deploy/
    // grants exactly the calls this took.
    crate::deploy::assert_role_matches_use(&b.api.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_failure_is_shown_to_visitor_and_staff() {
    let b = booth().await;
    b.api.set_mode(Mode::Fail);
    let k = kiosk(&b, &[]);
    let c = client();
    let path = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    let html = page_with(&c, &k, &path, FAILED).await;
    assert!(html.contains("cert-manager could not sign it (Failed)"), "{html}");
    assert!(
        html.contains("data-certificate=\"failed\"") && !html.contains("http-equiv=\"refresh\""),
        "a failed page says so to its live script and never refreshes itself"
    );
    let staff = staff_page(&client(), &k).await;
    assert!(staff.contains("cert-manager could not sign it (Failed)"), "{staff}");
    // The intermediate's key stays in the cluster: no CRL here, and the answer says why.
    let res = c.get(k.at("/crl/kc-eu.crl")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("No CRL is served in cert-manager mode")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_pending_page_turns_into_the_certificate_by_itself_in_a_browser() {
    let booth = booth().await;
    booth.api.set_mode(Mode::Hang);
    let k = kiosk(&booth, &[]);
    let path = issue(&client(), &k, "Katherine Johnson", "kj@example.org").await;
    let b = crate::browser::Browser::open(crate::browser::Window::phone("11-pending-certificate")).await;
    b.goto(&k.at(&path)).await;
    assert!(b.text("main").await.contains("Issuing your certificate"));
    b.shot("pending").await;
    booth.api.release();
    // No meta refresh and no hand on the reload button: the event stream says it is issued.
    // Read in one step, tolerating the moment the page reloads itself.
    b.wait_for("the issued certificate", async || {
        let text =
            b.c.execute("return document.body ? document.body.innerText : ''", vec![])
                .await;
        text.ok().and_then(|t| t.as_str().map(|t| t.contains(ISSUED))) == Some(true)
    })
    .await;
    assert!(b.has("a[href$='/bundle.zip']").await && b.has(".seal svg").await);
    b.shot("issued").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_webhook_denial_is_a_clear_message() {
    let b = booth().await;
    let k = kiosk(&b, &[]);
    let c = client();
    // 30 characters pass the local 64-character rule, but they are 90 bytes and cert-manager's
    // webhook counts bytes: the form says so before anything reaches the API.
    let res = submit(&c, &k, &"山".repeat(30), "yama@example.org").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("at most 64 bytes"));
    assert!(b.api.visitor_certificates("booth").is_empty());
    // A denial the form does not foresee still reaches the visitor as words, and the failed
    // attempt does not hold the email: a shorter name gets through.
    b.api.set_cn_limit(8);
    let path = issue(&c, &k, "Katherine Johnson", "kj@example.org").await;
    let html = page_with(&c, &k, &path, FAILED).await;
    assert!(html.contains("too long for a certificate"), "{html}");
    assert!(b.api.visitor_certificates("booth").is_empty());
    let path = issue(&c, &k, "Kathy", "kj@example.org").await;
    page_with(&c, &k, &path, ISSUED).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_timeout_keeps_watching_until_issued() {
    let b = booth().await;
    b.api.set_mode(Mode::Hang);
    let k = kiosk(&b, &["--issuance-timeout", "2"]);
    let c = client();
    let path = issue(&c, &k, "Katherine Johnson", "kj@example.org").await;
    let html = page_with(&c, &k, &path, "Issuance is taking longer than usual").await;
    assert!(
        html.contains("data-certificate=\"pending\"") && html.contains("/assets/live.js"),
        "the delayed page keeps listening for its certificate"
    );
    assert!(
        staff_page(&client(), &k)
            .await
            .contains("Issuance is taking longer than usual")
    );
    b.api.release();
    let html = page_with(&c, &k, &path, ISSUED).await;
    assert!(!html.contains("taking longer"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_dropped_watch_and_410_are_survived() {
    let b = booth().await;
    b.api.set_mode(Mode::DropWatches);
    let k = kiosk(&b, &[]);
    let c = client();
    let watches_before = b.api.watch_count();
    let path = issue(&c, &k, "Hedy Lamarr", "hedy@example.org").await;
    page_with(&c, &k, &path, ISSUED).await;
    // The stream was cut mid-way and history compacted: the kiosk re-watched, met the
    // 410, listed again and still saw Ready.
    assert!(b.api.watch_count() >= watches_before + 2, "{:?}", b.api.requests());
    assert!(b.api.gone_count() >= 1, "{:?}", b.api.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_restart_resumes_pending_and_recreates_missing() {
    let b = booth().await;
    b.api.set_mode(Mode::Hang);
    let k = kiosk(&b, &[]);
    let c = client();
    // A: the Certificate exists but hangs in Issuing.
    let a = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    eventually("A's Certificate", || async {
        (b.api.visitor_certificates("booth").len() == 1).then_some(())
    })
    .await;
    // B: cert-manager's webhook is down, so its create never lands.
    b.api.set_webhook_down(true);
    let bb = issue(&c, &k, "Barbara Liskov", "barbara@example.org").await;
    page_with(&c, &k, &bb, "not reachable right now").await;
    assert_eq!(readyz(&k).await, 503);
    let why = reqwest::get(k.at("/readyz")).await.unwrap().text().await.unwrap();
    assert!(
        why.contains("[-]cert-manager failed: cert-manager's webhook refuses"),
        "{why}"
    );
    assert_eq!(b.api.visitor_certificates("booth").len(), 1);
    // Power cut.
    let mut k = k;
    tokio::task::block_in_place(|| k.kill());
    // Meanwhile cert-manager recovers and finishes A.
    b.api.set_webhook_down(false);
    b.api.release();
    let k = tokio::task::block_in_place(|| k.restart());
    page_with(&c, &k, &a, ISSUED).await;
    page_with(&c, &k, &bb, ISSUED).await;
    assert_eq!(b.api.visitor_certificates("booth").len(), 2);
    eventually("/readyz to recover", || async {
        (readyz(&k).await == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_kiosk_starts_while_the_api_is_unreachable() {
    let b = booth().await;
    b.api.stop().await;
    let k = kiosk(&b, &[]);
    assert_eq!(readyz(&k).await, 503);
    let why = reqwest::get(k.at("/readyz")).await.unwrap().text().await.unwrap();
    assert!(
        why.contains("[+]database ok\n[-]cert-manager failed: the Kubernetes API"),
        "{why}"
    );
    b.api.start_again().await;
    eventually("/readyz to turn ready", || async {
        (readyz(&k).await == 200).then_some(())
    })
    .await;
    let c = client();
    let path = issue(&c, &k, "Radia Perlman", "radia@example.org").await;
    page_with(&c, &k, &path, ISSUED).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_mode_needs_the_booth_root() {
    let data = tempfile::tempdir().unwrap();
    let out = run(
        env!("CARGO_BIN_EXE_certstamp"),
        &[
            "serve",
            "--issuer",
            "cert-manager",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        data.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certstamp ca init"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_standin_answers_like_an_api_server() {
    let b = booth().await;
    let http = b.api.http();
    let url = format!("{}/apis/cert-manager.io/v1/namespaces/booth/certificates", b.api.url());
    let bad = serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "bad"},
        "spec": {"secretName": "bad-tls", "commonName": "x", "privateKey": {"encoding": "DER"}, "usages": ["client-auth"]}});
    let res = http.post(&url).json(&bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let st: Value = res.json().await.unwrap();
    assert_eq!(st["reason"], "Invalid");
    let fields: Vec<&str> = st["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"spec.issuerRef"), "{st}");
    assert!(fields.contains(&"spec.privateKey.encoding"), "{st}");
    assert!(fields.contains(&"spec.usages[0]"), "{st}");
    let good = serde_json::json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "good"},
        "spec": {"secretName": "good-tls", "dnsNames": ["a.example"], "issuerRef": {"name": "kc-eu"}}});
    let res = http.post(&url).json(&good).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].is_string() && created["metadata"]["resourceVersion"].is_string());
    let res = http.post(&url).json(&good).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["reason"], "AlreadyExists");
    let res = http.get(format!("{url}/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    // Without the kubeconfig's token (and CA) nothing is served.
    assert!(res.is_err() || res.unwrap().status() == 401);
    let mut long = good.clone();
    long["metadata"]["name"] = "long".into();
    long["spec"]["commonName"] = "x".repeat(65).into();
    let res = http.post(&url).json(&long).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("denied the request: spec.commonName")
    );
}

/// Every cert-manager object in `docs` validates against the carried CRD schema.
pub fn validate_cert_manager_objects(docs: &[Value]) -> usize {
    let certs = crd_validator("certificates");
    let issuers = crd_validator("issuers");
    let mut n = 0;
    for d in docs.iter().filter(|d| d["apiVersion"] == "cert-manager.io/v1") {
        let causes = match d["kind"].as_str().unwrap() {
            "Certificate" => schema_causes(&certs, d),
            "Issuer" => schema_causes(&issuers, d),
            other => panic!("unexpected cert-manager kind {other}"),
        };
        assert!(causes.is_empty(), "{d:#}\n{causes:#?}");
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_manifests_validate_and_fit_the_deployment() {
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_certstamp");
    let dd = data.path().to_str().unwrap();
    let out = run(bin, &["ca", "k8s-manifests", "--data-dir", dd], data.path());
    assert!(!out.status.success(), "no root yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("certstamp ca init"));
    // The conference comes from the same certstamp.toml the overlay mounts into the kiosk.
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k3s-pi/event/certstamp.toml");
    let config = config.to_str().unwrap();
    let out = run(bin, &["ca", "init", "--data-dir", dd, "--config", config], data.path());
    assert!(out.status.success());
    let out = run(
        bin,
        &[
            "ca",
            "k8s-manifests",
            "--namespace",
            "certstamp",
            "--data-dir",
            dd,
            "--config",
            config,
        ],
        data.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "ConfigMap", "Issuer", "Certificate", "Issuer"]);
    assert_eq!(validate_cert_manager_objects(&docs), 3);
    validate_builtin(&docs, "ca k8s-manifests");
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "certstamp"));
    let root = std::fs::read_to_string(data.path().join("ca/root.pem")).unwrap();
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    assert_eq!(docs[0]["data"]["tls.crt"], b64(&root));
    assert_eq!(docs[0]["data"]["ca.crt"], b64(&root));
    assert_eq!(
        docs[1]["data"],
        serde_json::json!({"ca.crt": root}),
        "the root, never its key"
    );
    assert_eq!(docs[4]["metadata"]["name"], "kubecon-eu-2027");

    // What the kiosk in deploy/k3s-pi expects: the ConfigMap it mounts the root from and,
    // by default, an Issuer named after the slug in its certstamp.toml.
    let rendered = kustomize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k3s-pi"));
    let deployment = rendered.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["configMap"]["name"] == docs[1]["metadata"]["name"])
    );
    let cm = rendered.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert!(
        cm["data"]["certstamp.toml"]
            .as_str()
            .unwrap()
            .contains("slug = \"kubecon-eu-2027\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_manager_guestbook_server_cert_is_a_certificate_too() {
    use certstamp::issuer::Issuer;
    use certstamp::issuer::cert_manager::CertManagerIssuer;
    let b = booth().await;
    let kc = kube::config::Kubeconfig::read_from(&b.api.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let settings = certstamp::config::CertManagerSettings {
        namespace: "booth".into(),
        issuer_name: "kc-eu".into(),
        issuer_kind: "Issuer".into(),
        timeout_secs: 10,
        root_ca_file: None,
    };
    let conf = certstamp::config::CommonArgs {
        conference_slug: Some("kc-eu".into()),
        ..Default::default()
    }
    .resolve(&Default::default())
    .unwrap()
    .1;
    let (outcomes, _reports) = certstamp::issuer::Outcomes::channel();
    let cm = CertManagerIssuer::new(client, settings, conf, b.root.cert_pem.clone(), outcomes);
    let issued = cm.server_cert("guestbook.booth.example").await.unwrap();
    pki::verify_chain(&issued.chain_pem(), &b.root.cert_pem, time::OffsetDateTime::now_utc()).unwrap();
    assert!(pki::key_matches_cert(&issued.leaf.key_pem, &issued.leaf.cert_pem).unwrap());
    let cert = b.api.certificates("booth").pop().unwrap();
    assert_eq!(cert["metadata"]["labels"]["certstamp.io/role"], "guestbook");
    assert_eq!(cert["spec"]["dnsNames"], serde_json::json!(["guestbook.booth.example"]));
    assert_eq!(cert["spec"]["ipAddresses"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(
        cert["spec"]["usages"],
        serde_json::json!(["digital signature", "server auth"])
    );
    // A second start reuses the existing Certificate (409) and its Secret.
    let again = cm.server_cert("guestbook.booth.example").await.unwrap();
    assert_eq!(again.leaf.cert_pem, issued.leaf.cert_pem);
    assert_eq!(cm.intermediate_pem(), issued.intermediates_pem);
}
