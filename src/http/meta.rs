//! Meta and health endpoints (docs/reference/CORE-API.md, "Meta and health",
//! "Scanner connection test").

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::HttpState;
use crate::backend::StoreError;
use crate::model::StatusResponse;
use crate::scanner::probe::ProbeState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

/// Ready = the backend store answers and can write and, on roles that scan, the engine answered
/// its last (cached) probe. Connectors are not checked.
/// `store_write_failures` counts the writes the store refused for lack of room since start.
pub async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    let kind = state.core.backend.kind;
    let redis_configured = kind == crate::backend::BackendKind::Redis;
    let health = &state.core.backend.write_health;
    match state.core.backend.maintenance.ping().await {
        Ok(()) => {
            let degraded = health.degraded();
            // On roles that scan: the engine as last probed (no answer yet counts as not ready).
            let scanner = state.core.scanner_probe.as_ref().map(|p| p.state());
            let scanner_down = matches!(&scanner, Some(None) | Some(Some(ProbeState { failure: Some(_), .. })));
            let not_ready = degraded.is_some() || scanner_down;
            let mut body = json!({
                "status": if not_ready { "not_ready" } else { "ready" },
                "redis": if redis_configured { "ok" } else { "not_configured" },
                "registry": "ok",
                "backend": kind.as_str(),
                "store": match &degraded {
                    Some(d) => format!("write_failed: {}", d.reason),
                    None => "ok".to_string(),
                },
                "store_write_failures": health.failures(),
                "superlog": state.core.superlog.readiness(),
            });
            if let Some(d) = &degraded {
                body["store_write_failed_since"] = json!(
                    chrono::DateTime::from_timestamp_millis(d.since_ms)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                );
            }
            if let Some(n) = state.core.backend.maintenance.round_trips() {
                body["redis_round_trips"] = json!(n);
            }
            if let Some(probe) = &scanner {
                body["scanner"] = json!(match probe.as_ref().map(|p| p.failure.as_deref()) {
                    None => "not_checked_yet".to_string(),
                    Some(None) => "ok".to_string(),
                    Some(Some(reason)) => format!("unavailable: {reason}"),
                });
                body["engine"] = json!(state.core.scanner.engine().as_str());
                if let Some(p) = probe {
                    body["scanner_checked_at"] = json!(
                        chrono::DateTime::from_timestamp_millis(p.at_ms)
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    );
                }
            }
            if not_ready {
                HttpResponse::ServiceUnavailable().json(body)
            } else {
                HttpResponse::Ok().json(body)
            }
        }
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "redis": match (&e, redis_configured) {
                (_, false) => "not_configured".to_string(),
                (StoreError::Unavailable(_) | StoreError::Timeout, true) => "unavailable".to_string(),
                (other, true) => format!("error: {other}"),
            },
            "registry": "unavailable",
            "backend": kind.as_str(),
            "store": e.to_string(),
            "store_write_failures": health.failures(),
            "superlog": state.core.superlog.readiness(),
        })),
    }
}

/// Version, build time and the active scanning engine (name, version as last reported, and
/// whether it is the built-in test engine) so the UI can say what the verdicts are worth.
pub async fn meta(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "version": crate::VERSION,
        "build_timestamp": state.core.build_timestamp,
        "git_commit": crate::GIT_COMMIT,
        "engine": state.core.scanner.info(),
    }))
}

/// The version as a JSON string (quotes included).
pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(crate::VERSION)
}

pub async fn config(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(state.core.settings.view())
}

/// Superlog counters and destination states (docs/reference/SUPERLOG.md, "Status endpoint").
pub async fn superlog_status(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(state.core.superlog.status())
}

pub async fn test_connection() -> HttpResponse {
    HttpResponse::Ok().json(
        StatusResponse::success("dsx-connect is reachable").with_description(format!("version {}", crate::VERSION)),
    )
}

/// Always 200 with the engine's connection test.
pub async fn test_dsxa(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(state.core.scanner.test_connection().await)
}

/// `build_timestamp`: `DSX_BUILD_TIMESTAMP` when the operator sets one, else the time recorded
/// when the binary was built (not the file's modification time, which a copy changes).
pub fn build_timestamp(configured: Option<&str>) -> String {
    configured.unwrap_or(crate::BUILD_TIME).to_string()
}

/// `GET /metrics` of a core (every role): this process's instruments, its scanner probe, the
/// stored state read now, and the superlog's counters (docs/OPERATIONS.md, "Metrics").
pub async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    use crate::metrics::{CONTENT_TYPE, encode, scrape};
    let stored = scrape::stored_state(&state.core.backend).await;
    let superlog = scrape::superlog(&state.core.superlog);
    let probe = state.core.scanner_probe.as_ref().and_then(|p| p.state());
    let scanner = scrape::scanner(state.core.scanner.engine(), probe.map(|p| p.failure.is_none()));
    let body = encode(&[state.core.metrics.registry(), &scanner, &stored, &superlog]);
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(body)
}
