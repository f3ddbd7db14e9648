//! Items of this process's own built-in filesystem connectors, opened by the core itself
//! (docs/reference/CONNECTORS.md, "Command line"): `serve --fs` and `scan DIR` run the connector
//! in the same process, so fetching each file over loopback HTTP only costs CPU. An item pinned
//! to such a connector (its uuid and its URL) is opened through that connector's own
//! confinement ([`FilesystemStorage::open`]) — the same refusals, failure classes and link
//! rules as its `read_file` — and the engine gets the open file (clamd on a unix socket then
//! scans the descriptor itself). Anything else goes through `read_file` as before.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use crate::connectors::filesystem::{FilesystemStorage, OpenedFile};
use crate::connectors::framework::ReadError;
use crate::model::{ConnectorUuid, Pin};

/// The built-in filesystem connectors of this process, by uuid.
#[derive(Default)]
pub struct LocalConnectors {
    by_uuid: RwLock<HashMap<ConnectorUuid, Local>>,
}

struct Local {
    /// The connector's callback URL, as items are pinned to it.
    url: String,
    /// Held weakly: a stopped connector's items are no longer opened here.
    storage: Weak<FilesystemStorage>,
}

impl LocalConnectors {
    /// Records a built-in connector started by this process at `url`.
    pub fn add(&self, uuid: ConnectorUuid, url: &str, storage: &Arc<FilesystemStorage>) {
        if let Ok(mut m) = self.by_uuid.write() {
            m.insert(
                uuid,
                Local {
                    url: url.trim_end_matches('/').to_string(),
                    storage: Arc::downgrade(storage),
                },
            );
        }
    }

    /// The connector an item is pinned to when it is one of this process's: the uuid and the
    /// URL of the pin must both be its own (an item pinned by URL only, or to a connector that
    /// moved, goes through `read_file`).
    fn storage_for(&self, pin: &Pin) -> Option<Arc<FilesystemStorage>> {
        let uuid = pin.connector_uuid.as_ref()?;
        let m = self.by_uuid.read().ok()?;
        let local = m.get(uuid)?;
        (local.url == pin.url.trim_end_matches('/'))
            .then(|| local.storage.upgrade())
            .flatten()
    }

    /// Opens the item at `location` when `pin` names one of this process's connectors; `None`
    /// when it does not (the caller asks the connector over HTTP).
    pub async fn open(&self, pin: &Pin, location: &str) -> Option<Result<OpenedFile, ReadError>> {
        let storage = self.storage_for(pin)?;
        Some(storage.open(location).await)
    }
}
