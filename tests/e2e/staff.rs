//! The staff console end to end: passphrase login (wrong, lockout, logout, CSRF), a
//! console closed without a passphrase and a start refused with a bad one, booth-screen
//! enrolment, every action answering 303, void making the old link 410, reissued links
//! shown until opened, forgetting checked on the database file's bytes, the CRL with the
//! real `openssl verify -crl_check`, and the live event stream.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn has_cookie(res: &reqwest::Response, prefix: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(prefix))
}

/// GET a page as `c` and return (status, body).
async fn get(c: &reqwest::Client, k: &Kiosk, path: &str) -> (u16, String) {
    let res = c.get(k.at(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Submit the one form of a confirmation page, as a browser would.
async fn confirm(c: &reqwest::Client, k: &Kiosk, id: &str, action: &str) -> reqwest::Response {
    let (status, page) = get(c, k, &format!("/staff/visitors/{id}/{action}?back=/staff")).await;
    assert_eq!(status, 200, "{page}");
    let form_action = between(&page, "<form method=\"post\" action=\"", "\"").to_string();
    assert_eq!(form_action, format!("/staff/visitors/{id}/{action}"));
    let back = between(&page, "name=\"back\" value=\"", "\"").to_string();
    c.post(k.at(&form_action))
        .form(&[("csrf", csrf_of(&page).as_str()), ("back", back.as_str())])
        .send()
        .await
        .unwrap()
}

/// Read one column of a visitor row straight from the database file.
fn db_blob(data: &Path, sql: &str, id: &str) -> Option<Vec<u8>> {
    let conn =
        rusqlite::Connection::open_with_flags(data.join("certstamp.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(sql, [id], |r| r.get(0)).unwrap()
}

fn file_bytes(data: &Path) -> Vec<u8> {
    let mut all = std::fs::read(data.join("certstamp.db")).unwrap();
    if let Ok(wal) = std::fs::read(data.join("certstamp.db-wal")) {
        all.extend(wal);
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_login_wrong_passphrase_lockout_logout_and_csrf() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    // Without a session the console leads to the login form.
    let res = c.get(k.at("/staff")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/staff/login");
    let (status, form) = get(&c, &k, "/staff/login").await;
    assert_eq!(status, 200);
    assert!(
        form.contains("name=\"password\"") && form.contains("name=\"csrf\""),
        "{form}"
    );
    // Staff-only routes without a session.
    for path in ["/staff/live", "/staff/events", "/staff/jobs/1/preview.png"] {
        assert_eq!(c.get(k.at(path)).send().await.unwrap().status(), 401, "{path}");
    }
    // No form token, or another browser's: refused before the passphrase is even looked at.
    let res = c
        .post(k.at("/staff/login"))
        .form(&[("password", STAFF_PASSPHRASE), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let res = staff_login_with(&c, &k, STAFF_PASSPHRASE).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/staff");
    let cookie = has_cookie(&res, "certstamp_staff=").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    let session = between(&cookie, "certstamp_staff=", ";").to_string();
    let console = staff_page(&c, &k).await;
    assert!(console.contains("Staff console") && !console.contains("http-equiv=\"refresh\""));
    assert!(console.contains("/assets/staff.js") && console.contains("Refresh</a>"));
    // The public URL is left at its default here: the console says so.
    assert!(console.contains("Phones may not reach the QR codes"), "{console}");
    // Already logged in: the login form sends back to the console.
    assert_eq!(c.get(k.at("/staff/login")).send().await.unwrap().status(), 303);

    // Staff actions need the form token too, and cross-site posts never reach them.
    let res = c
        .post(k.at("/staff/printer/test"))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c
        .post(k.at("/staff/printer/test"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf_of(&console).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c.post(k.at("/staff/logout")).send().await.unwrap();
    assert_eq!(res.status(), 403, "logout without a token");

    // Logout ends the session on the server, not only in this browser.
    let res = c
        .post(k.at("/staff/logout"))
        .form(&[("csrf", csrf_of(&console).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/staff/login");
    assert!(has_cookie(&res, "certstamp_staff=;").unwrap().contains("Max-Age=0"));
    assert_eq!(c.get(k.at("/staff")).send().await.unwrap().status(), 303);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(k.at("/staff/live"))
        .header("cookie", format!("certstamp_staff={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a logged-out session cookie is worthless");

    // Another staff browser stays logged in across a restart: sessions are in the database.
    let kept = client();
    assert_eq!(staff_login_with(&kept, &k, STAFF_PASSPHRASE).await.status(), 303);

    // Wrong passphrases: 401 with the form again, then 429 for this address.
    let other = client();
    for _ in 0..5 {
        let res = staff_login_with(&other, &k, "not the passphrase").await;
        assert_eq!(res.status(), 401);
        assert!(res.text().await.unwrap().contains("not right"));
    }
    let res = staff_login_with(&other, &k, "not the passphrase").await;
    assert_eq!(res.status(), 429);
    let res = staff_login_with(&other, &k, STAFF_PASSPHRASE).await;
    assert_eq!(res.status(), 429, "even the right one waits out the minute");
    assert!(res.text().await.unwrap().contains("wait a minute"));
    let logs = k.logs();
    assert!(!logs.contains(STAFF_PASSPHRASE) && !logs.contains(&session), "{logs}");

    // A restart forgets neither the lockout nor the sessions, and the database holds
    // digests of session cookies, never the cookies.
    let k = k.restart();
    assert_eq!(staff_login_with(&other, &k, STAFF_PASSPHRASE).await.status(), 429);
    assert!(staff_page(&kept, &k).await.contains("Staff console"));
    let mut db = std::fs::read(data.path().join("certstamp.db")).unwrap();
    db.extend(std::fs::read(data.path().join("certstamp.db-wal")).unwrap_or_default());
    assert!(!db.windows(session.len()).any(|w| w == session.as_bytes()));
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_cookies_are_secure_and_host_bound_behind_https() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &["--public-url", "https://booth.example.org"]);
    // The client speaks http to the loopback port, as a proxy in front would.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c.get(k.at("/staff/login")).send().await.unwrap();
    let sid = has_cookie(&res, "__Host-certstamp_sid=").unwrap();
    let html = res.text().await.unwrap();
    let res = c
        .post(k.at("/staff/login"))
        .header("cookie", sid.split(';').next().unwrap())
        .form(&[("password", STAFF_PASSPHRASE), ("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = has_cookie(&res, "__Host-certstamp_staff=").unwrap();
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/"), "{cookie}");
    // An explicit public URL on a real name: no warning on the console.
    let session = cookie.split(';').next().unwrap().to_string();
    let res = c
        .get(k.at("/staff"))
        .header("cookie", format!("{session}; {}", sid.split(';').next().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains("Phones may not reach"));
}

/// Run the binary to completion with `stdin` and `envs`; (exit ok, stdout, stderr).
fn certstamp(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_certstamp"))
        .args(args)
        .env_remove("CERTSTAMP_STAFF_PASSWORD_HASH")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = wait_output(child, Duration::from_secs(60), &format!("certstamp {args:?}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_passphrase_the_console_is_closed_and_bad_ones_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let k = Kiosk::start_with_env(data.path(), &[], &[("CERTSTAMP_STAFF_PASSWORD_HASH", "")]);
    let c = client();
    assert_eq!(c.get(k.at("/staff")).send().await.unwrap().status(), 303);
    let (status, page) = get(&c, &k, "/staff/login").await;
    assert_eq!(status, 503);
    assert!(
        page.contains("certstamp staff set-password") && !page.contains("name=\"password\""),
        "{page}"
    );
    assert!(k.logs().contains("staff console is closed"));
    assert_eq!(staff_login_with_closed(&c, &k).await, 503);

    // set-password refuses an empty or short passphrase and writes nothing.
    let hash_file = data.path().join("staff-password-hash");
    for bad in ["\n", "", "short pass\n", "           \n"] {
        let (ok, _, err) = certstamp(&["staff", "set-password", "--data-dir", d], bad, &[]);
        assert!(!ok, "{bad:?} accepted");
        assert!(err.contains("empty") || err.contains("at least 12"), "{err}");
        assert!(!hash_file.exists());
    }
    let passphrase = "a long enough passphrase";
    let (ok, out, err) = certstamp(
        &["staff", "set-password", "--data-dir", d],
        &format!("{passphrase}\n"),
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("takes effect at the next login"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&hash_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = std::fs::read_to_string(&hash_file).unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(passphrase));
    // The running kiosk opens the console without a restart.
    assert_eq!(staff_login_with(&c, &k, passphrase).await.status(), 303);
    assert_eq!(c.get(k.at("/staff")).send().await.unwrap().status(), 200);
    drop(k);

    // hash-password prints a hash for the environment, and refuses a short passphrase.
    let (ok, out, _) = certstamp(&["staff", "hash-password"], "another good passphrase\n", &[]);
    assert!(ok && out.trim().starts_with("$argon2id$"), "{out}");
    let (ok, _, err) = certstamp(&["staff", "hash-password"], "tiny\n", &[]);
    assert!(!ok && err.contains("at least 12"), "{err}");

    // A start with an unusable passphrase setting stops with a clear message.
    let serve = |envs: &[(&str, &str)], dir: &str| {
        certstamp(
            &[
                "serve",
                "--data-dir",
                dir,
                "--listen",
                "127.0.0.1:0",
                "--guestbook-listen",
                "127.0.0.1:0",
            ],
            "",
            envs,
        )
    };
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path().to_str().unwrap();
    for (envs, expect) in [
        (vec![("CERTSTAMP_STAFF_PASSWORD_HASH", " ")], "is empty"),
        (
            vec![("CERTSTAMP_STAFF_PASSWORD_HASH", "hunter2hunter2")],
            "not an argon2id hash",
        ),
        (vec![("CERTSTAMP_STAFF_PASSWORD", "")], "no longer read"),
        (vec![("CERTSTAMP_STAFF_PASSWORD", "short")], "no longer read"),
    ] {
        let (ok, _, err) = serve(&envs, f);
        assert!(!ok && err.contains(expect), "{envs:?}: {err}");
    }
    std::fs::write(fresh.path().join("staff-password-hash"), "\n").unwrap();
    let (ok, _, err) = serve(&[], f);
    assert!(!ok && err.contains("is empty"), "{err}");
}

async fn staff_login_with_closed(c: &reqwest::Client, k: &Kiosk) -> u16 {
    // The closed page has no form; a token from the visitor form is this browser's too.
    let (_, html) = get(c, k, "/").await;
    c.post(k.at("/staff/login"))
        .form(&[("password", "anything at all"), ("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_booth_screen_is_enrolled_once_and_never_gets_the_console() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let staff = client();
    let res = staff_post(&staff, &k, "/staff/kiosk/enrol").await;
    assert_eq!(res.status(), 303);
    let console = staff_page(&staff, &k).await;
    let link = format!("/kiosk/enrol/{}", between(&console, "/kiosk/enrol/", "\""));
    assert!(console.contains("within 10 minutes") && console.contains("aria-label=\"QR code\""));
    // The enrolment form's own address names kiosk mode.
    assert!(console.contains("action=\"/staff/kiosk/enrol\""));
    // The screen was a staff browser once: enrolling ends that session there.
    let booth = client();
    staff_page(&booth, &k).await;
    let res = booth.get(k.at(&link)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");
    let kiosk = has_cookie(&res, "certstamp_kiosk=").unwrap();
    assert!(
        kiosk.contains("HttpOnly") && kiosk.contains("SameSite=Strict"),
        "{kiosk}"
    );
    assert!(has_cookie(&res, "certstamp_staff=;").is_some());
    // Once only.
    let (status, page) = get(&client(), &k, &link).await;
    assert_eq!(status, 404);
    assert!(page.contains("used already"), "{page}");
    // The console no longer offers the used link.
    assert!(!staff_page(&staff, &k).await.contains(&link));

    // The booth screen is refused the console and the login, whatever it sends.
    for path in ["/staff", "/staff/login", "/staff/live"] {
        let (status, page) = get(&booth, &k, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("booth screen") && page.contains("/kiosk/leave"), "{page}");
    }
    let res = booth
        .post(k.at("/staff/login"))
        .form(&[("password", STAFF_PASSPHRASE), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // A kiosk cookie typed by hand is not kiosk mode: the phone still downloads.
    let page = issue(&client(), &k, "Ada", "ada@example.org").await;
    let value = between(&kiosk, "certstamp_kiosk=", ";").to_string();
    let (id, _) = value.split_once('.').unwrap();
    for forged in [
        "1".to_string(),
        format!("{id}.AAAA"),
        format!("{}.{}", "0".repeat(32), &value[33..]),
    ] {
        let res = reqwest::Client::new()
            .get(k.at(&format!("{page}/bundle.zip")))
            .header("cookie", format!("certstamp_kiosk={forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{forged}");
    }
    assert_eq!(
        booth
            .get(k.at(&format!("{page}/bundle.zip")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    // Staff switch it back with the passphrase.
    let (status, form) = get(&booth, &k, "/kiosk/leave").await;
    assert_eq!(status, 200);
    let res = booth
        .post(k.at("/kiosk/leave"))
        .form(&[("password", "wrong wrong wrong"), ("csrf", csrf_of(&form).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = booth
        .post(k.at("/kiosk/leave"))
        .form(&[("password", STAFF_PASSPHRASE), ("csrf", csrf_of(&form).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(has_cookie(&res, "certstamp_kiosk=;").unwrap().contains("Max-Age=0"));
    assert_eq!(get(&booth, &k, "/staff/login").await.0, 200);
}

/// Every job on the console, as (id, state) pairs, newest first.
fn jobs_on(console: &str) -> Vec<(i64, String)> {
    console
        .split("<li class=\"staff-job\">")
        .skip(1)
        .map(|li| {
            let key = between(li, "<strong class=\"mono\">job-", "<");
            let state = between(between(li, "<span class=\"badge", "/span>"), ">", "<");
            (key.parse().unwrap(), state.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_actions_redirect_void_gone_reissue_shown_until_opened_forget_erased() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let visitor = client();
    let a = issue(&visitor, &k, "Ada Void", "ada@example.org").await;
    let b = issue(&visitor, &k, "Bo Reissue", "bo@example.org").await;
    let c_page = issue(&visitor, &k, "Cy Forget", "cy.forget@example.org").await;
    let d = issue(&visitor, &k, "Di Stays", "di@example.org").await;
    // Di's ticket prints on the spool printer: a job with a preview.
    let html = visitor.get(k.at(&d)).send().await.unwrap().text().await.unwrap();
    let res = visitor
        .post(k.at(&format!("{d}/print")))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let staff = client();
    let console = staff_page(&staff, &k).await;
    let (ida, idb, idc) = (
        visitor_id(&console, "ada@example.org"),
        visitor_id(&console, "bo@example.org"),
        visitor_id(&console, "cy.forget@example.org"),
    );
    for state in ["issued", "Void &amp; reissue", "Forget", "Actions"] {
        assert!(console.contains(state), "{state}");
    }
    // Void sits behind a confirmation page; the console only links to it.
    assert!(!console.contains(&format!("action=\"/staff/visitors/{ida}/void\"")));
    assert!(data_has_key(data.path(), &ida));
    let res = confirm(&staff, &k, &ida, "void").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/staff");
    let console = staff_page(&staff, &k).await;
    assert!(console.contains("Certificate voided."), "the flash, once");
    assert!(!staff_page(&staff, &k).await.contains("Certificate voided."));
    let row = &console[console.find("ada@example.org").unwrap()..];
    assert!(between(row, "<span class=\"badge", "</span>").contains("voided"));
    assert!(
        !data_has_key(data.path(), &ida),
        "the sealed key is deleted at the void"
    );
    // The old link: page, zip, QR, print status and the print button answer 410.
    for path in [
        a.clone(),
        format!("{a}/bundle.zip"),
        format!("{a}/qr.svg"),
        format!("{a}/print"),
    ] {
        let (status, page) = get(&visitor, &k, &path).await;
        assert_eq!(status, 410, "{path}");
        assert!(page.contains("voided by booth staff"), "{page}");
    }
    let csrf = csrf_of(&get(&visitor, &k, "/").await.1);
    let res = visitor
        .post(k.at(&format!("{a}/print")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    // Voiding twice says so, and still answers with a redirect.
    let res = staff_post(&staff, &k, &format!("/staff/visitors/{ida}/void")).await;
    assert_eq!(res.status(), 303);
    assert!(staff_page(&staff, &k).await.contains("voided already"));

    // Void & reissue: the new link's QR stays on the console until the visitor opens it.
    let res = confirm(&staff, &k, &idb, "reissue").await;
    assert_eq!(res.status(), 303);
    for _ in 0..2 {
        let console = staff_page(&staff, &k).await;
        assert!(console.contains("New link for Bo Reissue"), "shown on every reload");
        assert!(between(&console, "staff-handoff", "</section>").contains("aria-label=\"QR code\""));
    }
    let console = staff_page(&staff, &k).await;
    let new_link = between(&console, "<p class=\"mono staff-link\">", "</p>").to_string();
    assert!(new_link.starts_with(&k.at("/c/")) && !new_link.ends_with(&b));
    let token = new_link.rsplit('/').next().unwrap().to_string();
    assert!(
        !contains(&file_bytes(data.path()), token.as_bytes()),
        "kept sealed, not in clear"
    );
    assert_eq!(get(&visitor, &k, &b).await.0, 410);
    assert_eq!(visitor.get(&new_link).send().await.unwrap().status(), 200);
    let console = staff_page(&staff, &k).await;
    assert!(!console.contains("New link for Bo Reissue") && !console.contains(&token));
    // The reissued row is issued, the old one voided.
    assert!(console.matches("bo@example.org").count() == 2);

    // Forget: email, key, certificate and guestbook entry leave the database file (and its log).
    let res = sign_at_kiosk(&visitor, &k.at(&c_page), "Cy was here, then not").await;
    assert_eq!(res.status(), 303);
    assert!(get(&visitor, &k, "/guestbook").await.1.contains("Cy was here"));
    let sealed = db_blob(data.path(), "SELECT sealed_key FROM visitors WHERE id = ?1", &idc).unwrap();
    assert!(contains(&file_bytes(data.path()), b"cy.forget@example.org"));
    let res = confirm(&staff, &k, &idc, "forget").await;
    assert_eq!(res.status(), 303);
    let bytes = file_bytes(data.path());
    assert!(
        !contains(&bytes, b"cy.forget@example.org"),
        "email still in the database file"
    );
    assert!(
        !contains(&bytes, b"Cy was here"),
        "guestbook entry still in the database file"
    );
    assert!(!get(&visitor, &k, "/guestbook").await.1.contains("Cy was here"));
    assert!(
        !contains(&bytes, &sealed[sealed.len() - 48..]),
        "sealed key still in the file"
    );
    assert_eq!(
        db_blob(data.path(), "SELECT sealed_key FROM visitors WHERE id = ?1", &idc),
        None
    );
    assert_eq!(get(&visitor, &k, &c_page).await.0, 410);
    let console = staff_page(&staff, &k).await;
    assert!(
        console.contains("email deleted") && console.contains(">purged</span>"),
        "{console}"
    );

    // Jobs: Di's ticket printed; its preview is the ticket with Di's link in the QR code.
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let jobs = jobs_on(&staff_page(&staff, &k).await);
        if let Some((id, _)) = jobs.iter().find(|(_, s)| s == "printed") {
            break *id;
        }
        assert!(Instant::now() < deadline, "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let res = staff
        .get(k.at(&format!("/staff/jobs/{job}/preview.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let png = data.path().join("preview.png");
    std::fs::write(&png, res.bytes().await.unwrap()).unwrap();
    assert_eq!(zbar(&png), vec![k.at(&d)]);
    let console = staff_page(&staff, &k).await;
    assert!(console.contains("1 attempt<") && !console.contains("1 attempts"));
    // Reprint: a new job; cancel it before it prints? It may print first, so only check 303.
    let res = staff_post(&staff, &k, &format!("/staff/jobs/{job}/reprint")).await;
    assert_eq!(res.status(), 303);
    assert!(staff_page(&staff, &k).await.contains("queued as a new job"));
    // A decision that does not fit the job's state is refused in the flash, still a 303.
    let res = staff_post(&staff, &k, &format!("/staff/jobs/{job}/retry")).await;
    assert_eq!(res.status(), 303);
    assert!(staff_page(&staff, &k).await.contains("cannot be changed that way"));
    // Test ticket on the spool printer.
    let res = staff_post(&staff, &k, "/staff/printer/test").await;
    assert_eq!(res.status(), 303);
    assert!(staff_page(&staff, &k).await.contains("Test ticket sent"));
    let spool: Vec<String> = std::fs::read_dir(data.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        spool.iter().any(|f| f.starts_with("test-") && f.ends_with(".png")),
        "{spool:?}"
    );
    // Printer status with its last change.
    let console = staff_page(&staff, &k).await;
    assert!(between(&console, "id=\"printer-h\"", "</section>").contains("since "));
    // Nothing personal in the log.
    let logs = k.logs();
    for secret in ["cy.forget@example.org", "bo@example.org", token.as_str()] {
        assert!(!logs.contains(secret), "{secret} in the log");
    }
}

fn data_has_key(data: &Path, id: &str) -> bool {
    db_blob(data, "SELECT sealed_key FROM visitors WHERE id = ?1", id).is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_and_interrupted_jobs_retry_cancel_and_it_printed() {
    let data = tempfile::tempdir().unwrap();
    // A printer nobody listens on: every attempt fails and the job waits with a backoff.
    let dead = format!("tcp://127.0.0.1:{}", free_port());
    let k = Kiosk::start(data.path(), &["--printer", &dead, "--auto-print", "true"]);
    let visitor = client();
    issue(&visitor, &k, "Ed", "ed@example.org").await;
    issue(&visitor, &k, "Flo", "flo@example.org").await;
    let staff = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    let jobs = loop {
        let jobs = jobs_on(&staff_page(&staff, &k).await);
        if jobs.iter().any(|(_, s)| s == "failed") {
            break jobs;
        }
        assert!(Instant::now() < deadline, "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let console = staff_page(&staff, &k).await;
    assert!(
        console.contains("not reachable") && console.contains("Retry now"),
        "{console}"
    );
    // Jobs print strictly in order: the first fails and holds the queue, the second waits.
    let (failed, _) = jobs.iter().find(|(_, s)| s == "failed").unwrap().clone();
    let other = jobs.iter().find(|(id, _)| *id != failed).unwrap().0;
    let res = staff_post(&staff, &k, &format!("/staff/jobs/{failed}/retry")).await;
    assert_eq!(res.status(), 303);
    assert!(staff_page(&staff, &k).await.contains("will be tried again now"));
    // The waiting job as a crash mid-send would leave it (written here while the worker
    // is held by the first): staff say whether it printed.
    let conn = rusqlite::Connection::open(data.path().join("certstamp.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute("UPDATE print_jobs SET state = 'interrupted' WHERE id = ?1", [other])
        .unwrap();
    drop(conn);
    let res = staff_post(&staff, &k, &format!("/staff/jobs/{failed}/cancel")).await;
    assert_eq!(res.status(), 303);
    let jobs = jobs_on(&staff_page(&staff, &k).await);
    assert!(jobs.contains(&(failed, "cancelled".to_string())), "{jobs:?}");
    let console = staff_page(&staff, &k).await;
    assert!(console.contains(&format!("/staff/jobs/{other}/done")));
    let res = staff_post(&staff, &k, &format!("/staff/jobs/{other}/done")).await;
    assert_eq!(res.status(), 303);
    let jobs = jobs_on(&staff_page(&staff, &k).await);
    assert!(jobs.contains(&(other, "printed".to_string())), "{jobs:?}");
    // A reissued link staff no longer need to show: dismissed, and it still works.
    let id = visitor_id(&staff_page(&staff, &k).await, "ed@example.org");
    assert_eq!(
        staff_post(&staff, &k, &format!("/staff/visitors/{id}/reissue"))
            .await
            .status(),
        303
    );
    let console = staff_page(&staff, &k).await;
    let link = between(&console, "<p class=\"mono staff-link\">", "</p>").to_string();
    let new_id = between(&console, "/staff/handoffs/", "/dismiss").to_string();
    let res = staff_post(&staff, &k, &format!("/staff/handoffs/{new_id}/dismiss")).await;
    assert_eq!(res.status(), 303);
    let console = staff_page(&staff, &k).await;
    assert!(console.contains("no longer shown here") && !console.contains(&link));
    assert_eq!(visitor.get(&link).send().await.unwrap().status(), 200);
    // Reloading the console after all of that is a plain GET: never a 405, never a replay.
    for _ in 0..3 {
        assert_eq!(staff.get(k.at("/staff")).send().await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_crl_lists_voided_certificates_and_openssl_rejects_them() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &["--conference-slug", "kc-eu"]);
    let c = client();
    let work = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (name, email) in [("Val Voided", "val@example.org"), ("Kim Kept", "kim@example.org")] {
        let page = issue(&c, &k, name, email).await;
        let dir = work.path().join(email);
        std::fs::create_dir(&dir).unwrap();
        fetch_bundle(&c, &k, &page, &dir).await;
        dirs.push(dir);
    }
    // Before any void the CRL is there and empty.
    let res = c.get(k.at("/crl/kc-eu.crl")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pkix-crl");
    // A second kiosk on the same database and CA, as replicas share them, has signed its
    // own empty one.
    let replica = Kiosk::start(data.path(), &["--conference-slug", "kc-eu"]);
    let (_, before) = get(&c, &replica, "/crl/kc-eu.pem").await;
    let staff = client();
    let id = visitor_id(&staff_page(&staff, &k).await, "val@example.org");
    assert_eq!(confirm(&staff, &k, &id, "void").await.status(), 303);
    // The void on the first kiosk reaches the replica's CRL at its next fetch.
    let (_, after) = get(&c, &replica, "/crl/kc-eu.pem").await;
    assert_ne!(before, after);
    drop(replica);
    let der = c
        .get(k.at("/crl/kc-eu.crl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(work.path().join("kc-eu.crl"), &der).unwrap();
    let res = c.get(k.at("/crl/kc-eu.pem")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let pem = res.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    std::fs::write(work.path().join("kc-eu.pem"), &pem).unwrap();
    // openssl reads the DER, names the intermediate as issuer and lists one serial.
    let out = run(
        "openssl",
        &["crl", "-inform", "DER", "-in", "kc-eu.crl", "-noout", "-text"],
        work.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("intermediate CA") && text.contains("Next Update"),
        "{text}"
    );
    assert_eq!(text.matches("Serial Number:").count(), 1, "{text}");
    // verify -crl_check: the voided leaf is rejected as revoked, the other accepted.
    let verify = |dir: &Path| {
        let out = run(
            "openssl",
            &[
                "verify",
                "-crl_check",
                "-CRLfile",
                work.path().join("kc-eu.pem").to_str().unwrap(),
                "-CAfile",
                "ca.pem",
                "-untrusted",
                "chain.pem",
                "cert.pem",
            ],
            dir,
        );
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = verify(&dirs[0]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = verify(&dirs[1]);
    assert!(ok && out.contains("cert.pem: OK"), "{out}");
    // The voided one is named by its serial.
    let serial = run("openssl", &["x509", "-in", "cert.pem", "-noout", "-serial"], &dirs[0]);
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    assert!(
        text.replace(':', "").to_uppercase().contains(&serial.to_uppercase()),
        "{serial} {text}"
    );
    for path in ["/crl/nope.crl", "/crl/kc-eu.txt", "/crl/..%2Fca.crl", "/crl/KC-EU.pem"] {
        assert_eq!(c.get(k.at(path)).send().await.unwrap().status(), 404, "{path}");
    }
    // A restart keeps the list (it comes from the database).
    let k = k.restart();
    let (_, pem2) = get(&c, &k, "/crl/kc-eu.pem").await;
    std::fs::write(work.path().join("kc-eu.pem"), &pem2).unwrap();
    assert!(!verify(&dirs[0]).0 && verify(&dirs[1]).0);
    // So does the replica's.
    std::fs::write(work.path().join("kc-eu.pem"), &after).unwrap();
    assert!(!verify(&dirs[0]).0 && verify(&dirs[1]).0);
}

/// Read the SSE stream until a frame of `kind` arrives; returns the frames read.
async fn until_event(res: &mut reqwest::Response, kind: &str, seen: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&format!("event: {kind}\n")) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event; got {seen:?}"))
            .unwrap()
            .expect("stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_staff_event_stream_tells_of_issuance_and_printing() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let staff = client();
    staff_page(&staff, &k).await;
    let mut res = staff.get(k.at("/staff/events")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let visitor = client();
    let page = issue(&visitor, &k, "Eve Events", "eve@example.org").await;
    let mut seen = String::new();
    until_event(&mut res, "visitor", &mut seen).await;
    assert!(
        !seen.contains("eve@example.org") && !seen.contains("Eve"),
        "ids only: {seen}"
    );
    let html = visitor.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
    visitor
        .post(k.at(&format!("{page}/print")))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    until_event(&mut res, "job", &mut seen).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("\"state\":\"printed\"") {
        assert!(Instant::now() < deadline, "{seen}");
        let chunk = tokio::time::timeout(Duration::from_secs(20), res.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The fragment the page's script fetches on each event shows the new visitor.
    let (status, live) = get(&staff, &k, "/staff/live").await;
    assert_eq!(status, 200);
    assert!(live.contains("eve@example.org") && !live.contains("<html"), "{live}");
    // An open stream does not keep the kiosk from stopping: it ends, and the kiosk exits.
    let mut k = k;
    assert!(k.terminate().success(), "{}", k.logs());
    let rest = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await;
    assert!(matches!(rest, Ok(Ok(None)) | Ok(Err(_))), "{rest:?}");
}
