//! The component schemas of the OpenAPI document: the wire models that are Rust types derive
//! `utoipa::ToSchema` (so the schema follows the struct), the answers that handlers assemble
//! as JSON are described here next to each other. Every schema says what the code sends:
//! fields that are always present are `required`, values that may be null say so, and objects
//! stay open (`additionalProperties` is not restricted) because clients must ignore new keys.

use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::model::findings::FindingsSummary;
use crate::model::{ConnectorInstanceModel, Estimate, StatusResponse};

/// `$ref` to a component schema.
pub fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A JSON type that may also be null.
fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

/// An object with `props` (all required).
fn object(props: Value) -> Value {
    let required: Vec<String> = props
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    json!({ "type": "object", "properties": props, "required": required })
}

/// An object whose fields are all present, grouped by type (`"nullable string"` etc.).
fn typed(description: &str, groups: &[(&str, &[&str])]) -> Value {
    let mut props = Map::new();
    for (kind, names) in groups {
        let t = match kind.strip_prefix("nullable ") {
            Some(t) => nullable(t),
            None => json!({ "type": kind }),
        };
        for name in *names {
            props.insert((*name).to_string(), t.clone());
        }
    }
    let mut schema = object(Value::Object(props));
    schema["description"] = json!(description);
    schema
}

