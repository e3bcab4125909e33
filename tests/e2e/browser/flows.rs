//! Steps several scenarios take, done the way a person does them.

use std::path::{Path, PathBuf};

use super::session::Browser;
use crate::support::{Kiosk, run, unzip};

/// On the form: type a name and an email, tick consent, press the button; returns the
/// certificate page's path once the browser has landed there.
pub async fn issue(b: &Browser, k: &Kiosk, name: &str, email: &str) -> String {
    b.goto(&k.at("/")).await;
    b.type_into("#name", name).await;
    b.type_into("#email", email).await;
    b.click("#consent").await;
    b.click_and_wait("form[action='/issue'] button[type=submit]").await;
    let url = b.url().await;
    let path = url
        .strip_prefix(&k.url)
        .unwrap_or_else(|| panic!("left the kiosk: {url}"))
        .to_string();
    if !path.starts_with("/c/") {
        b.shot("unexpected").await;
        panic!(
            "the form led to {path}, not a certificate page:\n{}",
            b.text("main").await
        );
    }
    assert_eq!(b.text("h1").await, name);
    path
}

/// Press "Print my ticket" on the certificate page at `page`. With JavaScript the button
/// posts in the background and the ticket's state appears in place; without, the post
/// comes back to the ticket's part of the page.
pub async fn press_print(b: &Browser, k: &Kiosk, page: &str) {
    if b.javascript() {
        b.click("#print button[type=submit]").await;
        b.wait_for("the ticket's state", async || {
            !b.text("#print [role=status]").await.is_empty()
        })
        .await;
        assert_eq!(b.url().await, k.at(page));
    } else {
        b.click_and_wait("#print button[type=submit]").await;
        assert_eq!(b.url().await, k.at(&format!("{page}#print")));
        assert!(!b.text("#print [role=status]").await.is_empty());
    }
}

/// Press the download link on the certificate page, wait for `certificate.zip` in the
/// browser's download folder and unpack it into `into`.
pub async fn download_bundle(b: &Browser, into: &Path) -> PathBuf {
    b.click("a[href$='/bundle.zip']").await;
    let zip = b.downloaded("certificate.zip").await;
    let names = unzip(&std::fs::read(&zip).unwrap(), into);
    assert!(names.iter().any(|n| n == "cert.pem"), "{names:?}");
    zip
}

/// `openssl verify` the unpacked bundle in `dir` against its own booth root.
pub fn assert_openssl_verifies(dir: &Path) {
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "chain.pem",
            "-purpose",
            "sslclient",
            "cert.pem",
        ],
        dir,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("cert.pem: OK"),
        "openssl verify: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Open the staff console as staff: the login form with the fixture's passphrase.
pub async fn staff_console(b: &Browser, k: &Kiosk) {
    b.goto(&k.at("/staff/login")).await;
    b.type_into("#password", crate::support::STAFF_PASSPHRASE).await;
    b.click_and_wait("form[action='/staff/login'] button[type=submit]")
        .await;
    assert_eq!(b.url().await, k.at("/staff"));
    b.find("h1").await;
}

/// Make this browser the booth screen as staff do: they create a one-time link in the
/// console on their own device, and the booth screen opens it without logging in.
pub async fn make_booth_screen(b: &Browser, k: &Kiosk) {
    let staff = crate::support::client();
    let res = crate::support::staff_post(&staff, k, "/staff/kiosk/enrol").await;
    assert_eq!(res.status(), 303);
    let console = crate::support::staff_page(&staff, k).await;
    let code = crate::support::between(&console, "/kiosk/enrol/", "\"");
    b.goto(&k.at(&format!("/kiosk/enrol/{code}"))).await;
    assert_eq!(b.url().await, k.at("/"));
}
