//! Scenario 2: a bad email and no consent. The errors appear next to their fields, the
//! typed values stay, focus moves to the error summary at the top (whose links lead to
//! the fields), and fixing the two fields issues. With and without JavaScript.

use super::session::{Browser, Window};
use crate::support::*;

async fn bad_email_and_no_consent(window: Window) {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let b = Browser::open(window).await;
    // The form answers 400 with the errors; Chromium logs that status like a failed load.
    b.allow_in_log(&format!(
        "{}/issue - Failed to load resource: the server responded with a status of 400",
        k.url
    ));

    b.goto(&k.at("/")).await;
    b.type_into("#name", "Grace Hopper").await;
    b.type_into("#email", "grace@").await;
    b.click_and_wait("form[action='/issue'] button[type=submit]").await;
    b.find("#error-summary").await;
    b.shot("errors").await;

    // Focus is on the summary, so a screen reader starts there.
    assert_eq!(b.focused_id().await, "error-summary");
    let summary = b.text("#error-summary").await;
    assert!(summary.contains("Please fix the fields marked below."), "{summary}");
    // Each error sits right under its own field and is tied to it for screen readers.
    for (field, shown, error) in [
        ("#email", "#email", "#email-error"),
        ("#consent", "label.consent", "#consent-error"),
    ] {
        let (_, fy, _, fh) = b.find(shown).await.rectangle().await.unwrap();
        let (_, ey, _, _) = b.find(error).await.rectangle().await.unwrap();
        assert!(ey >= fy && ey - (fy + fh) < 40.0, "{error} is not next to {field}");
        let described = b.find(field).await.attr("aria-describedby").await.unwrap();
        assert_eq!(described.as_deref(), Some(&error[1..]));
        assert_eq!(
            b.find(field).await.attr("aria-invalid").await.unwrap().as_deref(),
            Some("true")
        );
    }
    assert!(b.text("#email-error").await.to_lowercase().contains("email"));
    assert!(!b.has("#name-error").await, "the name was fine");
    // The summary links each error to its field, and only those.
    assert_eq!(b.attr_of_all("#error-summary a", "href").await, ["#email", "#consent"]);
    // What was typed is still there; consent stays unticked.
    assert_eq!(b.value("#name").await, "Grace Hopper");
    assert_eq!(b.value("#email").await, "grace@");
    assert!(!b.find("#consent").await.is_selected().await.unwrap());
    if b.javascript() {
        b.assert_accessible("errors").await;
    }

    // Following the summary's link brings the field into view.
    b.click("#error-summary a[href='#consent']").await;
    assert!(b.url().await.ends_with("#consent"));

    // Fix both and send again: the certificate page.
    let email = b.find("#email").await;
    email.clear().await.unwrap();
    b.type_into("#email", "grace@example.org").await;
    b.click("#consent").await;
    b.click_and_wait("form[action='/issue'] button[type=submit]").await;
    assert!(b.url().await.starts_with(&k.at("/c/")), "{}", b.url().await);
    assert_eq!(b.text("h1").await, "Grace Hopper");
    b.shot("fixed-and-issued").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn form_errors_stay_next_to_their_fields_and_the_summary_takes_focus() {
    bad_email_and_no_consent(Window::phone("2-form-errors")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn form_errors_work_the_same_without_javascript() {
    bad_email_and_no_consent(Window::phone("2-form-errors-no-js").without_javascript()).await;
}
