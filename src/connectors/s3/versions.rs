//! The version of each object that was read for scanning, so that an action on a versioned
//! bucket hits that version even if the key was overwritten since (an overwrite is a new object
//! that gets its own scan).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Keys remembered (oldest forgotten first); an action normally follows its read within seconds.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct Versions {
    inner: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl Versions {
    /// Remembers the version read for `key` (`null` is the id of unversioned objects: ignored).
    pub fn record(&self, key: &str, version: &str) {
        if version.is_empty() || version == "null" {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.insert(key.to_string(), version.to_string()).is_none() {
            order.push_back(key.to_string());
        }
        while order.len() > CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_version_wins_and_null_is_ignored() {
        let v = Versions::default();
        v.record("k", "null");
        assert_eq!(v.get("k"), None);
        v.record("k", "v1");
        v.record("k", "v2");
        assert_eq!(v.get("k").as_deref(), Some("v2"));
    }
}
