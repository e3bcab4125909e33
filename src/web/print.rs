//! `POST /c/{token}/print` queues a ticket; `GET /c/{token}/print` reports its state as
//! JSON. The certificate page shows the same state next to its print button.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

use super::csrf::check_csrf;
use super::extract::Holder;
use super::forms::{CsrfForm, FormBody};
use crate::app::App;
use crate::error::Error;
use crate::store::jobs::{Job, JobState};

/// Routes for printing.
pub fn routes() -> Router<App> {
    Router::new().route("/c/{token}/print", get(status).post(print))
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
}

#[derive(Serialize)]
struct StatusJson {
    job: Option<PrintView>,
}

async fn status(State(app): State<App>, h: Holder) -> Result<Response, Error> {
    let job = app.latest_job(&h.visitor).await?;
    Ok(axum::Json(StatusJson {
        job: job.as_ref().map(PrintView::of),
    })
    .into_response())
}

async fn print(
    State(app): State<App>,
    h: Holder,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    app.request_print(&h.token, &h.visitor).await?;
    Ok(Redirect::to(&format!("/c/{}#print", h.token.as_str())).into_response())
}
