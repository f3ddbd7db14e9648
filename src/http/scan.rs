//! Scan request intake (docs/reference/CORE-API.md, "Scan request intake"): single, batch, and task
//! status.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::HttpState;
use super::errors::{ApiError, BATCH_BODY_LIMIT, SINGLE_BODY_LIMIT, header_str, no_store, parse_json, read_body};
use crate::auth::url_guard;
use crate::backend::{AcceptAnswer, AcceptRequest, Accepted, IdemScope, ItemOutcome, NewItem, StoreError};
use crate::model::connector::CAP_ENQUEUE_DONE;
use crate::model::result::TaskStatusView;
use crate::model::validation::{Issue, Issues, Loc};
use crate::model::{ConnectorInstanceModel, ConnectorUuid, JobId, Pin, ScanRequestModel, StatusResponse, TaskId};
use crate::trust::ConnectorPrincipal;
use actix_web::HttpMessage;

/// How long intake waits for the store before answering 504 (nothing enqueued).
const STORE_DEADLINE: Duration = Duration::from_secs(5);
const MAX_BATCH: usize = 1000;

/// The `Idempotency-Key` header: 1–255 printable ASCII characters, hashed for storage.
fn idempotency(req: &HttpRequest, scope: IdemScope) -> Result<Option<(IdemScope, String)>, ApiError> {
    let Some(raw) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let bytes = raw.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::detail(StatusCode::BAD_REQUEST, "invalid_idempotency_key"));
    }
    Ok(Some((scope, hex::encode(Sha256::digest(bytes)))))
}

/// Fills `connector_url` (request, its connector, or the registered connector) and the job id,
/// checks the destination against the SSRF guard and pins it (docs/AUTH.md, "Pinning").
fn complete_request(
    state: &HttpState,
    mut r: ScanRequestModel,
    job_id: &JobId,
    prefix: &[Loc],
) -> Result<NewItem, Issues> {
    let view = &state.core.registry_view;
    let registered = r
        .connector
        .as_ref()
        .and_then(ConnectorInstanceModel::connector_uuid)
        .and_then(|u| view.get(&u));
    let url = r
        .connector_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| {
            r.connector
                .as_ref()
                .and_then(|c| c.url.clone())
                .filter(|u| !u.is_empty())
        })
        .or_else(|| registered.as_ref().and_then(|m| m.url.clone()));
    let mut loc = prefix.to_vec();
    loc.push(Loc::from("connector_url"));
    let Some(url) = url else {
        return Err(Issues::one(Issue::new(
            "value_error",
            loc,
            "no connector_url: give connector_url, connector.url, or the uuid of a registered connector",
        )));
    };
    let url = url_guard::check(&url, &state.core.settings.connectors.allowed_urls)
        .map_err(|why| Issues::one(Issue::new("value_error", loc, why.message()).with_input(json!(url))))?;
    // Credentials go only to a connector registered at exactly this url.
    let pinned = registered
        .as_ref()
        .filter(|m| m.url.as_deref().map(|u| u.trim_end_matches('/')) == Some(url.as_str()))
        .cloned()
        .or_else(|| view.only_at_url(&url));
    r.connector_url = Some(url.clone());
    r.scan_job_id = Some(job_id.to_string());
    let awaits = r.connector.as_ref().is_some_and(|c| c.has_capability(CAP_ENQUEUE_DONE))
        || registered.as_ref().is_some_and(|m| m.has_capability(CAP_ENQUEUE_DONE));
    let connector_uuid = r.connector.as_ref().and_then(ConnectorInstanceModel::connector_uuid);
    Ok(NewItem {
        task_id: TaskId::generate(),
        job_id: job_id.clone(),
        request: r,
        connector_uuid,
        pin: Pin {
            connector_uuid: pinned.and_then(|m| m.connector_uuid()),
            url,
        },
        awaits_enqueue_done: awaits,
    })
}

/// The connector a signed request came from, with the url it is pinned to.
struct Bound {
    uuid: ConnectorUuid,
    url: String,
    model: Option<ConnectorInstanceModel>,
}

