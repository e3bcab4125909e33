//! Scenario 7: a visitor downloads the zip in the browser, runs the `curl` command the
//! certificate page shows (mutual TLS with the zip's chain and key), follows the page's
//! link to the guestbook and finds the entry there with its star.

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_signed_over_mtls_with_curl_appears_on_the_guestbook() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(Window::laptop("7-guestbook-mtls")).await;

    flows::issue(&b, &k, "Ada Lovelace", "ada@example.org").await;
    let unzipped = tempfile::tempdir().unwrap();
    flows::download_bundle(&b, unzipped.path()).await;

    // The command exactly as the page prints it, run in the unzipped folder.
    let command = b.text("//pre[starts-with(., 'curl ')]").await;
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "curl", "{command}");
    let out = run(
        "curl",
        &[&["--silent", "--show-error"], &words[1..]].concat(),
        unzipped.path(),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Thanks"), "{said}");

    // From the certificate page to the guestbook by its link, as a visitor would.
    b.click_and_wait("a[href='/guestbook']").await;
    assert_eq!(b.url().await, k.at("/guestbook"));
    let entry = b.text("//li[.//*[normalize-space(.)='hello']]").await;
    assert!(entry.contains("Ada"), "{entry}");
    assert!(entry.contains('★'), "an mTLS entry earns a star: {entry}");
    assert!(
        !entry.contains("ada@example.org"),
        "the guestbook shows an email: {entry}"
    );
    b.shot("guestbook").await;
    b.finish().await;
}
