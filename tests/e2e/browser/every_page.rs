//! Scenario 8: a walk through every page a browser can reach (form, certificate page,
//! print, guestbook signing at the kiosk, guestbook, wall, staff console, an unknown
//! address), failing on any JavaScript error or failed request in the console, and on
//! any serious or critical axe-core finding. The pages that promise to work without
//! JavaScript (all of them: the form, printing, signing) are walked again with it off.

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

/// Look at the page as a person would: screenshot, console and (with JavaScript on, as
/// axe-core needs it) accessibility.
async fn check(b: &Browser, label: &str) {
    b.find("main").await;
    b.shot(label).await;
    if b.javascript() {
        b.assert_accessible(label).await;
    }
}

async fn walk(window: Window, wall: Window) {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(window).await;

    b.goto(&k.at("/")).await;
    check(&b, "form").await;
    let page = flows::issue(&b, &k, "Zoë Ångström", "zoe@example.org").await;
    check(&b, "certificate").await;

    flows::press_print(&b, &k, &page).await;
    check(&b, "certificate-printing").await;

    // Sign the guestbook through the kiosk form: it leads to the guestbook.
    b.type_into("#message", "Lovely booth ✨").await;
    b.click_and_wait("#guestbook button[type=submit]").await;
    assert_eq!(b.url().await, k.at("/guestbook"));
    assert!(b.text("main").await.contains("Lovely booth ✨"));
    check(&b, "guestbook").await;

    // The wall, on its own big screen.
    let w = Browser::open(wall).await;
    w.goto(&k.at("/wall")).await;
    check(&w, "wall").await;
    w.finish().await;

    flows::staff_console(&b, &k).await;
    assert!(b.text("main").await.contains("Zoë Ångström"));
    check(&b, "staff").await;

    // An unknown address answers 404 with a page; Chromium logs the status, nothing else.
    b.allow_in_log(&format!(
        "{}/no-such-page - Failed to load resource: the server responded with a status of 404",
        k.url
    ));
    b.goto(&k.at("/no-such-page")).await;
    check(&b, "not-found").await;

    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_page_logs_an_error_or_a_failed_request() {
    walk(Window::laptop("8-every-page"), Window::wall("8-every-page-wall")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_works_without_javascript() {
    walk(
        Window::phone("8-every-page-no-js").without_javascript(),
        Window::wall("8-every-page-wall-no-js").without_javascript(),
    )
    .await;
}
