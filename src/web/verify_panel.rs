//! The certificate page's "Check it yourself" panel (`templates/_verify.html`): the chain
//! as base64 DER for `/assets/verify.js` to check in the browser against the kiosk's root.

use std::sync::Arc;

use crate::app::{CertParts, RootPin};
use crate::clock::human_ts;
use crate::store::visitors::Visitor;

/// What the partial shows; built only for issued certificates.
/// The chain, root and pin are base64 and hex, which HTML has nothing to escape in: the
/// template writes them as they are, shared with the page parts rather than copied.
pub struct VerifyPanel {
    /// Leaf then intermediates, space-separated base64 DER.
    pub chain: Arc<str>,
    /// The booth root the kiosk trusts, base64 DER.
    pub root: Arc<str>,
    /// Its SHA-256, colon hex: the pin the script checks and the page prints.
    pub root_fingerprint: Arc<str>,
    /// Voided by staff.
    pub voided: bool,
    /// When, for the message.
    pub voided_at: String,
}

impl VerifyPanel {
    /// The panel for `v`, from its cached page parts, checked against the kiosk's own root.
    pub fn of(v: &Visitor, parts: &CertParts, root: Option<&RootPin>) -> Option<Self> {
        let root = root?;
        if parts.chain_b64.is_empty() {
            return None;
        }
        Some(VerifyPanel {
            chain: parts.chain_b64.clone(),
            root: root.b64.clone(),
            root_fingerprint: root.fingerprint.clone(),
            voided: v.voided_at.is_some(),
            voided_at: v.voided_at.map(human_ts).unwrap_or_default(),
        })
    }
}
