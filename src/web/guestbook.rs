//! The public guestbook on the kiosk's web listener (HTML, JSON and plain text, newest
//! first, paginated), and signing through the kiosk from the certificate page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::forms::{FormBody, check_csrf};
use super::pages::{Layout, PageError};
use super::visitor::{TokenPath, human_time, render_certificate, visitor_for};
use crate::app::AppState;
use crate::error::Error;
use crate::pki::{self, pem_certs};
use crate::store::guestbook::Entry;
use crate::validate::visible;

/// Entries per page in every view.
pub const PAGE_SIZE: u32 = 20;

/// Routes for the guestbook.
pub fn routes() -> Router<AppState> {
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

async fn listing(state: &AppState, q: &PageQuery) -> Result<Listing, PageError> {
    let page = q.number();
    let offset = u64::from(page - 1) * u64::from(PAGE_SIZE);
    let (entries, total) = state
        .store
        .entries_page(PAGE_SIZE, offset)
        .await
        .map_err(|e| PageError(state.clone(), e))?;
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    Ok(Listing {
        entries,
        page,
        pages,
        total,
    })
}

fn when(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map(human_time)
        .unwrap_or_default()
}

/// An entry as the HTML page shows it; text already made visible-safe.
pub struct EntryView {
    name: String,
    email: String,
    message: String,
    star: bool,
    when: String,
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
}

async fn html(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Result<GuestbookPage, PageError> {
    let l = listing(&state, &q).await?;
    Ok(GuestbookPage {
        layout: Layout::new(&state),
        entries: l
            .entries
            .iter()
            .map(|e| EntryView {
                name: visible(&e.name),
                email: visible(&e.email_masked),
                message: visible(&e.message),
                star: e.star,
                when: when(e.signed_at),
            })
            .collect(),
        page: l.page,
        pages: l.pages,
        total: entries_count(l.total),
        sign_url: state.guestbook_sign_url(),
    })
}

async fn json(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Result<Response, PageError> {
    let l = listing(&state, &q).await?;
    Ok(axum::Json(serde_json::json!({
        "entries": l.entries,
        "page": l.page,
        "pages": l.pages,
        "total": l.total,
    }))
    .into_response())
}

/// `1 entry`, `2 entries`.
pub fn entries_count(total: u64) -> String {
    if total == 1 {
        "1 entry".into()
    } else {
        format!("{total} entries")
    }
}

/// The plain-text view: safe to `curl` straight into a terminal.
pub fn render_text(conference: &str, entries: &[Entry], page: u32, pages: u32, total: u64) -> String {
    let mut out = format!(
        "Guestbook of {} (page {page} of {pages}, {}, newest first; * = signed over mutual TLS)\n\n",
        visible(conference),
        entries_count(total)
    );
    for e in entries {
        let star = if e.star { "*" } else { " " };
        out.push_str(&format!(
            "{star} {} <{}>  {}\n    {}\n\n",
            visible(&e.name),
            visible(&e.email_masked),
            when(e.signed_at),
            visible(&e.message)
        ));
    }
    if page < pages {
        out.push_str(&format!("More: /guestbook.txt?page={}\n", page + 1));
    }
    out
}

async fn text(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Result<Response, PageError> {
    let l = listing(&state, &q).await?;
    let body = render_text(&state.settings.conference.name, &l.entries, l.page, l.pages, l.total);
    Ok(super::bytes_response("text/plain; charset=utf-8", body))
}

/// The certificate page's sign form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignHereForm {
    csrf: String,
    message: String,
}

/// Sign with the visitor's own certificate through the kiosk: the token unlocks the key
/// (proof that this is the certificate's holder), then the chain goes through the very
/// checks the TLS listener applies. No star: the visitor's own client did not do TLS.
async fn sign_here(
    State(state): State<AppState>,
    headers: HeaderMap,
    TokenPath(token): TokenPath,
    FormBody(form): FormBody<SignHereForm>,
) -> Result<Response, PageError> {
    check_csrf(&headers, &form.csrf).map_err(|e| PageError(state.clone(), e))?;
    let (token, v) = visitor_for(&state, &token).await?;
    let fail = |e| PageError(state.clone(), e);
    let (Some(cert), Some(ints)) = (&v.cert_pem, &v.intermediates_pem) else {
        return Err(fail(Error::NotReady));
    };
    let Some(sealed) = &v.sealed_key else {
        return Err(fail(Error::KeyPurged));
    };
    let key = token.open(sealed).map_err(fail)?;
    let key = zeroize::Zeroizing::new(String::from_utf8(key.to_vec()).map_err(|e| fail(Error::internal(e)))?);
    if !pki::key_matches_cert(&key, cert).map_err(fail)? {
        return Err(fail(Error::Internal(
            "sealed key does not match the certificate".into(),
        )));
    }
    let chain: Vec<Vec<u8>> = pem_certs(cert)
        .map_err(fail)?
        .into_iter()
        .chain(pem_certs(ints).map_err(fail)?)
        .collect();
    let result = async {
        let signer = state.guestbook.authorize(&state.store, &chain).await?;
        state.guestbook.allow(&signer)?;
        state.guestbook.sign(&state.store, &signer, &form.message, false).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/guestbook").into_response()),
        Err(e) if e.is_public() && e.status() != StatusCode::INTERNAL_SERVER_ERROR => {
            let message = crate::web::mtls::public_message(&e);
            render_certificate(&state, &headers, &token, &v, e.status(), Some(message), form.message).await
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_view_escapes_terminal_controls() {
        let e = Entry {
            id: 1,
            name: "Eve\u{1b}[2J".into(),
            email_masked: "e***@x.io".into(),
            message: "hi \u{1b}[31mred\u{7} \u{202e}gnp.exe".into(),
            star: true,
            signed_at: 0,
        };
        let t = render_text("Conf", &[e], 1, 2, 21);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(!t.contains('\u{202e}'));
        assert!(t.contains("hi \\u{1b}[31mred\\u{7} \\u{202e}gnp.exe"), "{t}");
        assert!(t.contains("* Eve\\u{1b}[2J <e***@x.io>  1970-01-01 00:00 UTC"), "{t}");
        assert!(t.contains("?page=2"));
    }
}