/// An array of `items`.
pub fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// Adds the schema of a derived type and the schemas it refers to.
fn derived<T: ToSchema>(out: &mut Map<String, Value>) {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    deps.push((T::name().into_owned(), T::schema()));
    for (name, schema) in deps {
        out.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
}

/// Every component schema, by name.
pub fn components() -> Map<String, Value> {
    let mut s = Map::new();
    derived::<StatusResponse>(&mut s);
    derived::<ConnectorInstanceModel>(&mut s);
    derived::<Estimate>(&mut s);
    derived::<FindingsSummary>(&mut s);
    let string = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let boolean = json!({"type": "boolean"});
    let iso = json!({"type": ["string", "null"], "description": "ISO-8601 UTC time"});
    let role = json!({"type": "string", "enum": ["viewer", "operator", "admin"]});
    let mut add = |name: &str, schema: Value| {
        s.insert(name.to_string(), schema);
    };

    // Error shapes (src/http/errors.rs).
    add(
        "Detail",
        json!({
            "type": "object",
            "description": "An explicit error: a short code or text in `detail` (some answers add fields, e.g. `registry_full` adds `message` and `max_registered`).",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }),
    );
    add(
        "ValidationIssue",
        json!({
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "missing, json_invalid, string_type, int_parsing, uuid_parsing, greater_than_equal, less_than_equal, too_short, too_long, enum, value_error, ..."},
                "loc": array(json!({"type": ["string", "integer"]})),
                "msg": {"type": "string"},
                "input": {},
            },
            "required": ["type", "loc", "msg"],
        }),
    );
    add(
        "ValidationError",
        json!({
            "type": "object",
            "description": "422: every problem of the request, each with where it is.",
            "properties": {"detail": array(r("ValidationIssue"))},
            "required": ["detail"],
        }),
    );
    add(
        "Error",
        json!({
            "description": "Any error answer: `{\"detail\": \"...\"}`, a 422 validation list, or a StatusResponse with `status: error`.",
            "anyOf": [r("Detail"), r("ValidationError"), r("StatusResponse")],
        }),
    );

    // Meta and health (src/http/meta.rs).
    add(
        "Alive",
        object(json!({"status": {"type": "string", "enum": ["alive"]}})),
    );
    add(
        "Readiness",
        json!({
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not_ready"]},
                "redis": string, "registry": string, "backend": string, "store": string,
                "store_write_failures": int, "superlog": {},
                "store_write_failed_since": iso, "redis_round_trips": int,
            },
            "required": ["status", "redis", "registry", "backend", "store", "store_write_failures", "superlog"],
        }),
    );
    add(
        "Meta",
        object(json!({
            "version": string, "build_timestamp": string, "git_commit": nullable("string"),
            "engine": {"type": "object", "description": "the active scan engine: name, version, whether it is the built-in test engine"},
        })),
    );
    add("Version", json!({"type": "string"}));
    add(
        "Json",
        json!({"type": "object", "description": "a JSON object (see the operation)"}),
    );

    // Connectors (src/http/connectors.rs).
    add(
        "ConnectorListItem",
        json!({
            "allOf": [r("ConnectorInstanceModel"), {
                "type": "object",
                "properties": {"auth_state": {"type": ["string", "null"], "enum": ["builtin", "enrolled", null]}},
                "required": ["auth_state"],
            }],
        }),
    );
    add(
        "Registration",
        json!({
            "allOf": [r("StatusResponse"), {
                "type": "object",
                "description": "with authentication on, an enrolled connector also gets its uuid and, when a key is issued, the key (shown once)",
                "properties": {"connector_uuid": string, "hmac_key_id": string, "hmac_secret": string},
            }],
        }),
    );

    // Scan requests and jobs (src/http/scan.rs, src/http/jobs.rs).
    add(
        "ScanRequest",
        json!({
            "type": "object",
            "properties": {
                "location": string, "metainfo": string,
                "connector": {"anyOf": [r("ConnectorInstanceModel"), {"type": "null"}]},
                "connector_url": nullable("string"), "scan_job_id": nullable("string"),
                "size_in_bytes": nullable("integer"),
                "identity": {
                    "type": "object",
                    "description": "the item's identity as listed (docs/SCAN-REUSE.md): kind file (dev, ino, size, mtime_ns, ctime_ns), s3 or azure (etag, version_id) or gcs (generation)",
                    "properties": {"kind": {"type": "string", "enum": ["file", "s3", "azure", "gcs"]}},
                    "required": ["kind"],
                },
                "rescan": {"type": "boolean", "description": "scan even when a verdict for this identity is remembered"},
            },
            "required": ["location", "metainfo"],
        }),
    );
    add(
        "BatchAccepted",
        json!({
            "allOf": [r("StatusResponse"), object(json!({
                "accepted": int, "rejected": int,
                "items": array(object(json!({
                    "index": int, "id": nullable("string"), "job_id": string,
                    "status": {"type": "string", "enum": ["success", "error"]},
                    "http_status": int, "message": string,
                }))),
            }))],
        }),
    );
    add(
        "TaskStatus",
        json!({
            "type": "object",
            "properties": {
                "task_id": string, "state": string, "status": {"type": "string", "enum": ["success", "error"]},
                "result": {"anyOf": [r("ScanResult"), {"type": "null"}]}, "error": nullable("string"),
                "task_state": string, "job_id": string, "attempts": int, "verdict": nullable("string"),
            },
            "required": ["task_id", "state", "status", "result", "error", "task_state", "job_id", "attempts", "verdict"],
        }),
    );
    // Job fields keep the original's hash semantics: numbers as decimal strings.
    add(
        "Job",
        typed(
            "a job: its stored fields and derived figures, numbers as decimal strings; one count per verdict besides",
            &[
                (
                    "string",
                    &[
                        "job_id",
                        "status",
                        "started_at",
                        "last_update",
                        "enqueued_count",
                        "processed_count",
                        "failed_count",
                        "skipped_count",
                        "unreadable_count",
                        "actions_taken",
                        "duration_secs",
                    ],
                ),
                (
                    "nullable string",
                    &[
                        "job_name",
                        "connector_uuid",
                        "last_enqueued_at",
                        "finished_at",
                        "completed_by",
                        "enqueue_done",
                        "enqueue_finished_at",
                        "enqueued_total",
                        "expected_total",
                        "total",
                        "progress_pct",
                        "eta_secs",
                        "time_remaining",
                    ],
                ),
            ],
        ),
    );
    add(
        "JobSummary",
        typed(
            "a job's progress as sent in job_summary frames and control answers: counts as integers",
            &[
                ("string", &["job_id", "status", "started_at", "last_update"]),
                (
                    "nullable string",
                    &[
                        "connector_uuid",
                        "job_name",
                        "finished_at",
                        "time_remaining",
                        "completed_by",
                        "enqueue_done",
                    ],
                ),
                (
                    "integer",
                    &[
                        "processed_count",
                        "failed_count",
                        "skipped_count",
                        "unreadable_count",
                        "enqueued_count",
                        "duration_secs",
                        "actions_taken",
                        "actions_failed",
                    ],
                ),
                (
                    "nullable integer",
                    &["total", "enqueued_total", "expected_total", "progress_pct", "eta_secs"],
                ),
            ],
        ),
    );
    add(
        "JobRaw",
        object(json!({"key": string, "ttl": int, "data": {"type": "object"}})),
    );
    add(
        "JobChange",
        json!({
            "type": "object",
            "properties": {"ok": boolean, "job_id": string, "status": string, "job": r("JobSummary")},
            "required": ["ok", "job_id", "status"],
        }),
    );
    add(
        "EnqueueDone",
        json!({
            "type": "object",
            "properties": {"enqueued_total": nullable("integer"), "unreadable_count": nullable("integer")},
        }),
    );
    add(
        "ScanResult",
        json!({
            "type": "object",
            "description": "one recorded scan result: the request, the engine's verdict and the action taken",
            "properties": {
                "id": int, "scan_request_task_id": string, "scan_job_id": nullable("string"),
                "metadata_tag": nullable("string"), "scan_request": r("ScanRequest"),
                "verdict": {"type": "object", "properties": {"verdict": string}, "required": ["verdict"]},
                "item_action": {"type": "object", "properties": {"status": string, "message": string, "item_action": string}},
                "status": string, "created_at": string, "timestamp": string,
                "reused": {"type": "boolean", "description": "the verdict was reused from an earlier scan (omitted when false)"},
                "reused_from": object(json!({"task_id": string, "scanned_at": string})),
            },
            "required": ["id", "scan_request_task_id", "scan_job_id", "metadata_tag", "scan_request", "verdict",
                "item_action", "status", "created_at", "timestamp"],
        }),
    );
    add(
        "Stats",
        json!({"type": "object", "description": "totals by verdict and the size histogram"}),
    );

    // Dead-letter queues (src/http/dlq.rs).
    add(
        "DlqQueue",
        object(json!({
            "queue_name": string, "queue_type": string, "length": int, "ttl_seconds": int, "exists": boolean,
            "sample_items": {"type": ["array", "null"]},
        })),
    );
    add(
        "DlqStats",
        object(
            json!({"total_items": int, "active_queues": int, "queues": {"type": "object", "additionalProperties": r("DlqQueue")}}),
        ),
    );
    add(
        "DlqItems",
        object(json!({
            "queue_type": string, "queue_name": string, "total_length": int, "returned_count": int,
            "start_index": int, "end_index": int, "items": array(json!({"type": "object"})),
        })),
    );
    add(
        "DlqRequeued",
        object(json!({
            "success": boolean, "queue_type": string, "queue_name": string,
            "requeued_count": int, "remaining_count": int, "failed_count": int,
        })),
    );
    add(
        "DlqRequeuedAll",
        object(json!({
            "success": boolean,
            "results": array(object(json!({
                "queue_type": string, "queue_name": string, "requeued_count": int,
                "remaining_count": nullable("integer"),
            }))),
        })),
    );
    add(
        "DlqCleared",
        object(json!({"success": boolean, "queue_type": string, "queue_name": string, "cleared_count": int})),
    );
    add(
        "DlqHealth",
        json!({
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                "redis_connected": boolean, "error": string,
                "total_dead_letter_items": nullable("integer"), "available_queues": array(string.clone()),
            },
            "required": ["status", "redis_connected", "total_dead_letter_items", "available_queues"],
        }),
    );

    // Sign-in, users, tokens, connector credentials, audit.
    add("Login", object(json!({"username": string, "password": string})));
    add(
        "LoggedIn",
        object(json!({"user": string, "role": role, "csrf_token": string})),
    );
    add(
        "Session",
        object(json!({
            "authenticated": boolean, "auth_enabled": boolean, "user": nullable("string"),
            "role": {"type": ["string", "null"], "enum": ["viewer", "operator", "admin", null]},
            "method": nullable("string"), "csrf_token": nullable("string"), "expires_at": iso,
            "methods": array(string.clone()),
        })),
    );
    add(
        "User",
        object(
            json!({"username": string, "role": role, "disabled": boolean, "created_at": iso, "password_changed_at": iso}),
        ),
    );
    add(
        "UserChange",
        json!({
            "type": "object",
            "description": "create: username, password and role are needed; change: any of password, role, disabled",
            "properties": {
                "username": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", "description": "stored lower-cased"},
                "password": {"type": "string", "minLength": 12, "maxLength": 1024, "description": "12 to 1024 bytes"},
                "role": role, "disabled": boolean,
            },
        }),
    );
    let run = object(json!({
        "due_at": iso, "decided_at": iso,
        "outcome": {"type": "string", "enum": ["started", "skipped", "failed"]},
        "job_id": nullable("string"), "reason": nullable("string"), "missed": {"type": "integer", "minimum": 0},
    }));
    add("ScheduleRun", run);
    add(
        "Schedule",
        object(json!({
            "id": string, "connector_uuid": string, "name": string,
            "cron": nullable("string"), "timezone": nullable("string"), "interval_secs": nullable("integer"),
            "filter": nullable("string"), "job_name": nullable("string"),
            "missed_runs": {"type": "string", "enum": ["once", "skip"]}, "paused": boolean,
            "rescan_all": boolean,
            "created_at": iso, "updated_at": iso, "created_by": nullable("string"), "next_run_at": iso,
            "running": boolean, "last_job_id": nullable("string"),
            "last_run": {"oneOf": [r("ScheduleRun"), {"type": "null"}]},
        })),
    );
    add(
        "ScheduleWithRuns",
        json!({"allOf": [r("Schedule"), object(json!({"runs": array(r("ScheduleRun"))}))]}),
    );
    add(
        "ScheduleChange",
        json!({
            "type": "object",
            "description": "either cron (5 fields, or 6 with seconds first; timezone defaults to UTC) or interval_secs",
            "properties": {
                "connector_uuid": {"type": "string", "format": "uuid"},
                "name": {"type": "string", "minLength": 1, "maxLength": 128},
                "cron": {"type": ["string", "null"], "maxLength": 200},
                "timezone": {"type": ["string", "null"], "maxLength": 64, "description": "IANA name"},
                "interval_secs": {"type": ["integer", "null"], "minimum": 10, "maximum": 31622400},
                "filter": {"type": ["string", "null"], "maxLength": 4096},
                "job_name": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
                "missed_runs": {"type": "string", "enum": ["once", "skip"]},
                "paused": boolean,
                "rescan_all": boolean,
            },
            "required": ["connector_uuid", "name"],
            "additionalProperties": false,
        }),
    );
    add(
        "Token",
        object(json!({
            "id": string, "name": string, "role": role, "prefix": string, "created_at": iso,
            "created_by": nullable("string"), "expires_at": iso, "last_used_at": iso,
        })),
    );
    add(
        "NewToken",
        json!({
            "type": "object",
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "role": role, "expires_in_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}},
            "required": ["name", "role"],
        }),
    );
    add(
        "CreatedToken",
        json!({"allOf": [r("Token"), object(json!({"token": {"type": "string", "description": "shown once"}}))]}),
    );
    add(
        "ConnectorCredential",
        object(json!({
            "connector_uuid": string, "name": nullable("string"), "url": nullable("string"), "state": string,
            "key_id": nullable("string"), "key_issued_at": iso, "prev_valid_until": iso, "rotate_pending": boolean,
            "enrolled_at": iso, "last_registration_at": iso, "revoked_at": iso, "revoked_by": nullable("string"),
            "present": boolean,
        })),
    );
    add(
        "CredentialChange",
        object(json!({"ok": boolean, "connector_uuid": string, "state": string, "rotate_pending": boolean})),
    );
    add(
        "AuditPage",
        object(json!({"items": array(json!({"type": "object"})), "next_before_id": nullable("integer")})),
    );
    s
}
