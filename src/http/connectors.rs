//! Connector endpoints (docs/reference/CORE-API.md, "Connector registry"): registration, listing,
//! full-scan trigger and proxies.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use reqwest::Method;
use serde_json::{Value, json};

use super::HttpState;
use super::audit::AuditNote;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, header_str, no_store, parse_json, query_get, query_pairs, read_body};
use crate::actors::connector::{Register, RegisterError, Unregister};
use crate::auth::credentials::{self, Registration, Rules, Signer, enrollment_token_valid};
use crate::auth::url_guard::{self, AllowList};
use crate::auth::{hmac, relay};
use crate::backend::StoreError;
use crate::connector_client::{ProxyAnswer, Target, Unreachable};
use crate::model::validation::{Issue, Issues, Loc};
use crate::model::{ConnectorInstanceModel, ConnectorUuid, Estimate, JobId, StatusResponse};
use crate::scan_trigger::{FullScanStart, PREFLIGHT_TIMEOUT, TriggerError, start_full_scan, target};
use crate::trust::ConnectorPrincipal;
use actix_web::HttpMessage;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};

fn registry_err(e: StoreError) -> ApiError {
    tracing::warn!(error = %super::errors::store_detail(&e), "registry store failure");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
}

/// 507 for a new connector while the registry holds `CONNECTORS__MAX_REGISTERED` already;
/// connectors that are registered may still refresh.
fn registry_full(max: usize) -> HttpResponse {
    let r = HttpResponse::InsufficientStorage().json(json!({
        "detail": "registry_full",
        "message": format!("{max} connectors are registered, the most DSXCONNECT_CONNECTORS__MAX_REGISTERED allows"),
        "max_registered": max,
    }));
    super::errors::with_code(r, "registry_full")
}

/// Whether registering `uuid` would add a connector beyond the cap (built-in ones are exempt).
fn over_cap(state: &HttpState, uuid: &ConnectorUuid) -> Option<usize> {
    let max = state.core.settings.connectors.max_registered;
    let view = &state.core.registry_view;
    let new = !view.contains(uuid) && !state.core.trust.builtin().is_builtin(uuid);
    (new && view.count() >= max).then_some(max)
}

fn mailbox(e: actix::MailboxError) -> ApiError {
    tracing::error!(error = %e, "connector registry unavailable");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
}

fn uuid_path(raw: &str) -> Result<ConnectorUuid, ApiError> {
    ConnectorUuid::parse(raw)
        .map_err(|_| ApiError::bad_path("connector_uuid", "uuid_parsing", "Input should be a valid UUID", raw))
}

/// Validates a registration body: `uuid` required and valid, `url` absolute http(s). The model
/// comes back with its uuid in canonical form, next to that uuid typed.
fn registration(v: &Value, allow: &AllowList) -> Result<(ConnectorUuid, ConnectorInstanceModel), ApiError> {
    let mut model: ConnectorInstanceModel = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::invalid(Issue::new("model_type", vec![Loc::from("body")], e.to_string())))?;
    let mut issues = Issues::default();
    crate::model::limits::check_connector(&model, &[Loc::from("body")], &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::Validation(issues));
    }
    let mut typed = None;
    match model.uuid.as_deref().map(ConnectorUuid::parse) {
        None => issues.push(Issue::missing(vec![Loc::from("body"), Loc::from("uuid")])),
        Some(Err(_)) => issues.push(
            Issue::new(
                "uuid_parsing",
                vec![Loc::from("body"), Loc::from("uuid")],
                "Input should be a valid UUID",
            )
            .with_input(json!(model.uuid)),
        ),
        Some(Ok(u)) => {
            model.uuid = Some(u.to_string());
            typed = Some(u);
        }
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
    typed
        .map(|u| (u, model))
        .ok_or_else(|| ApiError::invalid(Issue::missing(vec![Loc::from("body"), Loc::from("uuid")])))
}

/// Verifies a request's DSX-HMAC signature over `body` (the handler has read it).
async fn verify(state: &HttpState, req: &HttpRequest, body: &[u8]) -> Result<ConnectorPrincipal, HttpResponse> {
    let target = super::errors::request_target(req.uri());
    state
        .core
        .trust
        .verify(
            req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()),
            hmac::Received {
                method: req.method().as_str(),
                target: &target,
                body,
            },
        )
        .await
        .map_err(super::errors::refusal_response)
}

fn is_signed(req: &HttpRequest) -> bool {
    hmac::is_dsx_hmac(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))
}

