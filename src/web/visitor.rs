//! Visitor pages: the form, issuing, the certificate page, the downloads and the QR codes.
//! On the booth screen (kiosk mode) a visitor is shown through a handoff page instead
//! (`handoff.rs`), so the shared screen never holds their permanent link.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::csrf::{check_csrf, csrf_for, session};
use super::extract::Holder;
use super::forms::{FormBody, is_kiosk};
use super::pages::Layout;
use super::print::PrintView;
use crate::app::{App, CertText, Submission};
use crate::clock::human_ts;
use crate::error::Error;
use crate::pki::{CertSummary, pem_certs};

use crate::qr;
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;
use crate::validate::{DISPLAY_NAME_MAX, first_name};

/// Routes for visitors.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(index))
        .route("/issue", post(issue))
        .route("/c/{token}", get(certificate))
        .route("/c/{token}/bundle.zip", get(bundle_zip))
        .route("/c/{token}/certificate.p12", get(p12))
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
    show_on_wall: bool,
    name_error: Option<String>,
    email_error: Option<String>,
    consent_error: Option<String>,
    form_error: Option<String>,
    retention_date: String,
    issued_count: u64,
    kiosk: bool,
}

impl IndexPage {
    async fn new(app: &App, headers: &HeaderMap, csrf: String) -> Self {
        IndexPage {
            layout: Layout::new(app),
            csrf,
            retention_date: app.settings.conference.retention_until().date().to_string(),
            issued_count: app.store.issued_count(&app.settings.conference.slug).await.unwrap_or(0),
            kiosk: is_kiosk(app, headers),
            ..Default::default()
        }
    }

