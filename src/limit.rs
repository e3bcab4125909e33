//! Fixed-window rate limits, keyed by client address or certificate, and the count of
//! open connections per client address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;

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

/// A client's budget per minute that holds across kiosk replicas: counted in the shared
/// database (one upsert per hit, in windows aligned to the minute) when the kiosk has
/// one, in this process on a single Pi. Keys are keyed digests of the client
/// (`FormKey::tag`), never its address, in memory as in the database.
///
/// While the database cannot count (it is restarting), the limit fails open to this
/// replica's own count: a visitor is not refused for the database's sake (the issuance
/// that follows needs the database anyway and answers 503 on its own), and a flood still
/// meets a per-replica limit.
pub struct ClientLimit {
    per_minute: u32,
    here: RateLimiter<String>,
    shared: Option<Store>,
    /// Whether the last count fell back to this replica (logged once per outage).
    degraded: AtomicBool,
}

impl ClientLimit {
    /// `per_minute` hits per client, across every kiosk that shares `store`.
    pub fn new(per_minute: u32, store: &Store) -> Self {
        ClientLimit {
            per_minute,
            here: RateLimiter::new(per_minute),
            shared: store.is_shared().then(|| store.clone()),
            degraded: AtomicBool::new(false),
        }
    }

    /// Count a hit for the client digest `key` at `now` (Unix seconds); `false` when the
    /// client is over its budget.
    pub async fn allow(&self, key: String, now: i64) -> bool {
        let Some(store) = &self.shared else {
            return self.here.allow(&key);
        };
        match store.count_hit(key.as_bytes().to_vec(), window_of(now)).await {
            Ok(hits) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limits are counted in the database again");
                }
                hits <= self.per_minute
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = ?e, "rate limits counted on this replica alone until the database answers");
                }
                self.here.allow(&key)
            }
        }
    }
}

/// The start of the minute `now` falls in: every replica counts into the same window.
pub fn window_of(now: i64) -> i64 {
    now - now.rem_euclid(60)
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
    fn windows_are_whole_minutes() {
        assert_eq!(window_of(120), 120);
        assert_eq!(window_of(179), 120);
        assert_eq!(window_of(180), 180);
    }

    #[tokio::test]
    async fn a_client_limit_on_one_pi_counts_in_memory() {
        let store = Store::in_memory().unwrap();
        let l = ClientLimit::new(2, &store);
        assert!(l.allow("a".into(), 100).await && l.allow("a".into(), 100).await);
        assert!(!l.allow("a".into(), 100).await);
        assert!(l.allow("b".into(), 100).await);
        assert_eq!(store.count_hit(b"a".to_vec(), 60).await.unwrap(), 1, "nothing written");
    }

    #[test]
    fn limiter_counts_per_key() {
        let l = RateLimiter::new(2);
        assert!(l.allow(&1) && l.allow(&1) && !l.allow(&1));
        assert!(l.allow(&2));
    }
}
