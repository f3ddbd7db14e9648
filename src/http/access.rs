//! Who may call what (docs/AUTH.md, "Routes by role"): every API route of the core with the
//! least access it needs, and the gate that enforces it. The router is built from this table,
//! so a route cannot exist without an access level.
//!
//! With authentication off every request acts as `admin` (protected mode keeps the listener on
//! loopback). With it on: public routes are open; connector routes need a verified DSX-HMAC
//! signature of a connector, or an operator's API token of the route's role; every other route
//! needs an API token (`Authorization: Bearer dsx_…`) of at least its role. The principal is
//! handed to the handler (identity binding). Browser sessions are not built yet: without an
//! explicit credential a non-public route answers `401 not_authenticated`.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use serde_json::json;
use std::sync::Arc;

use super::errors::{BATCH_BODY_LIMIT, SINGLE_BODY_LIMIT};
use super::{
    HttpState, admin_connectors, admin_tokens, admin_users, audit, auth_oidc, auth_session, client_ip, connectors, dlq,
    jobs, meta, openapi, results, scan, schedules, sse,
};
use crate::auth::audit::ActorKind;
use crate::auth::hmac::Received;
use crate::auth::tokens::Role;
use crate::trust::{ConnectorPrincipal, OperatorPrincipal, Refusal};

pub use super::route::{Access, Entry};

macro_rules! entry {
    ($method:ident $path:literal $access:ident => $handler:path) => {
        Entry {
            path: $path,
            method: stringify!($method),
            access: Access::$access,
            route: || web::$method().to($handler),
        }
    };
    ($method:ident $path:literal Connector or $role:ident => $handler:path) => {
        Entry {
            path: $path,
            method: stringify!($method),
            access: Access::ConnectorOr(Role::$role),
            route: || web::$method().to($handler),
        }
    };
}

