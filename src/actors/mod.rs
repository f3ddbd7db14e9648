//! The actors of the core (docs/ARCHITECTURE.md, "4. Actors"): one per file, each owning one piece
//! of state. Beside them the SSE fan-out, which is a task and plain structs, not actors
//! (`broadcaster.rs` says why): the Broadcaster, the streams' buffers (`sse.rs`) and the one
//! `job_summary` throttle (`summary_throttle.rs`).

pub mod broadcaster;
pub mod connector;
pub mod job;
pub mod job_registry;
pub mod sse;
pub mod summary_throttle;

use std::sync::Arc;

use crate::backend::Backend;
use crate::config::Settings;
use crate::registry_view::RegistryView;

/// What every core actor may use: settings, the stores, the registry snapshot.
pub struct Services {
    pub settings: Arc<Settings>,
    pub backend: Backend,
    pub registry_view: Arc<RegistryView>,
    pub held: Arc<HeldJobs>,
    /// Connector keys: built-in connectors' and enrolled connectors' (docs/AUTH.md).
    pub trust: Arc<crate::trust::Trust>,
    /// This core's Prometheus instruments (`GET /metrics`).
    pub metrics: Arc<crate::metrics::core::CoreMetrics>,
}

/// Jobs with a pause or cancel being committed right now. This process's workers stop
/// dispatching their items at once instead of after the store's commit (pause latency).
#[derive(Default)]
pub struct HeldJobs(std::sync::RwLock<std::collections::HashSet<String>>);

impl HeldJobs {
    pub fn hold(&self, job: &str) {
        if let Ok(mut s) = self.0.write() {
            s.insert(job.to_string());
        }
    }

    pub fn release(&self, job: &str) {
        if let Ok(mut s) = self.0.write() {
            s.remove(job);
        }
    }

    pub fn is_held(&self, job: &str) -> bool {
        self.0.read().is_ok_and(|s| s.contains(job))
    }
}
