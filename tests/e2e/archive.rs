//! After the booth: `certstamp archive` on a data dir with purged, voided and current
//! visitors (the retention purge deletes purged visitors' certificates and guestbook
//! entries, so the archive has nothing of them); the site served by Debian's nginx with the README's `try_files` line on the
//! kiosk's old address; each visitor's original QR URL opened in headless Chromium;
//! every file scanned for emails, tokens and keys; and `certstamp verify` on booth,
//! look-alike, expired, tampered and voided certificates.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use certstamp::pki::{self, CertSummary, KeyedCert};
use certstamp::store::Store;
use certstamp::token::Token;
use time::OffsetDateTime;

use crate::browser::{Browser, HEADLESS, Window, chromium};
use crate::issuance::openssl;
use crate::support::*;

const PAST: &[&str] = &[
    "--conference-slug",
    "past-conf",
    "--conference-name",
    "Past Conf",
    "--conference-city",
    "Lyon",
    "--conference-start",
    "2020-01-06",
    "--conference-end",
    "2020-01-08",
    "--retention-days",
    "0",
];
const NOW: &[&str] = &["--conference-slug", "now-conf", "--conference-name", "Now Conf"];

/// Run the certstamp binary with `args`.
fn certstamp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certstamp"))
        .args(args)
        .env_remove("CERTSTAMP_DATA_DIR")
        .output()
        .expect("run certstamp")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Debian's nginx serving `site` on 127.0.0.1:`port` with `location` from the README.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn serve(site: &Path, port: u16, location: &str) -> Nginx {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "nginx is missing: install it with `apt-get install -y nginx` (or run bash .ci/install-test-deps)"
                )
            });
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n  access_log off;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {};\n    {location}\n  }}\n}}\n",
            site.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg("stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nginx exited with {status}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's nginx line, so the test serves the site exactly as documented.
fn readme_nginx_line() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    readme
        .lines()
        .find(|l| l.contains("try_files") && l.contains("/404.html"))
        .expect("README documents the nginx try_files line")
        .trim()
        .to_string()
}

