//! Who may use the staff console, as the store keeps it for every kiosk replica: staff
//! sessions and enrolment codes by digest only, and failed passphrase attempts per
//! client. The queries are [`Backend`](super::Backend) methods; their SQL lives in
//! `sqlite/access.rs`.

/// A staff session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    /// Which passphrase it was opened with: a new passphrase ends every session.
    pub generation: Vec<u8>,
    /// Login (Unix seconds).
    pub created_at: i64,
    /// The last request written down (at most a minute behind).
    pub last_seen: i64,
    /// A message for its next page: success or not, and the text.
    pub flash: Option<(bool, String)>,
    /// Its booth-screen enrolment link, sealed to the session's own cookie value, and
    /// when that link stops working.
    pub enrolment: Option<(Vec<u8>, i64)>,
}