fn refused(status: u16, detail: &str) -> HttpResponse {
    let mut r = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN));
    if status == 401 {
        r.insert_header((
            WWW_AUTHENTICATE,
            format!("DSX-HMAC realm=\"dsx-connect\", error=\"{detail}\""),
        ));
    }
    super::errors::with_code(r.json(json!({ "detail": detail })), detail)
}

/// Who is registering: a verified signature, or (unsigned) a valid enrollment token; `None`
/// for an unsigned registration that may go on (authentication off).
async fn registrant(
    state: &HttpState,
    req: &HttpRequest,
    body: &[u8],
    uuid: &ConnectorUuid,
) -> Result<Option<ConnectorPrincipal>, HttpResponse> {
    let auth = &state.core.settings.auth;
    let builtin = state.core.trust.builtin().is_builtin(uuid);
    if is_signed(req) || builtin {
        if !is_signed(req) {
            return Err(refused(401, "signature_required"));
        }
        let p = verify(state, req, body).await?;
        if p.uuid != *uuid || (builtin != p.builtin) {
            return Err(refused(403, "identity_mismatch"));
        }
        return Ok(Some(p));
    }
    if !auth.enabled {
        return Ok(None);
    }
    let token = header_str(req, "X-Enrollment-Token").map(str::to_string).or_else(|| {
        header_str(req, "Authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
    });
    // Guessing enrollment tokens counts against the address like failed logins do.
    let ip = req
        .extensions()
        .get::<super::auth_session::ClientAddr>()
        .and_then(|a| a.0)
        .map(|i| i.to_string());
    if let Some(ip) = &ip {
        match state.core.identity.address_blocked(ip).await {
            Ok(Some(secs)) => {
                let r = HttpResponse::TooManyRequests()
                    .insert_header(("Retry-After", secs.max(1).to_string()))
                    .json(json!({"detail": "too_many_attempts"}));
                return Err(super::errors::with_code(r, "too_many_attempts"));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "login-limit store failure");
                return Err(refused(503, "registry_unavailable"));
            }
        }
    }
    let valid: Vec<&str> = auth.enrollment_tokens.iter().map(|t| t.expose()).collect();
    if token.is_some_and(|t| enrollment_token_valid(t.as_bytes(), &valid)) {
        Ok(None)
    } else {
        if let Some(ip) = &ip
            && let Err(e) = state
                .core
                .identity
                .count_address_failure(&format!("ip:{ip}"), hmac::now_secs())
                .await
        {
            tracing::warn!(error = %e, "counting a failed enrollment failed");
        }
        let r = HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"dsx-connect-enrollment\""))
            .json(json!({"detail": "invalid_enrollment_token"}));
        Err(super::errors::with_code(r, "invalid_enrollment_token"))
    }
}

/// The credential decision for an enrolled (non-built-in) connector, written with optimistic
/// concurrency (a concurrent registration in another API process makes it decide again).
async fn apply_credentials(
    state: &HttpState,
    uuid: &ConnectorUuid,
    model: &ConnectorInstanceModel,
    signer: Option<&ConnectorPrincipal>,
) -> Result<Registration, HttpResponse> {
    let trust = &state.core.trust;
    let auth = &state.core.settings.auth;
    let rules = Rules {
        grace_secs: auth.rotation_grace_secs,
        key_max_age_secs: auth.key_max_age_secs(),
        legacy_connectors: auth.legacy_connectors,
    };
    let url = model.url.clone().unwrap_or_default();
    let signer = signer.map(|p| Signer {
        uuid: p.uuid.clone(),
        with_prev: p.with_prev,
    });
    let unavailable = |e: StoreError| {
        tracing::warn!(error = %super::errors::store_detail(&e), "credential store failure");
        refused(503, "registry_unavailable")
    };
    for _ in 0..5 {
        let existing = trust.store().credential(uuid).await.map_err(unavailable)?;
        let decision = credentials::register(
            existing.as_ref(),
            uuid,
            &url,
            &model.name,
            signer.as_ref(),
            hmac::now_secs(),
            rules,
        );
        let Registration::Accepted { record, .. } = &decision else {
            return Ok(decision);
        };
        let read = existing.as_ref().map(|r| r.version);
        if trust.store().put_credential(record, read).await.map_err(unavailable)? {
            trust.invalidate(record);
            if let Some(old) = &existing {
                trust.invalidate(old);
            }
            return Ok(decision);
        }
    }
    Err(refused(503, "registry_unavailable"))
}

