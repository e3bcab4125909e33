//! The public guestbook on the kiosk's web listener (HTML, JSON and plain text, newest
//! first, paginated), and signing through the kiosk from the certificate page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::csrf::check_csrf;
use super::extract::Holder;
use super::forms::{FormBody, is_kiosk};
use super::pages::Layout;
use super::visitor::{SignDraft, render_certificate};
use crate::app::App;
use crate::error::Error;
use crate::guestbook::{EntryView, entries_count, render_text};
use crate::store::guestbook::Entry;

/// Entries per page in every view.
pub const PAGE_SIZE: u32 = 20;

/// Routes for the guestbook.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/guestbook", get(html))
        .route("/guestbook.json", get(json))
        .route("/guestbook.txt", get(text))
        .route(
            "/c/{token}/guestbook",
            post(sign_here).layer(DefaultBodyLimit::max(crate::guestbook::BODY_LIMIT)),
        )
}

/// `?page=N`, 1-based; anything unreadable is page 1.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    page: Option<String>,
}

impl PageQuery {
    fn number(&self) -> u32 {
        self.page
            .as_deref()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }
}

/// One page of entries and where it sits.
struct Listing {
    entries: Vec<Entry>,
    page: u32,
    pages: u32,
    total: u64,
}

async fn listing(app: &App, q: &PageQuery) -> Result<Listing, Error> {
    let page = q.number();
    let offset = u64::from(page - 1) * u64::from(PAGE_SIZE);
    let (entries, total) = app.store.entries_page(PAGE_SIZE, offset).await?;
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    Ok(Listing {
        entries,
        page,
        pages,
        total,
    })
}

/// `templates/guestbook.html`.
#[derive(Template, WebTemplate)]
#[template(path = "guestbook.html")]
pub struct GuestbookPage {
    layout: Layout,
    entries: Vec<EntryView>,
    page: u32,
    pages: u32,
    total: String,
    sign_url: String,
    sign_page: String,
}

async fn html(State(app): State<App>, Query(q): Query<PageQuery>) -> Result<GuestbookPage, Error> {
    let l = listing(&app, &q).await?;
    Ok(GuestbookPage {
        layout: Layout::new(&app),
        entries: l.entries.iter().map(EntryView::of).collect(),
        page: l.page,
        pages: l.pages,
        total: entries_count(l.total),
        sign_url: app.guestbook_sign_url(),
        sign_page: app.guestbook_sign_url().trim_end_matches("sign").to_string(),
    })
}

async fn json(State(app): State<App>, Query(q): Query<PageQuery>) -> Result<Response, Error> {
    let l = listing(&app, &q).await?;
    Ok(axum::Json(serde_json::json!({
        "entries": l.entries,
        "page": l.page,
        "pages": l.pages,
        "total": l.total,
    }))
    .into_response())
}

async fn text(State(app): State<App>, Query(q): Query<PageQuery>) -> Result<Response, Error> {
    let l = listing(&app, &q).await?;
    let body = render_text(&app.settings.conference.name, &l.entries, l.page, l.pages, l.total);
    Ok(super::bytes_response("text/plain; charset=utf-8", body))
}

/// The certificate page's sign form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignHereForm {
    csrf: String,
    message: String,
    name: String,
}

/// Sign with the visitor's own certificate through the kiosk. A refusal the visitor can
/// act on shows on their certificate page, next to the message they typed.
async fn sign_here(
    State(app): State<App>,
    h: Holder,
    headers: HeaderMap,
    FormBody(form): FormBody<SignHereForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    if is_kiosk(&app, &headers) {
        // The next visitor at the shared screen must not sign as this one.
        return Err(Error::Forbidden(
            "Sign the guestbook from your phone: scan the code on the booth screen or your ticket.".into(),
        ));
    }
    match app.sign_here(&h.token, &h.visitor, &form.message, &form.name).await {
        Ok(_) => Ok(Redirect::to("/guestbook").into_response()),
        Err(e) if e.is_public() => {
            let message = super::mtls::public_message(&e);
            let status = super::error::status(&e);
            let draft = SignDraft {
                error: Some(message),
                message: form.message,
                name: Some(form.name),
            };
            render_certificate(&app, &headers, &h, status, draft).await
        }
        Err(e) => Err(e),
    }
}
