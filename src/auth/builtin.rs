//! Keys of the built-in connectors (docs/AUTH.md, "Built-in connectors"): `serve` and `scan`
//! start connectors in-process, each on a loopback port. The core gives each a fresh key in
//! memory — never through the environment, a file or HTTP — and both sides sign and verify
//! with it in every auth mode, so no other local process or web page can drive those ports or
//! re-point a built-in connector.

use std::collections::HashMap;
use std::sync::RwLock;

use super::hmac::{HmacKey, KeyLookup};
use crate::model::ConnectorUuid;

#[derive(Default)]
pub struct BuiltinKeys {
    by_uuid: RwLock<HashMap<ConnectorUuid, HmacKey>>,
}

impl BuiltinKeys {
    /// Issues (or re-issues) the key of the built-in connector `uuid`.
    pub fn issue(&self, uuid: &ConnectorUuid) -> HmacKey {
        let key = HmacKey::generate();
        if let Ok(mut m) = self.by_uuid.write() {
            m.insert(uuid.clone(), key.clone());
        }
        key
    }

    /// The key of a built-in connector, if `uuid` is one of this process's.
    pub fn key(&self, uuid: &ConnectorUuid) -> Option<HmacKey> {
        self.by_uuid.read().ok()?.get(uuid).cloned()
    }

    pub fn is_builtin(&self, uuid: &ConnectorUuid) -> bool {
        self.key(uuid).is_some()
    }

    /// Resolves a key id for verification; the owner is the connector's uuid.
    pub fn lookup(&self, key_id: &str) -> KeyLookup {
        let Ok(m) = self.by_uuid.read() else {
            return KeyLookup::Unknown;
        };
        m.iter()
            .find(|(_, k)| k.key_id == key_id)
            .map_or(KeyLookup::Unknown, |(uuid, k)| KeyLookup::Active {
                secret: k.secret().to_string(),
                owner: uuid.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_by_uuid_and_key_id() {
        let keys = BuiltinKeys::default();
        let upper = ConnectorUuid::parse("3F0C2B2E-1111-4222-8333-444455556666").unwrap();
        let lower = ConnectorUuid::parse("3f0c2b2e-1111-4222-8333-444455556666").unwrap();
        let k = keys.issue(&upper);
        assert!(keys.is_builtin(&lower));
        assert_eq!(keys.key(&lower), Some(k.clone()));
        assert_eq!(
            keys.lookup(&k.key_id),
            KeyLookup::Active {
                secret: k.secret().to_string(),
                owner: "3f0c2b2e-1111-4222-8333-444455556666".into()
            }
        );
        assert_eq!(keys.lookup("other"), KeyLookup::Unknown);
        let k2 = keys.issue(&lower);
        assert_ne!(k.key_id, k2.key_id);
        assert_eq!(keys.lookup(&k.key_id), KeyLookup::Unknown);
    }
}
