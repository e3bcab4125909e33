//! What the Kubernetes API's answers mean for the kiosk: which failures are worth a
//! retry, which are final (with words a visitor understands), and the retry pace.

use std::time::Duration;

use kube::runtime::utils::Backoff;

use crate::error::Error;

/// How an API call went wrong, for deciding what to do next.
#[derive(Debug)]
pub(super) enum ApiFailure {
    /// 409 AlreadyExists.
    Exists,
    /// Worth retrying: connection trouble, 5xx (webhook unreachable), 429.
    Transient(String),
    /// Everything else: a message safe to show.
    Final(Error),
}

/// Never log Status messages: a webhook may echo the name or email back.
pub(super) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("HTTP {} {}", s.code, s.reason),
        other => other.to_string(),
    }
}

pub(super) fn classify_create(e: kube::Error) -> ApiFailure {
    match e {
        kube::Error::Api(s) if s.code == 409 || s.reason == "AlreadyExists" => ApiFailure::Exists,
        kube::Error::Api(s) if s.code == 403 => ApiFailure::Final(Error::Invalid(webhook_message(&s.message))),
        kube::Error::Api(s) if s.code == 422 => {
            let fields: Vec<String> = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| format!("{} ({})", c.field, c.reason))
                .collect();
            let what = if fields.is_empty() {
                s.message.clone()
            } else {
                fields.join(", ")
            };
            ApiFailure::Final(Error::Issuance(format!(
                "the Kubernetes API rejected the Certificate as invalid: {what}; this is a kiosk bug or a cert-manager version mismatch"
            )))
        }
        kube::Error::Api(s) if s.code >= 500 || s.code == 429 => {
            ApiFailure::Transient(format!("HTTP {} {}", s.code, s.reason))
        }
        kube::Error::Api(s) if s.code == 401 => ApiFailure::Final(Error::Unavailable(
            "the kiosk's Kubernetes credentials were refused".into(),
        )),
        kube::Error::Api(s) => ApiFailure::Final(Error::Issuance(format!(
            "the Kubernetes API answered {} {}",
            s.code, s.reason
        ))),
        other => ApiFailure::Transient(other.to_string()),
    }
}

/// cert-manager's webhook messages name the field; say it in words a visitor understands.
fn webhook_message(message: &str) -> String {
    let detail = message.split_once("denied the request: ").map_or(message, |(_, d)| d);
    if detail.contains("spec.commonName") {
        // cert-manager counts bytes (Go `len`), so names in non-Latin scripts hit it sooner.
        "Your name is too long for a certificate: cert-manager allows at most 64 bytes of UTF-8 \
         (letters outside basic Latin take 2-4 bytes each). Please try a shorter form of your name."
            .into()
    } else if detail.contains("spec.emailAddresses") {
        "The certificate authority does not accept this email address. Please check it and try again.".into()
    } else {
        format!("The certificate authority refused this request: {detail}")
    }
}

/// Doubling backoff for retries and for the watcher (kube's default grows to 30 s;
/// a kiosk queue wants to catch up within seconds).
#[derive(Debug, Clone)]
pub struct QuickBackoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl QuickBackoff {
    /// From `min` doubling to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        QuickBackoff { next: min, min, max }
    }
}

impl Iterator for QuickBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(d)
    }
}

impl Backoff for QuickBackoff {
    fn reset(&mut self) {
        self.next = self.min;
    }
}

pub(super) fn retry_backoff() -> QuickBackoff {
    QuickBackoff::new(Duration::from_millis(200), Duration::from_secs(5))
}
