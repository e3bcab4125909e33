//! The mTLS guestbook end to end: the README's curl command, openssl s_client and a
//! rustls client sign with a downloaded bundle; adversarial certificates minted with
//! the kiosk's own CA files are refused and write nothing; messages get their answers
//! and every view shows them escaped.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use certstamp::pki::{self, KeyedCert};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::support::*;

/// Issue a visitor and unpack their zip into `dir`; returns the certificate page path.
async fn visitor(c: &reqwest::Client, k: &Kiosk, name: &str, email: &str, dir: &Path) -> String {
    let page = issue(c, k, name, email).await;
    fetch_bundle(c, k, &page, dir).await;
    page
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// A rustls client holding the bundle in `dir`.
fn bundle_client(dir: &Path) -> reqwest::Client {
    tls_client(
        &read(dir, "ca.pem"),
        Some((&read(dir, "chain.pem"), &read(dir, "key.pem"))),
    )
}

async fn entries(k: &Kiosk) -> Value {
    let res = client().get(k.at("/guestbook.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn post_form(c: &reqwest::Client, k: &Kiosk, message: &str) -> (u16, String) {
    let res = c
        .post(format!("{}/sign", k.guestbook_url))
        .form(&[("message", message)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Send one HTTP request over `openssl s_client` with the bundle, as the issue describes.
fn s_client_post(dir: &Path, port: u16, message: &str) -> String {
    let body = format!("message={message}");
    let request = format!(
        "POST /sign HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .args([
            "-cert",
            "cert.pem",
            "-key",
            "key.pem",
            "-cert_chain",
            "chain.pem",
            "-CAfile",
            "ca.pem",
        ])
        .args(["-verify_return_error", "-ign_eof", "-quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn guestbook_curl_openssl_rustls_and_kiosk_sign_and_survive_restart() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    let page = visitor(&c, &k, "Ada Lovelace", "ada@example.org", dir.path()).await;

    // The README's command, exactly as printed, and the same command on the certificate page.
    let readme = read(dir.path(), "README.txt");
    let command = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("curl --cacert"))
        .expect("README has the curl command")
        .to_string();
    let sign_url = format!("https://localhost:{}/sign", k.guestbook_port);
    assert!(readme.contains(&format!("open https://localhost:{}/", k.guestbook_port)));
    assert_eq!(
        command,
        format!("curl --cacert ca.pem --cert chain.pem --key key.pem -d message=hello {sign_url}")
    );
    let html = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&command), "certificate page lacks {command}");
    let words: Vec<&str> = command.split_whitespace().collect();
    let out = run(words[0], &words[1..], dir.path());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("Thanks, Ada!") && said.contains("star"), "{said}");
    let book = entries(&k).await;
    assert_eq!(book["total"], 1);
    assert_eq!(book["entries"][0]["message"], "hello");
    assert_eq!(
        book["entries"][0]["name"], "Ada",
        "the first name unless the signer chose one"
    );
    assert!(book["entries"][0].get("email").is_none(), "{book}");
    assert_eq!(book["entries"][0]["star"], true);

    // openssl s_client with -cert_chain, speaking HTTP by hand: updates the same entry.
    let said = s_client_post(dir.path(), k.guestbook_port, "via%20s_client");
    assert!(said.contains("HTTP/1.1 200") && said.contains("Thanks"), "{said}");
    let book = entries(&k).await;
    assert_eq!(book["total"], 1);
    assert_eq!(book["entries"][0]["message"], "via s_client");

    // A rustls client in Rust, asking for JSON.
    let tls = bundle_client(dir.path());
    let res = tls
        .post(format!("{}/sign", k.guestbook_url))
        .json(&serde_json::json!({ "message": "from rustls, Grüße 🌍" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["entry"]["star"], true);
    assert_eq!(body["entry"]["name"], "Ada");
    // The listener's own page knows who is there.
    let home = tls
        .get(format!("{}/", k.guestbook_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Ada Lovelace") && home.contains("action=\"/sign\""),
        "{home}"
    );
    // The signer chooses the name the entry shows (their first name unless they change it).
    assert!(home.contains("name=\"name\" value=\"Ada\"") && home.contains("Entries are public"));
    let res = tls
        .post(format!("{}/sign", k.guestbook_url))
        .json(&serde_json::json!({ "message": "from rustls, Grüße 🌍", "name": "Countess of Lovelace" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(entries(&k).await["entries"][0]["name"], "Countess of Lovelace");
    let res = tls
        .post(format!("{}/sign", k.guestbook_url))
        .form(&[("message", "hi"), ("name", "ada@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("never shows email addresses"));

    // Another visitor signs through the kiosk with the page's token: no star.
    let dir2 = tempfile::tempdir().unwrap();
    let page2 = visitor(&c, &k, "Grace Hopper", "grace@example.org", dir2.path()).await;
    let html = c.get(k.at(&page2)).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    assert!(html.contains(&format!("action=\"{page2}/guestbook\"")));
    let res = c
        .post(k.at(&format!("{page2}/guestbook")))
        .form(&[("csrf", csrf.as_str()), ("message", "signed at the kiosk")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/guestbook");
    let bad_csrf = c
        .post(k.at(&format!("{page2}/guestbook")))
        .form(&[("csrf", "0123456789abcdef0123456789abcdef"), ("message", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_csrf.status(), 403);
    let res = c
        .post(k.at(&format!("{page2}/guestbook")))
        .form(&[("csrf", csrf.as_str()), ("message", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("1 to 280"));
    let res = c
        .post(k.at(&format!("{page2}/guestbook")))
        .form(&[("csrf", csrf.as_str()), ("message", &"x".repeat(5000))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let book = entries(&k).await;
    assert_eq!(book["total"], 2);
    assert_eq!(book["entries"][0]["name"], "Grace");
    assert_eq!(book["entries"][0]["star"], false);
    assert_eq!(book["entries"][1]["star"], true);

    // Restart: entries stay; a second signature still updates the one entry.
    let k = k.restart();
    assert_eq!(entries(&k).await["total"], 2);
    let tls = bundle_client(dir.path());
    assert_eq!(post_form(&tls, &k, "after restart").await.0, 200);
    let book = entries(&k).await;
    assert_eq!(book["total"], 2);
    assert_eq!(book["entries"][0]["message"], "after restart");

    // Bodies over 4 KiB: 413. 30 signatures a minute per certificate, then 429.
    let (status, said) = post_form(&tls, &k, &"x".repeat(5000)).await;
    assert_eq!(status, 413, "{said}");
    assert!(said.contains("4096 bytes at most"), "{said}");
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(post_form(&tls, &k, &format!("spam {i}")).await);
    }
    let (status, said) = statuses.last().unwrap().clone();
    assert_eq!(status, 429, "{statuses:?}");
    assert!(
        said.contains("Too many signatures from this certificate: at most 30 a minute"),
        "{said}"
    );
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 200).count(), 28, "{statuses:?}");
    assert_eq!(entries(&k).await["total"], 2);

    // The log holds no email, token or message.
    let logs = k.logs();
    assert!(
        logs.contains("certstamp guestbook listening on https://127.0.0.1:"),
        "{logs}"
    );
    assert!(logs.contains("guestbook signed"), "{logs}");
    for secret in [
        "ada@example.org",
        "grace@example.org",
        "signed at the kiosk",
        "after restart",
        &page2[3..],
    ] {
        assert!(!logs.contains(secret), "log leaks {secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guestbook_messages_get_their_answers_and_views_escape_them() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    visitor(&c, &k, "Mallory", "mallory@example.org", dir.path()).await;
    let tls = bundle_client(dir.path());
    let html_message = "<script>alert(1)</script> & <b>bold</b>";
    for (what, message, status, answer) in [
        ("ansi", "\u{1b}[31mred\u{1b}[0m", 400, "control characters"),
        ("bidi", "abc\u{202e}gnp.exe", 400, "text-direction"),
        ("281", &"é".repeat(281), 400, "at most 280"),
        ("empty", "   ", 400, "1 to 280"),
        ("280 letters", &"李".repeat(280), 200, "Thanks, Mallory!"),
        ("html", html_message, 200, "Thanks, Mallory!"),
    ] {
        let (got, said) = post_form(&tls, &k, message).await;
        assert_eq!(got, status, "{what}: {said}");
        assert!(said.contains(answer), "{what}: {said}");
    }
    // Answers in JSON when asked in JSON.
    let res = tls
        .post(format!("{}/sign", k.guestbook_url))
        .header("content-type", "application/json")
        .body("{\"message\": \"\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert!(body["error"].as_str().unwrap().contains("1 to 280"));
    // One entry holding the last accepted message.
    let book = entries(&k).await;
    assert_eq!(book["total"], 1);
    assert_eq!(book["entries"][0]["message"], html_message);

    let page = c.get(k.at("/guestbook")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#60;b&#62;bold&#60;/b&#62;"),
        "{page}"
    );
    assert!(!page.contains("<script>"));

    // Rows written behind the kiosk's back (an older version, a hand edit) still cannot
    // reach a terminal or a page raw; 25 more rows make a second page.
    let k = {
        let mut k = k;
        k.kill();
        let db = rusqlite::Connection::open(data.path().join("certstamp.db")).unwrap();
        db.execute(
            "INSERT INTO guestbook (issuer, serial, name, message, star, created_at, signed_at, rev) \
             VALUES ('CN=x', 'AA', ?1, ?2, 1, 1, 4102444800, 1000)",
            [
                "Eve\u{1b}]0;owned\u{7}",
                "\u{1b}[2J\u{1b}[31mred\u{9b}1m \u{202e}gnp.exe\r\nfake line",
            ],
        )
        .unwrap();
        for i in 0..25 {
            db.execute(
                "INSERT INTO guestbook (issuer, serial, name, message, star, created_at, signed_at) \
                 VALUES ('CN=x', ?1, 'Filler', 'filler', 0, 1, 2)",
                [format!("F{i}")],
            )
            .unwrap();
        }
        drop(db);
        Kiosk::start_on(data.path(), k.port, k.guestbook_port, &[])
    };
    let res = c.get(k.at("/guestbook.txt")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    let text = res.text().await.unwrap();
    assert!(
        !text.chars().any(|ch| ch.is_control() && ch != '\n'),
        "raw control character in {text:?}"
    );
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("Eve\\u{1b}]0;owned\\u{7}"), "{text}");
    assert!(
        text.contains("\\u{1b}[2J\\u{1b}[31mred\\u{9b}1m \\u{202e}gnp.exe\\u{d}\\u{a}fake line"),
        "{text}"
    );
    assert!(text.contains("page 1 of 2, 27 entries"), "{text}");
    let page = c.get(k.at("/guestbook")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}'));
    assert!(page.contains("Eve\\u{1b}]0;owned\\u{7}"));
    assert!(page.contains("href=\"/guestbook?page=2\""));
    let page2 = c
        .get(k.at("/guestbook?page=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page2.contains("Page 2 of 2") && page2.contains("Filler"));
    let json: Value = c
        .get(k.at("/guestbook.json?page=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 7);
}

/// The kiosk's CA files: the booth root and the current conference's intermediate.
fn ca_files(data: &Path, slug: &str) -> (KeyedCert, KeyedCert) {
    let pair = |dir: &Path, stem: &str| KeyedCert {
        cert_pem: std::fs::read_to_string(dir.join(format!("{stem}.pem"))).unwrap(),
        key_pem: std::fs::read_to_string(dir.join(format!("{stem}.key"))).unwrap().into(),
    };
    let ca = data.join("ca");
    (
        pair(&ca, "root"),
        pair(&ca.join("conferences").join(slug), "intermediate"),
    )
}

/// A visitor-profile leaf under `ca`, adjusted by `tweak`.
fn mint(ca: &KeyedCert, tweak: impl FnOnce(&mut rcgen::CertificateParams)) -> KeyedCert {
    let now = OffsetDateTime::now_utc();
    let mut p = pki::leaf_params(
        "Ada Lovelace",
        "ada@example.org",
        now,
        Duration::days(30),
        now + Duration::days(3650),
    )
    .unwrap();
    tweak(&mut p);
    pki::sign_with_new_key(&p, ca).unwrap()
}

/// A client chain PEM and its key PEM.
type Identity = (String, String);

/// Present `chain` + `key` and sign; `Err` when the TLS handshake refused it.
async fn try_sign(k: &Kiosk, ca_pem: &str, identity: Option<(&str, &str)>) -> Result<(u16, String), String> {
    let res = tls_client(ca_pem, identity)
        .post(format!("{}/sign", k.guestbook_url))
        .form(&[("message", "let me in")])
        .send()
        .await;
    match res {
        Ok(r) => Ok((r.status().as_u16(), r.text().await.unwrap())),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guestbook_refuses_adversarial_certificates_and_writes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    visitor(&c, &k, "Victor Void", "victor@example.org", dir.path()).await;
    let ca_pem = read(dir.path(), "ca.pem");
    let (root, int) = ca_files(data.path(), "demo");
    let now = OffsetDateTime::now_utc();

    // Staff void Victor's certificate on the staff console.
    let staff = staff_page(&c, &k).await;
    let id = visitor_id(&staff, "victor@example.org");
    let res = staff_post(&c, &k, &format!("/staff/visitors/{id}/void")).await;
    assert_eq!(res.status(), 303);

    let good = mint(&int, |_| {});
    let self_signed = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let p = pki::leaf_params(
            "Ada Lovelace",
            "ada@example.org",
            now,
            Duration::days(30),
            now + Duration::days(60),
        )
        .unwrap();
        KeyedCert {
            cert_pem: p.self_signed(&key).unwrap().pem(),
            key_pem: key.serialize_pem().into(),
        }
    };
    let other_root = pki::new_root(now, 20).unwrap();
    let other_int = pki::new_intermediate(&other_root, "Evil", "demo", "X", now, 1).unwrap();
    let foreign = mint(&other_int, |_| {});
    let expired = mint(&int, |p| {
        p.not_before = now - Duration::days(10);
        p.not_after = now - Duration::days(1);
    });
    let early = mint(&int, |p| {
        p.not_before = now + Duration::days(1);
        p.not_after = now + Duration::days(10);
    });
    let no_eku = mint(&int, |p| p.extended_key_usages.clear());
    let chain = |leaf: &KeyedCert, ca: &KeyedCert| format!("{}{}", leaf.cert_pem, ca.cert_pem);
    let victor = (read(dir.path(), "chain.pem"), read(dir.path(), "key.pem"));
    let cases: Vec<(&str, Option<Identity>, &str)> = vec![
        ("no client certificate", None, "401"),
        (
            "leaf without its intermediate",
            Some((good.cert_pem.clone(), good.key_pem.to_string())),
            "handshake",
        ),
        (
            "self-signed, same subject and email",
            Some((self_signed.cert_pem.clone(), self_signed.key_pem.to_string())),
            "handshake",
        ),
        (
            "leaf of another CA",
            Some((chain(&foreign, &other_int), foreign.key_pem.to_string())),
            "handshake",
        ),
        (
            "expired leaf",
            Some((chain(&expired, &int), expired.key_pem.to_string())),
            "handshake",
        ),
        (
            "not-yet-valid leaf",
            Some((chain(&early, &int), early.key_pem.to_string())),
            "handshake",
        ),
        (
            "leaf without clientAuth EKU",
            Some((chain(&no_eku, &int), no_eku.key_pem.to_string())),
            "403",
        ),
        (
            "the intermediate CA itself",
            Some((int.cert_pem.clone(), int.key_pem.to_string())),
            "handshake",
        ),
        ("voided leaf", Some(victor), "403"),
    ];
    for (what, identity, expect) in &cases {
        let identity = identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
        let got = try_sign(&k, &ca_pem, identity).await;
        match (*expect, &got) {
            // The server aborted the handshake with a TLS alert (unknown CA, expired, ...).
            ("handshake", Err(e)) => assert!(e.contains("AlertReceived"), "{what}: {e}"),
            ("401", Ok((401, said))) => assert!(said.contains("client certificate"), "{what}: {said}"),
            ("403", Ok((403, said))) => assert!(said.contains("not accepted"), "{what}: {said}"),
            _ => panic!("{what}: expected {expect}, got {got:?}"),
        }
    }
    let book = entries(&k).await;
    assert_eq!(book["total"], 0, "{book}");
    // The same leaf with its intermediate is fine: the refusals above were about the certificates.
    let (status, said) = try_sign(&k, &ca_pem, Some((&chain(&good, &int), &good.key_pem)))
        .await
        .unwrap();
    assert_eq!(status, 200, "{said}");

    // A leaf of another conference under the same root: accepted unless this-conference-only.
    let other_conf = pki::new_intermediate(&root, "Other Conf", "other", "Y", now, 1).unwrap();
    let theirs = mint(&other_conf, |p| {
        p.distinguished_name.push(rcgen::DnType::CommonName, "Other Visitor");
    });
    let theirs_chain = chain(&theirs, &other_conf);
    let k = k.restart_with(&["--guestbook-this-conference-only", "true"]);
    let (status, said) = try_sign(&k, &ca_pem, Some((&theirs_chain, &theirs.key_pem)))
        .await
        .unwrap();
    assert_eq!(status, 403, "{said}");
    assert!(said.contains("only certificates of this conference"), "{said}");
    assert_eq!(entries(&k).await["total"], 1);
    let (status, _) = try_sign(&k, &ca_pem, Some((&chain(&good, &int), &good.key_pem)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let k = k.restart_with(&[]);
    let (status, said) = try_sign(&k, &ca_pem, Some((&theirs_chain, &theirs.key_pem)))
        .await
        .unwrap();
    assert_eq!(status, 200, "{said}");
    let book = entries(&k).await;
    assert_eq!(book["total"], 2);
    assert_eq!(book["entries"][0]["name"], "Other");
}
