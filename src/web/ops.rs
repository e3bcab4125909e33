//! What probes and Prometheus ask: `/healthz` (the process answers), `/readyz` (each
//! check named, in the Kubernetes API server's own format; `?exclude=printer` leaves a
//! check out), and `/metrics` (Prometheus text).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::bytes_response;
use crate::app::{App, Check};
use crate::error::Error;

/// Marks a response whose status and body go out as they are: a failing `/readyz` is a
/// report for the prober, not an error page.
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

/// Routes for probes and metrics.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The checks named by `exclude=a,b` (or repeated `exclude=`).
fn excluded(query: Option<&str>) -> Vec<String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.strip_prefix("exclude="))
        .flat_map(|v| v.split([',', ' ']))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// `[+]name ok` per passing check, `[-]name failed: why` per failing one, then a verdict.
pub fn report(checks: &[Check]) -> (bool, String) {
    let mut text = String::new();
    let mut ready = true;
    for c in checks {
        match &c.result {
            Ok(None) => text.push_str(&format!("[+]{} ok\n", c.name)),
            Ok(Some(why)) => text.push_str(&format!("[+]{} skipped: {why}\n", c.name)),
            Err(why) => {
                ready = false;
                text.push_str(&format!("[-]{} failed: {why}\n", c.name));
            }
        }
    }
    text.push_str(if ready {
        "readyz check passed\n"
    } else {
        "readyz check failed\n"
    });
    (ready, text)
}

async fn readyz(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let (ready, text) = report(&app.readiness(&excluded(query.as_deref())).await);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut res = (status, bytes_response("text/plain; charset=utf-8", text)).into_response();
    res.extensions_mut().insert(Verbatim);
    res
}

async fn metrics(State(app): State<App>) -> Result<Response, Error> {
    Ok(bytes_response(crate::metrics::CONTENT_TYPE, app.metrics_text().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_each_check_and_fails_on_any() {
        let checks = [
            Check {
                name: "database",
                result: Ok(None),
            },
            Check {
                name: "printer",
                result: Err("the printer is offline".into()),
            },
        ];
        let (ready, text) = report(&checks);
        assert!(!ready);
        assert_eq!(
            text,
            "[+]database ok\n[-]printer failed: the printer is offline\nreadyz check failed\n"
        );
        let (ready, text) = report(&checks[..1]);
        assert!(ready);
        assert!(text.ends_with("readyz check passed\n"));
    }

    #[test]
    fn exclusions_come_comma_separated_or_repeated() {
        assert_eq!(
            excluded(Some("exclude=printer,ca&exclude=database")),
            ["printer", "ca", "database"]
        );
        assert!(excluded(None).is_empty());
        assert!(excluded(Some("verbose")).is_empty());
    }
}
