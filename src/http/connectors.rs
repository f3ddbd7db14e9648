//! Connector endpoints (CORE-API §3.2): registration, listing, full-scan trigger and proxies.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use reqwest::Method;
use serde_json::{Value, json};

use super::CoreState;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, header_str, parse_json, query_get, query_pairs, read_body};
use crate::actors::connector::{Register, Unregister};
use crate::auth::url_guard::{self, AllowList};
use crate::auth::{hmac, relay};
use crate::backend::{JobInit, StoreError};
use crate::model::connector::CAP_ENQUEUE_DONE;
use crate::model::validation::{Issue, Issues, Loc};
use crate::model::{ConnectorInstanceModel, Estimate, JobId, StatusKind, StatusResponse};
use crate::pipeline::connector_client::{ProxyAnswer, Target, Unreachable};
use actix_web::http::header::AUTHORIZATION;

/// How long the estimate preflight may take before the trigger goes on without it.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(15);

fn registry_err(e: StoreError) -> ApiError {
    tracing::warn!(error = %e, "registry store failure");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
}

fn mailbox(e: actix::MailboxError) -> ApiError {
    tracing::error!(error = %e, "connector registry unavailable");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
}

fn uuid_path(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_path("connector_uuid", "uuid_parsing", "Input should be a valid UUID", raw))
}

/// Validates a registration body: `uuid` required and valid, `url` absolute http(s).
fn registration(v: &Value, allow: &AllowList) -> Result<ConnectorInstanceModel, ApiError> {
    let mut model: ConnectorInstanceModel = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::invalid(Issue::new("model_type", vec![Loc::from("body")], e.to_string())))?;
    let mut issues = Issues::default();
    match model.uuid.as_deref().map(uuid::Uuid::parse_str) {
        None => issues.push(Issue::missing(vec![Loc::from("body"), Loc::from("uuid")])),
        Some(Err(_)) => issues.push(
            Issue::new(
                "uuid_parsing",
                vec![Loc::from("body"), Loc::from("uuid")],
                "Input should be a valid UUID",
            )
            .with_input(json!(model.uuid)),
        ),
        Some(Ok(u)) => model.uuid = Some(u.to_string()),
    }
    let loc = || vec![Loc::from("body"), Loc::from("url")];
    match model.url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => match url_guard::check(u, allow) {
            Ok(stored) => model.url = Some(stored),
            Err(why) => issues.push(Issue::new("value_error", loc(), why.message()).with_input(json!(u))),
        },
        None => issues.push(
            Issue::new("value_error", loc(), "url must be an absolute http or https URL").with_input(json!(model.url)),
        ),
    }
    issues.into_result()?;
    Ok(model)
}

/// A call about one of this process's built-in connectors must be signed with its key: nobody
/// else may re-point or remove it (docs/AUTH.md, "Built-in connectors").
fn require_builtin_signature(state: &CoreState, req: &HttpRequest, uuid: &str, body: &[u8]) -> Result<(), ApiError> {
    let keys = &state.services.builtin_keys;
    if !keys.is_builtin(uuid) {
        return Ok(());
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_string(), |p| p.to_string());
    let verified = hmac::verify(
        req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()),
        hmac::Received {
            method: req.method().as_str(),
            target: &target,
            body,
        },
        hmac::now_secs(),
        u64::try_from(state.services.settings.hmac_max_skew).unwrap_or(60),
        None,
        |kid| keys.lookup(kid),
    );
    match verified {
        Ok(v) if v.owner == uuid => Ok(()),
        Ok(_) => Err(ApiError::detail(StatusCode::FORBIDDEN, "identity_mismatch")),
        Err(hmac::Reject::MissingHmac) => Err(ApiError::unauthorized_hmac("signature_required")),
        Err(r) => Err(ApiError::unauthorized_hmac(r.as_str())),
    }
}

/// `POST /connectors/register`: 201 the first time, 200 on refresh.
pub async fn register(
    state: web::Data<CoreState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, SINGLE_BODY_LIMIT).await?;
    let model = registration(&parse_json(&body)?, &state.services.settings.connectors.allowed_urls)?;
    let uuid = model.uuid.clone().unwrap_or_default();
    require_builtin_signature(&state, &req, &uuid, &body)?;
    let desc = format!("{} ({uuid}) @ {}", model.name, model.url.as_deref().unwrap_or(""));
    let first = state
        .connectors
        .send(Register(model))
        .await
        .map_err(mailbox)?
        .map_err(registry_err)?;
    let (code, msg) = if first {
        (StatusCode::CREATED, "registered")
    } else {
        (StatusCode::OK, "refreshed")
    };
    Ok(HttpResponse::build(code).json(StatusResponse::success(msg).with_description(desc).with_id(uuid)))
}

