//! The generation of each object that was read for scanning, so that an action hits the bytes
//! that were scanned even if the name was overwritten since (an overwrite is a new object that
//! gets its own scan). Kept behind a small API so that it can move onto a framework-wide
//! scanned-version facility.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Names remembered (oldest forgotten first); an action normally follows its read within seconds.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct Generations {
    inner: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl Generations {
    /// Remembers the generation read for `name` (a decimal string, as the service writes it).
    pub fn record(&self, name: &str, generation: &str) {
        if generation.is_empty() || !generation.bytes().all(|c| c.is_ascii_digit()) {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.insert(name.to_string(), generation.to_string()).is_none() {
            order.push_back(name.to_string());
        }
        while order.len() > CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_generation_wins_and_junk_is_ignored() {
        let g = Generations::default();
        g.record("o", "");
        g.record("o", "abc");
        assert_eq!(g.get("o"), None);
        g.record("o", "17");
        g.record("o", "18");
        assert_eq!(g.get("o").as_deref(), Some("18"));
    }
}
