//! Visitor pages: the form, issuing, the certificate page, the zip and the QR codes.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;

use super::forms::{FormBody, check_csrf, csrf_for, is_kiosk};
use super::pages::{Layout, PageError};
use crate::app::AppState;
use crate::bundle::{self, BundleInput};
use crate::error::Error;
use crate::pki::{CertSummary, pem_certs};
use crate::store::jobs::JobState;
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;
use crate::{qr, validate};

/// Routes for visitors.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/issue", post(issue))
        .route("/c/{token}", get(certificate))
        .route("/c/{token}/bundle.zip", get(bundle_zip))
        .route("/c/{token}/qr.svg", get(qr_svg))
        .route("/c/{token}/qr.png", get(qr_png))
}

/// `templates/index.html`: the form, empty or re-filled with messages.
#[derive(Template, WebTemplate, Default)]
#[template(path = "index.html")]
pub struct IndexPage {
    layout: Layout,
    csrf: String,
    name: String,
    email: String,
    consent: bool,
    name_error: Option<String>,
    email_error: Option<String>,
    consent_error: Option<String>,
    form_error: Option<String>,
    retention_date: String,
    issued_count: u64,
}

impl IndexPage {
    async fn new(state: &AppState, csrf: String) -> Self {
        IndexPage {
            layout: Layout::new(state),
            csrf,
            retention_date: state.settings.conference.retention_until().date().to_string(),
            issued_count: state
                .store
                .issued_count(&state.settings.conference.slug)
                .await
                .unwrap_or(0),
            ..Default::default()
        }
    }
}

fn with_cookie(status: StatusCode, page: impl IntoResponse, set_cookie: Option<axum::http::HeaderValue>) -> Response {
    let mut res = (status, page).into_response();
    if let Some(c) = set_cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, set) = csrf_for(&headers, state.secure_cookies());
    with_cookie(StatusCode::OK, IndexPage::new(&state, csrf).await, set)
}

/// The form's fields; all optional so a missing field gets a message, not a parse error.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct IssueForm {
    name: String,
    email: String,
    consent: Option<String>,
    csrf: String,
}

async fn issue(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(form): FormBody<IssueForm>,
) -> Response {
    let (csrf, set) = csrf_for(&headers, state.secure_cookies());
    let mut page = IndexPage::new(&state, csrf).await;
    page.name = form.name.clone();
    page.email = form.email.clone();
    page.consent = form.consent.is_some();
    if check_csrf(&headers, &form.csrf).is_err() {
        page.form_error = Some(Error::Csrf.to_string());
        return with_cookie(StatusCode::FORBIDDEN, page, set);
    }
    let name = validate::name(&form.name).and_then(|n| match state.issuer.name_rule(&n) {
        Some(rule) => Err(rule),
        None => Ok(n),
    });
    let email = validate::email(&form.email);
    page.name_error = name.as_ref().err().map(|e| e.to_string());
    page.email_error = email.as_ref().err().map(|e| e.to_string());
    if form.consent.is_none() {
        page.consent_error =
            Some("Please agree, so we may keep your details long enough to deliver the certificate.".into());
    }
    let (Ok(name), Ok((email, email_lc)), Some(_)) = (name, email, form.consent) else {
        page.form_error = Some("Please fix the fields marked below.".into());
        return with_cookie(StatusCode::BAD_REQUEST, page, set);
    };
    let client = super::forms::client_ip(&headers, peer.ip(), state.settings.trust_forwarded_for);
    if !state.issue_limiter.allow(&client) {
        return PageError(state, Error::RateLimited).into_response();
    }
    match state.issue(name, email, email_lc).await {
        Ok(token) => Redirect::to(&format!("/c/{}", token.as_str())).into_response(),
        Err(e) => PageError(state, e).into_response(),
    }
}

/// How the certificate page describes issuance.
pub enum CertStatus {
    /// Waiting for the issuer, maybe with a delay note.
    Pending(Option<String>),
    /// The issuer refused.
    Failed(String),
    /// Done.
    Issued,
}

/// Certificate details for the page.
pub struct CertView {
    subject: String,
    issuer: String,
    serial: String,
    fingerprint: String,
    not_before: String,
    not_after: String,
    chain: Vec<String>,
    fingerprint_bytes: [u8; 32],
}

/// `templates/certificate.html`.
#[derive(Template, WebTemplate)]
#[template(path = "certificate.html")]
pub struct CertificatePage {
    layout: Layout,
    name: String,
    status: CertStatus,
    cert: Option<CertView>,
    key_available: bool,
    p12_password: String,
    token: String,
    qr_svg: String,
    page_url: String,
    refresh: bool,
    seal_svg: Option<String>,
    print: Option<super::print::PrintView>,
    csrf: String,
    sign_url: String,
    can_sign: bool,
    sign_error: Option<String>,
    sign_message: String,
    kiosk: bool,
}

/// Human time for pages and tickets: `2026-11-26 14:03 UTC`.
pub fn human_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC).format(f).unwrap_or_default()
}

fn cert_view(v: &Visitor) -> Result<Option<CertView>, Error> {
    let (Some(leaf), Some(ints), Some(root)) = (&v.cert_pem, &v.intermediates_pem, &v.root_pem) else {
        return Ok(None);
    };
    let s = CertSummary::parse(leaf)?;
    let mut chain = vec![format!("{} (you)", s.common_name)];
    for der in pem_certs(ints)?.iter().chain(pem_certs(root)?.iter()) {
        let c = CertSummary::from_der(der)?;
        chain.push(format!("{} — SHA-256 {}", c.common_name, c.fingerprint_hex()));
    }
    Ok(Some(CertView {
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
        serial: s.serial.clone(),
        fingerprint: s.fingerprint_hex(),
        not_before: human_time(s.not_before),
        not_after: human_time(s.not_after),
        chain,
        fingerprint_bytes: s.fingerprint,
    }))
}

