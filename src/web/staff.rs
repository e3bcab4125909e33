//! Staff pages behind HTTP Basic auth (user `staff`, the [`Staff`] extractor): see every
//! visitor and what went wrong, void a certificate, or void and reissue it with a new link.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::csrf::{check_csrf, csrf_for};
use super::extract::Staff;
use super::forms::{CsrfForm, FormBody};
use super::pages::Layout;
use crate::app::{App, JobAction};
use crate::clock::human_ts;
use crate::error::Error;
use crate::qr;
use crate::store::jobs::JobState;
use crate::store::visitors::IssueState;

/// Routes for staff.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/staff", get(dashboard))
        .route("/staff/visitors/{id}/void", post(void))
        .route("/staff/visitors/{id}/reissue", post(reissue))
        .route("/staff/jobs/{id}/{action}", post(job_action))
        .route("/staff/kiosk", post(kiosk_mode))
}

/// One visitor row.
pub struct StaffVisitor {
    id: String,
    created: String,
    name: String,
    email: String,
    state: &'static str,
    error: Option<String>,
    serial: String,
    voided: bool,
}

/// A freshly reissued link to show the visitor.
pub struct Reissued {
    name: String,
    url: String,
    qr_svg: String,
}

/// `templates/staff.html`.
#[derive(Template, WebTemplate)]
#[template(path = "staff.html")]
pub struct StaffPage {
    layout: Layout,
    csrf: String,
    issuer_kind: &'static str,
    issued: usize,
    pending: usize,
    failed: usize,
    visitors: Vec<StaffVisitor>,
    notice: Option<String>,
    reissued: Option<Reissued>,
    printer: String,
    printer_health: String,
    /// Every printer a worker reported to the database (several with print agents).
    printers: Vec<StaffPrinter>,
    jobs: Vec<StaffJob>,
    kiosk: bool,
}

/// One printer as its worker last reported it.
pub struct StaffPrinter {
    name: String,
    status: String,
    seen: String,
    served: bool,
}

/// One print job row.
pub struct StaffJob {
    id: i64,
    key: String,
    name: String,
    origin: String,
    state: &'static str,
    attempts: u32,
    last_error: Option<String>,
    can_cancel: bool,
    can_mark_done: bool,
    can_reprint: bool,
}

async fn render(
    app: &App,
    headers: &HeaderMap,
    notice: Option<String>,
    reissued: Option<Reissued>,
) -> Result<Response, Error> {
    let rows = app.store.recent_visitors(500).await?;
    let jobs = app.store.recent_jobs(200).await?;
    let printers = app
        .store
        .printers()
        .await?
        .into_iter()
        .map(|p| StaffPrinter {
            seen: human_ts(p.seen_at),
            name: p.name,
            status: p.status,
            served: p.served,
        })
        .collect();
    let name_of = |id: &str| {
        rows.iter()
            .find(|v| v.id == id)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    };
    let jobs = jobs
        .iter()
        .map(|j| StaffJob {
            id: j.id,
            key: j.key(),
            name: name_of(&j.visitor_id),
            origin: j.origin.clone(),
            state: j.state.as_str(),
            attempts: j.attempts,
            last_error: j.last_error.clone(),
            can_cancel: matches!(j.state, JobState::Queued | JobState::Failed | JobState::Interrupted),
            can_mark_done: j.state == JobState::Interrupted,
            can_reprint: j.payload.is_some() && !j.state.is_open(),
        })
        .collect();
    let count = |s| rows.iter().filter(|v| v.state == s).count();
    let (csrf, set) = csrf_for(app, headers);
    let page = StaffPage {
        layout: Layout::new(app),
        csrf,
        issuer_kind: app.issuer.kind(),
        issued: count(IssueState::Issued),
        pending: count(IssueState::Pending),
        failed: count(IssueState::Failed),
        visitors: rows
            .iter()
            .map(|v| StaffVisitor {
                id: v.id.clone(),
                created: human_ts(v.created_at),
                name: v.name.clone(),
                email: v.email.clone().unwrap_or_else(|| "(purged)".into()),
                state: match v.state {
                    IssueState::Pending => "pending",
                    IssueState::Issued => "issued",
                    IssueState::Failed => "failed",
                },
                error: v.error.clone(),
                serial: v.serial.clone().unwrap_or_default(),
                voided: v.voided_at.is_some(),
            })
            .collect(),
        notice,
        reissued,
        printer: app.settings.printer.uri.clone(),
        printer_health: app.queue.health(),
        printers,
        jobs,
        kiosk: super::forms::is_kiosk(app, headers),
    };
    let mut res = page.into_response();
    if let Some(c) = set {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(res)
}

async fn dashboard(State(app): State<App>, _: Staff, headers: HeaderMap) -> Result<Response, Error> {
    render(&app, &headers, None, None).await
}

async fn void(
    State(app): State<App>,
    _: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    app.void(&id).await?;
    render(&app, &headers, Some("Certificate voided.".into()), None).await
}

async fn reissue(
    State(app): State<App>,
    _: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let new = app.reissue(&id).await?;
    let url = app.page_url(&new.token);
    let reissued = Reissued {
        name: new.name,
        qr_svg: qr::svg(&url, "qr")?,
        url,
    };
    render(
        &app,
        &headers,
        Some("Old certificate voided; new one issued.".into()),
        Some(reissued),
    )
    .await
}

async fn job_action(
    State(app): State<App>,
    _: Staff,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let action = JobAction::parse(&action).ok_or(Error::NotFound)?;
    let notice = app.job_action(id, action).await?;
    render(&app, &headers, Some(notice), None).await
}

/// The kiosk-mode switch: `on` is `1` or `0`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KioskForm {
    csrf: String,
    on: String,
}

/// Switch this browser into (or out of) kiosk mode: certificate pages then offer "next
/// visitor", return to the form after two minutes, and never download keys.
async fn kiosk_mode(
    State(app): State<App>,
    _: Staff,
    headers: HeaderMap,
    FormBody(form): FormBody<KioskForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let on = form.on == "1";
    let notice = if on {
        "This browser is now the booth screen (kiosk mode)."
    } else {
        "Kiosk mode is off for this browser."
    };
    let mut res = render(&app, &headers, Some(notice.into()), None).await?;
    res.headers_mut()
        .append(header::SET_COOKIE, super::forms::kiosk_cookie(on, app.secure_cookies()));
    Ok(res)
}
