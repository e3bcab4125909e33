//! Printing and live status of one visitor: `POST /c/{token}/print` queues a ticket,
//! `GET /c/{token}/print` reports the ticket's and the certificate's state as JSON, and
//! `GET /c/{token}/events` tells the page (server-sent events) when either changes, so
//! it updates without a reload. The handoff pages on the booth screen reuse all three.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

use super::csrf::check_csrf;
use super::extract::Holder;
use super::forms::{FormBody, is_kiosk};
use super::visitor::CertStatus;
use crate::app::App;
use crate::error::Error;
use crate::events::Event;
use crate::store::jobs::{Job, JobState};
use crate::store::visitors::Visitor;

/// Routes for printing and live status.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/c/{token}/print", get(status).post(print))
        .route("/c/{token}/events", get(events))
}

/// What a visitor is told about their ticket.
#[derive(Debug, Clone, Serialize)]
pub struct PrintView {
    /// Job number.
    pub id: i64,
    /// Stored state.
    pub state: JobState,
    /// Attempts so far.
    pub attempts: u32,
    /// One sentence for the visitor.
    pub message: String,
    /// The last printer problem, if any.
    pub last_error: Option<String>,
}

impl PrintView {
    /// Describe a job.
    pub fn of(job: &Job) -> Self {
        let message = match job.state {
            JobState::Queued => "Your ticket is queued.",
            JobState::Printing => "Your ticket is printing now.",
            JobState::Printed => "Your ticket has been printed. Pick it up at the booth!",
            JobState::Failed => "Waiting for the printer: it needs attention from staff. Your ticket stays queued.",
            JobState::Interrupted => "Printing was interrupted; staff will check whether your ticket came out.",
            JobState::Cancelled => "This ticket was cancelled.",
        };
        PrintView {
            id: job.id,
            state: job.state,
            attempts: job.attempts,
            message: message.into(),
            last_error: job.last_error.clone(),
        }
    }

    /// The notice's colour class on the page.
    pub fn tone(&self) -> &'static str {
        match self.state {
            JobState::Printed => "ok",
            JobState::Failed | JobState::Interrupted | JobState::Cancelled => "bad",
            _ => "",
        }
    }
}

/// `GET …/print`: the ticket's state, and the certificate's, which the page compares
/// with what it shows.
#[derive(Serialize)]
pub struct StatusJson {
    job: Option<PrintView>,
    certificate: &'static str,
}

/// The status of one visitor, as JSON.
pub(super) async fn status_of(app: &App, v: &Visitor) -> Result<Response, Error> {
    let job = app.latest_job(v).await?;
    Ok(axum::Json(StatusJson {
        job: job.as_ref().map(PrintView::of),
        certificate: CertStatus::of(v).as_str(),
    })
    .into_response())
}

/// Server-sent events about one visitor only: their certificate (`visitor`) and their
/// tickets (`job`). The data carries states, never a name.
pub(super) fn events_of(app: &App, visitor_id: &str) -> Response {
    let id = visitor_id.to_string();
    super::sse::stream(app, move |e| match e {
        Event::Visitor { id: v } if *v == id => Some(SseEvent::default().event("visitor").data("{}")),
        Event::Job { visitor, state, .. } if *visitor == id => Some(
            SseEvent::default()
                .event("job")
                .data(format!("{{\"state\":\"{}\"}}", state.as_str())),
        ),
        _ => None,
    })
    .into_response()
}

async fn status(State(app): State<App>, h: Holder) -> Result<Response, Error> {
    status_of(&app, &h.visitor).await
}

async fn events(State(app): State<App>, h: Holder) -> Response {
    events_of(&app, &h.visitor.id)
}

/// The print button's form: its token, and the printer picked where several serve the
/// booth (none: this kiosk's own).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PrintForm {
    csrf: String,
    printer: String,
}

async fn print(
    State(app): State<App>,
    h: Holder,
    headers: HeaderMap,
    FormBody(form): FormBody<PrintForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    if is_kiosk(&app, &headers) {
        // The booth screen prints from its handoff page, never from the permanent link.
        return Err(Error::Forbidden(
            "On the booth screen, print from the page the form led to.".into(),
        ));
    }
    let printer = app.pick_printer(Some(&form.printer)).await?;
    app.request_print(&h.token, &h.visitor, &printer).await?;
    Ok(Redirect::to(&format!("/c/{}#print", h.token.as_str())).into_response())
}
