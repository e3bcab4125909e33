//! Kiosk handoffs: the booth screen never holds a visitor's permanent link. After a
//! visitor submits the form there, the screen opens `/k/{id}`, a page whose QR code
//! carries the real link to the visitor's phone. A handoff lives in memory only, for a
//! few minutes, for the one browser session that created it, and ends at "Done": then
//! its address shows nothing. Its id is random and kept only as a SHA-256 hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::token::{Token, ct_eq};

/// Most live handoffs; a booth has one screen, so this only bounds a flood.
const MAX_LIVE: usize = 1_000;

struct Live {
    token: Token,
    session: [u8; 32],
    expires: Instant,
}

/// The live handoffs; the app holds one.
pub struct Handoffs {
    live: Mutex<HashMap<[u8; 32], Live>>,
    lifetime: Duration,
}

fn sha256(s: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl Handoffs {
    /// Handoffs that live `lifetime` without "Done": time to fetch a phone and scan.
    pub fn new(lifetime: Duration) -> Self {
        Handoffs {
            live: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// How long a handoff lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Start a handoff of `token` for browser `session`; returns its id (for the URL).
    pub fn open(&self, token: Token, session: &str, now: Instant) -> String {
        let id: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, h| h.expires > now);
        if live.len() >= MAX_LIVE
            && let Some(oldest) = live.iter().min_by_key(|(_, h)| h.expires).map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(
            sha256(&id),
            Live {
                token,
                session: sha256(session),
                expires: now + self.lifetime,
            },
        );
        id
    }

    /// The token behind a live handoff, for the session that opened it only.
    pub fn get(&self, id: &str, session: &str, now: Instant) -> Option<Token> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let key = sha256(id);
        match live.get(&key) {
            Some(h) if h.expires <= now => {
                live.remove(&key);
                None
            }
            Some(h) if ct_eq(&h.session, &sha256(session)) => Some(h.token.clone()),
            _ => None,
        }
    }

    /// "Done": the handoff ends now. `false` when it was not live for this session.
    pub fn end(&self, id: &str, session: &str, now: Instant) -> bool {
        if self.get(id, session, now).is_none() {
            return false;
        }
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(&sha256(id)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_session_until_done_or_expiry() {
        const LIFETIME: Duration = Duration::from_secs(300);
        let h = Handoffs::new(LIFETIME);
        let t0 = Instant::now();
        let token = Token::generate();
        let id = h.open(token.clone(), "kiosk-session", t0);
        assert_eq!(id.len(), 32);
        assert!(!id.contains(token.as_str()));
        assert_eq!(h.get(&id, "kiosk-session", t0), Some(token.clone()));
        assert_eq!(
            h.get(&id, "another-browser", t0),
            None,
            "bound to the browser that opened it"
        );
        assert!(!h.end(&id, "another-browser", t0), "nobody else can end it");
        assert!(h.end(&id, "kiosk-session", t0));
        assert_eq!(h.get(&id, "kiosk-session", t0), None, "done means gone");
        assert!(!h.end(&id, "kiosk-session", t0));

        let id = h.open(token.clone(), "kiosk-session", t0);
        let almost = t0 + LIFETIME - Duration::from_secs(1);
        assert!(h.get(&id, "kiosk-session", almost).is_some());
        assert_eq!(h.get(&id, "kiosk-session", t0 + LIFETIME), None, "expired");
        assert!(h.get("not-an-id", "kiosk-session", t0).is_none());
    }

    #[test]
    fn a_flood_keeps_memory_bounded() {
        let h = Handoffs::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let first = h.open(Token::generate(), "s", t0);
        for i in 1..=MAX_LIVE {
            h.open(Token::generate(), "s", t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(h.live.lock().unwrap().len(), MAX_LIVE);
        assert!(h.get(&first, "s", t0).is_none(), "the oldest made room");
    }
}
