//! Scan schedules over HTTP (docs/SCHEDULES.md): viewers list and read them, operators create,
//! edit, pause, resume and delete them. Every body is validated field by field (422 in the
//! FastAPI shape); unknown fields are refused so a misspelt option is never silently ignored.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::audit::AuditNote;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, parse_json, read_body};
use crate::backend::StoreError;
use crate::connectors::filter::Filter;
use crate::model::schedule::{
    Cadence, MissedRuns, Schedule, ScheduleDefinition, ScheduleId, ScheduleRun, ScheduleState,
};
use crate::model::validation::{Issue, Issues, Loc};
use crate::model::{ConnectorUuid, now_ms};
use crate::schedule::cadence::{Due, iso_ms};
use crate::trust::OperatorPrincipal;

/// Schedules kept at most (each is checked once a second by every API process).
pub const MAX_SCHEDULES: usize = 1000;
/// Longest name, job name and filter accepted.
const MAX_NAME: usize = 128;
const MAX_FILTER: usize = 4096;

const FIELDS: [&str; 10] = [
    "connector_uuid",
    "name",
    "cron",
    "timezone",
    "interval_secs",
    "filter",
    "job_name",
    "missed_runs",
    "paused",
    "rescan_all",
];

fn store_err(e: StoreError) -> ApiError {
    super::errors::job_store(e)
}

fn run_view(r: &ScheduleRun) -> Value {
    json!({
        "due_at": iso_ms(r.due_ms),
        "decided_at": iso_ms(r.at_ms),
        "outcome": r.outcome.as_str(),
        "job_id": r.job_id,
        "reason": r.reason,
        "missed": r.missed,
    })
}

fn view(def: &ScheduleDefinition, state: &ScheduleState) -> Value {
    let (cron, timezone, interval) = match &def.cadence {
        Cadence::Cron { expr, timezone } => (Some(expr.as_str()), Some(timezone.as_str()), None),
        Cadence::Interval { secs } => (None, None, Some(*secs)),
    };
    json!({
        "id": def.id,
        "connector_uuid": def.connector_uuid,
        "name": def.name,
        "cron": cron,
        "timezone": timezone,
        "interval_secs": interval,
        "filter": def.filter,
        "job_name": def.job_name,
        "missed_runs": def.missed_runs.as_str(),
        "paused": def.paused,
        "rescan_all": def.rescan_all,
        "created_at": iso_ms(def.created_at_ms),
        "updated_at": iso_ms(def.updated_at_ms),
        "created_by": def.created_by,
        "next_run_at": state.next_run_ms.and_then(iso_ms),
        "running": state.pending.is_some(),
        "last_job_id": state.last_job_id,
        "last_run": state.last_run.as_ref().map(run_view),
    })
}

fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    ScheduleId::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            Issue::new(
                "uuid_parsing",
                vec![Loc::from("path"), Loc::from("schedule_id")],
                "Input should be a valid UUID",
            )
            .with_input(json!(raw)),
        )
    })
}

async fn load(state: &HttpState, id: &ScheduleId) -> Result<Schedule, ApiError> {
    state
        .core
        .backend
        .schedules
        .schedule(id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found(format!("No schedule with id={id}")))
}

