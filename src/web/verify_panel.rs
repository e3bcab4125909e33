//! The certificate page's "Check it yourself" panel (`templates/_verify.html`): the chain
//! as base64 DER for `/assets/verify.js` to check in the browser against the kiosk's root.

use base64::Engine as _;

use crate::clock::human_ts;
use crate::pki::{self, pem_certs};
use crate::store::visitors::Visitor;

/// What the partial shows; built only for issued certificates.
pub struct VerifyPanel {
    /// Leaf then intermediates, space-separated base64 DER.
    pub chain: String,
    /// The booth root the kiosk trusts, base64 DER.
    pub root: String,
    /// Its SHA-256, colon hex: the pin the script checks and the page prints.
    pub root_fingerprint: String,
    /// Voided by staff.
    pub voided: bool,
    /// When, for the message.
    pub voided_at: String,
}

impl VerifyPanel {
    /// The panel for `v`, checked against `root_pem` (the kiosk's own root, not the stored one).
    pub fn of(v: &Visitor, root_pem: &str) -> Option<Self> {
        let b64 = |d: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(d);
        let mut chain = pem_certs(v.cert_pem.as_deref()?).ok()?;
        chain.truncate(1);
        chain.extend(pem_certs(v.intermediates_pem.as_deref()?).ok()?);
        let root = pem_certs(root_pem).ok()?.remove(0);
        Some(VerifyPanel {
            chain: chain.iter().map(b64).collect::<Vec<_>>().join(" "),
            root: b64(&root),
            root_fingerprint: pki::colon_hex(&pki::sha256(&root)),
            voided: v.voided_at.is_some(),
            voided_at: v.voided_at.map(human_ts).unwrap_or_default(),
        })
    }
}
