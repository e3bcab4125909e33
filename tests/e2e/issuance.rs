//! Local issuance end to end: form -> certificate -> QR -> zip, checked with openssl.

use std::path::Path;

use crate::support::*;

pub(crate) fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run("openssl", args, dir);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every check the issue asks of a downloaded bundle, with the real openssl CLI.
pub(crate) fn check_bundle_with_openssl(dir: &Path, password: &str, name: &str, email: &str) {
    let ok = openssl(
        dir,
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-x509_strict",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "chain.pem",
            "cert.pem",
        ],
    );
    assert_eq!(ok.trim(), "cert.pem: OK");
    // The README's own command works as printed.
    let readme = std::fs::read_to_string(dir.join("README.txt")).unwrap();
    assert!(readme.contains("openssl verify -CAfile ca.pem -untrusted chain.pem cert.pem"));
    openssl(
        dir,
        &["verify", "-CAfile", "ca.pem", "-untrusted", "chain.pem", "cert.pem"],
    );
    let text = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-text", "-nameopt", "utf8"]);
    assert!(
        text.contains(&format!("CN={name}")) || text.contains(&format!("CN = {name}")),
        "{text}"
    );
    assert!(text.contains(&format!("email:{email}")), "{text}");
    assert!(
        text.contains("X509v3 Key Usage: critical") && text.contains("Digital Signature"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("prime256v1") || text.contains("P-256"), "{text}");
    assert!(
        text.contains("X509v3 Subject Key Identifier") && text.contains("X509v3 Authority Key Identifier"),
        "{text}"
    );
    // Key matches cert.
    let from_key = openssl(dir, &["pkey", "-in", "key.pem", "-pubout"]);
    let from_cert = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
    assert!(
        std::fs::read_to_string(dir.join("key.pem"))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    // The PKCS#12 opens with the page's password and holds key + chain.
    let info = openssl(
        dir,
        &[
            "pkcs12",
            "-info",
            "-in",
            "certificate.p12",
            "-passin",
            &format!("pass:{password}"),
            "-nodes",
        ],
    );
    assert!(info.contains("BEGIN PRIVATE KEY"), "{info}");
    assert_eq!(info.matches("BEGIN CERTIFICATE").count(), 3, "{info}");
    let bad = run(
        "openssl",
        &[
            "pkcs12",
            "-info",
            "-in",
            "certificate.p12",
            "-passin",
            "pass:wrong",
            "-noout",
        ],
        dir,
    );
    assert!(!bad.status.success());
}

fn root_fingerprint(dir: &Path) -> String {
    openssl(dir, &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"])
}

#[tokio::test(flavor = "multi_thread")]
async fn form_to_zip_restart_and_new_conference() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(
        data.path(),
        &["--conference-slug", "kc-eu", "--conference-name", "KubeCon EU"],
    );
    let c = client();
    let name = "Zoë Ørsted 李";
    let email = "Zoe.Orsted@Example.org";
    let page = issue(&c, &k, name, email).await;
    let token = page.trim_start_matches("/c/").to_string();

    // The page shows the certificate and the QR encodes this very page's URL.
    let html = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Zoë Ørsted 李"));
    for needle in [
        "Subject",
        "Issuer",
        "Serial",
        "SHA-256 fingerprint",
        "Valid from",
        "Valid until",
        "KubeCon EU intermediate CA",
        "certstamp booth root CA",
        "<svg",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    let work = tempfile::tempdir().unwrap();
    let png = c.get(k.at(&format!("{page}/qr.png"))).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    std::fs::write(work.path().join("qr.png"), png.bytes().await.unwrap()).unwrap();
    assert_eq!(zbar(&work.path().join("qr.png")), vec![k.at(&page)]);
    let svg = c.get(k.at(&format!("{page}/qr.svg"))).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");

    // The zip passes every openssl check.
    let password = fetch_bundle(&c, &k, &page, work.path()).await;
    check_bundle_with_openssl(work.path(), &password, name, email);
    let root_before = root_fingerprint(work.path());
    let chain_before = std::fs::read_to_string(work.path().join("chain.pem")).unwrap();

    // Secrets: the database holds no plaintext key, and the log no email, token or key.
    let key_pem = std::fs::read_to_string(work.path().join("key.pem")).unwrap();
    let key_b64: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for f in ["certstamp.db", "certstamp.db-wal"] {
        let Ok(bytes) = std::fs::read(data.path().join(f)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PRIVATE KEY"), "{f} contains a PEM private key");
        assert!(!text.contains(&key_b64[..40]), "{f} contains the key's base64");
        assert!(!text.contains(&token), "{f} contains the token");
    }
    let logs = k.logs();
    assert!(logs.contains("issued certificate"), "{logs}");
    for secret in [email, &email.to_lowercase(), &token, "PRIVATE KEY", &key_b64[..40]] {
        assert!(!logs.contains(secret), "log leaks {secret:?}:\n{logs}");
    }

    // Restart on the same data dir: same root, the old link and download still work.
    let k = k.restart();
    let html = c.get(k.at(&page)).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let again = tempfile::tempdir().unwrap();
    let password2 = fetch_bundle(&c, &k, &page, again.path()).await;
    assert_eq!(password, password2);
    assert_eq!(root_fingerprint(again.path()), root_before);

    // A new conference slug: a new intermediate under the same root.
    let mut k = k;
    k.kill();
    let k = Kiosk::start(
        data.path(),
        &["--conference-slug", "kc-na", "--conference-name", "KubeCon NA"],
    );
    let page2 = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    let third = tempfile::tempdir().unwrap();
    let password3 = fetch_bundle(&c, &k, &page2, third.path()).await;
    check_bundle_with_openssl(third.path(), &password3, "Grace Hopper", "grace@example.org");
    assert_eq!(root_fingerprint(third.path()), root_before);
    let chain_after = std::fs::read_to_string(third.path().join("chain.pem")).unwrap();
    let intermediate = |chain: &str| chain.split("-----END CERTIFICATE-----").nth(1).unwrap().to_string();
    assert_ne!(intermediate(&chain_before), intermediate(&chain_after));
    let text = openssl(third.path(), &["x509", "-in", "cert.pem", "-noout", "-issuer"]);
    assert!(text.contains("KubeCon NA intermediate CA"), "{text}");
    // The same email may get a certificate at another conference.
    issue(&c, &k, "Zoë", email).await;
    // `ca show` and `ca export-root` agree with the zip's root.
    let exported = run(
        env!("CARGO_BIN_EXE_certstamp"),
        &["ca", "export-root", "--data-dir", data.path().to_str().unwrap()],
        Path::new("."),
    );
    assert_eq!(
        String::from_utf8(exported.stdout).unwrap(),
        std::fs::read_to_string(third.path().join("ca.pem")).unwrap()
    );
    let show = run(
        env!("CARGO_BIN_EXE_certstamp"),
        &[
            "ca",
            "show",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--conference-slug",
            "kc-na",
        ],
        Path::new("."),
    );
    let show = String::from_utf8(show.stdout).unwrap();
    let fp = root_before.trim().rsplit('=').next().unwrap();
    assert!(show.contains(fp), "{show}\n{fp}");
    assert!(show.contains("KubeCon NA intermediate CA"), "{show}");
}

/// Post raw bytes with the session's cookie and a valid CSRF token.
async fn post_raw(c: &reqwest::Client, k: &Kiosk, body: Vec<u8>) -> reqwest::Response {
    c.post(k.at("/issue"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_input_gets_its_status_and_a_page() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let html = c.get(k.at("/")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let form = |name: &str, email: &str, consent: bool, csrf: &str| {
        let mut pairs = vec![
            ("name", name.to_string()),
            ("email", email.to_string()),
            ("csrf", csrf.to_string()),
        ];
        if consent {
            pairs.push(("consent", "yes".into()));
        }
        serde_urlencoded::to_string(pairs).unwrap().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "empty name",
            form("  ", "a@example.org", true, &csrf),
            400,
            "Please enter your name.",
        ),
        (
            "long name",
            form(&"x".repeat(65), "a@example.org", true, &csrf),
            400,
            "at most 64 characters",
        ),
        (
            "control chars",
            form("Ada\u{7}Lovelace", "a@example.org", true, &csrf),
            400,
            "control characters",
        ),
        (
            "bad email",
            form("Ada", "not-an-email", true, &csrf),
            400,
            "plain email address",
        ),
        (
            "display-name email",
            form("Ada", "Ada <ada@example.org>", true, &csrf),
            400,
            "plain email address",
        ),
        (
            "no consent",
            form("Ada", "ada@example.org", false, &csrf),
            400,
            "Please agree",
        ),
        (
            "bad csrf",
            form("Ada", "ada@example.org", true, "0123456789abcdef0123456789abcdef"),
            403,
            "this form has expired",
        ),
        (
            "missing csrf",
            b"name=Ada&email=ada%40example.org&consent=yes".to_vec(),
            403,
            "this form has expired",
        ),
        (
            "non-UTF-8 raw",
            b"name=\xff\xfe&email=a%40b.de&consent=yes".to_vec(),
            400,
            "not valid UTF-8",
        ),
        (
            "non-UTF-8 escaped",
            format!("name=%FF%FE&email=a%40b.de&consent=yes&csrf={csrf}").into_bytes(),
            400,
            "not valid UTF-8",
        ),
        (
            "too large",
            form(&"x".repeat(20_000), "a@example.org", true, &csrf),
            413,
            "more data than the kiosk accepts",
        ),
    ];
    for (what, body, status, message) in cases {
        let res = post_raw(&c, &k, body).await;
        assert_eq!(res.status().as_u16(), status, "{what}");
        assert!(
            res.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
            "{what}"
        );
        let page = res.text().await.unwrap();
        assert!(
            page.contains(&askama_escape(message)),
            "{what}: page lacks {message:?}:\n{page}"
        );
        assert!(
            page.contains("href=\"/\"") || page.contains("action=\"/issue\""),
            "{what}: no way back"
        );
    }
    // The form keeps what was typed.
    let res = post_raw(&c, &k, form("Ada Lovelace", "nope", true, &csrf)).await;
    assert!(res.text().await.unwrap().contains("value=\"Ada Lovelace\""));

    // Duplicate email (any case) in the same conference: 409, no second certificate.
    issue(&c, &k, "Ada", "ada@example.org").await;
    let res = submit(&c, &k, "Ada again", "ADA@Example.ORG").await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("already issued") && page.contains("Ask the staff at the booth to reissue it"),
        "{page}"
    );

    // Routes, methods and tokens.
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("GET", "/issue", 405),
        ("POST", "/", 405),
        ("GET", "/c/short", 404),
        ("GET", "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404),
        ("GET", "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/bundle.zip", 404),
        ("GET", "/c/%00%ff/qr.png", 404),
    ] {
        let res = c.request(method.parse().unwrap(), k.at(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert!(
            res.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
            "{method} {path}"
        );
        assert!(res.text().await.unwrap().contains("href=\"/\""), "{method} {path}");
    }
    // Still alive after all of that, and it stops cleanly when asked.
    assert_eq!(c.get(k.at("/healthz")).send().await.unwrap().status(), 200);
    let mut k = k;
    assert!(k.terminate().success());
    assert!(k.logs().contains("shutting down"));
}

/// askama escapes `'` and friends; the messages here only need `<`, `>` and `&`.
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_and_staff_reissue() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &["--issue-rate-per-minute", "2"]);
    let c = client();
    let first = issue(&c, &k, "One", "one@example.org").await;
    issue(&c, &k, "Two", "two@example.org").await;
    let res = submit(&c, &k, "Three", "three@example.org").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("too many requests"));

    // Staff void and reissue: the old link is gone, a new link appears on the console.
    let html = staff_page(&c, &k).await;
    let id = visitor_id(&html, "one@example.org");
    let res = staff_post(&c, &k, &format!("/staff/visitors/{id}/reissue")).await;
    assert_eq!(res.status(), 303);
    let html = staff_page(&c, &k).await;
    let new_link = between(&html, "<p class=\"mono staff-link\">", "</p>").to_string();
    assert!(
        new_link.starts_with(&k.at("/c/")) && !new_link.ends_with(&first),
        "{new_link}"
    );
    assert_eq!(c.get(&new_link).send().await.unwrap().status(), 200);
    assert_eq!(c.get(k.at(&first)).send().await.unwrap().status(), 410);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_retention_the_key_is_gone_and_the_certificate_stays() {
    let data = tempfile::tempdir().unwrap();
    // A conference that ended long ago with no retention: the next purge (at start) takes it.
    let args = [
        "--conference-start",
        "2020-01-01",
        "--conference-end",
        "2020-01-02",
        "--retention-days",
        "0",
    ];
    let k = Kiosk::start(data.path(), &args);
    let c = client();
    let html = c.get(k.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("until 2020-01-03"), "consent names the retention date");
    let page = issue(&c, &k, "Ada", "ada@example.org").await;
    assert_eq!(
        c.get(k.at(&format!("{page}/bundle.zip")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let k = k.restart();
    assert!(k.logs().contains("purged personal data past retention"), "{}", k.logs());
    let html = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Deleted as promised") && html.contains("SHA-256 fingerprint"),
        "{html}"
    );
    let res = c.get(k.at(&format!("{page}/bundle.zip"))).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("no longer available"));
    // The email is gone too, so it may register again.
    issue(&c, &k, "Ada", "ada@example.org").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kiosk_mode_never_leaves_a_key_on_the_booth_screen() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let booth = client();
    enrol_booth_screen(&client(), &booth, &k).await;
    // The booth screen gets a handoff page, never the link (`screens.rs` follows it further).
    let res = submit(&booth, &k, "Ada", "ada@example.org").await;
    assert_eq!(res.status(), 303);
    let handoff = res.headers()["location"].to_str().unwrap().to_string();
    assert!(handoff.starts_with("/k/"), "{handoff}");
    let html = booth.get(k.at(&handoff)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Done — next visitor") && !html.contains("http-equiv=\"refresh\""));
    let page = inline_qr(&html).strip_prefix(&k.url).unwrap().to_string();
    let res = booth.get(k.at(&format!("{page}/bundle.zip"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Downloads are off on the booth screen")
    );
    // The visitor's own phone (no kiosk cookie) gets the download.
    assert_eq!(
        client()
            .get(k.at(&format!("{page}/bundle.zip")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Staff switch the booth screen back to a normal browser with the passphrase.
    let form = booth
        .get(k.at("/kiosk/leave"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = booth
        .post(k.at("/kiosk/leave"))
        .form(&[("password", STAFF_PASSPHRASE), ("csrf", csrf_of(&form).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        booth
            .get(k.at(&format!("{page}/bundle.zip")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_limit_is_per_forwarded_client() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--issue-rate-per-minute", "1", "--trust-forwarded-for", "true"];
    let k = Kiosk::start(data.path(), &args);
    let via = |addr: &str| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut h = reqwest::header::HeaderMap::new();
        // The client's own claim first, then what the proxy appended: only the latter counts.
        h.insert("x-forwarded-for", format!("6.6.6.6, {addr}").parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap()
    };
    let (a, b) = (via("198.51.100.1"), via("198.51.100.2"));
    issue(&a, &k, "A", "a@example.org").await;
    assert_eq!(submit(&a, &k, "A2", "a2@example.org").await.status(), 429);
    issue(&b, &k, "B", "b@example.org").await;
}

/// CSRF: a form token is an HMAC of the browser's session, and a browser's cross-site
/// POST is refused before any handler runs.
#[tokio::test(flavor = "multi_thread")]
async fn forms_cannot_be_driven_from_elsewhere() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let form = |csrf: &str| {
        vec![
            ("name", "Mallory".to_string()),
            ("email", "mallory@example.org".to_string()),
            ("consent", "yes".to_string()),
            ("csrf", csrf.to_string()),
        ]
    };
    // A real session: its cookie and its token.
    let c = client();
    let html = c.get(k.at("/")).send().await.unwrap().text().await.unwrap();
    let token = csrf_of(&html);
    // Planted cookie with a matching field (what a double-submit check would accept).
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let planted = "0123456789abcdef0123456789abcdef";
    let res = raw
        .post(k.at("/issue"))
        .header("cookie", format!("certstamp_sid={planted}"))
        .form(&form(planted))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "planted cookie with a matching field");
    // A token from another session.
    let other = client();
    other.get(k.at("/")).send().await.unwrap();
    let res = other.post(k.at("/issue")).form(&form(&token)).send().await.unwrap();
    assert_eq!(res.status(), 403, "token of another session");
    // The right session and token, but sent from another site.
    let res = c
        .post(k.at("/issue"))
        .header("origin", "https://evil.example")
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "cross-site Origin");
    assert!(res.text().await.unwrap().contains("other sites"));
    let res = c
        .post(k.at("/issue"))
        .header("sec-fetch-site", "cross-site")
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "Sec-Fetch-Site: cross-site");
    // The same request from the kiosk's own page goes through.
    let res = c
        .post(k.at("/issue"))
        .header("origin", k.url.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Nothing of the refused attempts was stored: one visitor only.
    let staff = staff_page(&c, &k).await;
    assert_eq!(staff.matches("mallory@example.org").count(), 1, "{staff}");
}
