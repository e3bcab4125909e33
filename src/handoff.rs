//! Kiosk handoffs: the booth screen never holds a visitor's permanent link. After a
//! visitor submits the form there, the screen opens `/k/{id}`, a page whose QR code
//! carries the real link to the visitor's phone. A handoff lives in the store (so any
//! replica serving the booth screen finds it) for a few minutes, for the one browser
//! session that created it, and ends at "Done": then its address shows nothing. The
//! store keeps the id and the session only as SHA-256 digests, and the visitor's token
//! sealed to that browser session: the database alone opens no visitor's link.

use crate::session;
use crate::token::Token;

/// A new random handoff id, for the URL (32 hex characters; not the token).
pub fn new_id() -> String {
    crate::token::random_hex::<16>()
}

/// What the store keeps for a handoff id.
pub fn id_digest(id: &str) -> Vec<u8> {
    session::digest("kiosk handoff", id)
}

/// What the store keeps for the browser session a handoff belongs to.
pub fn session_digest(browser_session: &str) -> Vec<u8> {
    session::digest("kiosk handoff session", browser_session)
}

/// The key a handoff's token is sealed to: derived from the browser session, which
/// only that browser holds (an HttpOnly cookie).
pub fn session_key(browser_session: &str) -> Token {
    Token::derived("kiosk handoff seal", browser_session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

    #[test]
    fn only_the_browser_session_opens_a_handoff() {
        let id = new_id();
        assert_eq!(id.len(), 32);
        assert_ne!(new_id(), id);
        assert_ne!(id_digest(&id), session_digest(&id));
        let visitor = Token::generate();
        let sealed = token::seal(&session_key("booth").public_key(), visitor.as_str().as_bytes()).unwrap();
        assert!(
            !sealed
                .windows(8)
                .any(|w| visitor.as_str().as_bytes().windows(8).any(|x| x == w))
        );
        assert_eq!(
            &*session_key("booth").open(&sealed).unwrap(),
            visitor.as_str().as_bytes()
        );
        assert!(session_key("another browser").open(&sealed).is_err());
    }
}
