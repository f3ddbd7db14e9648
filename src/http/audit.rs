//! The audit trail over HTTP (docs/AUTH.md, "Audit"): which action each state-changing route
//! is, the record the gate writes for every such request, and `GET /admin/audit`.

use actix_web::dev::ServiceRequest;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpState;
use super::admin_connectors::store_err;
use super::errors::{ApiError, query_get, query_int, query_int_in, query_pairs};
use crate::auth::audit::{Actor, ActorKind, AuditQuery, AuditRecord, Outcome};
use crate::trust::{ConnectorPrincipal, OperatorPrincipal};

/// What a handler adds to its answer's audit record: the target it resolved, a better action
/// name, the acting identity (login), a generated detail; or that the call is not audited.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub action: Option<&'static str>,
    pub target: Option<(String, String)>,
    pub actor: Option<Actor>,
    pub role: Option<&'static str>,
    pub detail: Option<String>,
    /// Routine traffic (a heartbeat) that is visible elsewhere.
    pub skip: bool,
}

impl AuditNote {
    pub fn target(mut self, kind: &str, id: &str) -> Self {
        self.target = Some((kind.to_string(), id.to_string()));
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn action(mut self, a: &'static str) -> Self {
        self.action = Some(a);
        self
    }
}

/// The action of every state-changing route: method, path, action, target type, and the path
/// parameter naming the target (`None`: fixed id `all`, or the handler names it).
const ACTIONS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("POST", "/auth/login", "auth.login", "user", None),
    ("POST", "/auth/logout", "auth.logout", "user", None),
    ("POST", "/admin/users", "user.create", "user", None),
    (
        "PUT",
        "/admin/users/{username}",
        "user.update",
        "user",
        Some("username"),
    ),
    (
        "DELETE",
        "/admin/users/{username}",
        "user.delete",
        "user",
        Some("username"),
    ),
    ("POST", "/admin/tokens", "token.create", "token", None),
    ("DELETE", "/admin/tokens/{id}", "token.revoke", "token", Some("id")),
    ("POST", "/connectors/register", "connector.enroll", "connector", None),
    (
        "DELETE",
        "/connectors/unregister/{uuid}",
        "connector.unregister",
        "connector",
        Some("uuid"),
    ),
    (
        "POST",
        "/connectors/full_scan/{uuid}",
        "connector.full_scan",
        "connector",
        Some("uuid"),
    ),
    (
        "POST",
        "/admin/connectors/{uuid}/rotate",
        "connector.rotate",
        "connector",
        Some("uuid"),
    ),
    (
        "POST",
        "/admin/connectors/{uuid}/revoke",
        "connector.revoke",
        "connector",
        Some("uuid"),
    ),
    (
        "POST",
        "/admin/connectors/{uuid}/reset",
        "connector.reset",
        "connector",
        Some("uuid"),
    ),
    (
        "DELETE",
        "/admin/connectors/{uuid}",
        "connector.forget",
        "connector",
        Some("uuid"),
    ),
    ("POST", "/schedules", "schedule.create", "schedule", None),
    (
        "PUT",
        "/schedules/{schedule_id}",
        "schedule.update",
        "schedule",
        Some("schedule_id"),
    ),
    (
        "DELETE",
        "/schedules/{schedule_id}",
        "schedule.delete",
        "schedule",
        Some("schedule_id"),
    ),
    (
        "POST",
        "/schedules/{schedule_id}/pause",
        "schedule.pause",
        "schedule",
        Some("schedule_id"),
    ),
    (
        "POST",
        "/schedules/{schedule_id}/resume",
        "schedule.resume",
        "schedule",
        Some("schedule_id"),
    ),
    ("POST", "/scan/request", "scan.request", "job", None),
    ("POST", "/scan/request/batch", "scan.request", "job", None),
    ("POST", "/scan/auth_check", "scan.auth_check", "connector", None),
    (
        "POST",
        "/scan/jobs/{job_id}/enqueue_done",
        "job.enqueue_done",
        "job",
        Some("job_id"),
    ),
    ("POST", "/scan/jobs/{job_id}/pause", "job.pause", "job", Some("job_id")),
    (
        "POST",
        "/scan/jobs/{job_id}/resume",
        "job.resume",
        "job",
        Some("job_id"),
    ),
    (
        "POST",
        "/scan/jobs/{job_id}/cancel",
        "job.cancel",
        "job",
        Some("job_id"),
    ),
    ("POST", "/admin/dead-letter/requeue", "dlq.requeue", "dlq", None),
    (
        "POST",
        "/admin/dead-letter/requeue/{queue_type}",
        "dlq.requeue",
        "dlq",
        Some("queue_type"),
    ),
    ("DELETE", "/admin/dead-letter/clear", "dlq.clear", "dlq", None),
    (
        "DELETE",
        "/admin/dead-letter/clear/{queue_type}",
        "dlq.clear",
        "dlq",
        Some("queue_type"),
    ),
];

