//! `/staff/login`: the passphrase form (fields `password` and `csrf`), a session cookie on
//! success, 401 with the form again on a wrong passphrase, 429 after five failures a
//! minute from one address. Closed (503, with how to open it) while no passphrase is set;
//! refused (403) on the booth screen.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::csrf::{check_csrf, csrf_for};
use super::super::extract::{KIOSK_REFUSAL, Staff, staff_cookie, staff_session_cookie};
use super::super::forms::{CsrfForm, FormBody, client_ip, is_kiosk};
use super::super::pages::Layout;
use super::{passphrase_refusal, with_csrf_cookie};
use crate::app::App;
use crate::error::Error;

/// `templates/staff_login.html`.
#[derive(Template, WebTemplate)]
#[template(path = "staff_login.html")]
pub struct LoginPage {
    layout: Layout,
    csrf: String,
    /// Why the form is shown again, or why the console is closed.
    error: Option<String>,
    /// No passphrase is set: say how to set one instead of showing the form.
    closed: Option<String>,
}

fn page(app: &App, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let (csrf, set) = csrf_for(app, headers);
    let closed = app.staff_console_open().err().map(|e| e.to_string());
    let status = if closed.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    let page = LoginPage {
        layout: Layout::new(app),
        csrf,
        error,
        closed,
    };
    with_csrf_cookie((status, page), set)
}

/// The login form (or, already logged in, the console).
pub async fn form(State(app): State<App>, staff: Result<Staff, Error>, headers: HeaderMap) -> Result<Response, Error> {
    if is_kiosk(&app, &headers) {
        return Err(Error::Forbidden(KIOSK_REFUSAL.into()));
    }
    if staff.is_ok() {
        return Ok(Redirect::to("/staff").into_response());
    }
    Ok(page(&app, &headers, StatusCode::OK, None))
}

/// The form's fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    password: String,
    csrf: String,
}

/// Check the passphrase; a session and 303 to the console on success.
pub async fn submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(form): FormBody<LoginForm>,
) -> Result<Response, Error> {
    if is_kiosk(&app, &headers) {
        return Err(Error::Forbidden(KIOSK_REFUSAL.into()));
    }
    check_csrf(&app, &headers, &form.csrf)?;
    let client = client_ip(&headers, peer.ip(), app.settings.trust_forwarded_for);
    match app.staff_login(client, form.password).await {
        Ok(session) => {
            // A session cookie this browser had before is replaced, and its session ended.
            if let Some(old) = staff_session_cookie(&app, &headers) {
                app.staff_logout(&old).await?;
            }
            let mut res = Redirect::to("/staff").into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, staff_cookie(&app, Some(&session)));
            Ok(res)
        }
        Err(e) => {
            let (status, why) = passphrase_refusal(e)?;
            Ok(page(&app, &headers, status, Some(why)))
        }
    }
}

/// End the session; 303 to the login form.
pub async fn logout(
    State(app): State<App>,
    staff: Staff,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    app.staff_logout(&staff.session).await?;
    tracing::info!("staff logged out");
    let mut res = Redirect::to("/staff/login").into_response();
    res.headers_mut().insert(header::SET_COOKIE, staff_cookie(&app, None));
    Ok(res)
}