/// `POST /connectors/register`: 201 the first time, 200 on refresh. With authentication on
/// (docs/AUTH.md, "Enrollment") a connector enrolls with a token, gets its own key, and from
/// then on may only refresh or move itself with a signed registration.
pub async fn register(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, SINGLE_BODY_LIMIT).await?;
    let (uuid, mut model) = registration(&parse_json(&body)?, &state.core.settings.connectors.allowed_urls)?;
    // Refusals of a signed registration are authentication failures of that connector.
    let refusal = |resp: HttpResponse| {
        let action = if is_signed(&req) {
            "connector.auth_failure"
        } else {
            "connector.enroll"
        };
        audited(
            resp,
            AuditNote::default().action(action).target("connector", uuid.as_str()),
        )
    };
    let signer = match registrant(&state, &req, &body, &uuid).await {
        Ok(s) => s,
        Err(resp) => return Ok(refusal(resp)),
    };
    // Checked before any credential is written for it; the registry checks again atomically.
    if let Some(max) = over_cap(&state, &uuid) {
        return Ok(refusal(registry_full(max)));
    }
    let enrolled = state.core.settings.auth.enabled && !signer.as_ref().is_some_and(|p| p.builtin);
    let mut issued = None;
    let mut moved = false;
    if enrolled {
        match apply_credentials(&state, &uuid, &model, signer.as_ref()).await {
            Ok(Registration::Refused { status, detail }) => return Ok(refusal(refused(status, detail))),
            Ok(Registration::Accepted {
                credentials,
                presence_only,
                identity_changed,
                ..
            }) => {
                issued = credentials;
                moved = identity_changed;
                if identity_changed {
                    tracing::info!(connector = %uuid, url = %model.url.as_deref().unwrap_or(""), "connector.update: a signed registration moved the connector");
                }
                if presence_only && let Some(current) = state.core.registry_view.get(&uuid) {
                    // An unsigned refresh renews presence and status; the rest stays as enrolled.
                    let mut kept = current;
                    kept.status = model.status;
                    kept.last_repo_check_ts = model.last_repo_check_ts;
                    kept.last_repo_check_reason = model.last_repo_check_reason.clone();
                    kept.last_repo_check_message = model.last_repo_check_message.clone();
                    model = kept;
                }
            }
            Err(resp) => return Ok(refusal(resp)),
        }
    }
    let desc = format!("{} ({uuid}) @ {}", model.name, model.url.as_deref().unwrap_or(""));
    let url = model.url.clone().unwrap_or_default();
    let model_name = model.name.clone();
    let first = match state
        .connectors
        .send(Register(uuid.clone(), model))
        .await
        .map_err(mailbox)?
    {
        Ok(first) => first,
        Err(RegisterError::Full(max)) => return Ok(refusal(registry_full(max))),
        Err(RegisterError::Store(e)) => return Err(registry_err(e)),
    };
    let (code, msg) = if first {
        (StatusCode::CREATED, "registered")
    } else {
        (StatusCode::OK, "refreshed")
    };
    let mut answer = serde_json::to_value(
        StatusResponse::success(msg)
            .with_description(desc)
            .with_id(uuid.clone()),
    )
    .unwrap_or_default();
    if let Some(o) = answer.as_object_mut()
        && enrolled
    {
        o.insert("connector_uuid".into(), json!(uuid));
        if let Some(k) = &issued {
            o.insert("hmac_key_id".into(), json!(k.key_id));
            o.insert("hmac_secret".into(), json!(k.secret()));
        }
    }
    // Heartbeats are not audited (the registry shows them); changes of identity or key are.
    let mut note = AuditNote::default().target("connector", uuid.as_str());
    if let Some(p) = &signer {
        note.actor = Some(crate::auth::audit::Actor::new(
            crate::auth::audit::ActorKind::Connector,
            Some(p.uuid.as_str()),
            Some(&model_name),
        ));
        note.role = Some("connector");
    }
    let note = match (issued.is_some(), signer.is_some(), moved, first) {
        (true, false, _, _) => note.action("connector.enroll").detail(format!("url {url}")),
        (true, true, _, _) => note.action("connector.rotate").detail("new key issued at registration"),
        (false, _, true, _) => note.action("connector.update").detail(format!("url changed to {url}")),
        (false, _, false, true) => note.action("connector.enroll").detail(format!("url {url}")),
        _ => AuditNote {
            skip: true,
            ..AuditNote::default()
        },
    };
    Ok(audited(
        HttpResponse::build(code).insert_header(no_store()).json(answer),
        note,
    ))
}