/// Text fit for a name: 1–128 characters, no control characters.
fn plain(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// The editable fields of a body, checked; what the operator wrote, not yet a schedule.
struct Fields {
    connector_uuid: ConnectorUuid,
    name: String,
    cadence: Cadence,
    filter: Option<String>,
    job_name: Option<String>,
    missed_runs: MissedRuns,
    paused: bool,
    rescan_all: bool,
}

fn fields(state: &HttpState, body: &Value, now: i64) -> Result<Fields, ApiError> {
    let loc = |k: &str| vec![Loc::from("body"), Loc::from(k)];
    let Some(obj) = body.as_object() else {
        return Err(ApiError::invalid(
            Issue::new(
                "dict_type",
                vec![Loc::from("body")],
                "Input should be a valid dictionary",
            )
            .with_input(body.clone()),
        ));
    };
    let mut issues = Issues::default();
    for k in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        issues.push(Issue::new("extra_forbidden", loc(k), "Extra inputs are not permitted").with_input(obj[k].clone()));
    }
    let text = |issues: &mut Issues, k: &str, max: usize, required: bool| -> Option<String> {
        match obj.get(k) {
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                issues.push(Issue::missing(loc(k)));
                None
            }
            Some(Value::String(s)) if plain(s, max) => Some(s.clone()),
            Some(v) => {
                issues.push(
                    Issue::new(
                        "value_error",
                        loc(k),
                        format!("1-{max} characters, no control characters"),
                    )
                    .with_input(v.clone()),
                );
                None
            }
        }
    };
    let connector_uuid = match text(&mut issues, "connector_uuid", 64, true) {
        None => None,
        Some(u) => match ConnectorUuid::parse(&u) {
            Err(_) => {
                issues.push(
                    Issue::new("uuid_parsing", loc("connector_uuid"), "Input should be a valid UUID")
                        .with_input(json!(u)),
                );
                None
            }
            Ok(c) if !state.core.registry_view.contains(&c) => {
                issues.push(
                    Issue::new(
                        "value_error",
                        loc("connector_uuid"),
                        "No connector registered with this UUID",
                    )
                    .with_input(json!(u)),
                );
                None
            }
            Ok(c) => Some(c),
        },
    };
    let name = text(&mut issues, "name", MAX_NAME, true);
    let job_name = text(&mut issues, "job_name", MAX_NAME, false);
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) if f.len() <= MAX_FILTER => match Filter::parse(f) {
            Ok(_) => Some(f.clone()).filter(|f| !f.trim().is_empty()),
            Err(e) => {
                issues.push(Issue::new("value_error", loc("filter"), e.to_string()).with_input(json!(f)));
                None
            }
        },
        Some(v) => {
            issues.push(
                Issue::new(
                    "value_error",
                    loc("filter"),
                    format!("a filter of at most {MAX_FILTER} bytes, or null"),
                )
                .with_input(v.clone()),
            );
            None
        }
    };
    let cron = text(&mut issues, "cron", 200, false);
    let timezone = text(&mut issues, "timezone", 64, false);
    let interval = match obj.get("interval_secs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                issues.push(
                    Issue::new("int_type", loc("interval_secs"), "Input should be a valid integer")
                        .with_input(v.clone()),
                );
                None
            }
        },
    };
    let cadence = match (
        cron,
        interval,
        obj.contains_key("cron") || obj.contains_key("interval_secs"),
    ) {
        (Some(expr), None, _) => Some(Cadence::Cron {
            expr,
            timezone: timezone.unwrap_or_else(|| "UTC".into()),
        }),
        (None, Some(secs), _) => {
            if timezone.is_some() {
                issues.push(Issue::new(
                    "value_error",
                    loc("timezone"),
                    "timezone applies to cron schedules only",
                ));
            }
            Some(Cadence::Interval { secs })
        }
        (Some(_), Some(_), _) => {
            issues.push(Issue::new(
                "value_error",
                vec![Loc::from("body")],
                "set either cron or interval_secs, not both",
            ));
            None
        }
        (None, None, false) => {
            issues.push(Issue::new(
                "missing",
                vec![Loc::from("body")],
                "set cron (with timezone) or interval_secs",
            ));
            None
        }
        (None, None, true) => None,
    };
    if let Some(c) = &cadence
        && let Err(e) = Due::checked(c, now, now)
    {
        let at = if matches!(c, Cadence::Interval { .. }) {
            "interval_secs"
        } else if e.is_time_zone() {
            "timezone"
        } else {
            "cron"
        };
        issues.push(
            Issue::new("value_error", loc(at), e.to_string()).with_input(obj.get(at).cloned().unwrap_or(Value::Null)),
        );
    }
    let missed_runs = match obj.get("missed_runs") {
        None | Some(Value::Null) => MissedRuns::Once,
        Some(Value::String(s)) if s == "once" => MissedRuns::Once,
        Some(Value::String(s)) if s == "skip" => MissedRuns::Skip,
        Some(v) => {
            issues
                .push(Issue::new("enum", loc("missed_runs"), "Input should be 'once' or 'skip'").with_input(v.clone()));
            MissedRuns::Once
        }
    };
    let flag = |issues: &mut Issues, k: &str| match obj.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            issues.push(Issue::new("bool_type", loc(k), "Input should be a valid boolean").with_input(v.clone()));
            false
        }
    };
    let paused = flag(&mut issues, "paused");
    let rescan_all = flag(&mut issues, "rescan_all");
    issues.into_result()?;
    match (connector_uuid, name, cadence) {
        (Some(connector_uuid), Some(name), Some(cadence)) => Ok(Fields {
            connector_uuid,
            name,
            cadence,
            filter,
            job_name,
            missed_runs,
            paused,
            rescan_all,
        }),
        // Every missing piece pushed an issue above.
        _ => Err(ApiError::detail(StatusCode::UNPROCESSABLE_ENTITY, "invalid schedule")),
    }
}

