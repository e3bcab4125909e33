//! The staff console and how staff get in: login with the passphrase, the console
//! (visitors, print queue, printer, booth screen), the actions behind it, and kiosk
//! enrolment. Every action is a CSRF-checked POST that answers 303 back to the console,
//! with what happened carried in the session's flash, so a reload never repeats it.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::error::Error;

/// Void, reissue, forget (each behind a confirmation), job decisions, the test ticket.
mod actions;
/// The console page, its live fragment and event stream, ticket previews.
mod console;
/// Booth-screen enrolment links, and switching a booth screen off.
mod kiosk;
/// Log in and out.
mod login;

/// Routes for staff (and the booth screen's enrolment).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/staff", get(console::page))
        .route("/staff/live", get(console::live))
        .route("/staff/events", get(console::events))
        .route("/staff/jobs/{id}/preview.png", get(console::preview))
        .route("/staff/login", get(login::form).post(login::submit))
        .route("/staff/logout", post(login::logout))
        .route(
            "/staff/visitors/{id}/{action}",
            get(actions::confirm).post(actions::visitor_action),
        )
        .route("/staff/handoffs/{id}/dismiss", post(actions::dismiss_handoff))
        .route("/staff/jobs/{id}/{action}", post(actions::job_action))
        .route("/staff/printer/test", post(actions::test_ticket))
        .route("/staff/kiosk/enrol", post(kiosk::create))
        .route("/kiosk/enrol/{code}", get(kiosk::enrol))
        .route("/kiosk/leave", get(kiosk::leave_form).post(kiosk::leave))
}

/// Where a form goes back to: the console view it came from, never another site.
pub(super) fn back_to(back: &str) -> String {
    let ok =
        (back == "/staff" || back.starts_with("/staff?")) && !back.contains(['\\', '\r', '\n']) && !back.contains("//");
    if ok { back.to_string() } else { "/staff".to_string() }
}

/// 303 to the console view the form came from.
pub(super) fn see_console(back: &str) -> Response {
    Redirect::to(&back_to(back)).into_response()
}

/// A page with the form-token cookie when the browser had none yet.
pub(super) fn with_csrf_cookie(page: impl IntoResponse, set: Option<HeaderValue>) -> Response {
    let mut res = page.into_response();
    if let Some(c) = set {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

/// A refused passphrase (login, leaving kiosk mode) as the status and the sentence its
/// form shows again; any other error stays an error.
pub(super) fn passphrase_refusal(e: Error) -> Result<(StatusCode, String), Error> {
    match e {
        Error::Unauthorized => Ok((
            StatusCode::UNAUTHORIZED,
            "That passphrase is not right. After five wrong tries a minute, this device has to wait.".into(),
        )),
        Error::RateLimited => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong passphrases from this device: wait a minute, then try again.".into(),
        )),
        e => Err(e),
    }
}

/// What staff may read about a refused or failed action, or `None` for internal errors
/// (those get the error page and a log reference).
pub(super) fn staff_message(e: &Error) -> Option<String> {
    match e {
        Error::Printer(m) => Some(m.clone()),
        e if e.is_public() => {
            let m = e.to_string();
            let mut c = m.chars();
            Some(c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or(m))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_only_go_back_to_the_console() {
        assert_eq!(back_to("/staff?q=ada&page=2"), "/staff?q=ada&page=2");
        assert_eq!(back_to("/staff"), "/staff");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/staffx",
            "/staff?x=//evil",
            "/",
            "",
        ] {
            assert_eq!(back_to(bad), "/staff", "{bad}");
        }
    }

    #[test]
    fn internal_errors_are_not_shown_to_staff() {
        assert_eq!(staff_message(&Error::Internal("secret".into())), None);
        assert_eq!(
            staff_message(&Error::Printer("The printer is offline.".into())).unwrap(),
            "The printer is offline."
        );
        assert_eq!(
            staff_message(&Error::NotReady).unwrap(),
            "Your certificate is not ready yet; please wait a moment"
        );
    }
}
