//! Staff sessions and one-time codes, kept in memory and only as SHA-256 hashes of
//! the random values handed out: a memory dump or a log shows no usable cookie or
//! link. A restart logs staff out, which costs one login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A staff session ends this long after login, whatever happens.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// ... or after this long without a request.
pub const IDLE: Duration = Duration::from_secs(4 * 3600);
/// A kiosk enrolment link works once, within this time.
pub const ENROLMENT_TTL: Duration = Duration::from_secs(600);

type Digest = [u8; 32];

fn digest(secret: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
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
    /// The one-time code (only this session holds it in clear).
    pub code: String,
    /// When it stops working.
    pub expires: Instant,
}

struct Session {
    created: Instant,
    last_seen: Instant,
    generation: [u8; 8],
    flash: Option<Flash>,
    enrolment: Option<Enrolment>,
}

/// Logged-in staff browsers.
pub struct Sessions {
    idle: Duration,
    absolute: Duration,
    map: Mutex<HashMap<Digest, Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(IDLE, ABSOLUTE)
    }
}

impl Sessions {
    /// Sessions with these lifetimes.
    pub fn new(idle: Duration, absolute: Duration) -> Self {
        Sessions {
            idle,
            absolute,
            map: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a session for the passphrase of `generation`; returns the cookie value.
    pub fn create(&self, generation: [u8; 8]) -> String {
        let now = Instant::now();
        let secret = random_secret();
        let mut map = self.lock();
        map.retain(|_, s| self.alive(s, now));
        map.insert(
            digest(&secret),
            Session {
                created: now,
                last_seen: now,
                generation,
                flash: None,
                enrolment: None,
            },
        );
        secret
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.created) < self.absolute && now.duration_since(s.last_seen) < self.idle
    }

    /// Whether `secret` is a live session for the current passphrase; counts as activity.
    pub fn touch(&self, secret: &str, generation: [u8; 8]) -> bool {
        let now = Instant::now();
        let key = digest(secret);
        let mut map = self.lock();
        let Some(s) = map.get_mut(&key) else {
            return false;
        };
        if !self.alive(s, now) || s.generation != generation {
            map.remove(&key);
            return false;
        }
        s.last_seen = now;
        true
    }

    /// End a session (logout, or the browser became a booth screen).
    pub fn end(&self, secret: &str) {
        self.lock().remove(&digest(secret));
    }

    /// Leave a message for the session's next page.
    pub fn flash(&self, secret: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(&digest(secret)) {
            s.flash = Some(flash);
        }
    }

    /// Take the message, once.
    pub fn take_flash(&self, secret: &str) -> Option<Flash> {
        self.lock().get_mut(&digest(secret)).and_then(|s| s.flash.take())
    }

    /// Remember the enrolment link this session created, to show it.
    pub fn set_enrolment(&self, secret: &str, e: Enrolment) {
        if let Some(s) = self.lock().get_mut(&digest(secret)) {
            s.enrolment = Some(e);
        }
    }

    /// The session's enrolment link while it has not expired.
    pub fn enrolment(&self, secret: &str) -> Option<Enrolment> {
        let mut map = self.lock();
        let s = map.get_mut(&digest(secret))?;
        if s.enrolment.as_ref().is_some_and(|e| e.expires <= Instant::now()) {
            s.enrolment = None;
        }
        s.enrolment.clone()
    }

    /// Forget the session's enrolment link (it was used).
    pub fn clear_enrolment(&self, secret: &str) {
        if let Some(s) = self.lock().get_mut(&digest(secret)) {
            s.enrolment = None;
        }
    }
}

/// Codes that work once before they expire, kept hashed.
#[derive(Default)]
pub struct OneTimeCodes {
    map: Mutex<HashMap<Digest, Instant>>,
}

impl OneTimeCodes {
    /// A new code valid for `ttl`.
    pub fn create(&self, ttl: Duration) -> Enrolment {
        let now = Instant::now();
        let code = random_secret();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, expires| *expires > now);
        map.insert(digest(&code), now + ttl);
        Enrolment {
            code,
            expires: now + ttl,
        }
    }

    /// Use a code: `true` once, if it has not expired.
    pub fn redeem(&self, code: &str) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&digest(code))
            .is_some_and(|expires| expires > Instant::now())
    }

    /// Whether a code is still waiting to be used (without using it).
    pub fn pending(&self, code: &str) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&digest(code)).is_some_and(|expires| *expires > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_logout_or_a_new_passphrase() {
        let s = Sessions::default();
        let a = s.create([1; 8]);
        assert!(s.touch(&a, [1; 8]));
        assert!(!s.touch("forged", [1; 8]));
        s.flash(
            &a,
            Flash {
                ok: true,
                text: "done".into(),
            },
        );
        assert_eq!(s.take_flash(&a).unwrap().text, "done");
        assert_eq!(s.take_flash(&a), None);
        // The passphrase changed: the old session is gone for good.
        assert!(!s.touch(&a, [2; 8]));
        assert!(!s.touch(&a, [1; 8]));
        let b = s.create([1; 8]);
        s.end(&b);
        assert!(!s.touch(&b, [1; 8]));
        // Only hashes are kept.
        let c = s.create([1; 8]);
        assert!(!s.lock().keys().any(|k| k.as_slice() == c.as_bytes()));
    }

    #[test]
    fn sessions_expire() {
        let s = Sessions::new(Duration::ZERO, ABSOLUTE);
        let a = s.create([1; 8]);
        assert!(!s.touch(&a, [1; 8]));
    }

    #[test]
    fn codes_work_once_and_expire() {
        let codes = OneTimeCodes::default();
        let e = codes.create(ENROLMENT_TTL);
        assert!(codes.pending(&e.code));
        assert!(!codes.redeem("guess"));
        assert!(codes.redeem(&e.code));
        assert!(!codes.redeem(&e.code));
        assert!(!codes.pending(&e.code));
        let old = codes.create(Duration::ZERO);
        assert!(!codes.redeem(&old.code));
    }
}