/// The first due time of a definition from `now` (none while paused).
fn first_due(def: &ScheduleDefinition, now: i64) -> Option<i64> {
    if def.paused {
        return None;
    }
    Due::new(&def.cadence, def.anchor_ms).ok()?.next_after(now)
}

fn principal(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<OperatorPrincipal>()
        .map(OperatorPrincipal::label)
}

fn audited(resp: HttpResponse, def: &ScheduleDefinition) -> HttpResponse {
    let mut resp = resp;
    resp.extensions_mut().insert(
        AuditNote::default()
            .target("schedule", def.id.as_str())
            .detail(def.name.clone()),
    );
    resp
}

/// `GET /schedules`.
pub async fn list(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let all = state.core.backend.schedules.schedules().await.map_err(store_err)?;
    Ok(HttpResponse::Ok().json(all.iter().map(|s| view(&s.definition, &s.state)).collect::<Vec<_>>()))
}

/// `GET /schedules/{schedule_id}`: the schedule with its last runs, newest first.
pub async fn get(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = schedule_id(&path)?;
    let s = load(&state, &id).await?;
    let runs = state
        .core
        .backend
        .schedules
        .schedule_runs(&id)
        .await
        .map_err(store_err)?;
    let mut v = view(&s.definition, &s.state);
    v["runs"] = Value::Array(runs.iter().map(run_view).collect());
    Ok(HttpResponse::Ok().json(v))
}

/// `POST /schedules`: 201 with the schedule.
pub async fn create(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let now = now_ms();
    let f = fields(&state, &body, now)?;
    let def = ScheduleDefinition {
        id: ScheduleId::generate(),
        connector_uuid: f.connector_uuid,
        name: f.name,
        cadence: f.cadence,
        filter: f.filter,
        job_name: f.job_name,
        missed_runs: f.missed_runs,
        paused: f.paused,
        rescan_all: f.rescan_all,
        anchor_ms: now,
        created_at_ms: now,
        updated_at_ms: now,
        created_by: principal(&req),
    };
    let next = first_due(&def, now);
    let stored = state
        .core
        .backend
        .schedules
        .create_schedule(&def, next, MAX_SCHEDULES)
        .await
        .map_err(store_err)?;
    if !stored {
        return Err(ApiError::detail(
            StatusCode::CONFLICT,
            format!("schedule limit reached ({MAX_SCHEDULES}): delete one first"),
        ));
    }
    tracing::info!(schedule = %def.id, by = ?def.created_by, "schedule.create");
    let state_now = ScheduleState {
        next_run_ms: next,
        ..ScheduleState::default()
    };
    Ok(audited(HttpResponse::Created().json(view(&def, &state_now)), &def))
}