/// Resolves the signing connector's pinned identity: its credential record's url (or, for a
/// built-in connector, its registration).
async fn bound(state: &HttpState, p: &ConnectorPrincipal) -> Result<Bound, ApiError> {
    let model = state.core.registry_view.get(&p.uuid);
    let url = if p.builtin {
        model.as_ref().and_then(|m| m.url.clone())
    } else {
        state
            .core
            .trust
            .record(&p.uuid)
            .await
            .map_err(|_| ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable"))?
            .map(|r| r.url)
    };
    let url = url.ok_or_else(|| ApiError::detail(StatusCode::FORBIDDEN, "identity_mismatch"))?;
    Ok(Bound {
        uuid: p.uuid.clone(),
        url,
        model,
    })
}

/// Identity binding of a signed scan request (docs/AUTH.md): it may name only its own
/// connector and that connector's url; missing ones are filled in.
fn bind(b: &Bound, r: &mut ScanRequestModel, allow: &crate::auth::url_guard::AllowList) -> Result<(), ApiError> {
    let mismatch = || ApiError::detail(StatusCode::FORBIDDEN, "identity_mismatch");
    let same_url = |u: &str| url_guard::check(u, allow).is_ok_and(|n| n == b.url);
    match r.connector.as_mut() {
        Some(c) => {
            match c.uuid.as_deref().map(|u| u.to_ascii_lowercase()) {
                Some(u) if b.uuid != u => return Err(mismatch()),
                Some(_) => {}
                None => c.uuid = Some(b.uuid.to_string()),
            }
            if c.url.as_deref().is_some_and(|u| !u.is_empty() && !same_url(u)) {
                return Err(mismatch());
            }
        }
        None => {
            r.connector = b.model.clone().map(|m| ConnectorInstanceModel {
                display_icon: None,
                ..m
            })
        }
    }
    match r.connector_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) if !same_url(u) => return Err(mismatch()),
        _ => r.connector_url = Some(b.url.clone()),
    }
    Ok(())
}

/// The job a request names, typed (`None` when it names none). `from_value` already refused an
/// id that is not one, so the issue here only keeps that refusal in one shape.
fn requested_job(r: &ScanRequestModel, prefix: &[Loc]) -> Result<Option<JobId>, Issues> {
    let Some(raw) = r.scan_job_id.as_deref().filter(|j| !j.is_empty()) else {
        return Ok(None);
    };
    JobId::parse(raw).map(Some).map_err(|e| {
        let mut loc = prefix.to_vec();
        loc.push(Loc::from("scan_job_id"));
        Issues::one(Issue::new("value_error", loc, e.to_string()).with_input(json!(raw)))
    })
}

/// A signed request may not add items to another connector's job.
async fn check_jobs(state: &HttpState, b: &Bound, jobs: impl IntoIterator<Item = JobId>) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    for j in jobs {
        if !seen.insert(j.clone()) {
            continue;
        }
        let job = state
            .core
            .backend
            .jobs
            .get(&j)
            .await
            .map_err(super::errors::job_store)?;
        if job.and_then(|j| j.connector_uuid).is_some_and(|u| u != b.uuid) {
            return Err(ApiError::detail(StatusCode::FORBIDDEN, "identity_mismatch"));
        }
    }
    Ok(())
}

/// The answer to a store failure at intake ("Scan request intake"): the kind of failure in `message`, the
/// store's own text (which may name tables, keys or hosts) in the log only.
fn store_failure(state: &HttpState, e: StoreError) -> ApiError {
    let (code, message, desc) = match &e {
        StoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable",
            "Task broker unavailable",
        ),
        StoreError::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "store timeout",
            "Timed out queuing scan task",
        ),
        StoreError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "store error",
            "Failed to queue scan task",
        ),
        // Logged once per episode by the store's write health, not once per request.
        StoreError::CannotWrite(_) => return cannot_write(state, &e.to_string()),
    };
    tracing::warn!(error = %super::errors::store_detail(&e), "scan request intake failed");
    ApiError::Status(code, StatusResponse::error(message).with_description(desc))
}

/// 503 with `Retry-After` (until the store's next write probe): nothing was enqueued, the
/// client keeps the request and sends it again.
fn cannot_write(state: &HttpState, why: &str) -> ApiError {
    let after = state.core.backend.write_health.retry_after().as_secs().max(1);
    ApiError::RetryLater(
        StatusResponse::error(why.to_string()).with_description("The store cannot write; nothing was queued"),
        after,
    )
}

fn cancelled(job_id: &JobId) -> HttpResponse {
    HttpResponse::Conflict()
        .json(StatusResponse::error("Job cancelled").with_description(format!("scan_job_id={job_id}")))
}

