//! A connector's DSX-HMAC keys (docs/AUTH.md, "Our connectors"): the current key, which signs
//! every call to the core and is required on every call from it, and the previous key, still
//! accepted inbound for the rotation grace period after the core issued a new one.
//!
//! Keys issued by the core are kept in `<data dir>/<name>/credentials.json` (mode 0600 in a
//! 0700 folder), so a restarted connector signs its first heartbeat instead of enrolling again.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::auth::hmac::{HmacKey, KeyLookup};
use crate::model::ConnectorUuid;

#[derive(Default)]
struct Keys {
    current: Option<HmacKey>,
    prev: Option<(HmacKey, Instant)>,
}

/// What `credentials.json` holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    connector_uuid: String,
    core_url: String,
    hmac_key_id: String,
    hmac_secret: String,
    issued_at: String,
}

pub struct Keyring {
    keys: RwLock<Keys>,
    grace: Duration,
    /// Where issued keys are kept (`None`: memory only — built-in connectors, or persistence off).
    file: Option<PathBuf>,
    uuid: ConnectorUuid,
    core_url: String,
}

impl Keyring {
    /// A keyring holding `key` (static or handed over in memory); with `file`, a key stored
    /// there for the same uuid and core replaces a missing one, and a stale file is removed.
    pub fn new(
        key: Option<HmacKey>,
        grace: Duration,
        file: Option<PathBuf>,
        uuid: &ConnectorUuid,
        core_url: &str,
    ) -> Self {
        let mut k = Keys {
            current: key,
            prev: None,
        };
        if let Some(f) = &file
            && k.current.is_none()
        {
            match std::fs::read(f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
            {
                Some(s) if *uuid == s.connector_uuid && s.core_url == core_url => {
                    k.current = Some(HmacKey::new(s.hmac_key_id, s.hmac_secret));
                }
                Some(_) => {
                    tracing::info!(file = %f.display(), "stored credentials are for another connector or core; removing them");
                    let _ = std::fs::remove_file(f);
                }
                None => {}
            }
        }
        Self {
            keys: RwLock::new(k),
            grace,
            file,
            uuid: uuid.clone(),
            core_url: core_url.to_string(),
        }
    }

    pub fn current(&self) -> Option<HmacKey> {
        self.keys.read().ok()?.current.clone()
    }

    pub fn has_key(&self) -> bool {
        self.current().is_some()
    }

    /// Installs a key issued by the core; the previous one stays valid inbound for the grace
    /// period. Persisted when the keyring has a file.
    pub fn install(&self, key: HmacKey) {
        if self.current().as_ref() == Some(&key) {
            return;
        }
        if let Ok(mut k) = self.keys.write() {
            if let Some(old) = k.current.take() {
                k.prev = Some((old, Instant::now() + self.grace));
            }
            k.current = Some(key.clone());
        }
        if let Err(e) = self.persist(&key) {
            tracing::error!(error = %e, "cannot keep the connector's credentials; a restart will need a new enrollment");
        }
    }

    /// Forgets the current key (the core no longer knows it): the next registration enrolls.
    pub fn forget(&self) {
        if let Ok(mut k) = self.keys.write() {
            k.current = None;
            k.prev = None;
        }
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }

    /// Resolves a key id of an inbound signature.
    pub fn lookup(&self, key_id: &str) -> KeyLookup {
        let Ok(k) = self.keys.read() else {
            return KeyLookup::Unknown;
        };
        let found = k
            .current
            .iter()
            .chain(
                k.prev
                    .iter()
                    .filter(|(_, until)| Instant::now() < *until)
                    .map(|(key, _)| key),
            )
            .find(|key| key.key_id == key_id)
            .cloned();
        match found {
            Some(key) => KeyLookup::Active {
                secret: key.secret().to_string(),
                owner: self.uuid.to_string(),
            },
            None => KeyLookup::Unknown,
        }
    }

    fn persist(&self, key: &HmacKey) -> std::io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let stored = Stored {
            connector_uuid: self.uuid.to_string(),
            core_url: self.core_url.clone(),
            hmac_key_id: key.key_id.clone(),
            hmac_secret: key.secret().to_string(),
            issued_at: chrono::Utc::now().to_rfc3339(),
        };
        let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec(&stored).unwrap_or_default())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, file)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn u1() -> ConnectorUuid {
        ConnectorUuid::parse("3f0c2b2e-1111-4222-8333-444455556666").unwrap()
    }

    #[test]
    fn issued_keys_persist_with_private_modes_and_reload_for_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fs").join("credentials.json");
        let ring = Keyring::new(None, Duration::from_secs(60), Some(file.clone()), &u1(), "http://core");
        assert!(!ring.has_key());
        let k1 = HmacKey::generate();
        ring.install(k1.clone());
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let again = Keyring::new(None, Duration::from_secs(60), Some(file.clone()), &u1(), "http://core");
        assert_eq!(again.current(), Some(k1.clone()));
        let other = Keyring::new(
            None,
            Duration::from_secs(60),
            Some(file.clone()),
            &u1(),
            "http://other-core",
        );
        assert_eq!(other.current(), None);
        assert!(!file.exists(), "credentials for another core are removed");
    }

    #[test]
    fn the_previous_key_verifies_during_the_grace_only() {
        let (k1, k2) = (HmacKey::generate(), HmacKey::generate());
        let ring = Keyring::new(None, Duration::from_secs(300), None, &u1(), "c");
        ring.install(k1.clone());
        ring.install(k2.clone());
        assert!(matches!(ring.lookup(&k1.key_id), KeyLookup::Active { .. }));
        assert!(matches!(ring.lookup(&k2.key_id), KeyLookup::Active { .. }));
        ring.forget();
        assert_eq!(ring.lookup(&k2.key_id), KeyLookup::Unknown);
        let no_grace = Keyring::new(None, Duration::ZERO, None, &u1(), "c");
        no_grace.install(k1.clone());
        no_grace.install(k2.clone());
        assert_eq!(no_grace.lookup(&k1.key_id), KeyLookup::Unknown, "grace over");
        assert!(matches!(no_grace.lookup(&k2.key_id), KeyLookup::Active { .. }));
    }
}
