//! The verdict memory (docs/SCAN-REUSE.md): verdicts of earlier scans, keyed by what was scanned
//! (connector, location, item identity) and what scanned it (engine identity), so that a full
//! scan of unchanged content neither reads nor scans it again. Bounded: the oldest entries go
//! first once the bound is reached.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreResult;
use crate::model::{ConnectorUuid, EngineIdentity, ItemIdentity, ReusedFrom, Verdict};

/// The key of one remembered verdict: SHA-256 hex of its four parts, so every entry has the
/// same small key whatever the length of its location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryKey(String);

impl MemoryKey {
    pub fn new(connector: &ConnectorUuid, location: &str, item: &ItemIdentity, engine: &EngineIdentity) -> Self {
        let mut h = Sha256::new();
        for part in [connector.as_str(), location, &item.key_text(), engine.as_str()] {
            // Length-prefixed, so no two different tuples run together into the same bytes.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A remembered verdict and the scan it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    pub verdict: Verdict,
    pub from: ReusedFrom,
}

/// The store of remembered verdicts, on both backends.
#[async_trait]
pub trait VerdictMemory: Send + Sync {
    /// The verdict remembered under `key`, if any.
    async fn recall(&self, key: &MemoryKey) -> StoreResult<Option<Remembered>>;
    /// Remembers `entry` under `key` (replacing what was there) and, in the same atomic step,
    /// forgets the oldest entries beyond `bound`.
    async fn remember(&self, key: &MemoryKey, entry: &Remembered, bound: u64) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engine;

    #[test]
    fn every_part_of_the_key_counts() {
        let c = ConnectorUuid::parse("4a6f1c1e-0f4c-4a53-9a51-2f6b0d1d7c11").unwrap();
        let d = ConnectorUuid::parse("4a6f1c1e-0f4c-4a53-9a51-2f6b0d1d7c12").unwrap();
        let id = |ino| ItemIdentity::File {
            dev: 1,
            ino,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        let e = EngineIdentity::new(Engine::Embedded, "a");
        let k = MemoryKey::new(&c, "/x", &id(2), &e);
        assert_eq!(k, MemoryKey::new(&c, "/x", &id(2), &e));
        assert_ne!(k, MemoryKey::new(&d, "/x", &id(2), &e));
        assert_ne!(k, MemoryKey::new(&c, "/y", &id(2), &e));
        assert_ne!(k, MemoryKey::new(&c, "/x", &id(9), &e));
        assert_ne!(
            k,
            MemoryKey::new(&c, "/x", &id(2), &EngineIdentity::new(Engine::Embedded, "b"))
        );
        assert_eq!(k.as_str().len(), 64);
    }
}
