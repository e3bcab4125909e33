//! Guestbook rows: one per signing certificate, upserted on every signature.

/// What a signature writes.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Issuer DN of the signing certificate.
    pub issuer: String,
    /// Its serial, colon hex.
    pub serial: String,
    /// The display name the signer chose (by default their first name); never an email.
    pub name: String,
    /// The validated message.
    pub message: String,
    /// Signed over mutual TLS by the visitor's own client (not through the kiosk).
    pub star: bool,
}

/// A stored entry (also the JSON shape of `/guestbook.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// The display name the signer chose when signing.
    pub name: String,
    /// Latest message.
    pub message: String,
    /// Ever signed with the visitor's own client.
    pub star: bool,
    /// Latest signature, Unix seconds.
    pub signed_at: i64,
}
