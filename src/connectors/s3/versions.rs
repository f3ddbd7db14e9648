//! The S3 version of each object that was read for scanning (the framework's scanned-version
//! memory with S3 version ids as tokens), so that an action on a versioned bucket hits that
//! version even if the key was overwritten since.

use crate::connectors::framework::scanned::ScannedVersions;

#[derive(Default)]
pub struct Versions {
    inner: ScannedVersions<String>,
}

impl Versions {
    /// Remembers the version read for `key` (`null` is the id of unversioned objects: ignored).
    pub fn record(&self, key: &str, version: &str) {
        if version.is_empty() || version == "null" {
            return;
        }
        self.inner.record(key, version.to_string());
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key)
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