/// The `{token}` path segment; undecodable segments become an empty string, which no
/// token matches, so a mangled link is a plain 404 like any other unknown token.
pub struct TokenPath(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TokenPath {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| p.0)
            .unwrap_or_default();
        Ok(TokenPath(token))
    }
}

/// Look up the visitor behind a token path segment; anything unknown is a plain 404.
pub async fn visitor_for(state: &AppState, token: &str) -> Result<(Token, Visitor), PageError> {
    let not_found = || PageError(state.clone(), Error::NotFound);
    let token = Token::parse(token).ok_or_else(not_found)?;
    match state.store.visitor_by_token(&token).await {
        Ok(Some(v)) => Ok((token, v)),
        Ok(None) => Err(not_found()),
        Err(e) => Err(PageError(state.clone(), e)),
    }
}

async fn certificate(
    State(state): State<AppState>,
    TokenPath(token): TokenPath,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, v) = visitor_for(&state, &token).await?;
    render_certificate(&state, &headers, &token, &v, StatusCode::OK, None, String::new()).await
}

/// The certificate page, optionally with a guestbook error and the message typed.
pub(crate) async fn render_certificate(
    state: &AppState,
    headers: &HeaderMap,
    token: &Token,
    v: &Visitor,
    status_code: StatusCode,
    sign_error: Option<String>,
    sign_message: String,
) -> Result<Response, PageError> {
    let fail = |e| PageError(state.clone(), e);
    let print = state
        .store
        .latest_job_for(&v.id)
        .await
        .map_err(fail)?
        .as_ref()
        .map(super::print::PrintView::of);
    let (csrf, set_cookie) = csrf_for(headers, state.secure_cookies());
    let page_url = state.page_url(token);
    let status = match v.state {
        IssueState::Pending => CertStatus::Pending(v.error.clone()),
        IssueState::Failed => CertStatus::Failed(v.error.clone().unwrap_or_default()),
        IssueState::Issued => CertStatus::Issued,
    };
    let cert = cert_view(v).map_err(fail)?;
    let seal_svg = cert
        .as_ref()
        .map(|c| certstamp_printer::seal::svg(&c.fingerprint_bytes));
    let page = CertificatePage {
        layout: Layout::new(state),
        name: v.name.clone(),
        // Only while issuing: a refresh during printing would wipe a half-typed guestbook message.
        refresh: matches!(status, CertStatus::Pending(_)),
        can_sign: matches!(status, CertStatus::Issued) && v.sealed_key.is_some() && v.voided_at.is_none(),
        status,
        cert,
        key_available: v.sealed_key.is_some(),
        p12_password: token.p12_password(),
        token: token.as_str().to_string(),
        qr_svg: qr::svg(&page_url, "qr").map_err(fail)?,
        page_url,
        seal_svg,
        print,
        csrf,
        sign_url: state.guestbook_sign_url(),
        sign_error,
        sign_message,
        kiosk: is_kiosk(headers),
    };
    Ok(with_cookie(status_code, page, set_cookie))
}

async fn bundle_zip(
    State(state): State<AppState>,
    TokenPath(token): TokenPath,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (token, v) = visitor_for(&state, &token).await?;
    let fail = |e| PageError(state.clone(), e);
    if is_kiosk(&headers) {
        // A key saved on the shared booth screen would be there for the next visitor.
        return Err(fail(Error::Forbidden(
            "Downloads are off on the booth screen: scan the code with your phone to get your files.".into(),
        )));
    }
    let (Some(cert), Some(ints), Some(root)) = (&v.cert_pem, &v.intermediates_pem, &v.root_pem) else {
        return Err(fail(Error::NotReady));
    };
    let Some(sealed) = &v.sealed_key else {
        return Err(fail(Error::KeyPurged));
    };
    let key = token.open(sealed).map_err(fail)?;
    let key = zeroize::Zeroizing::new(String::from_utf8(key.to_vec()).map_err(|e| fail(Error::internal(e)))?);
    let (name, cert, ints, root) = (v.name.clone(), cert.clone(), ints.clone(), root.clone());
    let (password, sign_url) = (token.p12_password(), state.guestbook_sign_url());
    // PKCS#12 key derivation is CPU work: keep it off the async workers.
    let bytes = tokio::task::spawn_blocking(move || {
        bundle::zip(&BundleInput {
            name: &name,
            cert_pem: &cert,
            intermediates_pem: &ints,
            root_pem: &root,
            key_pem: &key,
            p12_password: &password,
            guestbook_url: &sign_url,
        })
    })
    .await
    .map_err(|e| fail(Error::internal(e)))?
    .map_err(fail)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"certificate.zip\""),
        ],
        bytes,
    )
        .into_response())
}

async fn qr_svg(State(state): State<AppState>, TokenPath(token): TokenPath) -> Result<Response, PageError> {
    let (token, _) = visitor_for(&state, &token).await?;
    let svg = qr::svg_document(&state.page_url(&token)).map_err(|e| PageError(state.clone(), e))?;
    Ok(super::bytes_response("image/svg+xml", svg))
}

async fn qr_png(State(state): State<AppState>, TokenPath(token): TokenPath) -> Result<Response, PageError> {
    let (token, _) = visitor_for(&state, &token).await?;
    let png = qr::png(&state.page_url(&token), 8).map_err(|e| PageError(state.clone(), e))?;
    Ok(super::bytes_response("image/png", png))
}
