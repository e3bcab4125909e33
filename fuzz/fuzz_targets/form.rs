//! The form parser and the text rules behind every form: any bytes in, a form or a clear
//! refusal out, and whatever the rules accept shows as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[path = "../../src/validate.rs"]
#[allow(dead_code)]
mod validate;

/// The shape of the visitor form (`web::visitor::IssueForm`) and the guestbook forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Form {
    name: String,
    email: String,
    consent: Option<String>,
    csrf: String,
    message: String,
}

fuzz_target!(|data: &[u8]| {
    let Ok(form) = validate::form::<Form>(data) else {
        return;
    };
    // Whatever parsed was valid UTF-8 all the way down.
    let _ = validate::form::<Vec<(String, String)>>(data).expect("a form that parsed as fields");
    let _ = (&form.consent, &form.csrf);
    if let Ok(name) = validate::name(&form.name) {
        assert!(validate::is_plain(&name), "{name:?}");
        assert!((1..=64).contains(&name.chars().count()));
        assert_eq!(validate::name(&name).as_ref(), Ok(&name), "the rules are stable");
    }
    if let Ok(message) = validate::message(&form.message) {
        assert!(validate::is_plain(&message), "{message:?}");
        assert!((1..=validate::MESSAGE_MAX).contains(&message.chars().count()));
    }
    if let Ok((email, lower)) = validate::email(&form.email) {
        assert!(email.is_ascii() && lower == email.to_ascii_lowercase());
    }
    // What every text view prints shows as itself.
    for s in [&form.name, &form.message, &form.email] {
        let shown = validate::visible(s);
        assert!(validate::is_plain(&shown), "{s:?} -> {shown:?}");
    }
});