/// Every route below `/dsx-connect/api/v1`.
pub fn table() -> Vec<Entry> {
    vec![
        entry!(get "/healthz" Probe => meta::healthz),
        entry!(get "/readyz" Probe => meta::readyz),
        entry!(post "/auth/login" Public => auth_session::login),
        entry!(post "/auth/logout" Public => auth_session::logout),
        entry!(get "/auth/session" Public => auth_session::session),
        entry!(get "/auth/oidc/login" Public => auth_oidc::login),
        entry!(get "/auth/oidc/callback" Public => auth_oidc::callback),
        entry!(get "/meta" Viewer => meta::meta),
        entry!(get "/version" Viewer => meta::version),
        entry!(get "/config" Operator => meta::config),
        entry!(get "/superlog/status" Viewer => meta::superlog_status),
        entry!(get "/metrics" Viewer => meta::metrics),
        entry!(get "/test/connection" Viewer => meta::test_connection),
        entry!(get "/test/dsxa-connection" Viewer => meta::test_dsxa),
        entry!(post "/connectors/register" Enrollment => connectors::register),
        entry!(delete "/connectors/unregister/{uuid}" Connector or Admin => connectors::unregister),
        entry!(get "/connectors/list" Viewer => connectors::list),
        entry!(post "/connectors/full_scan/{uuid}" Operator => connectors::full_scan),
        entry!(get "/connectors/repo_check/{uuid}" Operator => connectors::repo_check),
        entry!(get "/connectors/estimate/{uuid}" Operator => connectors::estimate),
        entry!(get "/connectors/config/{uuid}" Viewer => connectors::config),
        entry!(get "/connectors/healthz/{uuid}" Viewer => connectors::healthz),
        entry!(get "/connectors/readyz/{uuid}" Viewer => connectors::readyz),
        entry!(get "/connectors/auth_check/{uuid}" Admin => connectors::auth_check),
        entry!(post "/scan/request" Connector or Operator => scan::request),
        entry!(post "/scan/request/batch" Connector or Operator => scan::batch),
        entry!(post "/scan/auth_check" Connector or Admin => scan::auth_check),
        entry!(get "/scan/request/{task_id}" Viewer => scan::task_status),
        entry!(get "/scan/jobs" Viewer => jobs::list),
        entry!(get "/scan/jobs/{job_id}" Viewer => jobs::get),
        entry!(get "/scan/jobs/{job_id}/raw" Viewer => jobs::raw),
        entry!(post "/scan/jobs/{job_id}/enqueue_done" Connector or Operator => jobs::enqueue_done),
        entry!(post "/scan/jobs/{job_id}/pause" Operator => jobs::pause),
        entry!(post "/scan/jobs/{job_id}/resume" Operator => jobs::resume),
        entry!(post "/scan/jobs/{job_id}/cancel" Operator => jobs::cancel),
        entry!(get "/scan/results" Viewer => results::list),
        entry!(get "/scan/results/job/{job_id}" Viewer => results::by_job),
        entry!(get "/scan/results/{task_id}" Viewer => results::by_task),
        entry!(get "/scan/stats" Viewer => results::stats),
        entry!(get "/scan/findings/summary" Viewer => results::findings_summary),
        entry!(get "/schedules" Viewer => schedules::list),
        entry!(post "/schedules" Operator => schedules::create),
        entry!(get "/schedules/{schedule_id}" Viewer => schedules::get),
        entry!(put "/schedules/{schedule_id}" Operator => schedules::update),
        entry!(delete "/schedules/{schedule_id}" Operator => schedules::remove),
        entry!(post "/schedules/{schedule_id}/pause" Operator => schedules::pause),
        entry!(post "/schedules/{schedule_id}/resume" Operator => schedules::resume),
        entry!(get "/admin/dead-letter/stats" Viewer => dlq::stats),
        entry!(get "/admin/dead-letter/stats/{queue_type}" Viewer => dlq::stats_one),
        entry!(get "/admin/dead-letter/items/{queue_type}" Operator => dlq::items),
        entry!(post "/admin/dead-letter/requeue" Operator => dlq::requeue_all),
        entry!(post "/admin/dead-letter/requeue/{queue_type}" Operator => dlq::requeue),
        entry!(delete "/admin/dead-letter/clear" Admin => dlq::clear_all),
        entry!(delete "/admin/dead-letter/clear/{queue_type}" Admin => dlq::clear),
        entry!(get "/admin/dead-letter/health" Viewer => dlq::health),
        entry!(get "/admin/connectors" Admin => admin_connectors::list),
        entry!(post "/admin/connectors/{uuid}/rotate" Admin => admin_connectors::rotate),
        entry!(post "/admin/connectors/{uuid}/revoke" Admin => admin_connectors::revoke),
        entry!(post "/admin/connectors/{uuid}/reset" Admin => admin_connectors::reset),
        entry!(delete "/admin/connectors/{uuid}" Admin => admin_connectors::forget),
        entry!(get "/admin/users" Admin => admin_users::list),
        entry!(post "/admin/users" Admin => admin_users::create),
        entry!(put "/admin/users/{username}" Admin => admin_users::update),
        entry!(delete "/admin/users/{username}" Admin => admin_users::remove),
        entry!(get "/admin/audit" Admin => audit::list),
        entry!(get "/admin/tokens" Admin => admin_tokens::list),
        entry!(post "/admin/tokens" Admin => admin_tokens::create),
        entry!(delete "/admin/tokens/{id}" Admin => admin_tokens::revoke),
        entry!(get "/subscribe/scan-result" Viewer => sse::scan_results),
        entry!(get "/subscribe/job-summary/{job_id}" Viewer => sse::job_summary),
        entry!(get "/subscribe/connector-registered" Viewer => sse::connectors),
    ]
}

/// Every gated route outside the API prefix (absolute paths). The web UI's pages and files
/// (`ui.rs`) are public and not listed.
pub fn root_table() -> Vec<Entry> {
    vec![
        entry!(get "/dsx-connect/test/connection" Viewer => meta::test_connection),
        entry!(get "/openapi.json" Viewer => openapi::serve),
        // Where Prometheus looks by default (`metrics_path` unset); the same page as `P/metrics`.
        entry!(get "/metrics" Viewer => meta::metrics),
    ]
}

