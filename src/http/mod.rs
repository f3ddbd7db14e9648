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

use crate::actors::Services;
use crate::actors::broadcaster::Broadcaster;
use crate::actors::connector::ConnectorRegistry;
use crate::actors::job_registry::JobRegistry;
use crate::connector_client::ConnectorClients;
use crate::scanner::Scanner;

/// The API prefix of every route.
pub const API: &str = "/dsx-connect/api/v1";

/// Shared by every handler.
pub struct CoreState {
    pub services: Arc<Services>,
    pub scanner: Arc<dyn Scanner>,
    /// The engine's cached readiness, on roles that scan (`readyz` fails while it is down).
    pub scanner_probe: Option<Arc<crate::scanner::probe::ScannerProbe>>,
    pub clients: Arc<ConnectorClients>,
    pub jobs: Addr<JobRegistry>,
    pub connectors: Addr<ConnectorRegistry>,
    pub broadcaster: Arc<Broadcaster>,
    pub build_timestamp: String,
    /// Host and CSRF checks (docs/AUTH.md, "Browsers").
    pub host_policy: origin::HostPolicy,
    /// Users and browser sessions (docs/AUTH.md, "Users and sessions").
    pub identity: Arc<crate::identity::Identity>,
    /// Single sign-on, when configured with authentication on.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// The audit trail (docs/AUTH.md, "Audit").
    pub auditor: Arc<crate::audit_trail::Auditor>,
    /// Scan-result events to SIEMs (disabled unless configured).
    pub superlog: crate::superlog::Superlog,
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