/// The DOM after the page's scripts ran, from Debian's headless Chromium.
pub fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(chromium())
        .args(HEADLESS)
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("run chromium");
    let out = wait_output(child, Duration::from_secs(120), &format!("chromium with {url}"));
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(data-state, text)` of every verification result in a dumped DOM.
pub fn results(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in dom.match_indices("data-result=") {
        let open = dom[..at].rfind('<').unwrap();
        let close = at + dom[at..].find('>').unwrap();
        let tag = &dom[open..close];
        let state = tag
            .split("data-state=\"")
            .nth(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .unwrap_or_default();
        let body = &dom[close + 1..close + 1 + dom[close + 1..].find("</").unwrap()];
        out.push((state, body.to_string()));
    }
    out
}

fn only_result(dom: &str) -> (String, String) {
    let r = results(dom);
    assert_eq!(r.len(), 1, "{dom}");
    r.into_iter().next().unwrap()
}

struct Visitor {
    name: &'static str,
    email: &'static str,
    token: String,
    url: String,
    key_pem: Option<String>,
    fingerprint: String,
    /// The unzipped bundle, when downloaded.
    zip: Option<tempfile::TempDir>,
}

async fn visit(c: &reqwest::Client, k: &Kiosk, name: &'static str, email: &'static str, zip: bool) -> Visitor {
    let page = issue(c, k, name, email).await;
    let token = page.trim_start_matches("/c/").to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut key_pem = None;
    if zip {
        fetch_bundle(c, k, &page, dir.path()).await;
        key_pem = Some(std::fs::read_to_string(dir.path().join("key.pem")).unwrap());
    }
    let zip = zip.then_some(dir);
    let store_view = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    let fingerprint = between(&store_view, "<dt>SHA-256 fingerprint</dt><dd class=\"mono\">", "<").to_string();
    Visitor {
        name,
        email,
        token,
        url: k.at(&page),
        key_pem,
        fingerprint,
        zip,
    }
}

async fn void(data: &Path, token: &str) {
    let store = Store::open(&data.join("certstamp.db")).unwrap();
    let v = store
        .visitor_by_token(&Token::parse(token).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(store.void(&v.id, "voided by the test").await.unwrap().is_some());
}

/// Everything in `site`, as (path, bytes).
fn files(site: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![site.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every secret the database and data dir hold, in the forms they could leak in.
async fn secrets(data: &Path, visitors: &[&Visitor]) -> Vec<(String, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut s: Vec<(String, Vec<u8>)> = Vec::new();
    let store = Store::open(&data.join("certstamp.db")).unwrap();
    for v in visitors {
        for e in [v.email.to_string(), v.email.to_lowercase()] {
            s.push((format!("email {e}"), e.into_bytes()));
        }
        let token = Token::parse(&v.token).unwrap();
        s.push((format!("token of {}", v.name), v.token.clone().into_bytes()));
        let hash = token.lookup_hash();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        s.push((format!("token hash of {}", v.name), hex.into_bytes()));
        s.push((
            format!("token hash of {} (base64)", v.name),
            b64.encode(&hash).into_bytes(),
        ));
        s.push((format!("token hash of {} (raw)", v.name), hash));
        if let Some(key) = &v.key_pem {
            for line in key.lines().filter(|l| !l.starts_with("-----")) {
                s.push((format!("key of {}", v.name), line.as_bytes().to_vec()));
            }
        }
        let row = store.visitor_by_token(&token).await.unwrap().unwrap();
        if let Some(sealed) = row.sealed_key {
            s.push((format!("sealed key of {}", v.name), b64.encode(&sealed).into_bytes()));
            s.push((format!("sealed key of {} (raw)", v.name), sealed));
        }
    }
    for key in [
        "ca/root.key",
        "ca/conferences/past-conf/intermediate.key",
        "ca/conferences/now-conf/intermediate.key",
    ] {
        let pem = std::fs::read_to_string(data.join(key)).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            s.push((key.to_string(), line.as_bytes().to_vec()));
        }
    }
    let queue_key = std::fs::read(data.join("queue.key")).unwrap();
    s.push(("queue key (base64)".into(), b64.encode(&queue_key).into_bytes()));
    s.push(("queue key".into(), queue_key));
    s.push(("staff passphrase".into(), STAFF_PASSPHRASE.as_bytes().to_vec()));
    s.push(("a private key".into(), b"PRIVATE KEY".to_vec()));
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_keeps_every_qr_code_working_without_personal_data() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_string();
    let c = client();

    // A past conference: retention is over, so a restart purges its visitors.
    let k = Kiosk::start(data.path(), PAST);
    let ada = visit(&c, &k, "Ada Lovelace", "Ada@Example.org", true).await;
    let bob = visit(&c, &k, "Bob Kahn", "bob@example.org", false).await;
    let res = sign_at_kiosk(&c, &ada.url, "hello from the archive test").await;
    assert_eq!(res.status(), 303);
    // What the QR code itself holds, read back with zbarimg.
    let qr = tempfile::tempdir().unwrap();
    let png = c
        .get(format!("{}/qr.png", ada.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(qr.path().join("qr.png"), &png).unwrap();
    assert_eq!(zbar(&qr.path().join("qr.png")), vec![ada.url.clone()]);
    let (port, gb_port) = (k.port, k.guestbook_port);
    drop(k);
    void(data.path(), &bob.token).await;
    let k = Kiosk::start_on(data.path(), port, gb_port, PAST);
    drop(k);
    let purged = Store::open(&data.path().join("certstamp.db"))
        .unwrap()
        .visitor_by_token(&Token::parse(&ada.token).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        purged.email.is_none() && purged.sealed_key.is_none(),
        "the restart purged"
    );

    // Everything is purged: archiving needs no flag, and holds nothing of the purged
    // visitors (their certificates named them).
    let site1 = tempfile::tempdir().unwrap();
    let out1 = site1.path().join("site");
    let out = certstamp(&["archive", "--data-dir", &d, "--out", out1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("archived 0 certificate(s) (0 voided)"),
        "{}",
        text(&out)
    );

    // The current conference's visitors still have their emails and keys.
    let k = Kiosk::start_on(data.path(), port, gb_port, NOW);
    let carol = visit(&c, &k, "Carol Shaw", "carol@example.org", true).await;
    let dan = visit(&c, &k, "Dan Kaminsky", "dan@example.org", false).await;
    let res = sign_at_kiosk(&c, &carol.url, "hello from the archive test").await;
    assert_eq!(res.status(), 303);
    drop(k);
    void(data.path(), &dan.token).await;

    let site = tempfile::tempdir().unwrap();
    let out2 = site.path().join("site");
    let out2s = out2.to_str().unwrap();
    let refused = certstamp(&["archive", "--data-dir", &d, "--out", out2s]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("2 visitor(s) still have their email or private key")
            && text(&refused).contains("--before-retention"),
        "{}",
        text(&refused)
    );
    assert!(!out2.exists(), "a refusal writes nothing");
    let out = certstamp(&["archive", "--data-dir", &d, "--out", out2s, "--before-retention"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("archived 2 certificate(s) (1 voided) of 2 conference CA(s)"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("warning: archived before the retention purge"),
        "{}",
        text(&out)
    );

    // No email, token or key from the database in any file of either site.
    let all = [&ada, &bob, &carol, &dan];
    let secrets = secrets(data.path(), &all).await;
    let mut scanned = 0;
    for dir in [&out1, &out2] {
        for (path, bytes) in files(dir) {
            scanned += 1;
            for (what, needle) in &secrets {
                assert!(!contains(&bytes, needle), "{what} is in {}", path.display());
            }
        }
    }
    assert!(scanned > 20, "{scanned} files");
    // The emails are in the leaf certificates, which only a link holder can decrypt.
    let doc_of = |v: &Visitor| {
        let hash = Token::parse(&v.token).unwrap().lookup_hash();
        let name = certstamp::archive::doc::name(&hash);
        let json = std::fs::read_to_string(out2.join(format!("c/{name}.json"))).unwrap();
        certstamp::archive::doc::open(&hash, &json).unwrap()
    };
    let leaf = base64::engine::general_purpose::STANDARD
        .decode(&doc_of(&carol).chain[0])
        .unwrap();
    assert!(contains(&leaf, b"carol@example.org"));
    assert_eq!(doc_of(&dan).state, certstamp::archive::doc::State::Voided);
    for purged in [&ada, &bob] {
        let name = certstamp::archive::doc::name(&Token::parse(&purged.token).unwrap().lookup_hash());
        for dir in [&out1, &out2] {
            assert!(
                !dir.join(format!("c/{name}.json")).exists(),
                "{} was purged",
                purged.name
            );
        }
    }

    // The front page and the zip's README name the same root as openssl.
    let zip_dir = carol.zip.as_ref().unwrap();
    let fp = openssl(
        zip_dir.path(),
        &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
    );
    let fp = fp.trim().rsplit('=').next().unwrap().to_string();
    let index = std::fs::read_to_string(out2.join("index.html")).unwrap();
    assert!(index.contains(&fp), "{index}");
    assert!(
        std::fs::read_to_string(zip_dir.path().join("README.txt"))
            .unwrap()
            .contains(&fp)
    );
    for ca in ["past-conf", "now-conf"] {
        let ok = openssl(&out2, &["verify", "-CAfile", "ca/root.pem", &format!("ca/{ca}.pem")]);
        assert!(ok.contains(": OK"), "{ok}");
        assert!(index.contains(&format!("/ca/{ca}.pem")), "{index}");
    }
    // Each conference's final CRL: openssl rejects the voided certificate, accepts the other
    // (the past conference's visitors were purged, certificates and all).
    assert!(
        index.contains("/crl/past-conf.crl") && index.contains("/crl/now-conf.crl"),
        "{index}"
    );
    let leaves = tempfile::tempdir().unwrap();
    for (v, voided) in [(&dan, true), (&carol, false)] {
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(&doc_of(v).chain[0])
            .unwrap();
        let pem = leaves.path().join(format!("{}.pem", v.token));
        std::fs::write(&pem, pki::der_to_pem(&leaf)).unwrap();
        let out = run(
            "openssl",
            &[
                "verify",
                "-crl_check",
                "-CRLfile",
                "crl/now-conf.pem",
                "-CAfile",
                "ca/root.pem",
                "-untrusted",
                "ca/now-conf.pem",
                pem.to_str().unwrap(),
            ],
            &out2,
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), !voided, "{said}");
        assert_eq!(said.contains("certificate revoked"), voided, "{said}");
    }
    let gb = std::fs::read_to_string(out2.join("guestbook.txt")).unwrap();
    assert!(
        gb.contains("Carol") && gb.contains("hello from the archive test") && !gb.contains("Ada") && !gb.contains('@'),
        "{gb}"
    );
    let gb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("guestbook.json")).unwrap()).unwrap();
    assert_eq!(gb["entries"][0]["message"], "hello from the archive test");
    let wall = std::fs::read_to_string(out2.join("wall/index.html")).unwrap();
    assert_eq!(wall.matches("certstamp-seal").count(), 1, "one valid certificate kept");

    // After the event the booth's address points at a static host: here nginx takes over
    // the kiosk's own port, with the README's line, and the printed URLs work unchanged.
    let _nginx = Nginx::serve(&out2, port, &readme_nginx_line());
    {
        let v = &carol;
        let dom = dump_dom(&v.url);
        let (state, message) = only_result(&dom);
        assert_eq!(state, "verified", "{message}\n{dom}");
        assert!(message.starts_with("Verified"), "{message}");
        assert!(dom.contains(v.name) && dom.contains(&v.fingerprint), "{dom}");
        assert!(dom.contains("data:image/svg+xml;base64,"), "the seal is shown");
        assert!(!dom.contains(v.email) && !dom.contains(&v.email.to_lowercase()));
    }
    let (state, message) = only_result(&dump_dom(&dan.url));
    assert_eq!(state, "voided", "{message}");
    assert!(message.starts_with("Voided"), "{message}");
    // A purged visitor's code finds nothing: the certificate was deleted as promised.
    let (state, message) = only_result(&dump_dom(&ada.url));
    assert_eq!(state, "not-found", "{message}");
    let unknown = format!("http://127.0.0.1:{port}/c/{}", Token::generate().as_str());
    let (state, message) = only_result(&dump_dom(&unknown));
    assert_eq!(state, "not-found", "{message}");
    assert!(message.starts_with("Not found"), "{message}");
    let dom = dump_dom(&format!("http://127.0.0.1:{port}/no/such/page"));
    assert!(
        dom.contains("Page not found") && results(&dom).iter().all(|(s, _)| s.is_empty()),
        "{dom}"
    );
    // The archive's own pages are plain files.
    let index = c.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let gb = c
        .get(format!("http://127.0.0.1:{port}/guestbook/"))
        .send()
        .await
        .unwrap();
    assert!(gb.text().await.unwrap().contains("hello from the archive test"));
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    std::fs::write(dir.join(name), contents).unwrap();
    name.to_string()
}

fn intermediate_of(data: &Path, slug: &str) -> KeyedCert {
    let d = data.join("ca/conferences").join(slug);
    KeyedCert {
        cert_pem: std::fs::read_to_string(d.join("intermediate.pem")).unwrap(),
        key_pem: std::fs::read_to_string(d.join("intermediate.key")).unwrap().into(),
    }
}

fn leaf(ca: &KeyedCert, name: &str, from: OffsetDateTime, days: i64) -> String {
    let end = CertSummary::parse(&ca.cert_pem).unwrap().not_after;
    let p = pki::leaf_params(name, "x@example.org", from, time::Duration::days(days), end).unwrap();
    pki::sign_with_new_key(&p, ca).unwrap().cert_pem
}

fn tampered(cert_pem: &str, from: &[u8], to: &[u8]) -> String {
    let mut der = pki::pem_certs(cert_pem).unwrap().remove(0);
    let at = der.windows(from.len()).position(|w| w == from).unwrap();
    der[at..at + to.len()].copy_from_slice(to);
    pki::der_to_pem(&der)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_accepts_booth_certificates_only() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_string();
    let args = [
        "--conference-slug",
        "verify-conf",
        "--conference-name",
        "Verify Conf",
        "--conference-city",
        "Lyon",
    ];
    let k = Kiosk::start(data.path(), &args);
    let c = client();
    let page = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    let dir = tempfile::tempdir().unwrap();
    fetch_bundle(&c, &k, &page, dir.path()).await;
    drop(k);
    let p = dir.path();
    let at = |f: &str| p.join(f).to_str().unwrap().to_string();
    // The archive publishes the root as DER too.
    let ca = std::fs::read_to_string(p.join("ca.pem")).unwrap();
    std::fs::write(p.join("ca.der"), pki::pem_certs(&ca).unwrap().remove(0)).unwrap();

    // The zip's files, as the README says; and the data dir alone.
    for argv in [
        vec![
            "verify",
            &at("cert.pem"),
            "--chain",
            &at("chain.pem"),
            "--root",
            &at("ca.pem"),
        ],
        vec!["verify", &at("chain.pem"), "--root", &at("ca.pem")],
        vec!["verify", &at("cert.pem"), "--data-dir", &d],
        vec!["verify", &at("chain.pem"), "--root", &at("ca.der")],
    ] {
        let out = certstamp(&argv.iter().map(|s| s.as_ref()).collect::<Vec<&str>>());
        assert_eq!(out.status.code(), Some(0), "{argv:?}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains("OK, a certificate of this booth") && t.contains("Ada Lovelace"),
            "{t}"
        );
        assert!(t.contains("conference:  Verify Conf (verify-conf, Lyon)"), "{t}");
    }

    // A look-alike: a booth of its own with the very same names.
    let now = OffsetDateTime::now_utc();
    let fake_root = pki::new_root(now, 20).unwrap();
    let fake_int = pki::new_intermediate(&fake_root, "Verify Conf", "verify-conf", "Lyon", now, 10).unwrap();
    let fake = leaf(&fake_int, "Ada Lovelace", now, 30);
    write(p, "fake.pem", &format!("{fake}{}", fake_int.cert_pem));
    write(p, "fake-root.pem", &fake_root.cert_pem);
    let expired = leaf(
        &intermediate_of(data.path(), "verify-conf"),
        "Ada Lovelace",
        now - time::Duration::days(10),
        2,
    );
    write(p, "expired.pem", &expired);
    let cert = std::fs::read_to_string(p.join("cert.pem")).unwrap();
    write(p, "tampered.pem", &tampered(&cert, b"Ada Lovelace", b"Eve"));
    write(p, "garbage.pem", "not a certificate\n");
    for (file, extra, why) in [
        (
            "fake.pem",
            vec!["--root", &at("ca.pem")],
            "not signed by this booth root",
        ),
        ("fake.pem", vec!["--data-dir", &d], "not signed by this booth root"),
        ("expired.pem", vec!["--data-dir", &d], "the certificate expired on"),
        (
            "tampered.pem",
            vec!["--chain", &at("chain.pem"), "--root", &at("ca.pem")],
            "signature does not verify",
        ),
        (
            "chain.pem",
            vec!["--root", &at("fake-root.pem")],
            "not signed by this booth root",
        ),
        ("garbage.pem", vec!["--data-dir", &d], "holds no PEM or DER certificate"),
    ] {
        let mut argv = vec!["verify".to_string(), at(file)];
        argv.extend(extra.iter().map(|s| s.to_string()));
        let out = certstamp(&argv.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(1), "{argv:?}: {}", text(&out));
        assert!(text(&out).contains(why), "{argv:?}: {}", text(&out));
    }
    // The cross-check with openssl agrees on the look-alike and the tampered one.
    assert!(
        !run(
            "openssl",
            &["verify", "-CAfile", "ca.pem", "-untrusted", "fake.pem", "fake.pem"],
            p
        )
        .status
        .success()
    );
    assert!(
        !run(
            "openssl",
            &["verify", "-CAfile", "ca.pem", "-untrusted", "chain.pem", "tampered.pem"],
            p
        )
        .status
        .success()
    );

    // Voided by staff: refused where the data dir tells.
    void(data.path(), page.trim_start_matches("/c/")).await;
    let out = certstamp(&["verify", &at("cert.pem"), "--data-dir", &d]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("booth staff voided it"), "{}", text(&out));
}

/// The panel markup the kiosk's certificate page carries, for certificates the kiosk
/// never issues, so the browser's checks meet every kind of bad chain.
fn panel(chain: &[&str], root: &str, pinned: &str) -> String {
    let b64 = |pem: &str| {
        pki::pem_certs(pem)
            .unwrap()
            .iter()
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let chain: Vec<String> = chain.iter().map(|p| b64(p)).collect();
    format!(
        "<div data-certstamp-verify data-chain=\"{}\" data-root=\"{}\" data-root-fingerprint=\"{pinned}\" \
         data-voided=\"false\"><p data-result>no script</p></div>\n",
        chain.join(" "),
        b64(root)
    )
}

#[test]
fn the_browser_refuses_look_alike_expired_and_tampered_certificates() {
    let now = OffsetDateTime::now_utc();
    let root = pki::new_root(now, 20).unwrap();
    let int = pki::new_intermediate(&root, "Conf", "conf", "Lyon", now, 10).unwrap();
    let fake_root = pki::new_root(now, 20).unwrap();
    let fake_int = pki::new_intermediate(&fake_root, "Conf", "conf", "Lyon", now, 10).unwrap();
    let pinned = CertSummary::parse(&root.cert_pem).unwrap().fingerprint_hex();
    let good = leaf(&int, "Ada", now, 30);
    let cases = [
        ("verified", panel(&[&good, &int.cert_pem], &root.cert_pem, &pinned)),
        (
            "invalid",
            panel(
                &[&leaf(&fake_int, "Ada", now, 30), &fake_int.cert_pem],
                &root.cert_pem,
                &pinned,
            ),
        ),
        (
            "invalid",
            panel(
                &[&leaf(&fake_int, "Ada", now, 30), &fake_int.cert_pem],
                &fake_root.cert_pem,
                &pinned,
            ),
        ),
        (
            "expired",
            panel(
                &[&leaf(&int, "Ada", now - time::Duration::days(10), 2), &int.cert_pem],
                &root.cert_pem,
                &pinned,
            ),
        ),
        (
            "invalid",
            panel(
                &[&tampered(&good, b"Ada", b"Eve"), &int.cert_pem],
                &root.cert_pem,
                &pinned,
            ),
        ),
        (
            "invalid",
            panel(&[&int.cert_pem, &root.cert_pem], &root.cert_pem, &pinned),
        ),
    ];
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("assets")).unwrap();
    std::fs::write(site.path().join("assets/verify.js"), certstamp::verify::BROWSER_JS).unwrap();
    let body: String = cases.iter().map(|(_, html)| html.as_str()).collect();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><script src=\"/assets/verify.js\" defer></script></head><body>{body}</body></html>"
    );
    std::fs::write(site.path().join("index.html"), page).unwrap();
    let port = free_port();
    let _nginx = Nginx::serve(site.path(), port, &readme_nginx_line());
    let got = results(&dump_dom(&format!("http://127.0.0.1:{port}/")));
    let states: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    let want: Vec<&str> = cases.iter().map(|(s, _)| *s).collect();
    assert_eq!(states, want, "{got:#?}");
    assert!(got[2].1.contains("not the booth root"), "{got:#?}");
    assert!(got[4].1.contains("signature does not verify"), "{got:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_certificate_page_verifies_in_the_browser() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let page = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    let res = c.get(k.at(&page)).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    let script = format!(
        "/assets/verify.js{}",
        between(&html, "<script src=\"/assets/verify.js", "\"")
    );
    assert!(script.starts_with("/assets/verify.js?v="), "{script}");
    let js = c.get(k.at(&script)).send().await.unwrap();
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // Through WebDriver: the page keeps a live event stream open, which stops a
    // `--virtual-time-budget` dump from ever finishing.
    let b = Browser::open(Window::laptop("archive-live-certificate")).await;
    b.goto(&k.at(&page)).await;
    b.wait_for("the browser's own check", async || {
        b.attr_of_all("[data-result]", "data-state").await != [""]
    })
    .await;
    assert_eq!(b.attr_of_all("[data-result]", "data-state").await, ["verified"]);
    let message = b.text("[data-result]").await;
    assert!(message.contains("demo conference intermediate CA"), "{message}");
    b.finish().await;
}
