//! The HTTP layer: the only module that knows axum. `router(app)` assembles one
//! sub-router per page group and the cross-cutting layers (body limit, security
//! headers, error pages, a request log that never prints a path parameter). Handlers
//! turn requests into `App` calls and answers into pages; they decide nothing else.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::error::Error;

/// Static files compiled in, served with a long cache life.
pub mod assets;
/// Conference CRLs.
pub mod crl;
/// Form tokens bound to a browser session, and the same-origin layer.
pub mod csrf;
/// Errors to statuses and pages, in one place.
pub mod error;
/// Extractors: the visitor behind a token, the staff session.
pub mod extract;
/// Form bodies, CSRF, kiosk mode, the client address.
pub mod forms;
/// The public guestbook pages, and signing through the kiosk.
pub mod guestbook;
/// The booth screen's handoff page for the visitor in front of it.
pub mod handoff;
/// The guestbook's mTLS listener: routes and answers (the rules are in `crate::guestbook`).
pub mod mtls;
/// `/healthz`, `/readyz` and `/metrics`: what probes and Prometheus ask.
pub mod ops;
/// Page chrome.
pub mod pages;
/// Printing from the certificate page and its JSON status.
pub mod print;
/// Server-sent events for live screens.
pub mod sse;
/// Staff pages: login, the console, its actions, booth-screen enrolment.
pub mod staff;
/// The certificate page's in-browser check of the chain.
pub mod verify_panel;
/// Visitor pages: the form, the certificate page, downloads.
pub mod visitor;
/// The public wall display.
pub mod wall;

/// Largest request body the kiosk reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The whole kiosk web app.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(visitor::routes())
        .merge(print::routes())
        .merge(handoff::routes())
        .merge(staff::routes())
        .merge(crl::routes())
        .merge(guestbook::routes())
        .merge(wall::routes())
        .merge(assets::routes())
        .merge(ops::routes())
        .fallback(|| async { Error::NotFound })
        // Innermost first: a panic becomes a 500, a slow request a 408, and `finish` (outermost)
        // turns either into a page and logs it.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), csrf::same_origin))
        .layer(middleware::from_fn_with_state(app.clone(), finish))
        .with_state(app)
}

/// Longest a request may take; issuing and zipping take well under a second.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Error pages (for handlers' errors, and for bare statuses such as the router's 405),
/// security headers, and one log line and metric per request with the route pattern
/// instead of the path, so tokens never reach the log.
async fn finish(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let mut res = next.run(req).await;
    if let Some(error::Failed(e)) = res.extensions_mut().remove::<error::Failed>() {
        let cookies: Vec<HeaderValue> = res.headers().get_all(header::SET_COOKIE).iter().cloned().collect();
        res = error::error_page(&app, &e);
        for c in cookies {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    let status = res.status();
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("application/json"));
    let verbatim = res.extensions().get::<ops::Verbatim>().is_some();
    if (status.is_client_error() || status.is_server_error()) && !is_page && !verbatim {
        let allow = res.headers().get(header::ALLOW).cloned();
        res = error::status_page(&app, status, None);
        if let Some(allow) = allow {
            res.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let h = res.headers_mut();
    security_headers(h);
    if route.starts_with("/c/") || route.starts_with("/k/") || route.starts_with("/staff") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let took = started.elapsed();
    app.metrics.http_request(method.as_str(), &route, status.as_u16(), took);
    tracing::info!(%method, %route, status = status.as_u16(), ms = took.as_millis() as u64, "request");
    res
}

/// The headers every response of both listeners carries.
pub(crate) fn security_headers(h: &mut HeaderMap) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// Turn any body into a `Response` with a content type.
pub(crate) fn bytes_response(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

/// An HTML body rendered once and shared by many responses (see `App::shared_render`):
/// sent without a copy.
pub(crate) fn shared_html(body: std::sync::Arc<String>) -> Response {
    struct Shared(std::sync::Arc<String>);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    bytes_response("text/html; charset=utf-8", axum::body::Bytes::from_owner(Shared(body)))
}

#[cfg(test)]
mod prop_tests;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Cli;
    use crate::issuer::local::LocalIssuer;
    use axum::body::Body;
    use axum::http::Request;
    use clap::Parser;
    use tower::ServiceExt;

    /// A local-CA app on an in-memory store, for in-process tests.
    pub(crate) fn app_state(dir: &std::path::Path) -> App {
        let cli = Cli::try_parse_from(["certstamp", "--data-dir", dir.to_str().unwrap()]).unwrap();
        let settings = cli.serve.settings().unwrap();
        let issuer = std::sync::Arc::new(LocalIssuer::open(dir, &settings.conference).unwrap());
        App::with_parts(settings, crate::store::Store::in_memory().unwrap(), issuer).unwrap()
    }

    async fn app(dir: &std::path::Path) -> Router {
        router(app_state(dir))
    }

    #[tokio::test]
    async fn router_works_without_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let res = app(dir.path())
            .await
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().contains_key(header::SET_COOKIE));
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        let res = app(dir.path())
            .await
            .oneshot(Request::delete("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(res.headers().contains_key(header::ALLOW));
    }

    #[tokio::test]
    async fn assets_are_served_with_a_long_cache_life_and_pages_link_them() {
        let dir = tempfile::tempdir().unwrap();
        let res = app(dir.path())
            .await
            .oneshot(Request::get("/assets/certstamp.css").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert!(
            res.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let res = app(dir.path())
            .await
            .oneshot(Request::get("/assets/nope.js").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = app(dir.path())
            .await
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            html.contains(&format!("/assets/certstamp.css?v={}", assets::version())),
            "{html}"
        );
    }
}
