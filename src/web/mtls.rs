//! The guestbook's TLS listener: its routes, request parsing and answers in text, JSON or
//! HTML. The certificate rules themselves live in [`crate::guestbook`], the signing in
//! the app.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_server::tls::TlsInfo;
use serde::Deserialize;

use super::pages::Layout;
use crate::app::App;
use crate::error::{Error, Result};
use crate::guestbook::{BODY_LIMIT, SIGN_RATE_PER_MINUTE, Signer};
use crate::store::guestbook::Entry;
use crate::validate;

/// Routes of the TLS listener.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/sign", get(home).post(sign))
        .merge(super::assets::routes())
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found; POST a message to /sign\n") })
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            super::REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(|mut res: Response| async move {
            super::security_headers(res.headers_mut());
            res
        }))
        .with_state(app)
}

/// How a sign request wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Html,
}

impl Format {
    fn of(headers: &HeaderMap) -> Self {
        let get = |h| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if get(header::CONTENT_TYPE).starts_with("application/json")
            || get(header::ACCEPT).starts_with("application/json")
        {
            Format::Json
        } else if get(header::ACCEPT).contains("text/html") {
            Format::Html
        } else {
            Format::Text
        }
    }
}

fn peer_chain(req: &axum::http::Extensions) -> Vec<Vec<u8>> {
    req.get::<Arc<TlsInfo>>()
        .map(|i| i.peer_certificates.clone())
        .unwrap_or_default()
}

/// A sign request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignBody {
    message: String,
    /// The display name; empty means the signer's first name.
    name: String,
}

fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<SignBody> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let body: SignBody = if is_json {
        serde_json::from_slice(bytes)
            .map_err(|_| Error::Invalid("Send JSON like {\"message\": \"hello\", \"name\": \"Ada\"}.".into()))?
    } else {
        super::forms::parse_form(bytes)?
    };
    Ok(body)
}

async fn sign(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let format = Format::of(&parts.headers);
    let result = async {
        // A browser's cross-site POST would carry the visitor's certificate along.
        if super::csrf::cross_site(&parts.headers, &app.guestbook_sign_url()) {
            return Err(Error::Forbidden(
                "Cross-site requests cannot sign the guestbook.".into(),
            ));
        }
        let signer = app.tls_signer(&peer_chain(&parts.extensions)).await?;
        let too_big = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > BODY_LIMIT);
        if too_big {
            return Err(Error::TooLarge);
        }
        let within = app.settings.connections.body_timeout;
        let bytes = tokio::time::timeout(within, axum::body::to_bytes(body, BODY_LIMIT))
            .await
            .map_err(|_| Error::TooSlow)?
            .map_err(|_| Error::TooLarge)?;
        let body = parse_body(&parts.headers, &bytes)?;
        let entry = app.sign_over_tls(&signer, &body.message, &body.name).await?;
        Ok((signer, entry))
    }
    .await;
    match result {
        Ok((signer, entry)) => answer_ok(&app, format, signer, entry).await,
        Err(e) => answer_err(&app, format, e).await,
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn answer_ok(app: &App, format: Format, signer: Signer, entry: Entry) -> Response {
    let read_at = format!("{}/guestbook", app.settings.public_url);
    match format {
        Format::Json => {
            axum::Json(serde_json::json!({ "ok": true, "entry": entry, "guestbook": read_at })).into_response()
        }
        Format::Html => {
            let notice = Notice::ok("Thank you! Your entry is in the guestbook, with a star.");
            render_home(app, Some(signer), None, Some(notice), StatusCode::OK).await
        }
        Format::Text => text(
            StatusCode::OK,
            format!(
                "Thanks, {}! Your guestbook entry is signed with a star (★) for using your own certificate.\nRead the guestbook at {read_at}\n",
                validate::visible(&entry.name)
            ),
        ),
    }
}

/// What a visitor reads for a refused or failed signature.
pub fn public_message(e: &Error) -> String {
    match e {
        Error::RateLimited => format!(
            "Too many signatures from this certificate: at most {SIGN_RATE_PER_MINUTE} a minute. Please wait a minute and try again."
        ),
        Error::TooLarge => format!("The request is larger than the guestbook accepts ({BODY_LIMIT} bytes at most)."),
        e if e.is_public() => capitalise(&e.to_string()),
        e => {
            tracing::error!(error = %e, "guestbook sign failed");
            "Something went wrong on our side. Please ask the booth staff.".into()
        }
    }
}

async fn answer_err(app: &App, format: Format, e: Error) -> Response {
    let status = super::error::status(&e);
    if status.is_client_error() {
        tracing::info!(status = status.as_u16(), "guestbook refused a request");
    }
    let message = public_message(&e);
    match format {
        Format::Json => (status, axum::Json(serde_json::json!({ "ok": false, "error": message }))).into_response(),
        Format::Html => render_home(app, None, None, Some(Notice::bad(message)), status).await,
        Format::Text => text(status, format!("{message}\n")),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A line of feedback on the TLS page.
pub struct Notice {
    ok: bool,
    text: String,
}

impl Notice {
    fn ok(text: &str) -> Self {
        Notice {
            ok: true,
            text: text.into(),
        }
    }
    fn bad(text: String) -> Self {
        Notice { ok: false, text }
    }
}

/// `templates/guestbook_sign.html`: the TLS listener's own page.
#[derive(Template, WebTemplate)]
#[template(path = "guestbook_sign.html")]
pub struct SignPage {
    layout: Layout,
    signer: Option<Signer>,
    refusal: Option<String>,
    notice: Option<Notice>,
    read_url: String,
    sign_url: String,
    display_name: String,
    display_name_max: usize,
}

async fn home(State(app): State<App>, req: Request) -> Response {
    let chain = peer_chain(req.extensions());
    let (signer, refusal) = match app.authorize(&chain).await {
        Ok(s) => (Some(s), None),
        Err(e) if e.is_public() => (None, Some(capitalise(&e.to_string()))),
        Err(e) => {
            tracing::error!(error = %e, "guestbook page failed");
            (None, Some("Something went wrong on our side.".into()))
        }
    };
    render_home(&app, signer, refusal, None, StatusCode::OK).await
}

async fn render_home(
    app: &App,
    signer: Option<Signer>,
    refusal: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let page = SignPage {
        layout: Layout::new(app),
        display_name: signer.as_ref().map(Signer::default_display_name).unwrap_or_default(),
        display_name_max: validate::DISPLAY_NAME_MAX,
        signer,
        refusal,
        notice,
        read_url: format!("{}/guestbook", app.settings.public_url),
        sign_url: app.guestbook_sign_url(),
    };
    let mut res = (status, page).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
