//! The version of each item that was read for scanning (docs/reference/CONNECTORS.md, "Scanned
//! version"), so that an action or a result tag hits the bytes that were scanned even if the item
//! was overwritten since (an overwrite is new content that gets its own scan). The token is the
//! storage's own: an S3 version id, an Azure `(version id, ETag)`, a GCS generation.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Locations remembered (oldest forgotten first); an action normally follows its read within
/// seconds. Without an entry (e.g. after a restart) actions work on the current item.
pub const CAPACITY: usize = 100_000;

/// A bounded memory of `location → token`.
pub struct ScannedVersions<T> {
    inner: Mutex<(HashMap<String, T>, VecDeque<String>)>,
}

impl<T> Default for ScannedVersions<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }
}

impl<T: Clone> ScannedVersions<T> {
    /// Remembers the token read for `location` (the last read wins).
    pub fn record(&self, location: &str, token: T) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.insert(location.to_string(), token).is_none() {
            order.push_back(location.to_string());
        }
        while order.len() > CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, location: &str) -> Option<T> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.get(location).cloned()
    }

    /// Forgets a location (its item was deleted or moved).
    pub fn forget(&self, location: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.remove(location).is_some() {
            order.retain(|l| l != location);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_wins_and_the_oldest_is_forgotten_first() {
        let v = ScannedVersions::<String>::default();
        v.record("k", "v1".into());
        v.record("k", "v2".into());
        assert_eq!(v.get("k").as_deref(), Some("v2"));
        for i in 0..CAPACITY {
            v.record(&format!("n{i}"), "x".into());
        }
        assert_eq!(v.get("k"), None, "the oldest entry made room");
        assert!(v.get("n1").is_some());
        v.forget("n1");
        assert_eq!(v.get("n1"), None);
    }
}