/// Attaches what the audit record of this answer should say.
fn audited(mut resp: HttpResponse, note: AuditNote) -> HttpResponse {
    resp.extensions_mut().insert(note);
    resp
}

/// `DELETE /connectors/unregister/{uuid}`: 204, idempotent. Only the connector itself may
/// remove its registration once it is signed (a built-in connector always; any connector with
/// authentication on, whose key then stays valid for the rotation grace period).
pub async fn unregister(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uuid = uuid_path(&path)?;
    let trust = &state.core.trust;
    let auth = &state.core.settings.auth;
    let principal = req.extensions().get::<ConnectorPrincipal>().cloned();
    let builtin = trust.builtin().is_builtin(&uuid);
    let principal = match principal {
        Some(p) => Some(p),
        None if builtin => match verify(&state, &req, b"").await {
            Ok(p) => Some(p),
            Err(_) if !is_signed(&req) => return Ok(refused(401, "signature_required")),
            Err(resp) => return Ok(resp),
        },
        None => None,
    };
    if let Some(p) = &principal
        && p.uuid != uuid
    {
        return Ok(refused(403, "identity_mismatch"));
    }
    if auth.enabled && !builtin {
        let rec = trust.store().credential(&uuid).await.map_err(registry_err)?;
        if let Some(rec) = rec {
            let released = credentials::release(&rec, hmac::now_secs(), auth.rotation_grace_secs);
            let _ = trust
                .store()
                .put_credential(&released, Some(rec.version))
                .await
                .map_err(registry_err)?;
            trust.invalidate(&rec);
        }
    }
    state
        .connectors
        .send(Unregister(uuid, None))
        .await
        .map_err(mailbox)?
        .map_err(|e| ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, format!("unregister_failed: {e}")))?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /connectors/list`; with authentication on each connector says how it is trusted
/// (`auth_state`: `builtin`, `enrolled`, or null).
pub async fn list(state: web::Data<HttpState>) -> HttpResponse {
    let connectors = state.core.registry_view.list();
    let trust = &state.core.trust;
    let mut out = Vec::with_capacity(connectors.len());
    for m in connectors {
        let mut v = serde_json::to_value(&m).unwrap_or(Value::Null);
        let auth_state = match m.connector_uuid() {
            _ if !state.core.settings.auth.enabled => None,
            None => None,
            Some(uuid) if trust.builtin().is_builtin(&uuid) => Some("builtin"),
            Some(uuid) => match trust.record(&uuid).await {
                Ok(Some(r)) if r.state == credentials::CredentialState::Enrolled => Some("enrolled"),
                _ => None,
            },
        };
        if let Some(o) = v.as_object_mut() {
            o.insert("auth_state".into(), json!(auth_state));
        }
        out.push(v);
    }
    HttpResponse::Ok().json(out)
}

fn registered(state: &HttpState, raw: &str, not_found: &str) -> Result<ConnectorInstanceModel, ApiError> {
    let uuid = uuid_path(raw)?;
    state
        .core
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
    state: &HttpState,
    m: &ConnectorInstanceModel,
    method: Method,
    segment: &str,
    query: &str,
) -> ProxyAnswer {
    let url = m.url.clone().unwrap_or_default();
    state
        .core
        .clients
        .proxy(method, target(m, &url), segment, query, None)
        .await
}

/// The incoming query with `job_id=<id>` appended when it was absent or empty
/// (docs/reference/CORE-API.md, "Full-scan trigger").
fn forward_query(raw: &str, job_id: &JobId) -> String {
    let mut parts: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| *p != "job_id" && *p != "job_id=")
        .collect();
    let has_job = parts.iter().any(|p| p.starts_with("job_id="));
    let appended = format!("job_id={}", urlencode(job_id.as_str()));
    if !has_job {
        parts.push(&appended);
    }
    parts.join("&")
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /connectors/auth_check/{uuid}` (admin): does the connector require the core's
/// signature? A signed and then an unsigned `GET <url>/config`: `auth_ok` when only the signed
/// one is accepted, `connector_fails_open` when the unsigned one is, `hmac_rejected` when the
/// signed one is refused.
pub async fn auth_check(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let m = registered(&state, &path, "No connector registered with UUID=")?;
    let url = m.url.clone().unwrap_or_default();
    let (signed, _) = state
        .core
        .clients
        .proxy(Method::GET, target(&m, &url), "config", "", Some(PREFLIGHT_TIMEOUT))
        .await
        .map_err(unreachable)?;
    let bare = Target {
        base: &url,
        uuid: None,
        name: None,
    };
    let (unsigned, _) = state
        .core
        .clients
        .proxy(Method::GET, bare, "config", "", Some(PREFLIGHT_TIMEOUT))
        .await
        .map_err(unreachable)?;
    let answer = if matches!(signed.as_u16(), 401 | 403) {
        StatusResponse::error("hmac_rejected").with_description(format!(
            "the connector refused the core's signature (HTTP {})",
            signed.as_u16()
        ))
    } else if unsigned.is_success() {
        StatusResponse::error("connector_fails_open").with_description("the connector answered an unsigned request")
    } else {
        StatusResponse::success("auth_ok").with_description("signed accepted, unsigned refused")
    };
    Ok(HttpResponse::Ok().json(answer.with_id(m.uuid.unwrap_or_default())))
}