async fn accept(
    state: &HttpState,
    req: &HttpRequest,
    items: Vec<NewItem>,
    idem: Option<(IdemScope, String)>,
) -> Result<AcceptAnswer, ApiError> {
    // While the store cannot write, intake is refused before it tries (and fails) to.
    if let Some(d) = state.core.backend.write_health.degraded() {
        return Err(cannot_write(state, &format!("store cannot write: {}", d.reason)));
    }
    let job_name = header_str(req, "X-Job-Name").map(str::to_string);
    state
        .core
        .backend
        .queue
        .accept(AcceptRequest {
            items,
            idempotency: idem,
            job_name,
            max_attempts: state.core.settings.workers.max_attempts,
            deadline: Instant::now() + STORE_DEADLINE,
            request_id: crate::request_id::current().map(|r| r.into_string()),
        })
        .await
        .map_err(|e| store_failure(state, e))
}

/// `POST /scan/request`.
pub async fn request(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, SINGLE_BODY_LIMIT).await?;
    let v = parse_json(&body)?;
    let idem = idempotency(&req, IdemScope::Single)?;
    let prefix = [Loc::from("body")];
    let mut r = ScanRequestModel::from_value(&v, &prefix)?;
    let requested = requested_job(&r, &prefix)?;
    let principal = req.extensions().get::<ConnectorPrincipal>().cloned();
    let binding = match &principal {
        Some(p) => {
            let b = bound(&state, p).await?;
            bind(&b, &mut r, &state.core.settings.connectors.allowed_urls)?;
            check_jobs(&state, &b, requested.clone()).await?;
            Some(b)
        }
        None => None,
    };
    let job_id = requested.unwrap_or_else(JobId::generate);
    let mut item = complete_request(&state, r, &job_id, &prefix)?;
    signed_pin(&mut item, binding.as_ref());
    operator_target(&req, &item, &prefix)?;
    let connector_url = item.request.connector_url.clone().unwrap_or_default();
    let answer = accept(&state, &req, vec![item], idem).await?;
    let Some(a) = answer.items().first().cloned() else {
        return Err(ApiError::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "empty accept answer",
        ));
    };
    if a.outcome == ItemOutcome::Rejected {
        return Ok(cancelled(&a.job_id));
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/dsx-connect/api/v1/scan/request/{}", a.task_id)))
        .insert_header(("X-Job-Id", a.job_id.to_string()))
        .insert_header(("X-Job-Status", a.job_status.as_str()))
        .json(
            StatusResponse::success(format!("Scan task ID: {}", a.task_id))
                .with_description(format!("Scan task queued for connector: {connector_url}"))
                .with_id(a.task_id.clone()),
        ))
}

/// A signed request's items are pinned to the signing connector (its url was checked by
/// [`bind`]).
fn signed_pin(item: &mut NewItem, b: Option<&Bound>) {
    if let Some(b) = b {
        item.pin.connector_uuid = Some(b.uuid.clone());
        item.connector_uuid = Some(b.uuid.clone());
    }
}

/// An operator (API token) may name any registered connector, but only at its registered url:
/// the core never sends a connector's credentials, or work, to a url no connector registered.
fn operator_target(req: &HttpRequest, item: &NewItem, prefix: &[Loc]) -> Result<(), Issues> {
    let operator = req.extensions().get::<crate::trust::OperatorPrincipal>().is_some();
    if operator && item.pin.connector_uuid.is_none() {
        let mut loc = prefix.to_vec();
        loc.push(Loc::from("connector_url"));
        return Err(Issues::one(
            Issue::new("value_error", loc, "connector_url is not a registered connector url")
                .with_input(json!(item.pin.url)),
        ));
    }
    Ok(())
}