/// The routes outside the API prefix a `worker` serves.
pub fn worker_root_table() -> Vec<Entry> {
    root_table().into_iter().filter(|e| e.path == "/metrics").collect()
}

/// The routes a `worker` serves.
pub fn worker_table() -> Vec<Entry> {
    let keep = [
        "/healthz",
        "/readyz",
        "/superlog/status",
        "/meta",
        "/version",
        "/metrics",
    ];
    table().into_iter().filter(|e| keep.contains(&e.path)).collect()
}

/// The resources of a table: one per path, with a route per method, each method behind the gate
/// of its own access level; other methods 405.
pub fn resources(entries: Vec<Entry>) -> Vec<impl actix_web::dev::HttpServiceFactory + use<>> {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in &entries {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let mine: Vec<&Entry> = entries.iter().filter(|e| e.path == path).collect();
            let levels: Vec<(String, Access)> =
                mine.iter().map(|e| (e.method.to_ascii_uppercase(), e.access)).collect();
            let mut r = web::resource(path);
            for e in &mine {
                r = r.route((e.route)());
            }
            let allowed: Vec<&str> = levels.iter().map(|(m, _)| m.as_str()).collect();
            let allow = std::sync::Arc::new(allowed.join(", "));
            r.default_service(web::to(move || {
                let allow = std::sync::Arc::clone(&allow);
                async move { super::errors::method_not_allowed_but(&allow) }
            }))
            .wrap(actix_web::middleware::from_fn(
                move |req: ServiceRequest, next: Next<BoxBody>| {
                    let method = req.method().as_str().to_string();
                    // HEAD is GET; a method with no route answers 405 before any authentication.
                    let access = levels
                        .iter()
                        .find(|(m, _)| *m == method || (method == "HEAD" && m == "GET"))
                        .map(|(_, a)| *a);
                    async move {
                        match access {
                            Some(a) => gate_for(a, path, req, next).await,
                            None => next.call(req).await,
                        }
                    }
                },
            ))
        })
        .collect()
}

/// Reads the body of a request whose signature must be checked, and verifies it; the body is
/// handed back to the request unchanged for the handler.
pub async fn verify_request(req: &mut ServiceRequest, limit: usize) -> Result<ConnectorPrincipal, HttpResponse> {
    let Some(state) = req.app_data::<web::Data<HttpState>>().cloned() else {
        return Err(HttpResponse::InternalServerError().json(json!({"detail": "no core state"})));
    };
    let body = super::errors::read_payload(req.take_payload(), limit)
        .await
        .map_err(|e| actix_web::ResponseError::error_response(&e))?;
    let target = super::errors::request_target(req.uri());
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let verified = state
        .core
        .trust
        .verify(
            header.as_deref(),
            Received {
                method: req.method().as_str(),
                target: &target,
                body: &body,
            },
        )
        .await;
    req.set_payload(actix_web::dev::Payload::from(body));
    verified.map_err(super::errors::refusal_response)
}

/// The scheme of the `Authorization` header, if any.
fn scheme(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').next())
        .map(str::to_ascii_uppercase)
}

/// The least role of an operator on a route.
fn operator_role(access: Access) -> Role {
    match access {
        Access::ConnectorOr(r) => r,
        Access::Viewer | Access::Public | Access::Probe | Access::Enrollment => Role::Viewer,
        Access::Operator => Role::Operator,
        Access::Admin => Role::Admin,
    }
}

/// A refusal of the gate: status, `detail`, and extra headers.
struct Denial {
    resp: HttpResponse,
    detail: &'static str,
}

fn deny(status: StatusCode, detail: &'static str) -> Denial {
    Denial {
        resp: HttpResponse::build(status).json(json!({ "detail": detail })),
        detail,
    }
}

/// The session cookie's value, if the request carries one.
fn session_cookie(req: &ServiceRequest, settings: &crate::config::Settings) -> Option<String> {
    req.cookie(auth_session::cookie_name(settings))
        .map(|c| c.value().to_string())
}

