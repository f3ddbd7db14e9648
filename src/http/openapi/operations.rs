//! What each route of the route table takes and answers, for the OpenAPI document. Paths,
//! methods and access levels come from the table itself (`src/http/access.rs`); this file adds
//! only the summary, the query parameters, the request body and the success answers. Path
//! parameters are read from the path. Error answers are added to every operation by the
//! builder. A route of the table without an entry here fails the unit test of `openapi`.

use serde_json::{Value, json};

use super::schemas::{array, r};

/// How a success answer looks.
pub enum Answer {
    /// A JSON body with this schema.
    Json(Value),
    /// No body (204, redirects).
    Empty,
    /// A `text/event-stream`.
    Events,
    /// Text of this media type (the Prometheus exposition).
    Text(&'static str),
}

/// The documentation of one operation.
pub struct Spec {
    pub summary: &'static str,
    pub query: Vec<(&'static str, Value, &'static str)>,
    pub body: Option<Value>,
    pub answers: Vec<(u16, &'static str, Answer)>,
}

impl Spec {
    fn new(summary: &'static str) -> Self {
        Spec {
            summary,
            query: Vec::new(),
            body: None,
            answers: Vec::new(),
        }
    }

    fn ok(mut self, code: u16, what: &'static str, schema: Value) -> Self {
        self.answers.push((code, what, Answer::Json(schema)));
        self
    }

    fn empty(mut self, code: u16, what: &'static str) -> Self {
        self.answers.push((code, what, Answer::Empty));
        self
    }

    fn events(mut self) -> Self {
        self.answers.push((200, "server-sent events", Answer::Events));
        self
    }

    fn text(mut self, code: u16, what: &'static str, media_type: &'static str) -> Self {
        self.answers.push((code, what, Answer::Text(media_type)));
        self
    }