/// `POST /scan/request/batch`: 1–1000 requests, all validated before any is enqueued.
pub async fn batch(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, BATCH_BODY_LIMIT).await?;
    let v = parse_json(&body)?;
    let idem = idempotency(&req, IdemScope::Batch)?;
    let Value::Array(list) = v else {
        return Err(ApiError::invalid(Issue::new(
            "list_type",
            vec![Loc::from("body")],
            "Input should be a valid list",
        )));
    };
    if list.is_empty() || list.len() > MAX_BATCH {
        return Err(ApiError::invalid(Issue::new(
            if list.is_empty() { "too_short" } else { "too_long" },
            vec![Loc::from("body")],
            format!("a batch holds 1 to {MAX_BATCH} scan requests, got {}", list.len()),
        )));
    }
    let principal = req.extensions().get::<ConnectorPrincipal>().cloned();
    let binding = match &principal {
        Some(p) => Some(bound(&state, p).await?),
        None => None,
    };
    let shared_job = JobId::generate();
    let mut issues = Issues::default();
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let prefix = [Loc::from("body"), Loc::from(i)];
        match ScanRequestModel::from_value(v, &prefix) {
            Ok(mut r) => {
                if let Some(b) = &binding {
                    bind(b, &mut r, &state.core.settings.connectors.allowed_urls)?;
                }
                let job = match requested_job(&r, &prefix) {
                    Ok(j) => j.unwrap_or_else(|| shared_job.clone()),
                    Err(e) => {
                        issues.0.extend(e.0);
                        continue;
                    }
                };
                match complete_request(&state, r, &job, &prefix) {
                    Ok(mut item) => {
                        signed_pin(&mut item, binding.as_ref());
                        match operator_target(&req, &item, &prefix) {
                            Ok(()) => items.push(item),
                            Err(e) => issues.0.extend(e.0),
                        }
                    }
                    Err(e) => issues.0.extend(e.0),
                }
            }
            Err(e) => issues.0.extend(e.0),
        }
    }
    issues.into_result()?;
    if let Some(b) = &binding {
        check_jobs(&state, b, items.iter().map(|i| i.job_id.clone())).await?;
    }
    let n = items.len();
    let answer = accept(&state, &req, items, idem).await?;
    let results: &[Accepted] = answer.items();
    let accepted = results.iter().filter(|a| a.outcome != ItemOutcome::Rejected).count();
    match results.first() {
        None => {
            return Err(ApiError::detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "empty accept answer",
            ));
        }
        Some(a) if accepted == 0 => return Ok(cancelled(&a.job_id)),
        Some(_) => {}
    }
    let entries: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let ok = a.outcome != ItemOutcome::Rejected;
            json!({
                "index": i,
                "id": if ok { Some(a.task_id.clone()) } else { None },
                "job_id": a.job_id,
                "status": if ok { "success" } else { "error" },
                "http_status": if ok { 202 } else { 409 },
                "message": if ok { format!("Scan task ID: {}", a.task_id) } else { "Job cancelled".to_string() },
            })
        })
        .collect();
    let mut resp = HttpResponse::Accepted();
    let first_job = &results[0].job_id;
    if results.iter().all(|a| &a.job_id == first_job) {
        resp.insert_header(("X-Job-Id", first_job.to_string()));
        resp.insert_header(("X-Job-Status", results[0].job_status.as_str()));
    }
    Ok(resp.json(json!({
        "status": "success",
        "message": format!("Queued {accepted} of {n} scan requests"),
        "description": null,
        "id": null,
        "preview": null,
        "accepted": accepted,
        "rejected": n - accepted,
        "items": entries,
    })))
}

/// `GET /scan/request/{task_id}`.
pub async fn task_status(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("task_not_found");
    let task_id = TaskId::parse(&path).map_err(|_| not_found())?;
    let backend = &state.core.backend;
    let task = backend
        .queue
        .task(&task_id)
        .await
        .map_err(super::errors::job_store)?
        .ok_or_else(not_found)?;
    // The result is stored one step before the task's outcome: a task whose result exists has
    // succeeded, whatever the outcome record says for the next few milliseconds.
    let mut task = task;
    let result = if task.state == crate::model::TaskState::Succeeded || task.state.is_pending() {
        backend
            .results
            .by_task(&task_id)
            .await
            .map_err(super::errors::job_store)?
    } else {
        None
    };
    if let Some(r) = &result
        && task.state.is_pending()
    {
        task.state = crate::model::TaskState::Succeeded;
        task.verdict = Some(r.verdict.verdict.as_str().to_string());
    }
    let pending = task.state.is_pending();
    let view = TaskStatusView::new(task, result);
    let mut resp = HttpResponse::Ok();
    if pending {
        resp.insert_header(no_store());
        resp.insert_header(("Retry-After", HeaderValue::from_static("2")));
    }
    Ok(resp.json(view))
}

/// `POST /scan/auth_check`: a connector checks that the core accepts its signature (the gate
/// has verified it when this runs).
pub async fn auth_check() -> HttpResponse {
    HttpResponse::Ok().json(StatusResponse::success("auth_ok").with_description("HMAC verified"))
}
