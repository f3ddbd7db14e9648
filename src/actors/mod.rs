//! The actors of the core (ARCHITECTURE §4): one per file, each owning one piece of state.

pub mod broadcaster;
pub mod connector;
pub mod job;
pub mod job_registry;
pub mod registry_view;
pub mod sse;
pub mod worker_pool;

use std::sync::Arc;

use crate::backend::Backend;
use crate::config::Settings;
use registry_view::RegistryView;

/// What every core actor may use: settings, the stores, the registry snapshot.
pub struct Services {
    pub settings: Arc<Settings>,
    pub backend: Backend,
    pub registry_view: Arc<RegistryView>,
}
