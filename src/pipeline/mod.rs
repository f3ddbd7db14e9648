//! The scan pipeline: fetch from the connector, scan, act, record (docs/reference/CORE-API.md,
//! "Pipeline"), and the worker pool that claims items and runs them through it.

pub mod item;
pub mod worker_pool;

use std::sync::Arc;

use std::collections::HashMap;
use std::sync::Mutex;

use actix::{Addr, MailboxError};

use crate::actors::job::JobActor;

use crate::actors::job_registry::JobRegistry;
use crate::backend::Backend;
use crate::config::Settings;
use crate::connector_client::ConnectorClients;
use crate::scanner::Scanner;

/// Everything one item's processing needs.
pub struct PipelineCtx {
    /// Job actors already looked up (saves a registry round trip per item).
    pub job_actors: Mutex<HashMap<String, Addr<JobActor>>>,
    pub settings: Arc<Settings>,
    pub backend: Backend,
    pub scanner: Arc<dyn Scanner>,
    pub connectors: Arc<ConnectorClients>,
    pub registry_view: Arc<crate::registry_view::RegistryView>,
    /// Jobs being paused or cancelled right now (dispatch waits for the decision).
    pub held: Arc<crate::actors::HeldJobs>,
    pub jobs: Addr<JobRegistry>,
    /// Scan-result events to SIEMs, emitted where a result is first recorded.
    pub superlog: crate::superlog::Superlog,
    /// The core's Prometheus instruments.
    pub metrics: Arc<crate::metrics::core::CoreMetrics>,
}

/// Lookups cached before the cache is cleared (jobs come and go).
const JOB_ACTOR_CACHE: usize = 4096;

impl PipelineCtx {
    /// The actor of `job_id`, from the cache when it is still alive.
    pub async fn job_actor(&self, job_id: &str) -> Result<Addr<JobActor>, MailboxError> {
        let cached = self
            .job_actors
            .lock()
            .ok()
            .and_then(|m| m.get(job_id).filter(|a| a.connected()).cloned());
        if let Some(a) = cached {
            return Ok(a);
        }
        let a = crate::actors::job_registry::job_actor(&self.jobs, job_id).await?;
        if let Ok(mut m) = self.job_actors.lock() {
            if m.len() >= JOB_ACTOR_CACHE {
                m.clear();
            }
            m.insert(job_id.to_string(), a.clone());
        }
        Ok(a)
    }
}
