//! Visitor pages: the form, issuing, the certificate page, the zip and the QR codes.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::csrf::{check_csrf, csrf_for};
use super::extract::Holder;
use super::forms::{FormBody, is_kiosk};
use super::pages::Layout;
use super::print::PrintView;
use crate::app::{App, CertParts, Submission};
use crate::clock::human_time;
use crate::error::Error;

use crate::qr;
use crate::store::jobs::JobState;
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;

/// Routes for visitors.
pub fn routes() -> Router<App> {
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
    async fn new(app: &App, csrf: String) -> Self {
        IndexPage {
            layout: Layout::new(app),
            csrf,
            retention_date: app.settings.conference.retention_until().date().to_string(),
            issued_count: app.store.issued_count(&app.settings.conference.slug).await.unwrap_or(0),
            ..Default::default()
        }
    }
}

/// A response with the CSRF cookie when the browser had none yet.
pub(super) fn with_cookie(status: StatusCode, page: impl IntoResponse, set_cookie: Option<HeaderValue>) -> Response {
    let mut res = (status, page).into_response();
    if let Some(c) = set_cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

async fn index(State(app): State<App>, headers: HeaderMap) -> Response {
    let (csrf, set) = csrf_for(&app, &headers);
    with_cookie(StatusCode::OK, IndexPage::new(&app, csrf).await, set)
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
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(form): FormBody<IssueForm>,
) -> Result<Response, Error> {
    let (csrf, set) = csrf_for(&app, &headers);
    let mut page = IndexPage::new(&app, csrf).await;
    page.name = form.name.clone();
    page.email = form.email.clone();
    page.consent = form.consent.is_some();
    if check_csrf(&app, &headers, &form.csrf).is_err() {
        page.form_error = Some(Error::Csrf.to_string());
        return Ok(with_cookie(StatusCode::FORBIDDEN, page, set));
    }
    let submission = Submission {
        name: form.name,
        email: form.email,
        consent: form.consent.is_some(),
    };
    let valid = match app.check(&submission) {
        Ok(v) => v,
        Err(errors) => {
            page.name_error = errors.name;
            page.email_error = errors.email;
            page.consent_error = errors.consent;
            page.form_error = Some("Please fix the fields marked below.".into());
            return Ok(with_cookie(StatusCode::BAD_REQUEST, page, set));
        }
    };
    let client = super::forms::client_ip(&headers, peer.ip(), app.settings.trust_forwarded_for);
    let token = app.issue(client, valid).await?;
    Ok(Redirect::to(&format!("/c/{}", token.as_str())).into_response())
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
    print: Option<PrintView>,
    csrf: String,
    sign_url: String,
    can_sign: bool,
    sign_error: Option<String>,
    sign_message: String,
    kiosk: bool,
    verify: Option<super::verify_panel::VerifyPanel>,
}

/// Format the cached parts for the page (cheap: the parsing happened once).
fn cert_view(parts: &CertParts) -> Option<CertView> {
    let s = parts.cert.as_ref()?;
    Some(CertView {
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
        serial: s.serial.clone(),
        fingerprint: s.fingerprint_hex(),
        not_before: human_time(s.not_before),
        not_after: human_time(s.not_after),
        chain: parts.chain.clone(),
    })
}

async fn certificate(State(app): State<App>, h: Holder, headers: HeaderMap) -> Result<Response, Error> {
    render_certificate(
        &app,
        &headers,
        &h.token,
        &h.visitor,
        StatusCode::OK,
        None,
        String::new(),
    )
    .await
}

/// The certificate page, optionally with a guestbook error and the message typed.
pub(super) async fn render_certificate(
    app: &App,
    headers: &HeaderMap,
    token: &Token,
    v: &Visitor,
    status_code: StatusCode,
    sign_error: Option<String>,
    sign_message: String,
) -> Result<Response, Error> {
    let print = app.latest_job(v).await?.as_ref().map(PrintView::of);
    let (csrf, set_cookie) = csrf_for(app, headers);
    let page_url = app.page_url(token);
    let status = match v.state {
        IssueState::Pending => CertStatus::Pending(v.error.clone()),
        IssueState::Failed => CertStatus::Failed(v.error.clone().unwrap_or_default()),
        IssueState::Issued => CertStatus::Issued,
    };
    let parts = app.certificate_parts(token, v)?;
    let cert = cert_view(&parts);
    let seal_svg = parts.seal_svg.clone();
    let page = CertificatePage {
        layout: Layout::new(app),
        name: v.name.clone(),
        // Only while issuing: a refresh during printing would wipe a half-typed guestbook message.
        refresh: matches!(status, CertStatus::Pending(_)),
        can_sign: matches!(status, CertStatus::Issued) && v.sealed_key.is_some() && v.voided_at.is_none(),
        status,
        cert,
        key_available: v.sealed_key.is_some(),
        p12_password: token.p12_password(),
        token: token.as_str().to_string(),
        qr_svg: parts.qr_svg.clone(),
        page_url,
        seal_svg,
        print,
        csrf,
        sign_url: app.guestbook_sign_url(),
        sign_error,
        sign_message,
        kiosk: is_kiosk(app, headers),
        verify: super::verify_panel::VerifyPanel::of(v, &app.issuer.root_pem()),
    };
    Ok(with_cookie(status_code, page, set_cookie))
}

async fn bundle_zip(State(app): State<App>, h: Holder, headers: HeaderMap) -> Result<Response, Error> {
    if is_kiosk(&app, &headers) {
        // A key saved on the shared booth screen would be there for the next visitor.
        return Err(Error::Forbidden(
            "Downloads are off on the booth screen: scan the code with your phone to get your files.".into(),
        ));
    }
    let zip = app.bundle(&h.token, &h.visitor).await?;
    let bytes = axum::body::Bytes::copy_from_slice(&zip);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"certificate.zip\""),
        ],
        bytes,
    )
        .into_response())
}

async fn qr_svg(State(app): State<App>, h: Holder) -> Result<Response, Error> {
    let parts = app.certificate_parts(&h.token, &h.visitor)?;
    let svg = qr::svg_document_from(&parts.qr_svg);
    Ok(super::bytes_response("image/svg+xml", svg))
}

async fn qr_png(State(app): State<App>, h: Holder) -> Result<Response, Error> {
    let png = app.qr_png(&h.token, &h.visitor)?;
    Ok(super::bytes_response(
        "image/png",
        axum::body::Bytes::copy_from_slice(&png),
    ))
}
