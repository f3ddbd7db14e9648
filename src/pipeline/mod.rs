//! The scan pipeline: fetch from the connector, scan, act, record (CORE-API §6).

pub mod connector_client;
pub mod failure;
pub mod item;

use std::sync::Arc;

use actix::Addr;

use crate::actors::job_registry::JobRegistry;
use crate::backend::Backend;
use crate::config::Settings;
use crate::scanner::Scanner;
use connector_client::ConnectorClients;

/// Everything one item's processing needs.
pub struct PipelineCtx {
    pub settings: Arc<Settings>,
    pub backend: Backend,
    pub scanner: Arc<dyn Scanner>,
    pub connectors: Arc<ConnectorClients>,
    pub registry_view: Arc<crate::actors::registry_view::RegistryView>,
    pub jobs: Addr<JobRegistry>,
}
