//! Job endpoints (docs/reference/CORE-API.md, "Job endpoints"): list, read, raw, enqueue_done,
//! pause, resume, cancel.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, query_get, query_int_in, query_pairs, read_body};
use crate::actors::job::{ControlJob, EnqueueDone};
use crate::backend::{Control, ControlError};
use crate::model::validation::{Issue, Loc};
use crate::model::{JobId, JobStatus, now_secs};

/// Parses a job id path parameter (422 when it cannot be a job id).
pub fn job_id_path(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).map_err(|e| ApiError::bad_path("job_id", "value_error", e.to_string(), raw))
}

fn mailbox(e: actix::MailboxError) -> ApiError {
    tracing::error!(error = %e, "job actor unavailable");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "job_store_unavailable")
}

/// `GET /scan/jobs?status=&limit=`: newest first.
pub async fn list(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = query_pairs(&req);
    let limit = query_int_in(&q, "limit", 1000, 1, 10_000)?;
    let offset = query_int_in(&q, "offset", 0, 0, i64::MAX)?;
    let status = match query_get(&q, "status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::bad_query(
                "status",
                "enum",
                "Input should be 'running', 'paused', 'cancelled' or 'completed'",
                s,
            )
        })?),
    };
    let jobs = state
        .core
        .backend
        .jobs
        .list(status, limit as usize, offset as usize)
        .await
        .map_err(super::errors::job_store)?;
    let now = now_secs();
    Ok(HttpResponse::Ok().json(jobs.iter().map(|j| j.api_view(now)).collect::<Vec<_>>()))
}

/// `GET /scan/jobs/{job_id}`.
pub async fn get(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = job_id_path(&path)?;
    let job = state
        .core
        .backend
        .jobs
        .get(&id)
        .await
        .map_err(super::errors::job_store)?
        .ok_or_else(|| ApiError::not_found("job_not_found"))?;
    Ok(HttpResponse::Ok().json(job.api_view(now_secs())))
}

/// `GET /scan/jobs/{job_id}/raw`: 200 even when missing.
pub async fn raw(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = job_id_path(&path)?;
    let (ttl, data) = state
        .core
        .backend
        .jobs
        .raw(&id)
        .await
        .map_err(super::errors::job_store)?;
    Ok(HttpResponse::Ok().json(json!({"key": format!("dsxconnect:job:{id}"), "ttl": ttl, "data": data})))
}

/// `POST /scan/jobs/{job_id}/enqueue_done` with an optional `{"enqueued_total": n,
/// "unreadable_count": m}` (the entries the connector could not read, added to the job).
pub async fn enqueue_done(
    state: web::Data<HttpState>,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = job_id_path(&path)?;
    // A connector may only finish its own jobs (docs/AUTH.md, identity binding).
    let principal = actix_web::HttpMessage::extensions(&req)
        .get::<crate::trust::ConnectorPrincipal>()
        .cloned();
    if let Some(p) = principal {
        let job = state
            .core
            .backend
            .jobs
            .get(&id)
            .await
            .map_err(super::errors::job_store)?;
        if job.and_then(|j| j.connector_uuid).is_some_and(|u| u != p.uuid) {
            return Err(ApiError::detail(StatusCode::FORBIDDEN, "identity_mismatch"));
        }
    }
    let body = read_body(payload, SINGLE_BODY_LIMIT).await?;
    let (total, unreadable) = if body.iter().all(u8::is_ascii_whitespace) {
        (None, 0)
    } else {
        let v = super::errors::parse_json(&body)?;
        let Value::Object(m) = v else {
            return Err(ApiError::invalid(Issue::new(
                "model_attributes_type",
                vec![Loc::from("body")],
                "Input should be a valid dictionary or object",
            )));
        };
        (
            count_field(&m, "enqueued_total")?,
            count_field(&m, "unreadable_count")?.unwrap_or(0),
        )
    };
    let actor = state.jobs.actor(&id).await.map_err(mailbox)?;
    let change = actor
        .send(EnqueueDone(total, unreadable))
        .await
        .map_err(mailbox)?
        .map_err(super::errors::job_store)?;
    tracing::info!(job = %id, enqueued_total = total, unreadable_count = unreadable, status = change.job.status.as_str(), "enqueue_done received");
    Ok(HttpResponse::Ok().json(json!({"ok": true, "job_id": id, "status": change.job.status.as_str()})))
}

/// An optional non-negative integer field of the `enqueue_done` body (absent or null: `None`).
/// Unknown fields are ignored, so older and newer connectors both keep working.
fn count_field(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(ApiError::invalid(
            Issue::new(
                "int_parsing",
                vec![Loc::from("body"), Loc::from(key)],
                "Input should be an integer greater than or equal to 0",
            )
            .with_input(other.clone()),
        )),
    }
}

async fn control(state: web::Data<HttpState>, path: web::Path<String>, cmd: Control) -> Result<HttpResponse, ApiError> {
    let id = job_id_path(&path)?;
    let actor = state.jobs.actor(&id).await.map_err(mailbox)?;
    let outcome = actor
        .send(ControlJob(cmd))
        .await
        .map_err(mailbox)?
        .map_err(super::errors::job_store)?;
    match outcome {
        Ok(change) => {
            let summary = change.job.summary(now_secs());
            Ok(HttpResponse::Ok().json(json!({
                "ok": true,
                "job_id": id,
                "status": change.job.status.as_str(),
                "job": summary,
            })))
        }
        Err(ControlError::NotFound) => Err(ApiError::not_found("job_not_found")),
        Err(e) => Err(ApiError::detail(StatusCode::CONFLICT, e.to_string())),
    }
}

pub async fn pause(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    control(state, path, Control::Pause).await
}

pub async fn resume(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    control(state, path, Control::Resume).await
}

pub async fn cancel(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    control(state, path, Control::Cancel).await
}
