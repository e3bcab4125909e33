//! The booth screen's page for the visitor in front of it (`/k/{id}`): the seal, a QR
//! code that carries the permanent link to the visitor's phone, "Print my ticket" and
//! "Done — next visitor". The id is not the token; it works only in the browser session
//! that submitted the form, for a few minutes, and ends at "Done". Every answer is
//! `no-store`, so Back after "Done" finds nothing of the visitor.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::csrf::{check_csrf, csrf_for, session};
use super::forms::{CsrfForm, FormBody};
use super::pages::Layout;
use super::print::{PrintView, events_of, status_of};
use super::visitor::{CertStatus, with_cookie};
use crate::app::App;
use crate::error::Error;
use crate::store::visitors::Visitor;
use crate::token::Token;

/// Routes of the handoff page.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/k/{id}", get(page))
        .route("/k/{id}/print", get(status).post(print))
        .route("/k/{id}/events", get(events))
        .route("/k/{id}/done", post(done))
}

/// `templates/handoff.html`.
#[derive(Template, WebTemplate)]
#[template(path = "handoff.html")]
pub struct HandoffPage {
    layout: Layout,
    id: String,
    name: String,
    status: CertStatus,
    qr_svg: std::sync::Arc<String>,
    seal_svg: Option<std::sync::Arc<String>>,
    print: Option<PrintView>,
    csrf: String,
    /// Seconds until the screen returns to the form by itself, a little before the
    /// handoff expires.
    auto_done: u64,
}

impl HandoffPage {
    /// `4 minutes`, `1 minute`, `30 seconds`.
    fn auto_done_words(&self) -> String {
        let s = self.auto_done;
        if s >= 60 {
            super::pages::count(s / 60, "minute", "minutes")
        } else {
            super::pages::count(s, "second", "seconds")
        }
    }
}

/// When the page goes back to the form by itself: at four fifths of the handoff's life.
fn auto_done(lifetime: u64) -> u64 {
    (lifetime * 4 / 5).max(1)
}

/// What an ended, expired or foreign handoff shows: nothing of anyone.
fn ended(app: &App) -> Response {
    no_store(super::error::status_page(
        app,
        StatusCode::GONE,
        Some("This screen has moved on to the next visitor: nothing of the previous one is kept here.".into()),
    ))
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The visitor behind a live handoff of this browser, or the "ended" page.
async fn live(app: &App, id: &str, headers: &HeaderMap) -> Result<Result<(Token, Visitor), Response>, Error> {
    let Some(sid) = session(app, headers) else {
        return Ok(Err(ended(app)));
    };
    match app.handoff(id, &sid).await {
        Ok(found) => Ok(Ok(found)),
        Err(Error::NotFound) => Ok(Err(ended(app))),
        Err(e) => Err(e),
    }
}

async fn page(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    let (token, v) = match live(&app, &id, &headers).await? {
        Ok(found) => found,
        Err(gone) => return Ok(gone),
    };
    let (csrf, set) = csrf_for(&app, &headers);
    let parts = app.certificate_parts(&token, &v)?;
    let page = HandoffPage {
        layout: Layout::new(&app),
        name: v.name.clone(),
        status: CertStatus::of(&v),
        qr_svg: parts.qr_svg.clone(),
        seal_svg: parts.seal_svg.clone(),
        print: app.latest_job(&v).await?.as_ref().map(PrintView::of),
        csrf,
        auto_done: auto_done(app.settings.kiosk_handoff_seconds),
        id,
    };
    Ok(no_store(with_cookie(StatusCode::OK, page, set)))
}

async fn status(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    match live(&app, &id, &headers).await? {
        Ok((_, v)) => Ok(no_store(status_of(&app, &v).await?)),
        Err(gone) => Ok(gone),
    }
}

async fn events(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    match live(&app, &id, &headers).await? {
        Ok((_, v)) => Ok(events_of(&app, &v.id)),
        Err(gone) => Ok(gone),
    }
}

async fn print(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let (token, v) = match live(&app, &id, &headers).await? {
        Ok(found) => found,
        Err(gone) => return Ok(gone),
    };
    // The booth screen stands by this kiosk's printer: its tickets go there.
    app.request_print(&token, &v, &app.settings.printer.print_to).await?;
    Ok(no_store(Redirect::to(&format!("/k/{id}#print")).into_response()))
}

/// "Done — next visitor": the handoff ends and the screen shows an empty form.
async fn done(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    if let Some(sid) = session(&app, &headers) {
        app.end_handoff(&id, &sid).await?;
    }
    // Ended or not, the screen goes back to the form: "Done" never shows an error.
    Ok(no_store(Redirect::to("/").into_response()))
}