/// `DELETE /connectors/unregister/{uuid}`: 204, idempotent.
pub async fn unregister(
    state: web::Data<CoreState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uuid = uuid_path(&path)?;
    require_builtin_signature(&state, &req, &uuid, b"")?;
    state
        .connectors
        .send(Unregister(uuid))
        .await
        .map_err(mailbox)?
        .map_err(|e| ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, format!("unregister_failed: {e}")))?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list(state: web::Data<CoreState>) -> HttpResponse {
    HttpResponse::Ok().json(state.services.registry_view.list())
}

fn registered(state: &CoreState, raw: &str, not_found: &str) -> Result<ConnectorInstanceModel, ApiError> {
    let uuid = uuid_path(raw)?;
    state
        .services
        .registry_view
        .get(&uuid)
        .ok_or_else(|| ApiError::not_found(format!("{not_found}{uuid}")))
}

fn unreachable(r: Unreachable) -> ApiError {
    ApiError::detail(
        StatusCode::BAD_GATEWAY,
        format!("Connector service unavailable: {}", r.as_str()),
    )
}

/// Maps a non-2xx connector answer to the same status with its sanitised text (docs/AUTH.md,
/// "Relaying connector answers"); a redirect is not an answer, and a connector refusing the
/// core's credentials must not read as the browser's own session failing.
fn passthrough_error(status: reqwest::StatusCode, body: &[u8]) -> ApiError {
    let text = relay::error_text(body);
    match status.as_u16() {
        300..=399 => unreachable(Unreachable::InvalidResponse),
        401 | 407 => ApiError::detail(
            StatusCode::BAD_GATEWAY,
            format!("connector rejected the core's credentials: {text}"),
        ),
        code => ApiError::detail(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY), text),
    }
}

async fn call(
    state: &CoreState,
    m: &ConnectorInstanceModel,
    method: Method,
    segment: &str,
    query: &str,
) -> ProxyAnswer {
    let url = m.url.clone().unwrap_or_default();
    state.clients.proxy(method, target(m, &url), segment, query, None).await
}

fn target<'a>(m: &'a ConnectorInstanceModel, url: &'a str) -> Target<'a> {
    Target {
        base: url,
        uuid: m.uuid.as_deref(),
        name: Some(&m.name),
    }
}

/// The incoming query with `job_id=<id>` appended when it was absent or empty (§3.2.2).
fn forward_query(raw: &str, job_id: &str) -> String {
    let mut parts: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| *p != "job_id" && *p != "job_id=")
        .collect();
    let has_job = parts.iter().any(|p| p.starts_with("job_id="));
    let appended = format!("job_id={}", urlencode(job_id));
    if !has_job {
        parts.push(&appended);
    }
    parts.join("&")
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `POST /connectors/full_scan/{uuid}` (§3.2.2).
pub async fn full_scan(
    state: web::Data<CoreState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let m = registered(&state, &path, "No connector registered with UUID=")?;
    let q = query_pairs(&req);
    let job_id = match query_get(&q, "job_id").filter(|j| !j.is_empty()) {
        Some(j) => JobId::parse(j)
            .map_err(|e| ApiError::bad_query("job_id", "value_error", e.to_string(), j))?
            .to_string(),
        None => JobId::generate().to_string(),
    };
    let query = forward_query(req.query_string(), &job_id);
    let preflight = async {
        if !state.services.settings.enable_estimate_preflight {
            return None;
        }
        let url = m.url.clone().unwrap_or_default();
        let answer = state
            .clients
            .proxy(Method::GET, target(&m, &url), "estimate", "", Some(PREFLIGHT_TIMEOUT))
            .await;
        match answer {
            Ok((s, body)) if s.is_success() => serde_json::from_slice::<Estimate>(&body)
                .ok()
                .filter(|e| e.confidence == crate::model::Confidence::Exact)
                .and_then(|e| e.count),
            _ => None,
        }
    };
    let (expected, answer) = futures_util::join!(preflight, call(&state, &m, Method::POST, "full_scan", &query));
    let (status, body) = answer.map_err(unreachable)?;
    if !status.is_success() {
        return Err(passthrough_error(status, &body));
    }
    let parsed = serde_json::from_slice::<StatusResponse>(&body).ok();
    if parsed.as_ref().is_some_and(|s| s.status != StatusKind::Error) {
        let jobs = &state.services.backend.jobs;
        let init = JobInit {
            connector_uuid: m.uuid.clone(),
            expected_total: expected,
            job_name: header_str(&req, "X-Job-Name").map(str::to_string),
            awaits_enqueue_done: m.has_capability(CAP_ENQUEUE_DONE),
        };
        let job = jobs.create(&job_id, init).await.map_err(ApiError::job_store)?;
        if let (Some(n), None) = (expected, job.expected_total) {
            jobs.set_expected_total(&job_id, n).await.map_err(ApiError::job_store)?;
        }
    }
    let token = format!("job_id={job_id}");
    let out = match parsed {
        Some(mut s) => {
            s.description = Some(match s.description.take().filter(|d| !d.is_empty()) {
                None => token,
                Some(d) if d.contains(&token) => d,
                Some(d) => format!("{d} | {token}"),
            });
            s.id = Some(job_id.clone());
            s
        }
        None => StatusResponse::success("full scan triggered")
            .with_description(token)
            .with_id(job_id.clone()),
    };
    Ok(HttpResponse::Accepted().insert_header(("X-Job-Id", job_id)).json(out))
}

