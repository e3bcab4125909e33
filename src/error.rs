//! The one error type of the domain, and the `Result` alias every module uses.

/// Everything that can go wrong in certstamp. Each variant names what failed and knows
/// nothing of HTTP: `web::error` maps variants to statuses and pages in one place.
/// The status in each variant's doc is what a visitor sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The visitor's input broke a rule (400). The message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// A form arrived without a valid CSRF token (403).
    #[error("this form has expired; please reload the page and try again")]
    Csrf,
    /// Staff credentials missing or wrong (401).
    #[error("staff login required")]
    Unauthorized,
    /// The guestbook needs a client certificate and none was presented (401).
    #[error("a client certificate from this booth is required: see README.txt in your certificate zip")]
    CertificateRequired,
    /// A client certificate or request was not allowed (403). The message is safe to show.
    #[error("{0}")]
    Forbidden(String),
    /// No such visitor, token or route (404). Reveals nothing about why.
    #[error("not found")]
    NotFound,
    /// Nothing here, for a reason that is safe to say (404).
    #[error("{0}")]
    Absent(String),
    /// Staff voided this certificate: its link, download and ticket are gone (410).
    #[error("this certificate was voided by booth staff: its page, download and ticket are gone")]
    Voided,
    /// The certificate is not issued yet, so there is nothing to download (409).
    #[error("your certificate is not ready yet; please wait a moment")]
    NotReady,
    /// A certificate for this email already exists in this conference (409).
    #[error("a certificate was already issued for this email at this conference")]
    AlreadyIssued,
    /// The request body is larger than allowed (413).
    #[error("the form sent more data than the kiosk accepts")]
    TooLarge,
    /// The request body did not arrive in time (408).
    #[error("the request took too long to arrive; please try again")]
    TooSlow,
    /// Too many requests from one client or certificate (429).
    #[error("too many requests; please wait a minute and try again")]
    RateLimited,
    /// The private key was purged after the retention period (410).
    #[error("the private key is no longer available")]
    KeyPurged,
    /// Issuance failed in the issuing backend (502). The message is safe to show to staff.
    #[error("issuance failed: {0}")]
    Issuance(String),
    /// The issuing backend is unreachable right now; retry later (503).
    #[error("the certificate authority is not reachable right now: {0}")]
    Unavailable(String),
    /// Certificate generation or parsing (500).
    #[error("certificate error: {0}")]
    Pki(String),
    /// The printer or its transport (500).
    #[error("printer: {0}")]
    Printer(String),
    /// The database (500); the store converts its driver's errors into this.
    #[error("database: {0}")]
    Db(String),
    /// Files in the data dir (500).
    #[error("io: {0}")]
    Io(std::io::Error),
    /// The data dir cannot be written: full or read-only (503). Nothing was saved; the
    /// kiosk carries on once space returns. The detail goes to the log.
    #[error(
        "the kiosk cannot save anything right now (its storage is full or read-only), so nothing was saved; please try again in a few minutes"
    )]
    Storage(String),
    /// A shared database (PostgreSQL) cannot be reached: down, restarting, or the network
    /// between (503). Nothing was saved; the pool reconnects by itself. The detail goes to the log.
    #[error("the booth's database cannot be reached right now, so nothing was saved; please try again in a minute")]
    DbUnreachable(String),
    /// Anything else internal (500); details go to the log, never to the page.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::{QuotaExceeded, ReadOnlyFilesystem, StorageFull};
        match e.kind() {
            StorageFull | ReadOnlyFilesystem | QuotaExceeded => Error::Storage(e.to_string()),
            _ => Error::Io(e),
        }
    }
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the message may be shown to a visitor as is.
    pub fn is_public(&self) -> bool {
        !matches!(
            self,
            Error::Pki(_) | Error::Printer(_) | Error::Db(_) | Error::Io(_) | Error::Internal(_)
        )
    }

    /// Shorthand for an internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}
