//! Issue 11, the public screens in a real browser: the booth screen forgets a visitor
//! after "Done" (screen, address bar, Back, session history); the wall fills a
//! 1920x1080 screen with 0, 1 and 40 visitors and updates by itself; the certificate
//! page shows the QR code, "Print my ticket" and "Download" in a phone's first screen
//! and follows the ticket to "printed" without a reload. Names in Arabic, Chinese, emoji
//! and 64 characters; screenshots in `target/e2e/11-*/`.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

/// 64 characters, the longest name the form takes.
const LONG_NAME: &str = "Maximiliane Alexandrina von Hohenzollern-Sigmaringen Wittelsbach";

/// Names as they come to a booth: scripts, emoji, the longest allowed.
const NAMES: [&str; 8] = [
    "محمد علي",
    "李小龍",
    "🦀 Ferris",
    LONG_NAME,
    "Zoë Ørsted",
    "田中 太郎",
    "Олександр Шевченко",
    "😀 Smiley",
];

/// Chromium's own session history (what Back and Forward can reach) through
/// chromedriver's DevTools passthrough; fantoccini has no command for it.
#[derive(Debug)]
struct NavigationHistory;

impl WebDriverCompatibleCommand for NavigationHistory {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": "Page.getNavigationHistory", "params": {} });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Every entry of the tab's history, as `url title` lines.
async fn history(b: &Browser) -> Vec<String> {
    let v: Value = b.c.issue_cmd(NavigationHistory).await.unwrap();
    v["entries"]
        .as_array()
        .expect("navigation entries")
        .iter()
        .map(|e| format!("{} {}", e["url"].as_str().unwrap(), e["title"].as_str().unwrap()))
        .collect()
}

/// What `url` answers the browser now, asked from inside it (with its cookies).
async fn status_in_browser(b: &Browser, url: &str) -> i64 {
    let v = b
        .c
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0], {cache: 'no-store'}).then(r => done(r.status), () => done(0));",
            vec![json!(url)],
        )
        .await
        .unwrap();
    v.as_i64().unwrap_or_default()
}

/// Whether an element lies wholly inside the first screen (the page is not scrolled).
async fn in_first_screen(b: &Browser, css: &str) -> bool {
    let (x, y, w, h) = b.find(css).await.rectangle().await.unwrap();
    let (vw, vh) = viewport(b).await;
    x >= 0.0 && y >= 0.0 && x + w <= vw && y + h <= vh
}

