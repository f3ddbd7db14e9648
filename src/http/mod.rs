//! The core's HTTP API (CORE-API §3) and the web UI's static files.

pub mod connectors;
pub mod dlq;
pub mod errors;
pub mod jobs;
pub mod meta;
pub mod results;
pub mod scan;
pub mod sse;
pub mod ui;

use std::sync::Arc;

use actix::Addr;
use actix_web::{Route, web};

use crate::actors::Services;
use crate::actors::broadcaster::Broadcaster;
use crate::actors::connector::ConnectorRegistry;
use crate::actors::job_registry::JobRegistry;
use crate::pipeline::connector_client::ConnectorClients;
use crate::scanner::Scanner;

/// The API prefix of every route.
pub const API: &str = "/dsx-connect/api/v1";

/// Shared by every handler.
pub struct CoreState {
    pub services: Arc<Services>,
    pub scanner: Arc<dyn Scanner>,
    pub clients: Arc<ConnectorClients>,
    pub jobs: Addr<JobRegistry>,
    pub connectors: Addr<ConnectorRegistry>,
    pub broadcaster: Addr<Broadcaster>,
    pub build_timestamp: String,
    /// Scan-result events to SIEMs (disabled unless configured).
    pub superlog: crate::superlog::Superlog,
}

/// A resource with one method; other methods answer 405.
fn one(path: &str, route: Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(errors::method_not_allowed))
}

/// What a `worker` process serves: liveness, readiness and its version for orchestrators, and
/// its superlog counters (workers are where results are recorded and events emitted).
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(API)
            .service(one("/healthz", web::get().to(meta::healthz)))
            .service(one("/readyz", web::get().to(meta::readyz)))
            .service(one("/superlog/status", web::get().to(meta::superlog_status)))
            .service(one("/meta", web::get().to(meta::meta)))
            .service(one("/version", web::get().to(meta::version))),
    );
}

/// Every route of the core.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(one(
        "/dsx-connect/test/connection",
        web::get().to(meta::test_connection),
    ))
    .service(
        web::scope(API)
            .service(one("/healthz", web::get().to(meta::healthz)))
            .service(one("/readyz", web::get().to(meta::readyz)))
            .service(one("/meta", web::get().to(meta::meta)))
            .service(one("/version", web::get().to(meta::version)))
            .service(one("/config", web::get().to(meta::config)))
            .service(one("/superlog/status", web::get().to(meta::superlog_status)))
            .service(one("/test/connection", web::get().to(meta::test_connection)))
            .service(one("/test/dsxa-connection", web::get().to(meta::test_dsxa)))
            .service(one("/connectors/register", web::post().to(connectors::register)))
            .service(one(
                "/connectors/unregister/{uuid}",
                web::delete().to(connectors::unregister),
            ))
            .service(one("/connectors/list", web::get().to(connectors::list)))
            .service(one(
                "/connectors/full_scan/{uuid}",
                web::post().to(connectors::full_scan),
            ))
            .service(one(
                "/connectors/repo_check/{uuid}",
                web::get().to(connectors::repo_check),
            ))
            .service(one("/connectors/estimate/{uuid}", web::get().to(connectors::estimate)))
            .service(one("/connectors/config/{uuid}", web::get().to(connectors::config)))
            .service(one("/connectors/healthz/{uuid}", web::get().to(connectors::healthz)))
            .service(one("/connectors/readyz/{uuid}", web::get().to(connectors::readyz)))
            .service(one("/scan/request", web::post().to(scan::request)))
            .service(one("/scan/request/batch", web::post().to(scan::batch)))
            .service(one("/scan/request/{task_id}", web::get().to(scan::task_status)))
            .service(one("/scan/jobs", web::get().to(jobs::list)))
            .service(one("/scan/jobs/{job_id}", web::get().to(jobs::get)))
            .service(one("/scan/jobs/{job_id}/raw", web::get().to(jobs::raw)))
            .service(one(
                "/scan/jobs/{job_id}/enqueue_done",
                web::post().to(jobs::enqueue_done),
            ))
            .service(one("/scan/jobs/{job_id}/pause", web::post().to(jobs::pause)))
            .service(one("/scan/jobs/{job_id}/resume", web::post().to(jobs::resume)))
            .service(one("/scan/jobs/{job_id}/cancel", web::post().to(jobs::cancel)))
            .service(one("/scan/results", web::get().to(results::list)))
            .service(one("/scan/results/job/{job_id}", web::get().to(results::by_job)))
            .service(one("/scan/results/{task_id}", web::get().to(results::by_task)))
            .service(one("/scan/stats", web::get().to(results::stats)))
            .service(one("/admin/dead-letter/stats", web::get().to(dlq::stats)))
            .service(one(
                "/admin/dead-letter/stats/{queue_type}",
                web::get().to(dlq::stats_one),
            ))
            .service(one("/admin/dead-letter/items/{queue_type}", web::get().to(dlq::items)))
            .service(one("/admin/dead-letter/requeue", web::post().to(dlq::requeue_all)))
            .service(one(
                "/admin/dead-letter/requeue/{queue_type}",
                web::post().to(dlq::requeue),
            ))
            .service(one("/admin/dead-letter/clear", web::delete().to(dlq::clear_all)))
            .service(one(
                "/admin/dead-letter/clear/{queue_type}",
                web::delete().to(dlq::clear),
            ))
            .service(one("/admin/dead-letter/health", web::get().to(dlq::health)))
            .service(one("/subscribe/scan-result", web::get().to(sse::scan_results)))
            .service(one("/subscribe/job-summary/{job_id}", web::get().to(sse::job_summary)))
            .service(one("/subscribe/connector-registered", web::get().to(sse::connectors)))
            .default_service(web::to(errors::not_found)),
    )
    .configure(ui::routes)
    .default_service(web::to(errors::not_found));
}

/// Disables Nagle's algorithm on accepted connections: a response written as headers then
/// body (streamed files, small JSON) must not wait for the peer's delayed ACK (~40 ms).
pub fn no_delay(conn: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(s) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = s.set_nodelay(true)
    {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}
