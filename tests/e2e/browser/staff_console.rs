//! Issue 11, the staff side in a browser: the console with 35 visitors (Arabic, Chinese,
//! emoji, 64-character names) on a 1280x800 laptop and a 375x812 phone, screenshots in
//! `target/e2e/11-staff-*/`, no sideways scrolling, axe-core clean on the console and
//! the login; it follows a new visitor live (no reload), and "Void & reissue" goes
//! through its confirmation to the new link's QR code, which on the laptop stays on
//! screen past 30 s and live updates (issue 12, scenario 6) until the visitor opens it.

use std::time::Duration;

use serde_json::Value;

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

/// The names of the booth's afternoon rush, the most demanding ones last (newest, so on
/// the console's first page).
fn names() -> Vec<String> {
    let mut names: Vec<String> = (0..19).map(|i| format!("Visitor Number {i}")).collect();
    names.extend(
        [
            "ليلى عبد الله",
            "محمد الفاسي",
            "王小明",
            "李华",
            "张伟 (Wei Zhang)",
            "Zoë 🐙 Ørsted",
            "🚀🚀 Rocket Raccoon 🚀🚀",
            "Ngũgĩ wa Thiong'o",
            "Søren Kierkegaard",
            "José Ramón Núñez",
            "Александра Иванова",
            "Ἀριστοτέλης",
            "Nguyễn Thị Minh Khai",
            "O'Brien-Smythe",
        ]
        .map(String::from),
    );
    // 64 characters, the form's limit.
    names.push("Maximiliane Anastasia Wolkenstein-Trostburg von Hohenzollern-Sig".into());
    names.push("Bartholomew Fitzwilliam Montgomery-Worthington III of Pemberleyy".into());
    assert_eq!(names.len(), 35);
    names
}

/// Width the page scrolls to beyond the window (0 when it fits).
async fn sideways(b: &Browser) -> i64 {
    let v: Value =
        b.c.execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    v.as_i64().unwrap()
}

/// The page's full height in CSS pixels.
async fn height(b: &Browser) -> i64 {
    let v: Value =
        b.c.execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap();
    v.as_i64().unwrap()
}