async fn viewport(b: &Browser) -> (f64, f64) {
    let v =
        b.c.execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .unwrap();
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// Nothing scrolls sideways, and (for a wall) nothing below the screen either.
async fn assert_fits(b: &Browser, what: &str, vertically: bool) {
    let v =
        b.c.execute(
            "const d = document.documentElement; return [d.scrollWidth, d.scrollHeight, innerWidth, innerHeight]",
            vec![],
        )
        .await
        .unwrap();
    let n = |i: usize| v[i].as_f64().unwrap();
    assert!(n(0) <= n(2), "{what} scrolls sideways: {v}");
    if vertically {
        assert!(n(1) <= n(3), "{what} is taller than the screen: {v}");
    }
}

/// The wall's counts ("1 certificate issued 0 tickets printed ...").
async fn stats(b: &Browser) -> String {
    b.text_now(".wall-stats").await
}

/// Submit the form over HTTP (not the browser under test).
async fn visitor(c: &reqwest::Client, k: &Kiosk, name: &str, i: usize) -> String {
    let csrf = csrf_of(&c.get(k.at("/")).send().await.unwrap().text().await.unwrap());
    let email = format!("visitor{i}@example.org");
    let mut form = vec![
        ("name", name),
        ("email", email.as_str()),
        ("consent", "yes"),
        ("csrf", csrf.as_str()),
    ];
    // Two in three tick "show my first name on the booth wall".
    if !i.is_multiple_of(3) {
        form.push(("wall", "yes"));
    }
    let res = c.post(k.at("/issue")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{name}");
    res.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_booth_screen_keeps_nothing_of_a_visitor_after_done() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(Window::laptop("11-kiosk-handoff")).await;
    flows::make_booth_screen(&b, &k).await;
    b.type_into("#name", "Ada Lovelace").await;
    b.type_into("#email", "ada@example.org").await;
    b.click("#consent").await;
    b.click_and_wait("form[action='/issue'] button[type=submit]").await;
    let handoff = b.url().await;
    assert!(handoff.starts_with(&k.at("/k/")), "{handoff}");
    assert_eq!(b.text("h1").await, "Ada Lovelace");
    // The booth's 1280x800 screen shows everything the visitor needs at once.
    for css in ["svg.qr", "#print-button", "#done-form button"] {
        assert!(in_first_screen(&b, css).await, "{css} is not in the first screen");
    }
    assert!(!b.has("a[href$='/bundle.zip']").await && !b.has("#message").await);
    let shot = b.shot("handoff").await;
    b.assert_accessible("handoff").await;
    let link = zbar(&shot);
    assert_eq!(link.len(), 1);
    let page = link[0].strip_prefix(&k.url).expect("a link to this kiosk").to_string();
    assert!(page.starts_with("/c/"), "{page}");
    let token = page[3..].to_string();

    // Print in place; the state follows without a reload.
    b.click("#print-button").await;
    b.wait_for("the ticket to print", async || {
        b.text("#print-status").await.contains("printed")
    })
    .await;
    assert_eq!(b.url().await, handoff);
    b.shot("printed").await;

    // Done: an empty form; Back shows nothing of Ada either.
    b.click("#done-form button").await;
    b.wait_for("the empty form", async || b.url().await == k.at("/")).await;
    b.find("form[action='/issue']").await;
    assert_eq!(b.value("#name").await, "");
    b.shot("after-done").await;
    b.c.back().await.unwrap();
    b.find("main").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after_back = b.url().await;
    let text = b.text("body").await;
    b.shot("after-back").await;
    assert!(!after_back.contains(&token), "{after_back}");
    assert!(
        !text.contains("Ada") && !text.contains("Lovelace"),
        "Back shows:\n{text}"
    );
    assert!(!b.has("svg.qr").await, "a QR code after Back");
    for entry in history(&b).await {
        assert!(!entry.contains(&token), "the history holds the link: {entry}");
        assert!(
            !entry.contains("Ada") && !entry.contains("Lovelace"),
            "the history holds the name: {entry}"
        );
    }
    // The permanent link typed into the booth screen only leads to a new handoff.
    b.goto(&k.at(&page)).await;
    let again = b.url().await;
    assert!(again.starts_with(&k.at("/k/")), "{again}");
    b.find("#done-form").await;
    // Leaving it by the header's link instead of "Done" ends it as well: Back finds it
    // gone (410, which Chromium logs), and nothing of Ada.
    b.click("header a[href='/']").await;
    b.wait_for("the form", async || b.url().await == k.at("/")).await;
    b.allow_in_log("the server responded with a status of 410");
    b.wait_for("the handoff to end", async || {
        status_in_browser(&b, &again).await == 410
    })
    .await;
    b.c.back().await.unwrap();
    b.wait_for("the ended handoff", async || b.url().await == again).await;
    let text = b.text("body").await;
    assert!(
        text.contains("moved on to the next visitor") && !text.contains("Ada"),
        "{text}"
    );
    b.shot("left-by-the-header-then-back").await;

    // The booth screen refuses the staff pages; staff switch it back with the passphrase.
    b.allow_in_log("the server responded with a status of 403");
    b.goto(&k.at("/staff/login")).await;
    assert!(b.text("main").await.contains("kiosk mode"));
    b.goto(&k.at("/kiosk/leave")).await;
    b.shot("leave-kiosk-mode").await;
    b.assert_accessible("leave-kiosk-mode").await;
    b.type_into("#password", crate::support::STAFF_PASSPHRASE).await;
    b.click_and_wait("form[action='/kiosk/leave'] button[type=submit]")
        .await;
    assert_eq!(b.url().await, k.at("/staff/login"));
    b.find("#password").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wall_fills_its_screen_with_0_1_and_40_visitors_and_updates_itself() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let b = Browser::open(Window::wall("11-wall")).await;
    b.goto(&k.at("/wall")).await;
    b.find("h1").await;
    assert_eq!(viewport(&b).await, (1920.0, 1080.0), "not the wall's screen");
    assert!(b.text_now("main").await.contains("No certificates yet"));
    assert_fits(&b, "the empty wall", true).await;
    b.shot("0-visitors").await;
    b.assert_accessible("wall-empty").await;

    // One visitor: the wall changes by itself (no reload), with the singular.
    b.c.execute("window.stillHere = true", vec![]).await.unwrap();
    let first = visitor(&c, &k, "Ada Lovelace", 1).await;
    b.wait_for("the wall to show the first visitor", async || {
        stats(&b).await.contains("1 certificate issued")
    })
    .await;
    assert_eq!(
        b.c.execute("return window.stillHere === true", vec![]).await.unwrap(),
        Value::Bool(true),
        "the wall reloaded instead of updating in place"
    );
    assert_eq!(b.text_now(".wall-name").await, "Ada");
    assert_eq!(b.text_now(".wall-when").await, "just now");
    b.shot("1-visitor").await;

    // Forty, in many scripts; some sign the guestbook, some print.
    let mut pages = vec![first];
    for i in 2..=40 {
        pages.push(visitor(&c, &k, NAMES[i % NAMES.len()], i).await);
    }
    let long = "long message ".repeat(20);
    for (i, page) in pages.iter().take(6).enumerate() {
        let csrf = csrf_of(&c.get(k.at(page)).send().await.unwrap().text().await.unwrap());
        let message = ["Great booth! 🎉", "شكرا جزيلا", "证书很酷", &long, "🦀🦀🦀", "Hello"][i];
        let res = c
            .post(k.at(&format!("{page}/guestbook")))
            .form(&[("csrf", csrf.as_str()), ("message", message)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        c.post(k.at(&format!("{page}/print")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
    }
    b.wait_for("the wall to count forty", async || {
        let stats = stats(&b).await;
        stats.contains("40 certificates issued") && stats.contains("6 guestbook entries")
    })
    .await;
    assert_fits(&b, "the wall with 40 visitors", true).await;
    let text = b.text_now("main").await;
    assert!(!text.contains('@') && !text.contains("example.org"), "{text}");
    assert!(!text.contains("Lovelace"), "only first names");
    b.shot("40-visitors").await;
    b.assert_accessible("wall-40").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_page_leads_with_its_actions_on_a_phone() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(Window::phone("11-certificate-phone")).await;
    let page = flows::issue(&b, &k, LONG_NAME, "max@example.org").await;
    for css in ["svg.qr", "#print-button", "a[href$='/bundle.zip']"] {
        assert!(in_first_screen(&b, css).await, "{css} is not in the first screen");
    }
    assert_fits(&b, "the certificate page", false).await;
    let shot = b.shot("first-screen").await;
    assert_eq!(zbar(&shot), vec![k.at(&page)]);
    b.assert_accessible("certificate").await;

    // The ticket's state follows to "printed" without a reload.
    b.c.execute("window.stillHere = true", vec![]).await.unwrap();
    b.click("#print-button").await;
    b.wait_for("the ticket to print", async || {
        b.text("#print-status").await.contains("printed")
    })
    .await;
    assert_eq!(
        b.c.execute("return window.stillHere === true", vec![]).await.unwrap(),
        Value::Bool(true),
        "the page reloaded"
    );
    b.shot("printed").await;

    // The guestbook with a long name without spaces: nothing scrolls sideways on a phone.
    assert_eq!(b.value("#sign-name").await, "Maximiliane", "the first name by default");
    b.find("#sign-name").await.clear().await.unwrap();
    let long = "Ŵ".repeat(64);
    b.type_into("#sign-name", &long).await;
    // ChromeDriver types only the Basic Multilingual Plane, so no emoji here.
    b.type_into("#message", "Hello from a phone ☎").await;
    b.click_and_wait("#guestbook button[type=submit]").await;
    assert_eq!(b.url().await, k.at("/guestbook"));
    assert!(b.text("main").await.contains(&long));
    assert_fits(&b, "the guestbook", false).await;
    b.shot("guestbook").await;
    b.assert_accessible("guestbook").await;
    b.finish().await;
}
