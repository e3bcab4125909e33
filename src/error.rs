use axum::http::StatusCode;

/// Everything that can go wrong in certstamp. Each variant names what failed;
/// [`Error::status`] says which HTTP status a visitor sees for it.
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
    /// The certificate is not issued yet, so there is nothing to download (409).
    #[error("your certificate is not ready yet; please wait a moment")]
    NotReady,
    /// A certificate for this email already exists in this conference (409).
    #[error("a certificate was already issued for this email at this conference")]
    AlreadyIssued,
    /// The request body is larger than allowed (413).
    #[error("the form sent more data than the kiosk accepts")]
    TooLarge,
    /// Too many requests from one client or certificate (429).
    #[error("too many requests; please wait a minute and try again")]
    RateLimited,
    /// The private key was purged after the retention period (410).
    #[error("the private key is no longer available")]
    KeyPurged,
    /// Issuance failed in the issuing backend. The message is safe to show to staff.
    #[error("issuance failed: {0}")]
    Issuance(String),
    /// The issuing backend is unreachable right now; retry later (503).
    #[error("the certificate authority is not reachable right now: {0}")]
    Unavailable(String),
    /// Certificate generation or parsing.
    #[error("certificate error: {0}")]
    Pki(String),
    /// The printer or its transport.
    #[error("printer: {0}")]
    Printer(String),
    /// SQLite.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Files in the data dir.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else internal; details go to the log, never to the page.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Csrf | Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unauthorized | Error::CertificateRequired => StatusCode::UNAUTHORIZED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::AlreadyIssued | Error::NotReady => StatusCode::CONFLICT,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Error::KeyPurged => StatusCode::GONE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Issuance(_) => StatusCode::BAD_GATEWAY,
            Error::Pki(_) | Error::Printer(_) | Error::Db(_) | Error::Io(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

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
