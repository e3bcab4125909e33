//! A real browser: Debian's headless Chromium renders the certificate page at phone
//! size, and zbarimg reads the page's own URL back from the screenshot.

use std::path::Path;
use std::process::Command;

use crate::support::*;

pub(crate) fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return c;
        }
    }
    panic!(
        "Chromium is missing: install it with `apt-get install -y chromium chromium-driver` (or run bash .ci/install-test-deps)"
    );
}

/// Flags for a headless Chromium that stays off the network except for the page asked.
pub(crate) const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Screenshot `url` at `width`x`height` into `out`.
pub fn screenshot(url: &str, width: u32, height: u32, out: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let status = Command::new(chromium())
        .args(HEADLESS)
        .args(["--hide-scrollbars", "--force-device-scale-factor=1"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        status.status.success() && out.exists(),
        "chromium failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_screenshot_of_the_certificate_page_scans() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let c = client();
    let page = issue(&c, &k, "Ada Lovelace", "ada@example.org").await;
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("page.png");
    screenshot(&k.at(&page), 375, 812, &shot);
    if let Ok(keep) = std::env::var("CERTSTAMP_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    assert_eq!(zbar(&shot), vec![k.at(&page)]);
}
