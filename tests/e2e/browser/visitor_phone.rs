//! Scenario 1: a visitor on a 375x812 phone types a name and email, ticks consent,
//! presses the button and lands on the certificate page; the QR code read off a
//! screenshot is the page's own address, and the downloaded zip passes `openssl verify`.

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn phone_visitor_issues_scans_the_qr_and_downloads_a_chain_openssl_accepts() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(Window::phone("1-phone-visitor")).await;

    b.goto(&k.at("/")).await;
    let viewport =
        b.c.execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .unwrap();
    assert_eq!(viewport, serde_json::json!([375, 812]), "not a phone-sized viewport");
    // The whole form, button included, fits the first screen of a phone.
    let (_, y, _, h) = b.find("form[action='/issue'] button").await.rectangle().await.unwrap();
    assert!(
        y + h <= 812.0,
        "the issue button is below the first screen (bottom at {})",
        y + h
    );
    b.shot("form").await;
    b.assert_accessible("form").await;

    let page = flows::issue(&b, &k, "Ada Lovelace", "ada@example.org").await;
    b.shot("certificate-first-screen").await;
    b.assert_accessible("certificate").await;

    // The QR code, scrolled into view as a person shows it to their camera.
    let qr = b.find("svg.qr").await;
    b.scroll_to(&qr).await;
    let shot = b.shot("qr-in-view").await;
    assert_eq!(
        zbar(&shot),
        vec![k.at(&page)],
        "the QR on screen is not this page's address"
    );

    let unzipped = tempfile::tempdir().unwrap();
    flows::download_bundle(&b, unzipped.path()).await;
    b.shot("after-download").await;
    flows::assert_openssl_verifies(unzipped.path());
    // The page's PKCS#12 password opens the zip's PKCS#12 file.
    let password = b.text("//p[starts-with(., 'PKCS#12 password')]/code").await;
    let out = run(
        "openssl",
        &[
            "pkcs12",
            "-in",
            "certificate.p12",
            "-passin",
            &format!("pass:{password}"),
            "-nokeys",
            "-noout",
        ],
        unzipped.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    b.finish().await;
}
