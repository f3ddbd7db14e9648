//! The in-memory replay cache (docs/AUTH.md "Replay"): a verified `(key id, nonce)` is accepted
//! once while its timestamp could still pass the skew check.
//!
//! Used by the embedded backend and by connectors; the Redis backend keeps the same entries in
//! Redis so that every API process shares them. Entries all live the same time, so insertion
//! order is expiry order and a queue finds the expired ones without scanning.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use super::hmac::Reject;

pub struct ReplayCache {
    ttl_secs: i64,
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    live: HashSet<(String, String)>,
    order: VecDeque<(i64, (String, String))>,
}

impl ReplayCache {
    /// Entries live `2·skew + 1` seconds; at most `max` are live at once.
    pub fn new(skew_secs: u64, max: usize) -> Self {
        Self {
            ttl_secs: i64::try_from(skew_secs.saturating_mul(2).saturating_add(1)).unwrap_or(i64::MAX),
            max,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records a verified nonce: `ReplayedRequest` when it was seen before, `ReplayCacheFull`
    /// when the bound is reached (fail closed rather than forget).
    pub fn check(&self, key_id: &str, nonce: &str, now: i64) -> Result<(), Reject> {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        while g.order.front().is_some_and(|(exp, _)| *exp <= now) {
            if let Some((_, k)) = g.order.pop_front() {
                g.live.remove(&k);
            }
        }
        let k = (key_id.to_string(), nonce.to_string());
        if g.live.contains(&k) {
            return Err(Reject::ReplayedRequest);
        }
        if g.live.len() >= self.max {
            return Err(Reject::ReplayCacheFull);
        }
        g.live.insert(k.clone());
        g.order.push_back((now.saturating_add(self.ttl_secs), k));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.live.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_until_it_expires() {
        let c = ReplayCache::new(60, 10);
        assert_eq!(c.check("k", "n1", 1000), Ok(()));
        assert_eq!(c.check("k", "n1", 1000), Err(Reject::ReplayedRequest));
        assert_eq!(c.check("other", "n1", 1000), Ok(()));
        assert_eq!(c.check("k", "n1", 1120), Err(Reject::ReplayedRequest));
        assert_eq!(c.check("k", "n1", 1121), Ok(()));
    }

    #[test]
    fn the_bound_fails_closed_and_expiry_frees_space() {
        let c = ReplayCache::new(5, 3);
        for n in ["a", "b", "c"] {
            c.check("k", n, 0).unwrap();
        }
        assert_eq!(c.check("k", "d", 0), Err(Reject::ReplayCacheFull));
        assert_eq!(c.len(), 3);
        assert_eq!(c.check("k", "d", 11), Ok(()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn concurrent_copies_of_one_nonce_pass_once() {
        let c = std::sync::Arc::new(ReplayCache::new(60, 1000));
        let ok: usize = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || usize::from(c.check("k", "same", 5).is_ok()))
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(ok, 1);
    }
}
