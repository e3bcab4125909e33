//! The public screens over HTTP: the wall and the guestbook never show an email; the
//! form explains itself; the live streams deliver what happened; the booth screen's
//! handoff keeps the visitor's permanent link off the shared screen.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A while, for things that happen "within 2 s": generous for a loaded CI machine. The
/// real latency is printed, not asserted.
const SOON: Duration = Duration::from_secs(15);

async fn get(c: &reqwest::Client, k: &Kiosk, path: &str) -> (u16, String) {
    let res = c.get(k.at(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Submit the form with the wall box ticked or not.
async fn issue_with(c: &reqwest::Client, k: &Kiosk, name: &str, email: &str, wall: bool) -> reqwest::Response {
    let csrf = csrf_of(&get(c, k, "/").await.1);
    let mut form = vec![("name", name), ("email", email), ("consent", "yes"), ("csrf", &csrf)];
    if wall {
        form.push(("wall", "yes"));
    }
    c.post(k.at("/issue")).form(&form).send().await.unwrap()
}

/// Sign the guestbook through the kiosk from the certificate page.
async fn sign_here(c: &reqwest::Client, k: &Kiosk, page: &str, message: &str, name: Option<&str>) -> (u16, String) {
    let csrf = csrf_of(&get(c, k, page).await.1);
    let mut form = vec![("csrf", csrf.as_str()), ("message", message)];
    if let Some(n) = name {
        form.push(("name", n));
    }
    let res = c
        .post(k.at(&format!("{page}/guestbook")))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wall_and_the_guestbook_never_show_an_email() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();

    // A real empty state, with plurals and a way in.
    let (status, wall) = get(&c, &k, "/wall").await;
    assert_eq!(status, 200);
    for needle in [
        "<h1>",
        "<strong>0</strong> certificates issued",
        "<strong>0</strong> tickets printed",
        "<strong>0</strong> guestbook entries",
        "No certificates yet",
        "No messages yet",
        "Scan to get yours",
        "/assets/wall.js",
    ] {
        assert!(wall.contains(needle), "empty wall lacks {needle:?}");
    }
    assert!(!wall.contains("http-equiv=\"refresh\""), "no meta refresh");
    assert!(
        wall.contains(&format!("{}/", k.url)),
        "the join QR's address is printed"
    );
    assert_eq!(inline_qr(&wall), format!("{}/", k.url), "the QR leads to the form");

    let visitors = [
        ("Ada Lovelace", "ada.lovelace@example.org", true),
        ("محمد علي", "mohammed@example.net", true),
        ("李小龍", "lee@example.com", false),
        ("🦀 Ferris Crab", "ferris@rust.example", false),
    ];
    let mut pages = Vec::new();
    for (name, email, wall) in visitors {
        let res = issue_with(&c, &k, name, email, wall).await;
        assert_eq!(res.status(), 303, "{name}");
        pages.push(res.headers()["location"].to_str().unwrap().to_string());
    }
    let (status, wall) = get(&c, &k, "/wall").await;
    assert_eq!(status, 200);
    assert!(wall.contains("<strong>4</strong> certificates issued"), "{wall}");
    assert!(
        wall.contains(">Ada<") && wall.contains(">محمد<"),
        "first names of those who agreed"
    );
    assert!(
        !wall.contains("Lovelace") && !wall.contains("علي"),
        "never the whole name"
    );
    assert!(
        !wall.contains("李小龍") && !wall.contains("Ferris"),
        "no name without consent"
    );
    assert_eq!(wall.matches(">a visitor<").count(), 2, "{wall}");

    // Signing: the first name by default, or a name the signer chooses; never an email.
    assert_eq!(sign_here(&c, &k, &pages[0], "Hello from the booth", None).await.0, 303);
    assert_eq!(sign_here(&c, &k, &pages[2], "你好", Some("Bruce")).await.0, 303);
    let (status, page) = sign_here(&c, &k, &pages[3], "hi", Some("ferris@rust.example")).await;
    assert_eq!(status, 400);
    assert!(page.contains("never shows email addresses"), "{page}");
    assert!(
        page.contains("value=\"ferris@rust.example\""),
        "the typing comes back to be fixed"
    );
    assert_eq!(
        sign_here(&c, &k, &pages[3], "🦀🦀", Some(&"🦀".repeat(64))).await.0,
        303
    );
    let book: Value = c
        .get(k.at("/guestbook.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = book["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [&"🦀".repeat(64), "Bruce", "Ada"]);

    let (_, wall) = get(&c, &k, "/wall").await;
    assert!(wall.contains("Hello from the booth") && wall.contains("<strong>3</strong> guestbook entries"));
    let (_, guestbook) = get(&c, &k, "/guestbook").await;
    let sign_from_phone = guestbook.find("Sign from your phone").expect("phone first");
    assert!(
        sign_from_phone < guestbook.find("curl --cacert").unwrap(),
        "curl comes second"
    );
    assert!(guestbook.contains("certificate.p12") && guestbook.contains("Entries are public"));
    let certificate = get(&c, &k, &pages[1]).await.1;
    assert!(certificate.contains("Entries are public"), "the signing form says so");
    for path in [
        "/wall",
        "/wall/live",
        "/guestbook",
        "/guestbook.json",
        "/guestbook.txt",
        "/guestbook?page=2",
    ] {
        let (status, body) = get(&c, &k, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains('@'), "{path} shows an email:\n{body}");
        for (_, email, _) in visitors {
            let domain = email.split('@').nth(1).unwrap();
            assert!(!body.contains(domain), "{path} shows {domain}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_form_states_its_rules_and_leads_to_each_error() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let (_, form) = get(&c, &k, "/").await;
    assert!(form.contains("maxlength=\"64\"") && form.contains("up to 64 characters"));
    let wall_box = between(&form, "id=\"wall\"", ">");
    assert!(!wall_box.contains("checked"), "the wall box starts unticked");
    assert!(form.contains("Show my first name next to my seal on the booth wall"));

    let csrf = csrf_of(&form);
    let res = c
        .post(k.at("/issue"))
        .form(&[("name", ""), ("email", "nope"), ("wall", "yes"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    let summary = between(&page, "id=\"error-summary\"", "</div>");
    assert!(
        summary.contains("autofocus"),
        "focus goes to the summary without JS too"
    );
    for (field, said) in [
        ("name", "Please enter your name."),
        ("email", "plain email address"),
        ("consent", "Please agree"),
    ] {
        assert!(summary.contains(&format!("href=\"#{field}\"")), "{field}: {summary}");
        assert!(summary.contains(said), "{field}: {summary}");
        assert!(page.contains(&format!("id=\"{field}\"")), "{field} has its id");
    }
    assert!(page.contains("/assets/form.js"));
    assert!(
        between(&page, "id=\"wall\"", ">").contains("checked"),
        "the box keeps its tick"
    );

    // The startup log warns that phones cannot reach the default loopback address.
    let logs = k.logs();
    assert!(logs.contains("phones cannot reach them"), "{logs}");
    assert!(logs.contains("--public-url"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn live_streams_tell_of_issuance_printing_and_the_guestbook() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let mut wall = Sse::open(&c, &k, "/wall/events").await;

    let page = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    let (data_, took) = wall.next("change", SOON).await;
    assert_eq!(data_, "{}", "the public stream says nothing about anyone");
    println!("wall event after an issuance: {took:?}");

    let mut mine = Sse::open(&c, &k, &format!("{page}/events")).await;
    let other = issue(&c, &k, "Grace Hopper", "grace@example.org").await;
    let csrf = csrf_of(&get(&c, &k, &page).await.1);
    let res = c
        .post(k.at(&format!("{page}/print")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Only this visitor's events, and the first is their own job, not Grace's issuance.
    let (job, took) = mine.next("job", SOON).await;
    println!("print state event: {job} after {took:?}");
    let states = mine.job_states_until_printed(job, SOON).await;
    assert_eq!(
        states,
        [
            "{\"state\":\"queued\"}",
            "{\"state\":\"printing\"}",
            "{\"state\":\"printed\"}"
        ]
    );
    let status: Value = c
        .get(k.at(&format!("{page}/print")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["certificate"], "issued");
    assert_eq!(status["job"]["state"], "printed");

    let mut wall = Sse::open(&c, &k, "/wall/events").await;
    let (status, _) = sign_here(&c, &k, &other, "Hello, wall", None).await;
    assert_eq!(status, 303);
    let (_, took) = wall.next("change", SOON).await;
    println!("wall event after a guestbook entry: {took:?}");
    let (_, live) = get(&c, &k, "/wall/live").await;
    assert!(live.contains("Hello, wall") && live.contains(">Grace<"), "{live}");

    // An unknown token has no stream.
    let res = c
        .get(k.at("/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_booth_screen_hands_over_without_holding_the_link() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let booth = client();
    enrol_booth_screen(&client(), &booth, &k).await;

    let res = issue_with(&booth, &k, "Ada Lovelace", "ada@example.org", false).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let handoff = res.headers()["location"].to_str().unwrap().to_string();
    assert!(handoff.starts_with("/k/") && handoff.len() == 35, "{handoff}");
    let res = booth.get(k.at(&handoff)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    for needle in [
        "Done — next visitor",
        "Print my ticket",
        "Scan this code with your phone",
    ] {
        assert!(html.contains(needle), "handoff lacks {needle:?}");
    }
    assert!(
        html.contains("<title>Your certificate"),
        "no name in the title (the browser history keeps titles)"
    );
    assert!(
        !html.contains("/c/"),
        "the permanent link is not on the booth screen:\n{html}"
    );
    assert!(
        !html.contains("bundle.zip") && !html.contains("/guestbook\""),
        "no download, no signing"
    );

    // The QR code carries the permanent link to the phone, where everything works.
    let link = inline_qr(&html);
    let page = link.strip_prefix(&k.url).expect("a link to this kiosk").to_string();
    assert!(page.starts_with("/c/"), "{link}");
    let phone = client();
    let (status, mine) = get(&phone, &k, &page).await;
    assert_eq!(status, 200);
    assert!(mine.contains("bundle.zip") && mine.contains("Sign the guestbook"));
    // The phone cannot open the handoff: it belongs to the booth screen's session.
    assert_eq!(get(&phone, &k, &handoff).await.0, 410);

    // On the booth screen the permanent link only ever leads to a handoff.
    let res = booth.get(k.at(&page)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let second = res.headers()["location"].to_str().unwrap().to_string();
    assert!(second.starts_with("/k/") && second != handoff, "{second}");
    for path in [format!("{page}/bundle.zip"), format!("{page}/certificate.p12")] {
        assert_eq!(get(&booth, &k, &path).await.0, 403, "{path}");
    }
    let csrf = csrf_of(&html);
    let res = booth
        .post(k.at(&format!("{page}/guestbook")))
        .form(&[("csrf", csrf.as_str()), ("message", "as someone else")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the next person cannot sign as this visitor");

    // Print from the handoff; its status and events work for the booth screen only.
    let res = booth
        .post(k.at(&format!("{handoff}/print")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("{handoff}#print"));
    let status: Value = booth
        .get(k.at(&format!("{handoff}/print")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["certificate"], "issued");
    assert!(status["job"]["id"].is_i64(), "{status}");
    Sse::open(&booth, &k, &format!("{handoff}/events")).await;
    assert_eq!(get(&phone, &k, &format!("{handoff}/print")).await.0, 410);

    // "Done": back to an empty form; the handoff is gone for good, and says nothing.
    let res = booth
        .post(k.at(&format!("{handoff}/done")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");
    let (_, form) = get(&booth, &k, "/").await;
    assert!(form.contains("value=\"\"") && !form.contains("Ada"), "an empty form");
    for path in [handoff.clone(), format!("{handoff}/print")] {
        let (status, body) = get(&booth, &k, &path).await;
        assert_eq!(status, 410, "{path}");
        assert!(
            !body.contains("Ada") && !body.contains("<svg"),
            "{path} shows nothing of them"
        );
    }
    let res = booth
        .post(k.at(&format!("{handoff}/print")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410, "no second use");

    // A handoff nobody ends expires by itself (10 s here, 5 minutes by default).
    let k = k.restart_with(&["--kiosk-handoff-seconds", "10"]);
    let res = booth.get(k.at(&page)).send().await.unwrap();
    let third = res.headers()["location"].to_str().unwrap().to_string();
    let (status, html) = get(&booth, &k, &third).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("returns to an empty form by itself after 8 seconds"),
        "{html}"
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(get(&booth, &k, &third).await.0, 410);
    // Handoffs live in the store: a restart (as another replica would) still serves a
    // live one, to its own browser only.
    assert_eq!(get(&booth, &k, &second).await.0, 200);
    assert_eq!(get(&client(), &k, &second).await.0, 410);

    // The booth screen never followed a redirect to the token, nothing logged it, and the
    // database keeps handoffs without it in clear.
    let token = &page[3..];
    assert!(!k.logs().contains(token));
    let mut db = std::fs::read(data.path().join("certstamp.db")).unwrap();
    db.extend(std::fs::read(data.path().join("certstamp.db-wal")).unwrap_or_default());
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
}
