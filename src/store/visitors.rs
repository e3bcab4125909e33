//! Visitor rows: created at submission, completed when the certificate is issued,
//! purged of everything personal after retention.

use crate::error::Result;
use crate::pki::{CertSummary, IssuedCert};
use crate::token;

/// Where a visitor's certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    /// Submitted; waiting for the issuer.
    Pending,
    /// Certificate available.
    Issued,
    /// The issuer refused; `error` says why.
    Failed,
}

impl IssueState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Pending => "pending",
            IssueState::Issued => "issued",
            IssueState::Failed => "failed",
        }
    }

    /// Read the stored word back (unknown words read as pending).
    pub fn parse(s: &str) -> Self {
        match s {
            "issued" => IssueState::Issued,
            "failed" => IssueState::Failed,
            _ => IssueState::Pending,
        }
    }
}

/// A new submission.
#[derive(Debug, Clone)]
pub struct NewVisitor {
    /// Random visitor id.
    pub id: String,
    /// Conference slug.
    pub conference: String,
    /// Display name.
    pub name: String,
    /// Email as typed.
    pub email: String,
    /// Lowercase email.
    pub email_lc: String,
    /// `local` or `cert-manager`.
    pub issuer_kind: String,
    /// Backend object name, when known up front.
    pub backend_ref: Option<String>,
    /// Unix time when email and key are purged.
    pub retention_until: i64,
    /// The visitor ticked "show my name on the booth wall".
    pub show_on_wall: bool,
}

/// A stored visitor.
#[derive(Clone)]
pub struct Visitor {
    /// Random id.
    pub id: String,
    /// Conference slug.
    pub conference: String,
    /// Display name.
    pub name: String,
    /// Email; `None` once purged.
    pub email: Option<String>,
    /// Issuance state.
    pub state: IssueState,
    /// Backend that issues it.
    pub issuer_kind: String,
    /// Backend object name.
    pub backend_ref: Option<String>,
    /// Failure or delay reason.
    pub error: Option<String>,
    /// Leaf PEM.
    pub cert_pem: Option<String>,
    /// Intermediates PEM.
    pub intermediates_pem: Option<String>,
    /// Root PEM.
    pub root_pem: Option<String>,
    /// Sealed PKCS#8 key; `None` once purged.
    pub sealed_key: Option<Vec<u8>>,
    /// Serial, colon hex.
    pub serial: Option<String>,
    /// SHA-256 fingerprint, colon hex.
    pub fingerprint: Option<String>,
    /// Start of the certificate's validity, Unix seconds.
    pub not_before: Option<i64>,
    /// End of the certificate's validity, Unix seconds.
    pub not_after: Option<i64>,
    /// Submission time.
    pub created_at: i64,
    /// Purge time.
    pub retention_until: i64,
    /// When purged.
    pub purged_at: Option<i64>,
    /// When voided by staff.
    pub voided_at: Option<i64>,
    /// The visitor agreed to their first name on the booth wall.
    pub show_on_wall: bool,
}

/// What one retention purge removed.
#[derive(Debug, Default)]
pub struct Purged {
    /// (id, backend_ref) of each visitor purged.
    pub visitors: Vec<(String, Option<String>)>,
    /// Every print job of those visitors: their spool files go too.
    pub jobs: Vec<i64>,
    /// Guestbook entries deleted.
    pub guestbook_entries: usize,
    /// Open print jobs cancelled.
    pub cancelled_jobs: usize,
}

impl std::fmt::Debug for Visitor {
    // Never print the email or the sealed key, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visitor")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// A finished certificate as a backend stores it: the key already sealed to the
/// visitor's token, the summary already parsed.
pub struct IssuedRow {
    /// Leaf PEM.
    pub cert_pem: String,
    /// Intermediates PEM.
    pub intermediates_pem: String,
    /// Root PEM.
    pub root_pem: String,
    /// PKCS#8 key sealed to the token (see [`token::seal`]).
    pub sealed_key: Vec<u8>,
    /// Serial, colon hex.
    pub serial: String,
    /// SHA-256 fingerprint, colon hex.
    pub fingerprint: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
}

impl IssuedRow {
    /// Seal the key to `token_pub` and parse what the row indexes.
    pub fn seal(token_pub: &[u8; 32], issued: &IssuedCert) -> Result<Self> {
        let s = CertSummary::parse(&issued.leaf.cert_pem)?;
        Ok(IssuedRow {
            cert_pem: issued.leaf.cert_pem.clone(),
            intermediates_pem: issued.intermediates_pem.clone(),
            root_pem: issued.root_pem.clone(),
            sealed_key: token::seal(token_pub, issued.leaf.key_pem.as_bytes())?,
            fingerprint: s.fingerprint_hex(),
            serial: s.serial,
            not_before: s.not_before.unix_timestamp(),
            not_after: s.not_after.unix_timestamp(),
        })
    }
}

/// Which visitors a staff list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitorFilter {
    /// Only this state; `None` for all.
    pub state: Option<IssueState>,
}

/// One seal on the wall: public data only (no email; a name only by consent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealTile {
    /// Visitor id (the page cursor's tie-breaker; never shown).
    pub id: String,
    /// SHA-256 fingerprint, colon hex: the seal is drawn from it.
    pub fingerprint: String,
    /// When it was issued, Unix seconds.
    pub issued_at: i64,
    /// The visitor's name, only when they ticked "show my name on the booth wall".
    pub name: Option<String>,
}