/// `POST /connectors/full_scan/{uuid}` (docs/reference/CORE-API.md, "Full-scan trigger").
pub async fn full_scan(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let m = registered(&state, &path, "No connector registered with UUID=")?;
    let q = query_pairs(&req);
    let job_id = match query_get(&q, "job_id").filter(|j| !j.is_empty()) {
        Some(j) => JobId::parse(j).map_err(|e| ApiError::bad_query("job_id", "value_error", e.to_string(), j))?,
        None => JobId::generate(),
    };
    let query = forward_query(req.query_string(), &job_id);
    let start = FullScanStart {
        job_id: &job_id,
        query: &query,
        job_name: header_str(&req, "X-Job-Name").map(str::to_string),
    };
    let parsed = start_full_scan(&state.core, &m, start).await.map_err(|e| match e {
        TriggerError::Unreachable(r) => unreachable(r),
        TriggerError::Refused { status, body } => passthrough_error(status, &body),
        TriggerError::Store(e) => super::errors::job_store(e),
    })?;
    let token = format!("job_id={job_id}");
    let mut out = parsed;
    out.description = Some(match out.description.take().filter(|d| !d.is_empty()) {
        None => token,
        Some(d) if d.contains(&token) => d,
        Some(d) => format!("{d} | {token}"),
    });
    out.id = Some(job_id.to_string());
    Ok(HttpResponse::Accepted()
        .insert_header(("X-Job-Id", job_id.to_string()))
        .json(out))
}

async fn proxy_json(
    state: &HttpState,
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
    state: web::Data<HttpState>,
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
pub async fn estimate(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
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

async fn passthrough(state: &HttpState, raw: &str, segment: &str) -> Result<HttpResponse, ApiError> {
    let (status, body) = proxy_json(state, raw, segment, "").await?;
    if !status.is_success() {
        return Err(passthrough_error(status, &body));
    }
    Ok(HttpResponse::Ok().json(json_object(&body)?))
}

pub async fn config(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "config").await
}

pub async fn healthz(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "healthz").await
}

pub async fn readyz(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    passthrough(&state, &path, "readyz").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_id_is_appended_only_when_missing_or_empty() {
        let (j, k) = (JobId::parse("J").unwrap(), JobId::parse("K").unwrap());
        assert_eq!(forward_query("limit=5", &j), "limit=5&job_id=J");
        assert_eq!(forward_query("", &j), "job_id=J");
        assert_eq!(forward_query("job_id=&limit=5", &j), "limit=5&job_id=J");
        assert_eq!(forward_query("limit=5&job_id=K", &k), "limit=5&job_id=K");
    }

    #[test]
    fn registration_requires_a_uuid_and_an_http_url() {
        let allow = AllowList::default();
        let registration = |v: &Value| registration(v, &allow);
        let e = registration(&json!({"name": "x", "url": "http://h:1/x"})).unwrap_err();
        assert!(matches!(e, ApiError::Validation(ref i) if i.0[0].kind == "missing"));
        let e = registration(&json!({"uuid": "3F0C2B2E-1111-4222-8333-444455556666", "url": ""})).unwrap_err();
        assert!(matches!(e, ApiError::Validation(_)));
        let (u, m) =
            registration(&json!({"uuid": "3F0C2B2E-1111-4222-8333-444455556666", "url": "http://h:1/x/"})).unwrap();
        assert_eq!(u, "3f0c2b2e-1111-4222-8333-444455556666");
        assert_eq!(m.uuid.as_deref(), Some("3f0c2b2e-1111-4222-8333-444455556666"));
        assert_eq!(m.url.as_deref(), Some("http://h:1/x"));
    }
}
