//! Staff pages behind HTTP Basic auth (user `staff`): see every visitor and what went
//! wrong, void a certificate, or void and reissue it with a new link.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;

use super::forms::{CsrfForm, FormBody, check_csrf, csrf_for};
use super::pages::{Layout, PageError};
use super::visitor::human_time;
use crate::app::AppState;
use crate::error::Error;
use crate::qr;
use crate::store::jobs::JobState;
use crate::store::visitors::IssueState;

/// Routes for staff.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(dashboard))
        .route("/staff/visitors/{id}/void", post(void))
        .route("/staff/visitors/{id}/reissue", post(reissue))
        .route("/staff/jobs/{id}/{action}", post(job_action))
        .route("/staff/kiosk", post(kiosk_mode))
}

/// Check HTTP Basic credentials (`staff:<password>`) in constant time.
pub fn require_staff(state: &AppState, headers: &HeaderMap) -> Result<(), PageError> {
    let deny = || PageError(state.clone(), Error::Unauthorized);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(deny)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(deny)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| deny())?;
    let expected = format!("staff:{}", state.staff_password);
    if super::forms::ct_eq(&decoded, expected.as_bytes()) {
        Ok(())
    } else {
        Err(deny())
    }
}

/// Every staff form post: credentials, then the CSRF field.
fn staff_post(state: &AppState, headers: &HeaderMap, form: &CsrfForm) -> Result<(), PageError> {
    require_staff(state, headers)?;
    check_csrf(headers, &form.csrf).map_err(|e| PageError(state.clone(), e))
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
    jobs: Vec<StaffJob>,
    kiosk: bool,
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
    state: &AppState,
    headers: &HeaderMap,
    notice: Option<String>,
    reissued: Option<Reissued>,
) -> Result<Response, PageError> {
    let rows = state
        .store
        .recent_visitors(500)
        .await
        .map_err(|e| PageError(state.clone(), e))?;
    let jobs = state
        .store
        .recent_jobs(200)
        .await
        .map_err(|e| PageError(state.clone(), e))?;
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
    let (csrf, set) = csrf_for(headers, state.secure_cookies());
    let page = StaffPage {
        layout: Layout::new(state),
        csrf,
        issuer_kind: state.issuer.kind(),
        issued: count(IssueState::Issued),
        pending: count(IssueState::Pending),
        failed: count(IssueState::Failed),
        visitors: rows
            .iter()
            .map(|v| StaffVisitor {
                id: v.id.clone(),
                created: time::OffsetDateTime::from_unix_timestamp(v.created_at)
                    .map(human_time)
                    .unwrap_or_default(),
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
        printer: state.settings.printer.uri.clone(),
        printer_health: state.queue.health(),
        jobs,
        kiosk: super::forms::is_kiosk(headers),
    };
    let mut res = page.into_response();
    if let Some(c) = set {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(res)
}

async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    require_staff(&state, &headers)?;
    render(&state, &headers, None, None).await
}

async fn void(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, PageError> {
    staff_post(&state, &headers, &form)?;
    let done = state
        .store
        .void_visitor(&id)
        .await
        .map_err(|e| PageError(state.clone(), e))?;
    if !done {
        return Err(PageError(state, Error::NotFound));
    }
    tracing::info!(visitor = %id, "staff voided a certificate");
    render(&state, &headers, Some("Certificate voided.".into()), None).await
}

async fn reissue(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, PageError> {
    staff_post(&state, &headers, &form)?;
    let fail = |e| PageError(state.clone(), e);
    let v = state
        .store
        .visitor_by_id(&id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(Error::NotFound))?;
    let Some(email) = v.email.clone() else {
        return Err(fail(Error::Invalid(
            "This visitor's email was purged; they need to fill in the form again.".into(),
        )));
    };
    state.store.void_visitor(&id).await.map_err(fail)?;
    let email_lc = email.to_ascii_lowercase();
    let token = state.issue(v.name.clone(), email, email_lc).await.map_err(fail)?;
    tracing::info!(visitor = %id, "staff reissued a certificate");
    let url = state.page_url(&token);
    let reissued = Reissued {
        name: v.name.clone(),
        qr_svg: qr::svg(&url, "qr").map_err(fail)?,
        url,
    };
    render(
        &state,
        &headers,
        Some("Old certificate voided; new one issued.".into()),
        Some(reissued),
    )
    .await
}

async fn job_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, PageError> {
    staff_post(&state, &headers, &form)?;
    let fail = |e| PageError(state.clone(), e);
    let job = state
        .store
        .job(id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(Error::NotFound))?;
    let notice = match action.as_str() {
        "reprint" => {
            state.queue.reprint(&state.store, &job).await.map_err(fail)?;
            format!("Reprint of {} queued as a new job.", job.key())
        }
        "cancel" | "done" => {
            let to = if action == "cancel" {
                JobState::Cancelled
            } else {
                JobState::Printed
            };
            if !state.store.staff_resolve_job(id, to).await.map_err(fail)? {
                return Err(fail(Error::Invalid(format!(
                    "{} is {} and cannot be changed that way.",
                    job.key(),
                    job.state.as_str()
                ))));
            }
            format!("{} marked {}.", job.key(), to.as_str())
        }
        _ => return Err(fail(Error::NotFound)),
    };
    tracing::info!(job = %job.key(), %action, "staff changed a print job");
    render(&state, &headers, Some(notice), None).await
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
    State(state): State<AppState>,
    headers: HeaderMap,
    FormBody(form): FormBody<KioskForm>,
) -> Result<Response, PageError> {
    staff_post(&state, &headers, &CsrfForm { csrf: form.csrf })?;
    let on = form.on == "1";
    let notice = if on {
        "This browser is now the booth screen (kiosk mode)."
    } else {
        "Kiosk mode is off for this browser."
    };
    let mut res = render(&state, &headers, Some(notice.into()), None).await?;
    res.headers_mut().append(
        header::SET_COOKIE,
        super::forms::kiosk_cookie(on, state.secure_cookies()),
    );
    Ok(res)
}