    fn query(mut self, name: &'static str, schema: Value, what: &'static str) -> Self {
        self.query.push((name, schema, what));
        self
    }

    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }
}

fn int_in(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn text() -> Value {
    json!({"type": "string"})
}

/// The documentation of `method path` (path below the API prefix, or absolute outside it).
pub fn spec(method: &str, path: &str) -> Option<Spec> {
    let s = Spec::new;
    let status = || r("StatusResponse");
    let proxied = "the connector's answer, relayed as a JSON object";
    Some(match (method, path) {
        ("get", "/metrics") => s("Prometheus metrics (OpenMetrics text)").text(
            200,
            "the metrics of this process and the stored state",
            "application/openmetrics-text",
        ),
        ("get", "/healthz") => s("Liveness").ok(200, "alive", r("Alive")),
        ("get", "/readyz") => s("Readiness: the store answers and can write")
            .ok(200, "ready", r("Readiness"))
            .ok(503, "not ready", r("Readiness")),
        ("post", "/auth/login") => s("Sign in with a password (sets the session cookie)")
            .body(r("Login"))
            .ok(200, "signed in", r("LoggedIn")),
        ("post", "/auth/logout") => s("Sign out (clears the session cookie)").empty(204, "signed out"),
        ("get", "/auth/session") => s("Who is signed in, how, and the CSRF token").ok(200, "the session", r("Session")),
        ("get", "/auth/oidc/login") => s("Start single sign-on (redirect to the provider)").empty(302, "to the provider"),
        ("get", "/auth/oidc/callback") => s("Single sign-on callback of the provider")
            .query("code", text(), "authorization code")
            .query("state", text(), "the login's state")
            .query("error", text(), "the provider's error")
            .empty(303, "signed in, to the UI"),
        ("get", "/meta") => s("Version, build and active engine").ok(200, "meta", r("Meta")),
        ("get", "/version") => s("Version").ok(200, "the version string", r("Version")),
        ("get", "/config") => s("Effective settings (secrets redacted)").ok(200, "settings", r("Json")),
        ("get", "/superlog/status") => s("Superlog destinations and counters").ok(200, "status", r("Json")),
        ("get", "/test/connection") | ("get", "/dsx-connect/test/connection") => {
            s("Is dsx-connect reachable").ok(200, "reachable", status())
        }
        ("get", "/test/dsxa-connection") => s("Is the scan engine reachable").ok(200, "the engine's answer", status()),
        ("post", "/connectors/register") => s("Register or refresh a connector")
            .body(r("ConnectorInstanceModel"))
            .ok(201, "registered", r("Registration"))
            .ok(200, "refreshed", r("Registration")),
        ("delete", "/connectors/unregister/{uuid}") => s("Unregister a connector").empty(204, "unregistered"),
        ("get", "/connectors/list") => s("Registered connectors").ok(200, "connectors", array(r("ConnectorListItem"))),
        ("post", "/connectors/full_scan/{uuid}") => s("Start a full scan (a job) of a connector's asset")
            .query("job_id", text(), "the job id to use (generated otherwise)")
            .query(
                "rescan_all",
                json!({"type": "boolean"}),
                "scan every item, reusing no remembered verdict (docs/SCAN-REUSE.md)",
            )
            .ok(202, "started; the job id is in `id` and `X-Job-Id`", status()),
        ("get", "/connectors/repo_check/{uuid}") => s("Ask a connector whether its asset is reachable")
            .query("preview", json!({"type": "integer"}), "how many items to list")
            .ok(200, "the connector's answer", status()),
        ("get", "/connectors/estimate/{uuid}") => s("Ask a connector how many items a full scan covers").ok(
            200,
            "the estimate",
            r("Estimate"),
        ),
        ("get", "/connectors/config/{uuid}") => s("A connector's configuration").ok(200, proxied, r("Json")),
        ("get", "/connectors/healthz/{uuid}") => s("A connector's liveness").ok(200, proxied, r("Json")),
        ("get", "/connectors/readyz/{uuid}") => s("A connector's readiness").ok(200, proxied, r("Json")),
        ("get", "/connectors/auth_check/{uuid}") => {
            s("Check the signed channel to a connector").ok(200, "the outcome", status())
        }
        ("post", "/scan/request") => s("Queue one item for scanning")
            .body(r("ScanRequest"))
            .ok(202, "queued; `Location` names the task", status())
            .ok(409, "the job is cancelled", status()),
        ("post", "/scan/request/batch") => s("Queue many items for scanning")
            .body(array(r("ScanRequest")))
            .ok(202, "queued", r("BatchAccepted"))
            .ok(409, "the job is cancelled", status()),
        ("post", "/scan/auth_check") => s("A connector checks that its signature is accepted").ok(200, "accepted", status()),
        ("get", "/scan/request/{task_id}") => s("A scan task's state and result").ok(200, "the task", r("TaskStatus")),
        ("get", "/scan/jobs") => s("Jobs, newest first")
            .query("limit", int_in(1, 10_000), "at most this many (default 1000)")
            .query("offset", json!({"type": "integer", "minimum": 0}), "skip this many")
            .query(
                "status",
                json!({"type": "string", "enum": ["running", "paused", "cancelled", "completed"]}),
                "only jobs in this state",
            )
            .ok(200, "jobs", array(r("Job"))),
        ("get", "/scan/jobs/{job_id}") => s("One job").ok(200, "the job", r("Job")),
        ("get", "/scan/jobs/{job_id}/raw") => s("A job's stored record").ok(200, "the record", r("JobRaw")),
        ("post", "/scan/jobs/{job_id}/enqueue_done") => s("A connector has enqueued every item of a job")
            .body(r("EnqueueDone"))
            .ok(200, "recorded", r("JobChange")),
        ("post", "/scan/jobs/{job_id}/pause") => s("Pause a job").ok(200, "paused", r("JobChange")),
        ("post", "/scan/jobs/{job_id}/resume") => s("Resume a job").ok(200, "resumed", r("JobChange")),
        ("post", "/scan/jobs/{job_id}/cancel") => s("Cancel a job").ok(200, "cancelled", r("JobChange")),
        ("get", "/scan/results") => s("Scan results, newest first")
            .query("limit", json!({"type": "integer"}), "at most this many (clamped to 1..10000, default 200)")
            .query("job_id", text(), "only this job's results")
            .query("verdict", text(), "only this verdict")
            .query("before_id", json!({"type": "integer"}), "only results older than this id")
            .ok(200, "results", array(r("ScanResult"))),
        ("get", "/scan/results/job/{job_id}") => s("A job's results")
            .query("limit", json!({"type": "integer"}), "at most this many (clamped to 1..10000)")
            .ok(200, "results", array(r("ScanResult"))),
        ("get", "/scan/results/{task_id}") => {
            s("A task's result (an empty list before it is scanned)").ok(200, "results", array(r("ScanResult")))
        }
        ("get", "/scan/stats") => s("Statistics of all results").ok(200, "statistics", r("Stats")),
        ("get", "/scan/findings/summary") => s("Malicious results of the last 24 hours: counts by threat, connector and job, and the most recent")
            .query("recent", int_in(0, 100), "list this many recent findings (default 10)")
            .ok(200, "the summary", r("FindingsSummary")),
        ("get", "/schedules") => s("Scan schedules").ok(200, "schedules", array(r("Schedule"))),
        ("post", "/schedules") => s("Create a scan schedule").body(r("ScheduleChange")).ok(201, "created", r("Schedule")),
        ("get", "/schedules/{schedule_id}") => s("A scan schedule with its last runs").ok(200, "the schedule", r("ScheduleWithRuns")),
        ("put", "/schedules/{schedule_id}") => s("Replace a schedule's settings").body(r("ScheduleChange")).ok(200, "changed", r("Schedule")),
        ("delete", "/schedules/{schedule_id}") => s("Delete a scan schedule").empty(204, "deleted"),
        ("post", "/schedules/{schedule_id}/pause") => s("Pause a scan schedule").ok(200, "paused", r("Schedule")),
        ("post", "/schedules/{schedule_id}/resume") => s("Resume a scan schedule (due times count from now)").ok(200, "resumed", r("Schedule")),
        ("get", "/admin/dead-letter/stats") => s("Dead-letter queue sizes").ok(200, "sizes", r("DlqStats")),
        ("get", "/admin/dead-letter/stats/{queue_type}") => s("One dead-letter queue's size").ok(200, "size", r("DlqQueue")),
        ("get", "/admin/dead-letter/items/{queue_type}") => s("Items of a dead-letter queue")
            .query("start", json!({"type": "integer", "minimum": 0}), "first index (oldest = 0)")
            .query("end", int_in(0, 100), "last index, inclusive")
            .ok(200, "items", r("DlqItems")),
        ("post", "/admin/dead-letter/requeue") => s("Requeue all dead letters").ok(200, "requeued", r("DlqRequeuedAll")),
        ("post", "/admin/dead-letter/requeue/{queue_type}") => s("Requeue one dead-letter queue")
            .query("max_items", int_in(1, 1000), "at most this many (default 100)")
            .query(
                "target_task",
                json!({"type": "string", "enum": ["dsx_connect.tasks.scan.request", "dsx_connect.tasks.scan.verdict", "dsx_connect.tasks.scan.result"]}),
                "the stage to restart at",
            )
            .ok(200, "requeued", r("DlqRequeued")),
        ("delete", "/admin/dead-letter/clear") => s("Clear all dead-letter queues").ok(200, "cleared", array(r("DlqCleared"))),
        ("delete", "/admin/dead-letter/clear/{queue_type}") => s("Clear one dead-letter queue").ok(200, "cleared", r("DlqCleared")),
        ("get", "/admin/dead-letter/health") => s("Dead-letter store health").ok(200, "health", r("DlqHealth")),
        ("get", "/admin/connectors") => s("Connector credentials").ok(200, "records", array(r("ConnectorCredential"))),
        ("post", "/admin/connectors/{uuid}/rotate") => s("Rotate a connector's key at its next registration").ok(200, "changed", r("CredentialChange")),
        ("post", "/admin/connectors/{uuid}/revoke") => s("Revoke a connector").ok(200, "changed", r("CredentialChange")),
        ("post", "/admin/connectors/{uuid}/reset") => s("Let a connector enroll again").ok(200, "changed", r("CredentialChange")),
        ("delete", "/admin/connectors/{uuid}") => s("Forget a connector's credentials").empty(204, "forgotten"),
        ("get", "/admin/users") => s("Users").ok(200, "users", array(r("User"))),
        ("post", "/admin/users") => s("Create a user").body(r("UserChange")).ok(201, "created", r("User")),
        ("put", "/admin/users/{username}") => s("Change a user").body(r("UserChange")).ok(200, "changed", r("User")),
        ("delete", "/admin/users/{username}") => s("Delete a user").empty(204, "deleted"),
        ("get", "/admin/audit") => s("The audit trail, newest first")
            .query("limit", int_in(1, 1000), "at most this many (default 100)")
            .query("before_id", json!({"type": "integer"}), "only records older than this id")
            .query("actor", text(), "only this actor")
            .query("action", text(), "only this action")
            .query("result", json!({"type": "string", "enum": ["success", "denied", "failed"]}), "only this outcome")
            .ok(200, "records", r("AuditPage")),
        ("get", "/admin/tokens") => s("API tokens").ok(200, "tokens", array(r("Token"))),
        ("post", "/admin/tokens") => s("Create an API token (shown once)").body(r("NewToken")).ok(201, "created", r("CreatedToken")),
        ("delete", "/admin/tokens/{id}") => s("Revoke an API token").empty(204, "revoked"),
        ("get", "/subscribe/scan-result") => s("Scan results as they are recorded").events(),
        ("get", "/subscribe/job-summary/{job_id}") => s("A job's progress")
            .query("interval", json!({"type": "number", "minimum": 2, "maximum": 60}), "seconds between frames (default 5)")
            .events(),
        ("get", "/subscribe/connector-registered") => s("Connector registrations").events(),
        ("get", "/openapi.json") => s("This document").ok(200, "the OpenAPI document", json!({"type": "object"})),
        _ => return None,
    })
}