/// The audited action of a route, if it changes state.
pub fn action_of(method: &str, path: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    ACTIONS
        .iter()
        .find(|(m, p, ..)| *m == method && *p == path)
        .map(|(_, _, a, t, param)| (*a, *t, *param))
}

/// Data-plane calls of a connector that succeed are visible in jobs and tasks, not audited.
fn connector_data_plane(action: &str) -> bool {
    matches!(action, "scan.request" | "job.enqueue_done" | "scan.auth_check")
}

/// What the gate knows about a request when its answer is ready.
pub struct Seen {
    pub route_path: &'static str,
    pub method: String,
    pub path: String,
    pub job_or_target: Option<(String, String)>,
    pub source_ip: Option<String>,
    pub operator: Option<OperatorPrincipal>,
    pub connector: Option<ConnectorPrincipal>,
}

impl Seen {
    pub fn of(req: &ServiceRequest, route_path: &'static str, source_ip: Option<String>) -> Self {
        let (action, kind, param) = action_of(req.method().as_str(), route_path).unwrap_or(("", "", None));
        let target = match param {
            Some(p) => req.match_info().get(p).map(|v| (kind.to_string(), v.to_string())),
            None if action.starts_with("dlq.") => Some((kind.to_string(), "all".to_string())),
            None => None,
        };
        Self {
            route_path,
            method: req.method().as_str().to_string(),
            path: req.path().to_string(),
            job_or_target: target,
            source_ip,
            operator: None,
            connector: None,
        }
    }

    /// The record of this request's answer, or `None` when it is not audited.
    pub fn record(self, status: u16, note: Option<AuditNote>, denial: Option<&str>) -> Option<AuditRecord> {
        let (action, ..) = action_of(&self.method, self.route_path)?;
        let note = note.unwrap_or_default();
        if note.skip {
            return None;
        }
        let result = Outcome::of_status(status);
        if result == Outcome::Success && self.connector.is_some() && connector_data_plane(action) {
            return None;
        }
        let (actor, role) = match (&note.actor, &self.operator, &self.connector) {
            (Some(a), ..) => (a.clone(), note.role.map(str::to_string)),
            (None, Some(op), _) => (
                Actor::new(op.kind, Some(&op.id), Some(&op.name)),
                Some(op.role.as_str().to_string()),
            ),
            (None, None, Some(c)) => (
                Actor::new(ActorKind::Connector, Some(c.uuid.as_str()), None),
                Some("connector".to_string()),
            ),
            (None, None, None) => (Actor::anonymous(), None),
        };
        let mut rec = AuditRecord::now(actor, note.action.unwrap_or(action), result);
        rec.role = role;
        if let Some((k, id)) = note.target.or(self.job_or_target) {
            rec = rec.target(&k, &id);
        }
        rec.http_status = Some(status);
        rec.method = Some(self.method);
        rec.path = Some(self.path);
        rec.source_ip = self.source_ip;
        if let Some(d) = note.detail.or(denial.map(str::to_string)) {
            rec = rec.detail(d);
        }
        Some(rec)
    }
}

/// `GET /admin/audit?limit&before_id&actor&action&result`, newest first.
pub async fn list(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req);
    let limit = query_int_in(&pairs, "limit", 100, 1, 1000)? as usize;
    let result = match query_get(&pairs, "result") {
        None => None,
        Some("success") => Some(Outcome::Success),
        Some("denied") => Some(Outcome::Denied),
        Some("failed") => Some(Outcome::Failed),
        Some(other) => {
            return Err(ApiError::bad_query(
                "result",
                "enum",
                "Input should be 'success', 'denied' or 'failed'",
                other,
            ));
        }
    };
    let q = AuditQuery {
        limit,
        before_id: query_int(&pairs, "before_id")?,
        actor: query_get(&pairs, "actor").map(str::to_string),
        action: query_get(&pairs, "action").map(str::to_string),
        result,
    };
    let items = state.core.backend.audit.audit(&q).await.map_err(store_err)?;
    let next = (items.len() == limit).then(|| items.last().map(|r| r.id)).flatten();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_before_id": next})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_changing_route_has_an_action() {
        for e in super::super::access::table() {
            if e.method != "get" {
                assert!(
                    action_of(&e.method.to_ascii_uppercase(), e.path).is_some(),
                    "{} {} has no audit action",
                    e.method,
                    e.path
                );
            }
        }
    }
}
