//! Extractors shared by the routes: the visitor behind a `{token}` path segment, and
//! the staff session.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use super::csrf::cookie;
use super::forms::is_kiosk;
use crate::app::App;
use crate::error::Error;
use crate::store::jobs::Job;
use crate::store::visitors::Visitor;
use crate::token::Token;

/// The visitor a `/c/{token}/...` link belongs to. An unknown or mangled token is a
/// plain 404 like any other: it reveals nothing about why. A voided certificate's link
/// is a 410 for every route under it (page, zip, QR codes, print, guestbook).
pub struct Holder {
    /// The link's token.
    pub token: Token,
    /// Their stored row.
    pub visitor: Visitor,
    /// Their newest print job, read with the row.
    pub latest_job: Option<Job>,
}

impl FromRequestParts<App> for Holder {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        let raw = Path::<String>::from_request_parts(parts, app)
            .await
            .map(|p| p.0)
            .unwrap_or_default();
        let (token, view) = app.link(&raw).await?;
        Ok(Holder {
            token,
            visitor: view.visitor,
            latest_job: view.latest_job,
        })
    }
}

/// What a browser in kiosk mode is told when it asks for staff pages.
pub const KIOSK_REFUSAL: &str = "This browser is the booth screen (kiosk mode), so staff pages are closed here. \
    Use your own device, or switch this screen back to a normal browser at /kiosk/leave (it asks for the staff passphrase).";

/// The staff session cookie's name: `__Host-` prefixed over https.
fn cookie_name(app: &App) -> &'static str {
    if app.secure_cookies() {
        "__Host-certstamp_staff"
    } else {
        "certstamp_staff"
    }
}

/// The cookie that carries a staff session (HttpOnly, SameSite=Strict, Secure over https,
/// gone after the session's longest life), or, with `None`, the one that removes it.
pub fn staff_cookie(app: &App, session: Option<&str>) -> HeaderValue {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    let (value, age) = match session {
        Some(s) => (s, crate::session::ABSOLUTE),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}",
        cookie_name(app)
    ))
    .expect("ASCII cookie")
}

/// The staff session this browser presents, if any (not checked).
pub fn staff_session_cookie(app: &App, headers: &HeaderMap) -> Option<String> {
    cookie(headers, cookie_name(app)).filter(|v| v.len() == 43)
}

/// Proof that the request comes from a logged-in staff browser that is not the booth
/// screen. Without a passphrase the console is closed ([`Error::Unavailable`]); a booth
/// screen gets [`Error::Forbidden`]; no or an old session [`Error::Unauthorized`].
pub struct Staff {
    /// The session's cookie value, for its flash messages and enrolment link.
    pub session: String,
}

impl FromRequestParts<App> for Staff {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        if is_kiosk(app, &parts.headers) {
            return Err(Error::Forbidden(KIOSK_REFUSAL.into()));
        }
        app.staff_console_open()?;
        let session = staff_session_cookie(app, &parts.headers).ok_or(Error::Unauthorized)?;
        if app.staff_session(&session).await? {
            Ok(Staff { session })
        } else {
            Err(Error::Unauthorized)
        }
    }
}
