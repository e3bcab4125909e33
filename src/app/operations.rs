//! What operators and their tools ask of the kiosk: whether it can serve (each check by
//! name, for `/readyz`), and the metrics text (for Prometheus). Checks run side by side,
//! each bounded, so a probe never hangs on a stuck printer or API server.

use std::future::Future;
use std::time::Duration;

use super::App;
use crate::error::Result;

/// One readiness check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `database`, `ca` (local CA), `cert-manager` or `printer`.
    pub name: &'static str,
    /// `Ok(None)` passed, `Ok(Some(why))` skipped, `Err(why)` failed.
    pub result: std::result::Result<Option<&'static str>, String>,
}

/// Longest any one check may take.
const CHECK_LIMIT: Duration = Duration::from_secs(5);

async fn bounded(f: impl Future<Output = std::result::Result<(), String>>) -> std::result::Result<(), String> {
    tokio::time::timeout(CHECK_LIMIT, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_LIMIT.as_secs())))
}

impl App {
    /// The readiness checks, except those named in `exclude`: the database takes a
    /// durable write, the issuer takes requests (the local CA always; cert-manager's API
    /// answers and its webhook admits), the printer answers (skipped for a spool).
    pub async fn readiness(&self, exclude: &[String]) -> Vec<Check> {
        let issuer = if self.issuer.kind() == "local" {
            "ca"
        } else {
            "cert-manager"
        };
        let wanted = |name: &str| !exclude.iter().any(|e| e == name);
        let database = async {
            if !wanted("database") {
                return None;
            }
            Some(bounded(async { self.store.check_writable().await.map_err(|e| e.to_string()) }).await)
        };
        let ca = async {
            if !wanted(issuer) {
                return None;
            }
            Some(bounded(self.issuer.ready()).await)
        };
        let printer = async {
            if !wanted("printer") {
                return None;
            }
            match tokio::time::timeout(CHECK_LIMIT, self.queue.probe()).await {
                Ok(None) => Some(Ok(Some("a spool has nothing to ask"))),
                Ok(Some(r)) => Some(r.map(|()| None)),
                Err(_) => Some(Err(format!("no answer within {} s", CHECK_LIMIT.as_secs()))),
            }
        };
        let (database, ca, printer) = tokio::join!(database, ca, printer);
        [
            ("database", database.map(|r| r.map(|()| None))),
            (issuer, ca.map(|r| r.map(|()| None))),
            ("printer", printer),
        ]
        .into_iter()
        .filter_map(|(name, result)| Some(Check { name, result: result? }))
        .collect()
    }

    /// Every metric as Prometheus text, with the print-job gauges read fresh from the
    /// database.
    pub async fn metrics_text(&self) -> Result<String> {
        let counts: Vec<(&'static str, u64)> = self
            .store
            .job_counts()
            .await?
            .into_iter()
            .map(|(state, n)| (state.as_str(), n))
            .collect();
        self.metrics.print_jobs(&counts);
        Ok(self.metrics.encode())
    }
}
