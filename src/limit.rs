//! Fixed-window rate limits, keyed by client address or certificate.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed-window limiter: at most `per_minute` hits per key per minute.
pub struct RateLimiter<K> {
    per_minute: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter allowing `per_minute` hits per key.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count a hit; `false` when the key is over its limit.
    pub fn allow(&self, key: &K) -> bool {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        // Bound the memory a flood of distinct keys can take.
        if w.len() > 10_000 {
            w.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let entry = w.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_key() {
        let l = RateLimiter::new(2);
        assert!(l.allow(&1) && l.allow(&1) && !l.allow(&1));
        assert!(l.allow(&2));
    }
}
