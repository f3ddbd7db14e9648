//! A read-mostly snapshot of the registered connectors, kept by the ConnectorRegistry actor and
//! read without a mailbox hop by HTTP handlers and the pipeline (list, lookup, API key choice).
//! A plain shared struct, not an actor, so it sits beside the modules that read it.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::model::{ConnectorInstanceModel, ConnectorUuid};

#[derive(Default)]
pub struct RegistryView {
    by_uuid: RwLock<BTreeMap<ConnectorUuid, ConnectorInstanceModel>>,
}

impl RegistryView {
    pub fn put(&self, uuid: &ConnectorUuid, model: ConnectorInstanceModel) {
        if let Ok(mut m) = self.by_uuid.write() {
            m.insert(uuid.clone(), model);
        }
    }

    pub fn remove(&self, uuid: &ConnectorUuid) -> Option<ConnectorInstanceModel> {
        self.by_uuid.write().ok().and_then(|mut m| m.remove(uuid))
    }

    pub fn get(&self, uuid: &ConnectorUuid) -> Option<ConnectorInstanceModel> {
        self.by_uuid.read().ok().and_then(|m| m.get(uuid).cloned())
    }

    /// Connectors registered (the registry cap counts these).
    pub fn count(&self) -> usize {
        self.by_uuid.read().map_or(0, |m| m.len())
    }

    pub fn contains(&self, uuid: &ConnectorUuid) -> bool {
        self.by_uuid.read().is_ok_and(|m| m.contains_key(uuid))
    }

    /// The registered connector at `url`, when exactly one is registered there.
    pub fn only_at_url(&self, url: &str) -> Option<ConnectorInstanceModel> {
        let url = url.trim_end_matches('/');
        let map = self.by_uuid.read().ok()?;
        let mut at = map
            .values()
            .filter(|m| m.url.as_deref().map(|u| u.trim_end_matches('/')) == Some(url));
        let first = at.next()?;
        at.next().is_none().then(|| first.clone())
    }

    /// Sorted by `name`, then `uuid`.
    pub fn list(&self) -> Vec<ConnectorInstanceModel> {
        let mut v: Vec<_> = self
            .by_uuid
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| (&a.name, &a.uuid).cmp(&(&b.name, &b.uuid)));
        v
    }
}
