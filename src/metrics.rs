//! The kiosk's Prometheus metrics in one place: the registry and typed handles that the
//! app, the print queue and the web layer record into, and the text they are served as.
//! Every name starts with `certstamp_`. Labels are backends, outcomes, states and route
//! patterns, never anything a visitor typed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// `Content-Type` of [`Metrics::encode`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuanceLabels {
    backend: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// A request method as a label: the standard ones by name, anything else as `other`, so
/// a client cannot grow the label set.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViaLabels {
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// What the paper sensor said last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// Paper is loaded.
    Present,
    /// The printer reported paper end.
    Out,
    /// No answer (a silent printer, or the spool).
    Unknown,
}

impl Paper {
    const ALL: [Paper; 3] = [Paper::Present, Paper::Out, Paper::Unknown];

    fn as_str(self) -> &'static str {
        match self {
            Paper::Present => "present",
            Paper::Out => "out",
            Paper::Unknown => "unknown",
        }
    }
}

/// Handles to every metric; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    issuances: Family<IssuanceLabels, Counter>,
    issuance_seconds: Family<BackendLabels, Histogram>,
    /// When each pending visitor was submitted, for the latency of its issuance.
    submitted: Mutex<HashMap<String, Instant>>,
    http_requests: Family<RequestLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram>,
    print_jobs: Family<StateLabels, Gauge>,
    print_attempts: Family<ResultLabels, Counter>,
    printer_up: Gauge,
    printer_paper: Family<StateLabels, Gauge>,
    guestbook_entries: Family<ViaLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("certstamp");
        // cert-manager answers in well under a second; its timeout is 30 s.
        let issuance: fn() -> Histogram = || Histogram::new(exponential_buckets(0.005, 2.0, 14));
        // From half a millisecond (a health check) to the 30 s request timeout.
        let http: fn() -> Histogram = || Histogram::new(exponential_buckets(0.0005, 2.0, 17));
        let (issuance_seconds, http_seconds) = (
            Family::new_with_constructor(issuance),
            Family::new_with_constructor(http),
        );
        let inner = Inner {
            issuances: Family::default(),
            issuance_seconds,
            submitted: Mutex::default(),
            http_requests: Family::default(),
            http_seconds,
            print_jobs: Family::default(),
            print_attempts: Family::default(),
            printer_up: Gauge::default(),
            printer_paper: Family::default(),
            guestbook_entries: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "issuances",
            "Finished certificate issuances by backend and outcome (issued, failed)",
            inner.issuances.clone(),
        );
        registry.register_with_unit(
            "issuance_duration",
            "From a visitor's submission to their certificate being stored (the bundle is ready)",
            Unit::Seconds,
            inner.issuance_seconds.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route pattern and status",
            inner.http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method and route pattern",
            Unit::Seconds,
            inner.http_seconds.clone(),
        );
        registry.register(
            "print_jobs",
            "Print jobs in the queue's database by state",
            inner.print_jobs.clone(),
        );
        registry.register(
            "print_attempts",
            "Attempts at sending a ticket by result (printed, failed, interrupted, held)",
            inner.print_attempts.clone(),
        );
        registry.register(
            "printer_up",
            "1 when the printer answered its last status check and is online",
            inner.printer_up.clone(),
        );
        registry.register(
            "printer_paper",
            "The paper sensor's last state (present, out, unknown): 1 for the current one",
            inner.printer_paper.clone(),
        );
        registry.register(
            "guestbook_entries",
            "Guestbook entries written, by how (mtls: the visitor's own client; kiosk)",
            inner.guestbook_entries.clone(),
        );
        registry.register(
            "build",
            "The running certstamp",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        let m = Metrics(Arc::new(Inner { registry, ..inner }));
        // Series that exist from the start read 0 rather than missing.
        for result in ["printed", "failed", "interrupted", "held"] {
            let _ = m.0.print_attempts.get_or_create(&ResultLabels { result });
        }
        for via in ["mtls", "kiosk"] {
            let _ = m.0.guestbook_entries.get_or_create(&ViaLabels { via });
        }
        m
    }

    /// Start `backend`'s issuance series at 0, so they exist before the first visitor.
    pub fn expect_backend(&self, backend: &'static str) {
        for outcome in ["issued", "failed"] {
            let _ = self.0.issuances.get_or_create(&IssuanceLabels { backend, outcome });
        }
        let _ = self.0.issuance_seconds.get_or_create(&BackendLabels { backend });
    }

    /// A visitor was handed to the issuer.
    pub fn issuance_submitted(&self, visitor_id: &str) {
        self.0
            .submitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(visitor_id.to_string(), Instant::now());
    }

    /// An issuance ended in `outcome` (`issued` or `failed`). The latency is known when
    /// this process saw the submission (not for issuances resumed after a restart).
    pub fn issuance_finished(&self, visitor_id: &str, backend: &'static str, outcome: &'static str) {
        self.0
            .issuances
            .get_or_create(&IssuanceLabels { backend, outcome })
            .inc();
        let started = self
            .0
            .submitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(visitor_id);
        if let Some(t) = started
            && outcome == "issued"
        {
            self.0
                .issuance_seconds
                .get_or_create(&BackendLabels { backend })
                .observe(t.elapsed().as_secs_f64());
        }
    }

    /// One HTTP request answered. `route` is the matched pattern (`/c/{token}`), never
    /// the path.
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let (method, route) = (method_label(method), route.to_string());
        self.0
            .http_seconds
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.0
            .http_requests
            .get_or_create(&RequestLabels { method, route, status })
            .inc();
    }

    /// The number of print jobs in each state (`as_str` of the store's states).
    pub fn print_jobs(&self, counts: &[(&'static str, u64)]) {
        for (state, n) in counts {
            self.0
                .print_jobs
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// One attempt at a ticket ended in `result`.
    pub fn print_attempt(&self, result: &'static str) {
        self.0.print_attempts.get_or_create(&ResultLabels { result }).inc();
    }

    /// What the printer's last status check said.
    pub fn printer(&self, up: bool, paper: Paper) {
        self.0.printer_up.set(i64::from(up));
        for p in Paper::ALL {
            self.0
                .printer_paper
                .get_or_create(&StateLabels { state: p.as_str() })
                .set(i64::from(p == paper));
        }
    }

    /// A guestbook entry was written, over mutual TLS or through the kiosk.
    pub fn guestbook_entry(&self, over_tls: bool) {
        let via = if over_tls { "mtls" } else { "kiosk" };
        self.0.guestbook_entries.get_or_create(&ViaLabels { via }).inc();
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn recorded_values_come_out_as_prometheus_text() {
        let m = Metrics::new();
        m.issuance_submitted("v1");
        m.issuance_finished("v1", "local", "issued");
        m.issuance_finished("v2", "cert-manager", "failed");
        m.http_request("GET", "/c/{token}", 200, Duration::from_millis(3));
        m.http_request("BREW", "(unmatched)", 405, Duration::from_millis(1));
        m.print_jobs(&[("queued", 2), ("printed", 5)]);
        m.print_attempt("printed");
        m.printer(true, Paper::Out);
        m.guestbook_entry(true);
        let text = m.encode();
        let at = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("{s} missing:\n{text}"));
        assert_eq!(
            at("certstamp_issuances_total{backend=\"local\",outcome=\"issued\"}"),
            1.0
        );
        assert_eq!(
            at("certstamp_issuances_total{backend=\"cert-manager\",outcome=\"failed\"}"),
            1.0
        );
        assert_eq!(at("certstamp_issuance_duration_seconds_count{backend=\"local\"}"), 1.0);
        assert_eq!(
            at("certstamp_http_requests_total{method=\"GET\",route=\"/c/{token}\",status=\"200\"}"),
            1.0
        );
        let buckets: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("certstamp_http_request_duration_seconds_bucket{") && l.contains("/c/{token}"))
            .collect();
        assert_eq!(buckets.len(), 18, "17 bounds and +Inf:\n{text}");
        assert!(buckets.iter().any(|l| l.contains("le=\"+Inf\"") && l.ends_with(" 1")));
        assert_eq!(
            at("certstamp_http_requests_total{method=\"other\",route=\"(unmatched)\",status=\"405\"}"),
            1.0
        );
        assert_eq!(at("certstamp_print_jobs{state=\"printed\"}"), 5.0);
        assert_eq!(at("certstamp_print_attempts_total{result=\"printed\"}"), 1.0);
        assert_eq!(at("certstamp_printer_up"), 1.0);
        assert_eq!(at("certstamp_printer_paper{state=\"out\"}"), 1.0);
        assert_eq!(at("certstamp_printer_paper{state=\"present\"}"), 0.0);
        assert_eq!(at("certstamp_guestbook_entries_total{via=\"mtls\"}"), 1.0);
        assert_eq!(
            at(&format!(
                "certstamp_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )),
            1.0
        );
        assert!(text.contains("# TYPE certstamp_issuance_duration_seconds histogram"));
    }

    #[test]
    fn a_failed_or_resumed_issuance_has_no_latency() {
        let m = Metrics::new();
        m.expect_backend("local");
        m.issuance_submitted("v1");
        m.issuance_finished("v1", "local", "failed");
        m.issuance_finished("v9", "local", "issued");
        let text = m.encode();
        assert_eq!(
            sample(&text, "certstamp_issuance_duration_seconds_count{backend=\"local\"}"),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "certstamp_issuances_total{backend=\"local\",outcome=\"issued\"}"),
            Some(1.0)
        );
        assert!(m.0.submitted.lock().unwrap().is_empty(), "nothing left behind");
    }
}