/// `PUT /schedules/{schedule_id}`: replaces the editable fields. A changed cadence counts its
/// due times from now; an unchanged one keeps its next due time.
pub async fn update(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = schedule_id(&path)?;
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let now = now_ms();
    let f = fields(&state, &body, now)?;
    let old = load(&state, &id).await?;
    let cadence_changed = old.definition.cadence != f.cadence;
    let def = ScheduleDefinition {
        connector_uuid: f.connector_uuid,
        name: f.name,
        anchor_ms: if cadence_changed { now } else { old.definition.anchor_ms },
        cadence: f.cadence,
        filter: f.filter,
        job_name: f.job_name,
        missed_runs: f.missed_runs,
        paused: f.paused,
        rescan_all: f.rescan_all,
        updated_at_ms: now,
        ..old.definition.clone()
    };
    let next = match (def.paused, old.state.next_run_ms) {
        (true, _) => None,
        (false, Some(n)) if !cadence_changed && !old.definition.paused => Some(n),
        _ => first_due(&def, now),
    };
    save(&state, def, next, old.state).await
}

async fn save(
    state: &HttpState,
    def: ScheduleDefinition,
    next: Option<i64>,
    old: ScheduleState,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .core
        .backend
        .schedules
        .update_schedule(&def, next)
        .await
        .map_err(store_err)?;
    if !found {
        return Err(ApiError::not_found(format!("No schedule with id={}", def.id)));
    }
    let st = ScheduleState {
        next_run_ms: next,
        ..old
    };
    Ok(audited(HttpResponse::Ok().json(view(&def, &st)), &def))
}

async fn set_paused(state: &HttpState, raw: &str, paused: bool) -> Result<HttpResponse, ApiError> {
    let id = schedule_id(raw)?;
    let old = load(state, &id).await?;
    let now = now_ms();
    let def = ScheduleDefinition {
        paused,
        updated_at_ms: now,
        ..old.definition.clone()
    };
    // Resuming never runs what was due while paused: the next due time counts from now.
    let next = if paused {
        None
    } else if old.definition.paused {
        first_due(&def, now)
    } else {
        old.state.next_run_ms
    };
    save(state, def, next, old.state).await
}

/// `POST /schedules/{schedule_id}/pause`.
pub async fn pause(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    set_paused(&state, &path, true).await
}

/// `POST /schedules/{schedule_id}/resume`.
pub async fn resume(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    set_paused(&state, &path, false).await
}

/// `DELETE /schedules/{schedule_id}`: 204. Jobs it started are left as they are.
pub async fn remove(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = schedule_id(&path)?;
    let old = load(&state, &id).await?;
    if !state
        .core
        .backend
        .schedules
        .delete_schedule(&id)
        .await
        .map_err(store_err)?
    {
        return Err(ApiError::not_found(format!("No schedule with id={id}")));
    }
    Ok(audited(HttpResponse::NoContent().finish(), &old.definition))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        v.as_object()
            .map(serde_json::Map::keys)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    #[test]
    fn names_refuse_control_characters_and_blank_text() {
        assert!(plain("nightly finance", 128));
        assert!(!plain("   ", 128));
        assert!(!plain("a\u{1b}[31m", 128));
        assert!(!plain(&"x".repeat(129), 128));
    }

    #[test]
    fn a_view_shows_times_in_utc_and_the_cadence_fields() {
        let def = ScheduleDefinition {
            id: ScheduleId::generate(),
            connector_uuid: ConnectorUuid::from(uuid::Uuid::new_v4()),
            name: "n".into(),
            cadence: Cadence::Interval { secs: 60 },
            filter: None,
            job_name: None,
            missed_runs: MissedRuns::Skip,
            paused: false,
            rescan_all: false,
            anchor_ms: 0,
            created_at_ms: 0,
            updated_at_ms: 0,
            created_by: Some("user:alice".into()),
        };
        let v = view(
            &def,
            &ScheduleState {
                next_run_ms: Some(60_000),
                ..ScheduleState::default()
            },
        );
        assert_eq!(v["next_run_at"], "1970-01-01T00:01:00Z");
        assert_eq!(v["interval_secs"], 60);
        assert_eq!(v["cron"], Value::Null);
        assert_eq!(v["missed_runs"], "skip");
        assert!(keys(&v).contains(&"last_run".to_string()));
    }
}
