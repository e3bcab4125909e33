//! Staff sessions and booth-screen enrolment codes: their lifetimes, and the digests
//! the store keeps instead of the random values handed out, so the database, a backup
//! or a log shows no usable cookie or link. They live in the store, so every kiosk
//! replica knows them and a restart logs nobody out.

use crate::token::Token;

/// A staff session ends this long after login (seconds), whatever happens.
pub const ABSOLUTE: i64 = 12 * 3600;
/// ... or after this long without a request.
pub const IDLE: i64 = 4 * 3600;
/// Activity is written down at most this often (a console polls and streams).
pub const TOUCH_EVERY: i64 = 60;
/// A kiosk enrolment link works once, within this time.
pub const ENROLMENT_TTL: i64 = 600;
/// Failed passphrase attempts are counted per client in windows this long.
pub const FAILURE_WINDOW: i64 = 60;

/// A new random secret: a session cookie value or an enrolment code. It has a token's
/// shape, so a session can also open what was sealed to it (its enrolment link).
pub fn new_secret() -> Token {
    Token::generate()
}

/// What the store keeps for a secret: SHA-256 over its purpose and the secret, so a
/// session's digest never finds an enrolment code or a visitor.
pub fn digest(purpose: &str, secret: &str) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"certstamp ");
    ctx.update(purpose.as_bytes());
    ctx.update(b" v1\0");
    ctx.update(secret.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// Whether a session created and last used at these times (Unix seconds) is alive `now`.
pub fn alive(created_at: i64, last_seen: i64, now: i64) -> bool {
    now - created_at < ABSOLUTE && now - last_seen < IDLE
}

/// A message for the next page a staff member sees (post/redirect/get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Whether it reports success (else a refusal or problem).
    pub ok: bool,
    /// What to say.
    pub text: String,
}

/// A kiosk enrolment link staff created, shown in their console until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The one-time code (only the session that made it can read it back).
    pub code: String,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        assert!(alive(0, 0, 10));
        assert!(!alive(0, 0, IDLE));
        assert!(alive(0, ABSOLUTE - IDLE, ABSOLUTE - 1));
        assert!(!alive(0, ABSOLUTE - 1, ABSOLUTE));
    }

    #[test]
    fn digests_depend_on_purpose_and_never_hold_the_secret() {
        let s = new_secret();
        let a = digest("staff session", s.as_str());
        assert_eq!(a.len(), 32);
        assert_eq!(a, digest("staff session", s.as_str()));
        assert_ne!(a, digest("kiosk enrolment", s.as_str()));
        assert_ne!(a, s.lookup_hash());
        assert!(!a.windows(8).any(|w| s.as_str().as_bytes().windows(8).any(|x| x == w)));
    }
}
