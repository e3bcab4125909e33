//! Which browser is the booth screen. Staff create a one-time link in the console
//! (`POST /staff/kiosk/enrol`) and open it on the booth screen without logging in there:
//! `GET /kiosk/enrol/{code}` works once within ten minutes, sets the signed kiosk cookie,
//! ends any staff session of that browser and leads to the form. `/kiosk/leave` switches
//! a booth screen back to a normal browser, with the staff passphrase.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::csrf::{check_csrf, csrf_for};
use super::super::extract::{Staff, staff_cookie, staff_session_cookie};
use super::super::forms::{FormBody, client_ip, is_kiosk, kiosk_cookie};
use super::super::pages::Layout;
use super::actions::ActionForm;
use super::{passphrase_refusal, see_console, with_csrf_cookie};
use crate::app::App;
use crate::error::Error;

/// Make an enrolment link; the console shows it (and its QR code) for ten minutes.
pub async fn create(
    State(app): State<App>,
    staff: Staff,
    headers: HeaderMap,
    FormBody(form): FormBody<ActionForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    app.create_enrolment(&staff.session).await?;
    app.flash(
        &staff.session,
        true,
        "Open the link below on the booth screen (or scan its code there) within 10 minutes. It works once.",
    )
    .await?;
    Ok(see_console(&form.back))
}

/// Open on the booth screen: this browser becomes the booth screen.
pub async fn enrol(State(app): State<App>, Path(code): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    if code.len() > 64 || !app.redeem_enrolment(&code).await? {
        return Err(Error::Absent(
            "This booth screen link was used already, has expired (links last 10 minutes) or never existed. \
             Create a new one in the staff console."
                .into(),
        ));
    }
    let mut res = Redirect::to("/").into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, kiosk_cookie(&app, true));
    // The booth screen is never a staff browser.
    if let Some(session) = staff_session_cookie(&app, &headers) {
        app.staff_logout(&session).await?;
        h.append(header::SET_COOKIE, staff_cookie(&app, None));
    }
    Ok(res)
}

/// `templates/staff_kiosk_leave.html`.
#[derive(Template, WebTemplate)]
#[template(path = "staff_kiosk_leave.html")]
pub struct LeavePage {
    layout: Layout,
    csrf: String,
    kiosk: bool,
    error: Option<String>,
}

fn leave_page(app: &App, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let (csrf, set) = csrf_for(app, headers);
    let page = LeavePage {
        layout: Layout::new(app),
        csrf,
        kiosk: is_kiosk(app, headers),
        error,
    };
    with_csrf_cookie((status, page), set)
}

/// The passphrase form that switches kiosk mode off.
pub async fn leave_form(State(app): State<App>, headers: HeaderMap) -> Response {
    leave_page(&app, &headers, StatusCode::OK, None)
}

/// The form's fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LeaveForm {
    password: String,
    csrf: String,
}

/// Check the passphrase, drop the kiosk cookie, go to the staff login.
pub async fn leave(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(form): FormBody<LeaveForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let client = client_ip(&headers, peer.ip(), app.settings.trust_forwarded_for);
    match app.leave_kiosk(client, form.password).await {
        Ok(()) => {
            let mut res = Redirect::to("/staff/login").into_response();
            res.headers_mut().insert(header::SET_COOKIE, kiosk_cookie(&app, false));
            Ok(res)
        }
        Err(e) => {
            let (status, why) = passphrase_refusal(e)?;
            Ok(leave_page(&app, &headers, status, Some(why)))
        }
    }
}