/// Buttons and badges whose text does not fit on one line ("Repr/int", "iss/ued").
async fn broken_words(b: &Browser) -> Vec<String> {
    let v: Value = b
        .c
        .execute(
            "return [...document.querySelectorAll('.staff-actions .button, .staff-actions button, .badge, .staff-tabs a')]
               .filter(e => e.getClientRects().length > 1 || e.scrollWidth > e.clientWidth + 1)
               .map(e => e.textContent.trim());",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn crowd(k: &Kiosk) {
    let c = client();
    for (i, name) in names().iter().enumerate() {
        let page = issue(&c, k, name, &format!("visitor{i}@example.org")).await;
        if i % 9 == 0 {
            // Some tickets, so the queue shows previews.
            let html = c.get(k.at(&page)).send().await.unwrap().text().await.unwrap();
            c.post(k.at(&format!("{page}/print")))
                .form(&[("csrf", csrf_of(&html))])
                .send()
                .await
                .unwrap();
        }
    }
    // Two voided, so the state column shows more than one word.
    let staff = client();
    let console = staff_page(&staff, k).await;
    for email in ["visitor21@example.org", "visitor30@example.org"] {
        let id = visitor_id(&console, email);
        assert_eq!(
            staff_post(&staff, k, &format!("/staff/visitors/{id}/void"))
                .await
                .status(),
            303
        );
    }
}

/// How long the reissued code must stay on the console (issue 12, scenario 6).
const HOLD: Duration = Duration::from_secs(30);

async fn look(window: Window, hold: bool) {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    crowd(&k).await;
    let b = Browser::open(window).await;
    b.goto(&k.at("/staff/login")).await;
    b.find("#password").await;
    b.shot("login").await;
    b.assert_accessible("login").await;
    flows::staff_console(&b, &k).await;
    let shot = b.shot("console").await;
    b.assert_accessible("console").await;
    assert_eq!(sideways(&b).await, 0, "the console scrolls sideways");
    assert_eq!(broken_words(&b).await, Vec::<String>::new());
    let tall = height(&b).await;
    println!(
        "{}: console {tall} px tall, screenshot {}",
        b.shots.display(),
        shot.display()
    );
    // The longest names, in their row, as staff read them.
    let long = b.find("//span[contains(., 'Maximiliane')]").await;
    b.scroll_to(&long).await;
    b.shot("long-names").await;
    // A page of 20 of the 35, newest first, and the way to the rest.
    assert!(b.text(".staff-pages").await.contains("35 visitors"));
    assert_eq!(b.attr_of_all(".staff-table tbody tr", "class").await.len(), 20);
    assert!(b.has("a[rel=next]").await);

    // Live: a new visitor appears without a reload (a marker set on this page survives).
    b.c.execute("window.__stillHere = true;", vec![]).await.unwrap();
    issue(&client(), &k, "Ada Live Lovelace", "ada.live@example.org").await;
    b.wait_for("the new visitor on the console", async || {
        b.text("#live").await.contains("Ada Live Lovelace")
    })
    .await;
    let kept =
        b.c.execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap();
    assert_eq!(kept, Value::Bool(true), "the page reloaded instead of updating");

    // Search narrows to one person, by part of a name in any script.
    b.type_into("#q", "王小明").await;
    b.click_and_wait("form[role=search] button[type=submit]").await;
    let rows = b.attr_of_all(".staff-table tbody tr", "class").await;
    assert_eq!(rows.len(), 1, "{rows:?}");

    // Void & reissue: a confirmation page, then the new link's QR code on the console.
    b.click_and_wait("a[href*='/reissue']").await;
    assert!(b.text("h1").await.contains("王小明"));
    b.shot("confirm").await;
    b.assert_accessible("confirm").await;
    b.click_and_wait("form.staff-confirm button[type=submit]").await;
    assert!(b.text(".staff-handoff").await.contains("New link for 王小明"));
    b.find(".staff-handoff svg[aria-label='QR code']").await;
    let reissued_at = std::time::Instant::now();
    b.shot("reissued").await;
    b.assert_accessible("reissued").await;
    if hold {
        hold_the_new_code(&b, &k, reissued_at).await;
    }
    b.finish().await;
}

/// Scenario 6: the new code stays on screen for 30 s and more, through live updates,
/// and still leads to the new link; it goes once the visitor has opened it.
async fn hold_the_new_code(b: &Browser, k: &Kiosk, since: std::time::Instant) {
    let link = b.text(".staff-link").await.trim().to_string();
    assert!(link.contains("/c/"), "{link}");
    b.c.execute("window.__held = true;", vec![]).await.unwrap();
    // The console still lists the search for 王小明: a namesake arrives meanwhile.
    issue(&client(), k, "王小明 Junior", "junior@example.org").await;
    b.wait_for("a live update while the code is shown", async || {
        b.text("#live").await.contains("王小明 Junior")
    })
    .await;
    tokio::time::sleep(HOLD.saturating_sub(since.elapsed())).await;
    assert!(b.text(".staff-handoff").await.contains("New link for 王小明"));
    let shot = b.shot("reissued-after-30s").await;
    let codes = zbar(&shot);
    assert!(
        codes.contains(&link),
        "the code on screen after 30 s: {codes:?}, the link: {link}"
    );
    let kept = b.c.execute("return window.__held === true;", vec![]).await.unwrap();
    assert_eq!(kept, Value::Bool(true), "the console reloaded itself");
    // The visitor opens it: the code leaves the console by itself.
    assert_eq!(client().get(&link).send().await.unwrap().status(), 200);
    b.wait_for("the opened link's code to go", async || !b.has(".staff-handoff").await)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_console_on_a_laptop() {
    look(Window::laptop("11-staff-1280"), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_console_on_a_phone() {
    look(Window::phone("11-staff-375"), false).await;
}
