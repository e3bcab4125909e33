//! The booth screen's handoffs as the store keeps them: by the id's digest, for the
//! digest of one browser session, with the visitor's token sealed to that session. The
//! queries are [`Backend`](super::Backend) methods; their SQL lives in `sqlite/handoffs.rs`.

/// A live handoff as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHandoff {
    /// Digest of the browser session that may see it.
    pub session: Vec<u8>,
    /// The visitor's token, sealed to that browser session.
    pub sealed_token: Vec<u8>,
}