/// Runs the request pipeline of docs/AUTH.md ("Order of checks") for one route, then writes the
/// audit record of a state-changing request.
pub async fn gate_for(
    access: Access,
    route_path: &'static str,
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<HttpState>>().cloned() else {
        return next.call(req).await;
    };
    let settings = Arc::clone(&state.core.settings);
    let ip = client_ip::client_ip(&req, &settings.auth.login.trusted_proxies);
    req.extensions_mut().insert(auth_session::ClientAddr(ip));
    let mut seen = audit::Seen::of(&req, route_path, ip.map(|i| i.to_string()));
    let audited = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let outcome = match check(access, &state, &settings, &mut req, &mut seen).await {
        Ok(()) => next.call(req).await?,
        Err(d) => {
            let detail = d.detail;
            let resp = req.into_response(d.resp);
            if audited && let Some(rec) = seen.record(resp.status().as_u16(), None, Some(detail)) {
                state.core.auditor.record(rec).await;
            }
            return Ok(resp);
        }
    };
    if audited {
        let note = outcome.response().extensions().get::<audit::AuditNote>().cloned();
        let status = outcome.status();
        let code = outcome
            .response()
            .extensions()
            .get::<super::errors::ErrorCode>()
            .map(|c| c.0.clone());
        let detail = (!status.is_success()).then(|| {
            code.unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_ascii_lowercase()
                    .replace(' ', "_")
            })
        });
        if let Some(rec) = seen.record(status.as_u16(), note, detail.as_deref()) {
            state.core.auditor.record(rec).await;
        }
    }
    Ok(outcome)
}

