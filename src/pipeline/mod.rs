//! The scan pipeline: fetch from the connector, scan, act, record (docs/reference/CORE-API.md,
//! "Pipeline"), and the worker pool that claims items and runs them through it.

pub mod item;
pub mod reuse;
pub mod source;
pub mod worker_pool;

use std::sync::Arc;

use crate::actors::job_registry::Jobs;
use crate::core_state::Core;

/// What the worker pool and each item hold: the core's shared state and the way to the job
/// actors that record outcomes (a handle, so it is not part of [`Core`]).
#[derive(Clone)]
pub struct Pipeline {
    pub core: Arc<Core>,
    pub jobs: Jobs,
}
