//! The core's shared state: every fact that HTTP handlers, actors, the worker pool and the
//! scheduler read, built once at start (`app.rs`) and held here once.
//!
//! What is not here, and why: the addresses of the actors (`actors/`) are handles, not facts,
//! and the actors themselves hold this state, so they stay with their users (`http::HttpState`,
//! the worker pool) — keeping this module free of the actor types keeps the module graph
//! acyclic. The HTTP layer's host policy stays in `http/` for the same reason.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::backend::Backend;
use crate::config::Settings;
use crate::connector_client::ConnectorClients;
use crate::model::JobId;
use crate::registry_view::RegistryView;
use crate::scanner::Scanner;

/// The shared state of one core process (`serve`, `api` or `worker`).
pub struct Core {
    pub settings: Arc<Settings>,
    pub backend: Backend,
    /// This process's snapshot of the connector registry (written by the `ConnectorRegistry`).
    pub registry_view: Arc<RegistryView>,
    /// Jobs with a pause or cancel being committed right now.
    pub held: HeldJobs,
    /// Connector keys: built-in connectors' and enrolled connectors' (docs/AUTH.md).
    pub trust: Arc<crate::trust::Trust>,
    /// This core's Prometheus instruments (`GET /metrics`).
    pub metrics: Arc<crate::metrics::core::CoreMetrics>,
    /// This process's built-in filesystem connectors, whose items the workers open directly.
    pub local_connectors: crate::local_open::LocalConnectors,
    /// The scanning engine (on an `api` process: built, never called).
    pub scanner: Arc<dyn Scanner>,
    /// The engine's cached readiness, on roles that scan (`readyz` fails while it is down).
    pub scanner_probe: Option<Arc<crate::scanner::probe::ScannerProbe>>,
    /// Calls to connectors (read_file, item_action, full_scan…), signed and SSRF-guarded.
    pub clients: Arc<ConnectorClients>,
    /// Scan-result and audit events to SIEMs (disabled unless configured).
    pub superlog: crate::superlog::Superlog,
    /// Users and browser sessions (docs/AUTH.md, "Users and sessions").
    pub identity: Arc<crate::identity::Identity>,
    /// Single sign-on, when configured with authentication on.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// The audit trail (docs/AUTH.md, "Audit").
    pub auditor: Arc<crate::audit_trail::Auditor>,
    /// The build's timestamp as `GET /version` shows it.
    pub build_timestamp: String,
}

/// Jobs with a pause or cancel being committed right now. This process's workers stop
/// dispatching their items at once instead of after the store's commit (pause latency), and
/// are woken when the decision is committed rather than polling for it.
#[derive(Default)]
pub struct HeldJobs {
    jobs: RwLock<HashSet<JobId>>,
    released: tokio::sync::Notify,
}

impl HeldJobs {
    pub fn hold(&self, job: &JobId) {
        if let Ok(mut s) = self.jobs.write() {
            s.insert(job.clone());
        }
    }

    pub fn release(&self, job: &JobId) {
        if let Ok(mut s) = self.jobs.write() {
            s.remove(job);
        }
        self.released.notify_waiters();
    }

    pub fn is_held(&self, job: &JobId) -> bool {
        self.jobs.read().is_ok_and(|s| s.contains(job))
    }

    /// Waits until `job` is not held, at most `limit` (a decision that never comes must not
    /// stall the worker for good).
    pub async fn wait_released(&self, job: &JobId, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a release between the check and the wait wakes us.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.is_held(job) {
                return;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return;
            }
        }
    }
}
