//! A small bounded cache with a time to live, for what never changes once computed
//! (a certificate page's QR code and summary, a visitor's zip). Bounded in entries and
//! in time: the oldest entry goes first when full, and nothing outlives its TTL, which
//! matters for values that hold a secret (a zip holds the private key).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Values are shared (`Arc`), so a hit costs a clone of a pointer.
pub struct TtlCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
    ttl: Duration,
}

struct Inner<K, V> {
    map: HashMap<K, (Instant, Arc<V>)>,
    /// Insertion order, for evicting the oldest.
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// Up to `capacity` entries, each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(capacity),
                order: VecDeque::with_capacity(capacity),
            }),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value, if present and younger than the TTL.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.map.get(key) {
            Some((at, v)) if now.duration_since(*at) < self.ttl => Some(v.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Store a value, evicting expired entries and then the oldest beyond capacity.
    pub fn insert(&self, key: K, value: Arc<V>) {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.map.insert(key.clone(), (now, value)).is_none() {
            inner.order.push_back(key);
        }
        while let Some(oldest) = inner.order.front().cloned() {
            let expired = inner
                .map
                .get(&oldest)
                .is_none_or(|(at, _)| now.duration_since(*at) >= self.ttl);
            if !expired && inner.map.len() <= self.capacity {
                break;
            }
            inner.order.pop_front();
            inner.map.remove(&oldest);
        }
    }

    /// Drop one entry (say, a voided certificate's zip).
    pub fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }

    /// Entries held now (expired ones may still count until the next insert).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`, computing and storing it on a miss.
    pub fn get_or_try_insert<E>(&self, key: &K, make: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = Arc::new(make()?);
        self.insert(key.clone(), v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_entries_oldest_first() {
        let c = TtlCache::new(2, Duration::from_secs(60));
        c.insert(1, Arc::new("a"));
        c.insert(2, Arc::new("b"));
        c.insert(3, Arc::new("c"));
        assert_eq!(c.len(), 2);
        assert!(c.get(&1).is_none());
        assert_eq!(*c.get(&3).unwrap(), "c");
        c.remove(&3);
        assert!(c.get(&3).is_none());
    }

    #[test]
    fn nothing_outlives_its_ttl() {
        let c = TtlCache::new(10, Duration::from_millis(30));
        c.insert("k", Arc::new(1));
        assert!(c.get(&"k").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(&"k").is_none());
        c.insert("j", Arc::new(2));
        assert_eq!(c.len(), 1, "expired entries go on the next insert");
    }

    #[test]
    fn computes_once_then_hits() {
        let c = TtlCache::new(4, Duration::from_secs(60));
        let mut calls = 0;
        for _ in 0..3 {
            let v = c
                .get_or_try_insert(&"k", || {
                    calls += 1;
                    Ok::<_, ()>(42)
                })
                .unwrap();
            assert_eq!(*v, 42);
        }
        assert_eq!(calls, 1);
        assert!(c.get_or_try_insert(&"e", || Err("boom")).is_err());
        assert!(c.get(&"e").is_none(), "errors are not cached");
    }
}
