//! Page chrome shared by every template, and the error page every failure renders.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::Error;

/// What the base layout needs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Conference name in the header and title.
    pub conference: String,
}

impl Layout {
    /// The layout for this kiosk.
    pub fn new(state: &AppState) -> Self {
        Layout {
            conference: state.settings.conference.name.clone(),
        }
    }
}

/// `templates/error.html`.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Chrome.
    pub layout: Layout,
    /// Heading.
    pub title: String,
    /// What happened, safe to show.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// Log reference for internal errors.
    pub reference: Option<String>,
}

fn title_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That did not work",
        401 => "Staff login required",
        403 => "Not allowed",
        404 => "Page not found",
        405 => "Method not allowed",
        409 => "Already done",
        410 => "No longer available",
        413 => "Too much data",
        429 => "Slow down",
        503 => "Temporarily unavailable",
        _ => "Something went wrong",
    }
}

/// An error page for a bare status (or with a message).
pub fn error_response(state: &AppState, status: StatusCode, message: Option<String>) -> Response {
    let message = message.unwrap_or_else(|| match status.as_u16() {
        404 => "There is nothing at this address. If you scanned a ticket, check that the whole code was read.".into(),
        405 => "This address does not accept that kind of request.".into(),
        408 => "The kiosk took too long to answer. Please try again.".into(),
        413 => "The form sent more data than the kiosk accepts.".into(),
        500..=599 => "Something went wrong on our side. Please ask the booth staff.".into(),
        _ => "The request could not be handled.".into(),
    });
    let page = ErrorPage {
        layout: Layout::new(state),
        title: title_for(status).into(),
        message,
        hint: None,
        reference: None,
    };
    (status, page).into_response()
}

/// Render an [`Error`] as a page, logging internal ones with a reference.
pub fn error_page(state: &AppState, err: &Error) -> Response {
    let status = err.status();
    let (message, reference) = if err.is_public() {
        (err.to_string(), None)
    } else {
        let reference = format!("{:08x}", rand::random::<u32>());
        tracing::error!(%reference, error = %err, "internal error");
        (
            "Something went wrong on our side. Please ask the booth staff.".to_string(),
            Some(reference),
        )
    };
    let hint = match err {
        Error::AlreadyIssued => Some(
            "Each email gets one certificate per conference. If you lost your link, booth staff can reissue it.".into(),
        ),
        Error::RateLimited => Some("The kiosk limits how many certificates one device can request a minute.".into()),
        _ => None,
    };
    let page = ErrorPage {
        layout: Layout::new(state),
        title: title_for(status).into(),
        message,
        hint,
        reference,
    };
    let mut res = (status, page).into_response();
    if matches!(err, Error::Unauthorized) {
        res.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"certstamp staff\", charset=\"UTF-8\""),
        );
    }
    res
}

/// An error together with the state it renders with; handlers return `Result<_, PageError>`.
pub struct PageError(pub AppState, pub Error);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0, &self.1)
    }
}

// Handlers without state at hand (the fallback) still render the generic page through
// the `finish` middleware, which replaces bare error bodies.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if !self.is_public() {
            tracing::error!(error = %self, "internal error");
        }
        (self.status(), self.to_string()).into_response()
    }
}
