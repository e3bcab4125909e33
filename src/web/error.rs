//! The one place where an [`Error`] becomes an HTTP status and a page. Handlers return
//! `Result<_, Error>` and use a bare `?`: the error rides in the response's extensions
//! to the `finish` middleware, which has the app at hand and renders the page there.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::pages::Layout;
use crate::app::App;
use crate::error::Error;

/// The HTTP status a visitor sees for an error.
pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::Csrf | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized | Error::CertificateRequired => StatusCode::UNAUTHORIZED,
        Error::NotFound | Error::Absent(_) => StatusCode::NOT_FOUND,
        Error::AlreadyIssued | Error::NotReady => StatusCode::CONFLICT,
        Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::TooSlow => StatusCode::REQUEST_TIMEOUT,
        Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Error::KeyPurged | Error::Voided => StatusCode::GONE,
        Error::Unavailable(_) | Error::Storage(_) | Error::DbUnreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Issuance(_) => StatusCode::BAD_GATEWAY,
        Error::Pki(_) | Error::Printer(_) | Error::Db(_) | Error::Io(_) | Error::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// An error on its way to `finish`, which renders it.
#[derive(Clone)]
pub(super) struct Failed(pub(super) Arc<Error>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut res = status(&self).into_response();
        res.extensions_mut().insert(Failed(Arc::new(self)));
        res
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
        408 => "Too slow",
        409 => "Already done",
        410 => "No longer available",
        413 => "Too much data",
        429 => "Slow down",
        503 => "Temporarily unavailable",
        _ => "Something went wrong",
    }
}

/// An error page for a bare status (or with a message).
pub fn status_page(app: &App, status: StatusCode, message: Option<String>) -> Response {
    let message = message.unwrap_or_else(|| match status.as_u16() {
        404 => "There is nothing at this address. If you scanned a ticket, check that the whole code was read.".into(),
        405 => "This address does not accept that kind of request.".into(),
        408 => "The kiosk took too long to answer. Please try again.".into(),
        413 => "The form sent more data than the kiosk accepts.".into(),
        500..=599 => "Something went wrong on our side. Please ask the booth staff.".into(),
        _ => "The request could not be handled.".into(),
    });
    let page = ErrorPage {
        layout: Layout::new(app),
        title: title_for(status).into(),
        message,
        hint: None,
        reference: None,
    };
    (status, page).into_response()
}

/// What a visitor may read about an error: its own words when public, else a generic
/// sentence and a reference that ties it to the log line holding the details.
pub fn public_message(e: &Error) -> (String, Option<String>) {
    if e.is_public() {
        return (e.to_string(), None);
    }
    let reference = format!("{:08x}", rand::random::<u32>());
    tracing::error!(%reference, error = %e, "internal error");
    (
        "Something went wrong on our side. Please ask the booth staff.".to_string(),
        Some(reference),
    )
}

/// Render an [`Error`] as a page.
pub fn error_page(app: &App, err: &Error) -> Response {
    let status = status(err);
    let (message, reference) = public_message(err);
    let hint = match err {
        Error::AlreadyIssued => Some(
            "Each email gets one certificate per conference. Lost your link? Ask the staff at the booth to reissue it: they void the old certificate and show you a new link to scan.".into(),
        ),
        Error::RateLimited => Some("The kiosk limits how many requests one device can make a minute.".into()),
        Error::Voided => {
            Some("If booth staff gave you a new link or ticket, use that one; otherwise ask them at the booth.".into())
        }
        Error::Unauthorized => Some("Staff log in at /staff/login.".into()),
        Error::Storage(detail) => {
            tracing::error!(%detail, "storage fault: a request could not be saved");
            Some("Booth staff: free space on the kiosk's data disk (or make it writable); the kiosk carries on by itself.".into())
        }
        Error::DbUnreachable(detail) => {
            tracing::error!(%detail, "database unreachable: a request could not be saved");
            Some("Booth staff: check the PostgreSQL server; the kiosks reconnect by themselves.".into())
        }
        _ => None,
    };
    let page = ErrorPage {
        layout: Layout::new(app),
        title: title_for(status).into(),
        message,
        hint,
        reference,
    };
    (status, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_status_and_internals_stay_hidden() {
        assert_eq!(status(&Error::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status(&Error::KeyPurged), StatusCode::GONE);
        assert_eq!(status(&Error::Voided), StatusCode::GONE);
        assert_eq!(status(&Error::Absent("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(status(&Error::Unavailable("x".into())), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            status(&Error::Storage("disk full".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(!Error::Storage("/secret/path".into()).to_string().contains("secret"));
        let (msg, reference) = public_message(&Error::Internal("secret detail".into()));
        assert!(!msg.contains("secret") && reference.is_some());
        let (msg, reference) = public_message(&Error::AlreadyIssued);
        assert!(msg.contains("already") && reference.is_none());
    }
}