async fn proxy_json(
    state: &CoreState,
    raw: &str,
    segment: &str,
    query: &str,
) -> Result<(reqwest::StatusCode, bytes::Bytes), ApiError> {
    let m = registered(state, raw, "No connector found with UUID=")?;
    call(state, &m, Method::GET, segment, query).await.map_err(unreachable)
}

/// Deepest JSON object relayed from a connector.
const MAX_RELAYED_DEPTH: usize = 32;

/// A connector's answer as a JSON object, re-serialised by the core (never its raw bytes).
fn json_object(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(|v| v.is_object() && relay::depth(v) <= MAX_RELAYED_DEPTH)
        .ok_or_else(|| unreachable(Unreachable::InvalidResponse))
}

/// `GET /connectors/repo_check/{uuid}?preview=N`: the connector's StatusResponse.
pub async fn repo_check(
    state: web::Data<CoreState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (status, body) = proxy_json(&state, &path, "repo_check", req.query_string()).await?;
    if !status.is_success() {
        return Err(passthrough_error(status, &body));
    }
    let answer =
        serde_json::from_slice::<StatusResponse>(&body).map_err(|_| unreachable(Unreachable::InvalidResponse))?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `GET /connectors/estimate/{uuid}`: the connector's estimate if well-formed, else unknown.
pub async fn estimate(state: web::Data<CoreState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (status, body) = proxy_json(&state, &path, "estimate", "").await?;
    if !status.is_success() {
        return Err(passthrough_error(status, &body));
    }
    let e = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|v| v.get("confidence").is_some() && v.get("count").is_some())
        .and_then(|v| serde_json::from_value::<Estimate>(v).ok())
        .filter(|e| (e.confidence == crate::model::Confidence::Exact) == e.count.is_some())
        .unwrap_or(Estimate::UNKNOWN);
    Ok(HttpResponse::Ok().json(e))
}

async fn passthrough(state: &CoreState, raw: &str, segment: &str) -> Result<HttpResponse, ApiError> {
    let (status, body) = proxy_json(state, raw, segment, "").await?;
    if !status.is_success() {
        return Err(passthrough_error(status, &body));
    }
    Ok(HttpResponse::Ok().json(json_object(&body)?))
}

pub async fn config(state: web::Data<CoreState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "config").await
}

pub async fn healthz(state: web::Data<CoreState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "healthz").await
}

pub async fn readyz(state: web::Data<CoreState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "readyz").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_id_is_appended_only_when_missing_or_empty() {
        assert_eq!(forward_query("limit=5", "J"), "limit=5&job_id=J");
        assert_eq!(forward_query("", "J"), "job_id=J");
        assert_eq!(forward_query("job_id=&limit=5", "J"), "limit=5&job_id=J");
        assert_eq!(forward_query("limit=5&job_id=K", "K"), "limit=5&job_id=K");
    }

    #[test]
    fn registration_requires_a_uuid_and_an_http_url() {
        let allow = AllowList::default();
        let registration = |v: &Value| registration(v, &allow);
        let e = registration(&json!({"name": "x", "url": "http://h:1/x"})).unwrap_err();
        assert!(matches!(e, ApiError::Validation(ref i) if i.0[0].kind == "missing"));
        let e = registration(&json!({"uuid": "3F0C2B2E-1111-4222-8333-444455556666", "url": ""})).unwrap_err();
        assert!(matches!(e, ApiError::Validation(_)));
        let m = registration(&json!({"uuid": "3F0C2B2E-1111-4222-8333-444455556666", "url": "http://h:1/x/"})).unwrap();
        assert_eq!(m.uuid.as_deref(), Some("3f0c2b2e-1111-4222-8333-444455556666"));
        assert_eq!(m.url.as_deref(), Some("http://h:1/x"));
    }
}