/// Steps 2–6: duplicate credentials, Host, principal, CSRF, role. On success the principal is
/// in the request's extensions for the handler.
async fn check(
    access: Access,
    state: &HttpState,
    settings: &crate::config::Settings,
    req: &mut ServiceRequest,
    seen: &mut audit::Seen,
) -> Result<(), Denial> {
    if access == Access::Probe {
        return Ok(());
    }
    if req.headers().get_all(AUTHORIZATION).count() > 1 {
        return Err(deny(StatusCode::BAD_REQUEST, "duplicate_authorization_header"));
    }
    let scheme = scheme(req);
    let explicit = matches!(scheme.as_deref(), Some("DSX-HMAC" | "BEARER"))
        || (access == Access::Enrollment && req.headers().contains_key("x-enrollment-token"));
    if !explicit && !state.host_policy.host_allowed(req.headers()) {
        return Err(deny(StatusCode::FORBIDDEN, "host_not_allowed"));
    }
    let auth_on = settings.auth.enabled;
    // A session cookie counts only when no explicit credential is presented.
    let cookie = if auth_on && !explicit {
        session_cookie(req, settings)
    } else {
        None
    };
    let mut session = None;
    if let Some(value) = &cookie {
        let touch = !route_path_is_stream(seen.route_path);
        match state.core.identity.session(value, touch).await {
            Ok(Some(s)) => {
                seen.operator = Some(OperatorPrincipal {
                    role: s.role,
                    kind: ActorKind::User,
                    id: s.user.clone(),
                    name: s.user.clone(),
                });
                session = Some(s);
            }
            Ok(None) if matches!(access, Access::Public) => {}
            Ok(None) => {
                let mut resp =
                    super::errors::unauthorized("session_expired", "Bearer realm=\"dsx-connect\"".to_string());
                let _ = resp.add_cookie(&auth_session::clearing_cookie(settings));
                return Err(Denial {
                    resp,
                    detail: "session_expired",
                });
            }
            Err(e) => {
                return Err(Denial {
                    resp: super::errors::refusal_response(Refusal::Unavailable(e)),
                    detail: "registry_unavailable",
                });
            }
        }
    }
    if !explicit {
        let machine_route = matches!(access, Access::ConnectorOr(_) | Access::Enrollment);
        let csrf = session.as_ref().map(|s| s.csrf.as_str());
        if !state
            .host_policy
            .csrf_ok(req.method(), req.headers(), machine_route, cookie.is_some(), csrf)
        {
            return Err(deny(StatusCode::FORBIDDEN, "csrf_rejected"));
        }
    }
    if !auth_on {
        return Ok(());
    }
    if let (Some(s), Some(op)) = (session, seen.operator.clone()) {
        req.extensions_mut().insert(auth_session::SessionContext { session: s });
        req.extensions_mut().insert(op.clone());
        return match access {
            Access::Public | Access::Enrollment => Ok(()),
            _ if op.role >= operator_role(access) => Ok(()),
            _ => Err(deny(StatusCode::FORBIDDEN, "insufficient_role")),
        };
    }
    if matches!(access, Access::Public | Access::Enrollment) {
        if access == Access::Public && scheme.as_deref() == Some("BEARER") {
            // `GET /auth/session` with a token says who the token is.
            let token = bearer_value(req);
            if let Ok(Some(op)) = state.core.trust.bearer(&token).await {
                seen.operator = Some(op.clone());
                req.extensions_mut().insert(op);
            }
        }
        return Ok(());
    }
    let limit = if req.path().ends_with("/batch") {
        BATCH_BODY_LIMIT
    } else {
        SINGLE_BODY_LIMIT
    };
    match scheme.as_deref() {
        Some("DSX-HMAC") => match verify_request(req, limit).await {
            Ok(p) if matches!(access, Access::ConnectorOr(_)) => {
                seen.connector = Some(p.clone());
                req.extensions_mut().insert(p);
                Ok(())
            }
            Ok(p) => {
                seen.connector = Some(p);
                Err(deny(StatusCode::FORBIDDEN, "insufficient_role"))
            }
            Err(resp) => Err(Denial {
                resp,
                detail: "signature_refused",
            }),
        },
        Some("BEARER") => match state.core.trust.bearer(&bearer_value(req)).await {
            Ok(Some(op)) => {
                seen.operator = Some(op.clone());
                if op.role >= operator_role(access) {
                    req.extensions_mut().insert(op);
                    Ok(())
                } else {
                    Err(deny(StatusCode::FORBIDDEN, "insufficient_role"))
                }
            }
            Ok(None) => Err(Denial {
                resp: super::errors::unauthorized(
                    "invalid_token",
                    "Bearer realm=\"dsx-connect\", error=\"invalid_token\"".to_string(),
                ),
                detail: "invalid_token",
            }),
            Err(e) => Err(Denial {
                resp: super::errors::refusal_response(Refusal::Unavailable(e)),
                detail: "registry_unavailable",
            }),
        },
        _ => {
            let challenge = if matches!(access, Access::ConnectorOr(_)) {
                "Bearer realm=\"dsx-connect\", DSX-HMAC realm=\"dsx-connect\""
            } else {
                "Bearer realm=\"dsx-connect\""
            };
            Err(Denial {
                resp: super::errors::unauthorized("not_authenticated", challenge.to_string()),
                detail: "not_authenticated",
            })
        }
    }
}

fn bearer_value(req: &ServiceRequest) -> String {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_default()
}

/// Event streams do not count as use of a session (an open tab must not keep it alive).
fn route_path_is_stream(path: &str) -> bool {
    path.starts_with("/subscribe/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::API;

    #[test]
    fn every_route_appears_once_with_an_access_level() {
        let t: Vec<Entry> = table().into_iter().chain(root_table()).collect();
        let mut seen = std::collections::HashSet::new();
        let api = table().into_iter().map(|e| (API, e));
        for (prefix, e) in api.chain(root_table().into_iter().map(|e| ("", e))) {
            assert!(
                seen.insert((prefix, e.path, e.method)),
                "{} {prefix}{} twice",
                e.method,
                e.path
            );
        }
        assert!(t.iter().any(|e| matches!(e.access, Access::ConnectorOr(_))));
        for e in worker_table().into_iter().chain(worker_root_table()) {
            assert!(matches!(e.access, Access::Probe | Access::Viewer), "{}", e.path);
        }
    }
}