    fn has_field_errors(&self) -> bool {
        self.name_error.is_some() || self.email_error.is_some() || self.consent_error.is_some()
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

/// The form is never stored: on the booth screen, Back must not bring a visitor's typing back.
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn index(State(app): State<App>, headers: HeaderMap) -> Response {
    let (csrf, set) = csrf_for(&app, &headers);
    no_store(with_cookie(
        StatusCode::OK,
        IndexPage::new(&app, &headers, csrf).await,
        set,
    ))
}

/// The form's fields; all optional so a missing field gets a message, not a parse error.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct IssueForm {
    name: String,
    email: String,
    consent: Option<String>,
    wall: Option<String>,
    csrf: String,
}

async fn issue(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(form): FormBody<IssueForm>,
) -> Result<Response, Error> {
    let (csrf, set) = csrf_for(&app, &headers);
    let mut page = IndexPage::new(&app, &headers, csrf).await;
    page.name = form.name.clone();
    page.email = form.email.clone();
    page.consent = form.consent.is_some();
    page.show_on_wall = form.wall.is_some();
    if check_csrf(&app, &headers, &form.csrf).is_err() {
        page.form_error = Some(Error::Csrf.to_string());
        return Ok(no_store(with_cookie(StatusCode::FORBIDDEN, page, set)));
    }
    let submission = Submission {
        name: form.name,
        email: form.email,
        consent: form.consent.is_some(),
        show_on_wall: form.wall.is_some(),
    };
    let valid = match app.check(&submission) {
        Ok(v) => v,
        Err(errors) => {
            page.name_error = errors.name;
            page.email_error = errors.email;
            page.consent_error = errors.consent;
            page.form_error = Some("Please fix the fields marked below.".into());
            return Ok(no_store(with_cookie(StatusCode::BAD_REQUEST, page, set)));
        }
    };
    let client = super::forms::client_ip(&headers, peer.ip(), app.settings.trust_forwarded_for);
    let token = app.issue(client, valid).await?;
    if is_kiosk(&app, &headers) {
        return handoff_redirect(&app, &headers, token).await;
    }
    Ok(Redirect::to(&format!("/c/{}", token.as_str())).into_response())
}

/// On the booth screen: a handoff page in place of the permanent link, so neither the
/// address bar nor the history of the shared screen ever holds the token.
async fn handoff_redirect(app: &App, headers: &HeaderMap, token: Token) -> Result<Response, Error> {
    // The CSRF check (or the kiosk cookie) needs a session; without one, start over.
    let Some(sid) = session(app, headers) else {
        return Ok(Redirect::to("/").into_response());
    };
    let id = app.open_handoff(token, &sid).await?;
    Ok(no_store(Redirect::to(&format!("/k/{id}")).into_response()))
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

impl CertStatus {
    /// The visitor's issuance state as the page shows it.
    pub fn of(v: &Visitor) -> Self {
        match v.state {
            IssueState::Pending => CertStatus::Pending(v.error.clone()),
            IssueState::Failed => CertStatus::Failed(v.error.clone().unwrap_or_default()),
            IssueState::Issued => CertStatus::Issued,
        }
    }

    /// The certificate exists.
    pub fn is_issued(&self) -> bool {
        matches!(self, CertStatus::Issued)
    }

    /// The issuer refused: nothing to print or download.
    pub fn is_failed(&self) -> bool {
        matches!(self, CertStatus::Failed(_))
    }

    /// `pending`, `issued` or `failed`, as the live script compares it.
    pub fn as_str(&self) -> &'static str {
        match self {
            CertStatus::Pending(_) => "pending",
            CertStatus::Failed(_) => "failed",
            CertStatus::Issued => "issued",
        }
    }
}

/// What a failed guestbook signature gives back to the form: the reason and the typing.
#[derive(Debug, Default)]
pub struct SignDraft {
    /// Why it was refused.
    pub error: Option<String>,
    /// The message typed.
    pub message: String,
    /// The display name typed.
    pub name: Option<String>,
}

/// `templates/certificate.html`.
#[derive(Template)]
#[template(path = "certificate.html")]
pub struct CertificatePage {
    layout: Layout,
    name: String,
    status: CertStatus,
    cert: Option<Arc<CertText>>,
    key_available: bool,
    p12_password: String,
    token: String,
    qr_svg: Arc<String>,
    page_url: String,
    seal_svg: Option<Arc<String>>,
    print: Option<PrintView>,
    /// Printers to pick from; the picker shows only with more than one.
    printers: Arc<[String]>,
    /// The one picked to begin with: this kiosk's own.
    printer: String,
    csrf: String,
    sign_url: String,
    sign_page: String,
    can_sign: bool,
    sign: SignDraft,
    display_name_max: usize,
    verify: Option<super::verify_panel::VerifyPanel>,
    purged_on: Option<String>,
}

/// The page carries about 40 KB of inline SVG: rendered into one buffer of that size
/// rather than a string that doubles its way there.
impl IntoResponse for CertificatePage {
    fn into_response(self) -> Response {
        let mut html = String::with_capacity(48 * 1024);
        match self.render_into(&mut html) {
            Ok(()) => axum::response::Html(html).into_response(),
            Err(e) => Error::internal(e).into_response(),
        }
    }
}

/// A certificate's details and seal, as a page shows them.
type Shown = (Option<Arc<CertText>>, Option<Arc<String>>);

/// What a purged visitor's page still shows: the numbers, not the certificate (it named
/// them), and the seal drawn from the kept fingerprint.
fn purged_view(app: &App, v: &Visitor) -> Result<Shown, Error> {
    let (Some(serial), Some(fingerprint), Some(ints), Some(root)) =
        (&v.serial, &v.fingerprint, &v.intermediates_pem, &v.root_pem)
    else {
        return Ok((None, None));
    };
    let when = |t: Option<i64>| t.map(human_ts).unwrap_or_default();
    let mut chain = vec!["(you: deleted after the retention period)".to_string()];
    let mut issuer = String::new();
    for der in pem_certs(ints)?.iter().chain(pem_certs(root)?.iter()) {
        let c = CertSummary::from_der(der)?;
        if issuer.is_empty() {
            issuer = c.subject.clone();
        }
        chain.push(format!("{} — SHA-256 {}", c.common_name, c.fingerprint_hex()));
    }
    let seal = super::wall::fingerprint_bytes(fingerprint).map(|fp| app.seal_svg(&fp));
    let view = CertText {
        subject: "(deleted after the retention period)".into(),
        issuer,
        serial: serial.clone(),
        fingerprint: fingerprint.clone(),
        not_before: when(v.not_before),
        not_after: when(v.not_after),
        chain,
    };
    Ok((Some(Arc::new(view)), seal))
}

async fn certificate(State(app): State<App>, h: Holder, headers: HeaderMap) -> Result<Response, Error> {
    if is_kiosk(&app, &headers) {
        return handoff_redirect(&app, &headers, h.token).await;
    }
    render_certificate(&app, &headers, &h, StatusCode::OK, SignDraft::default()).await
}

/// The certificate page, optionally with a refused guestbook signature and its typing.
pub(super) async fn render_certificate(
    app: &App,
    headers: &HeaderMap,
    h: &Holder,
    status_code: StatusCode,
    sign: SignDraft,
) -> Result<Response, Error> {
    let (token, v) = (&h.token, &h.visitor);
    let print = h.latest_job.as_ref().map(PrintView::of);
    let (csrf, set_cookie) = csrf_for(app, headers);
    let status = CertStatus::of(v);
    let parts = app.certificate_parts(token, v)?;
    let (cert, seal_svg) = if v.purged_at.is_some() && v.cert_pem.is_none() {
        purged_view(app, v)?
    } else {
        (parts.cert.clone(), parts.seal_svg.clone())
    };
    let purged_on = v.purged_at.map(human_ts);
    let sign_url = app.guestbook_sign_url();
    let page = CertificatePage {
        layout: Layout::new(app),
        name: v.name.clone(),
        can_sign: matches!(status, CertStatus::Issued) && v.sealed_key.is_some() && v.voided_at.is_none(),
        status,
        cert,
        key_available: v.sealed_key.is_some(),
        p12_password: parts.p12_password.clone(),
        token: token.as_str().to_string(),
        qr_svg: parts.qr_svg.clone(),
        page_url: parts.page_url.clone(),
        seal_svg,
        print,
        printers: app.printer_choice().await?,
        printer: app.settings.printer.print_to.clone(),
        csrf,
        sign_page: sign_url.trim_end_matches("sign").to_string(),
        sign_url,
        sign: SignDraft {
            name: Some(sign.name.unwrap_or_else(|| first_name(&v.name))),
            ..sign
        },
        display_name_max: DISPLAY_NAME_MAX,
        verify: super::verify_panel::VerifyPanel::of(v, &parts, app.root_pin()),
        purged_on,
    };
    Ok(with_cookie(status_code, page, set_cookie))
}

/// Downloads need the visitor's own device: a key saved on the shared booth screen
/// would wait there for the next visitor.
fn refuse_on_kiosk(app: &App, headers: &HeaderMap) -> Result<(), Error> {
    if is_kiosk(app, headers) {
        return Err(Error::Forbidden(
            "Downloads are off on the booth screen: scan the code with your phone to get your files.".into(),
        ));
    }
    Ok(())
}

async fn bundle_zip(State(app): State<App>, h: Holder, headers: HeaderMap) -> Result<Response, Error> {
    refuse_on_kiosk(&app, &headers)?;
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

async fn p12(State(app): State<App>, h: Holder, headers: HeaderMap) -> Result<Response, Error> {
    refuse_on_kiosk(&app, &headers)?;
    let p12 = app.p12(&h.token, &h.visitor).await?;
    let bytes = axum::body::Bytes::copy_from_slice(&p12);
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pkcs12"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"certificate.p12\""),
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
