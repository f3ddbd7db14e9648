//! The core's HTTP API (docs/reference/CORE-API.md, "Endpoints") and the web UI's static files.

pub mod access;
pub mod admin_connectors;
pub mod admin_tokens;
pub mod admin_users;
pub mod audit;
pub mod auth_oidc;
pub mod auth_session;
pub mod client_ip;
pub mod connectors;
pub mod dlq;
pub mod errors;
pub mod jobs;
pub mod meta;
pub mod openapi;
pub mod origin;
pub mod results;
pub mod route;
pub mod scan;
pub mod schedules;
pub mod sse;
pub mod ui;

use std::sync::Arc;

use actix::Addr;
use actix_web::web;

use crate::actors::broadcaster::Broadcaster;
use crate::actors::connector::ConnectorRegistry;
use crate::actors::job_registry::Jobs;
use crate::core_state::Core;

/// The API prefix of every route.
pub const API: &str = "/dsx-connect/api/v1";

/// What every handler reads: the core's shared state, plus what only the HTTP layer holds — the
/// addresses of the actors handlers talk to and the host policy.
pub struct HttpState {
    pub core: Arc<Core>,
    pub jobs: Jobs,
    pub connectors: Addr<ConnectorRegistry>,
    pub broadcaster: Arc<Broadcaster>,
    /// Host and CSRF checks (docs/AUTH.md, "Browsers").
    pub host_policy: origin::HostPolicy,
}

/// What a `worker` process serves: liveness, readiness and its version for orchestrators, and
/// its superlog counters (workers are where results are recorded and events emitted).
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(API);
    for r in access::resources(access::worker_table()) {
        scope = scope.service(r);
    }
    for r in access::resources(access::worker_root_table()) {
        cfg.service(r);
    }
    cfg.service(scope);
}

/// Every route of the core, built from the route table of [`access`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(API);
    for r in access::resources(access::table()) {
        scope = scope.service(r);
    }
    for r in access::resources(access::root_table()) {
        cfg.service(r);
    }
    cfg.service(scope.default_service(web::to(errors::not_found)))
        .configure(ui::routes)
        .default_service(web::to(errors::not_found));
}
