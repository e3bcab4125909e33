//! Fixed-window rate limits, keyed by client address or certificate, and the count of
//! open connections per client address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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

/// Open connections, in total and per client address. A [`ConnectionPass`] holds one
/// place and gives it back when dropped, however the connection ends.
pub struct ConnectionLimits {
    max: usize,
    max_per_client: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every place is taken.
    Full,
    /// This client address holds all the places it may.
    ClientFull,
}

/// One admitted connection; dropping it frees the place.
pub struct ConnectionPass {
    limits: Arc<ConnectionLimits>,
    client: Option<IpAddr>,
}

impl ConnectionLimits {
    /// At most `max` connections, and `max_per_client` from one address.
    pub fn new(max: usize, max_per_client: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max,
            max_per_client,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Take a place for a connection from `client`; `None` counts only towards the total
    /// (a listener behind a proxy sees one address for everybody).
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<ConnectionPass, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.max {
            return Err(Refused::Full);
        }
        if let Some(ip) = client {
            let n = open.1.entry(ip).or_insert(0);
            if *n >= self.max_per_client {
                return Err(Refused::ClientFull);
            }
            *n += 1;
        }
        open.0 += 1;
        Ok(ConnectionPass {
            limits: self.clone(),
            client,
        })
    }

    /// Connections open now, in total.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for ConnectionPass {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 -= 1;
        if let Some(ip) = self.client
            && let Some(n) = open.1.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_in_total_and_per_client() {
        let limits = ConnectionLimits::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let a1 = limits.admit(Some(a)).unwrap();
        let _a2 = limits.admit(Some(a)).unwrap();
        assert_eq!(limits.admit(Some(a)).err(), Some(Refused::ClientFull));
        let b1 = limits.admit(Some(b)).unwrap();
        assert_eq!(limits.admit(Some(b)).err(), Some(Refused::Full));
        assert_eq!(limits.admit(None).err(), Some(Refused::Full));
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.admit(Some(a)).unwrap();
        drop(b1);
        let _proxy = limits.admit(None).unwrap();
        assert_eq!(limits.open(), 3);
        assert_eq!(
            limits.open.lock().unwrap().1.get(&b),
            None,
            "no entry kept for a client that left"
        );
    }

    #[test]
    fn limiter_counts_per_key() {
        let l = RateLimiter::new(2);
        assert!(l.allow(&1) && l.allow(&1) && !l.allow(&1));
        assert!(l.allow(&2));
    }
}
