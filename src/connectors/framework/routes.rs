//! Connector HTTP routes (docs/reference/CONNECTORS.md, "HTTP conventions", "Endpoints"), all below
//! `/<name>`.

use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, Route, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::service::{ConnectorService, MonitorStatus};
use super::{Handshake, ResultTag, WebhookHeaders, WebhookRequest};
use crate::auth::hmac;
use crate::connectors::filter::Filter;
use crate::model::validation::{Issue, Issues, Loc};
use crate::model::{ItemAction, ItemActionStatusResponse, JobId, ScanRequestModel, StatusKind, StatusResponse};
use crate::web::error::{ApiError, method_not_allowed_but};
use crate::web::request::{parse_json, query_get, query_pairs, read_body, read_payload, request_target};

const BODY_LIMIT: usize = 1 << 20;
const WEBHOOK_LIMIT: usize = 10 << 20;

type Svc = web::Data<Arc<ConnectorService>>;

fn json(code: u16, v: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)).json(v)
}

fn status_error(code: u16, message: impl Into<String>) -> HttpResponse {
    json(code, StatusResponse::error(message))
}

fn validation(i: Issues) -> HttpResponse {
    json(422, json!({ "detail": i.0 }))
}

/// Equal-time comparison of two keys (hashing first hides their lengths too).
fn keys_match(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API key a request presents: the `x-api-key` header, or on the webhook only (whose senders
/// cannot always set headers: push subscriptions, Event Grid handshakes) the `api_key` query
/// parameter. The header wins when both are present.
fn given_key(req: &ServiceRequest) -> Vec<u8> {
    if let Some(h) = req.headers().get("x-api-key") {
        return h.as_bytes().to_vec();
    }
    if !req.path().trim_end_matches('/').ends_with("/webhook/event") {
        return Vec::new();
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default()
}

/// `x-api-key` on every route but the probes, checked before the body is read ("API key").
async fn api_key_guard(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let expected = req
        .app_data::<Svc>()
        .and_then(|s| s.settings().api_key.as_ref().map(|k| k.expose().to_string()));
    let probe = own_access(req.path());
    if let Some(key) = expected
        && !probe
    {
        let given = given_key(&req);
        if !keys_match(&given, key.as_bytes()) {
            let resp = HttpResponse::Forbidden().json(json!({"detail": "Invalid or missing API key"}));
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// DSX-HMAC on every route but the probes whenever this connector holds a key or
/// `DSXCONNECTOR_AUTH__ENABLED` is set (docs/AUTH.md, "Our connectors"): verified before the
/// handler runs, so a refused call reads, moves or deletes nothing. The webhook also accepts
/// the connector's API key, for third-party senders that cannot sign.
async fn hmac_guard(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(svc) = req.app_data::<Svc>().cloned() else {
        return next.call(req).await;
    };
    let auth = &svc.settings().auth;
    let path = req.path().trim_end_matches('/').to_string();
    let probe = own_access(&path);
    if !svc.enforces_signatures() || probe {
        return next.call(req).await;
    }
    let webhook_key_ok = path.ends_with("/webhook/event")
        && svc
            .settings()
            .api_key
            .as_ref()
            .is_some_and(|k| keys_match(&given_key(&req), k.expose().as_bytes()));
    if webhook_key_ok {
        return next.call(req).await;
    }
    let limit = if path.ends_with("/webhook/event") {
        WEBHOOK_LIMIT
    } else {
        BODY_LIMIT
    };
    let body = match read_payload(actix_web::HttpMessage::take_payload(&mut req), limit).await {
        Ok(b) => b,
        Err(e) => return Ok(req.into_response(actix_web::ResponseError::error_response(&e))),
    };
    let target = request_target(req.uri());
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let now = crate::auth::hmac::now_secs();
    let verified = hmac::verify(
        header.as_deref(),
        hmac::Received {
            method: req.method().as_str(),
            target: &target,
            body: &body,
        },
        now,
        auth.clock_skew_secs,
        None,
        |kid| svc.keyring().lookup(kid),
    )
    .and_then(|v| svc.replay_cache().check(&v.key_id, &v.nonce, now));
    if let Err(reason) = verified {
        let realm = format!("DSX-HMAC realm=\"{}\", error=\"{reason}\"", svc.settings().name);
        let mut resp = if reason == hmac::Reject::ReplayCacheFull {
            HttpResponse::ServiceUnavailable()
        } else {
            HttpResponse::Unauthorized()
        };
        if reason != hmac::Reject::ReplayCacheFull {
            resp.insert_header((WWW_AUTHENTICATE, realm));
        }
        let resp = resp.json(json!({"detail": reason.as_str()}));
        return Ok(req.into_response(resp).map_into_boxed_body());
    }
    // The handler reads the same bytes the signature covered.
    req.set_payload(actix_web::dev::Payload::from(body));
    next.call(req).await
}

/// Routes that decide their access themselves: the probes (open) and `/metrics` (its token,
/// see [`metrics`]).
fn own_access(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p.ends_with("/healthz") || p.ends_with("/readyz") || p.ends_with("/metrics")
}

fn one(path: &str, method: &'static str, route: Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(move || async move { method_not_allowed_but(method) }))
}

pub fn configure(cfg: &mut web::ServiceConfig, svc: Arc<ConnectorService>) {
    let name = format!("/{}", svc.settings().name);
    cfg.app_data(web::Data::new(svc))
        .service(
            web::scope(&name)
                .wrap(actix_web::middleware::from_fn(hmac_guard))
                .wrap(actix_web::middleware::from_fn(api_key_guard))
                .service(one("", "GET", web::get().to(summary)))
                .service(one("/", "GET", web::get().to(summary)))
                .service(one("/healthz", "GET", web::get().to(healthz)))
                .service(one("/readyz", "GET", web::get().to(readyz)))
                .service(one("/metrics", "GET", web::get().to(metrics)))
                .service(one("/config", "GET", web::get().to(config)))
                .service(one("/repo_check", "GET", web::get().to(repo_check)))
                .service(one("/estimate", "GET", web::get().to(estimate)))
                .service(one("/full_scan", "POST", web::post().to(full_scan)))
                .service(one("/read_file", "POST", web::post().to(read_file)))
                .service(one("/item_action", "PUT", web::put().to(item_action)))
                .service(
                    web::resource("/webhook/event")
                        .route(web::post().to(webhook))
                        .route(web::method(actix_web::http::Method::OPTIONS).to(webhook_options))
                        .default_service(web::to(|| async { method_not_allowed_but("POST") })),
                )
                .service(one("/result_tag", "PUT", web::put().to(result_tag)))
                .default_service(web::to(crate::web::error::not_found)),
        )
        .default_service(web::to(crate::web::error::not_found));
}

/// `GET /<name>/`: status summary ("Status summary").
async fn summary(svc: Svc) -> HttpResponse {
    let (core_ok, repo) = futures_util::join!(
        svc.core().core_alive(),
        svc.check_repo(std::time::Duration::from_secs(5))
    );
    json(
        200,
        json!({
            "connector_status": svc.status(),
            "dsx-connect connectivity": if core_ok { "success" } else { "failed" },
            "repo connectivity": if repo.is_ok() { "success" } else { "failed" },
            "scan_requests_since_active_count": svc.accepted_total(),
        }),
    )
}

/// `GET /<name>/metrics`: Prometheus text; who may read it is [`MetricsAccess`].
async fn metrics(req: HttpRequest, svc: Svc) -> HttpResponse {
    use crate::metrics::connector::MetricsAccess;
    let settings = svc.settings();
    let protected = settings.api_key.is_some() || svc.enforces_signatures();
    let allowed = match MetricsAccess::of(settings.metrics_token.is_some(), protected) {
        MetricsAccess::Open => true,
        MetricsAccess::Closed => false,
        MetricsAccess::Token => {
            let given = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim().as_bytes())
                .unwrap_or(b"");
            settings
                .metrics_token
                .as_ref()
                .is_some_and(|t| keys_match(given, t.expose().as_bytes()))
        }
    };
    if !allowed {
        return HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .json(json!({"detail": "metrics_token_required"}));
    }
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(svc.metrics().document(&svc.metric_figures()))
}

async fn healthz() -> HttpResponse {
    json(200, json!({"ok": true}))
}

/// Ready: registered, the repository passes, and a requested monitor is watching.
async fn readyz(svc: Svc) -> HttpResponse {
    let m = svc.model();
    let monitor_ok = !matches!(svc.monitor_status(), Some(MonitorStatus::NotWatching(_)));
    let code = if m.status == crate::model::ConnectorStatus::Ready && monitor_ok {
        200
    } else {
        503
    };
    json(code, m)
}

async fn config(svc: Svc) -> HttpResponse {
    let mut v = serde_json::to_value(svc.model()).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("item_action".into(), json!(svc.settings().item_action));
        m.insert("connector_type".into(), json!(svc.storage().kind()));
        m.insert("version".into(), json!(crate::VERSION));
        m.insert("resolved_asset_base".into(), json!(svc.storage().resolved_asset_base()));
        m.insert("scan_batch_size".into(), json!(svc.settings().scan_batch_size));
        m.insert(
            "full_scan_enqueue_concurrency".into(),
            json!(svc.settings().enqueue_concurrency),
        );
        m.insert("max_concurrent_full_scans".into(), json!(svc.settings().max_full_scans));
        m.insert(
            "monitor".into(),
            match svc.monitor_status() {
                None => json!({"enabled": false}),
                Some(MonitorStatus::Watching) => json!({"enabled": true, "watching": true, "error": null}),
                Some(MonitorStatus::NotWatching(e)) => json!({"enabled": true, "watching": false, "error": e}),
            },
        );
        for (k, val) in svc.storage().extra_config() {
            m.insert(k, val);
        }
    }
    json(200, v)
}

/// `GET /<name>/repo_check?preview=N` ("Repository check endpoint"): always 200.
async fn repo_check(svc: Svc, req: HttpRequest) -> HttpResponse {
    let q = query_pairs(&req);
    let preview = query_get(&q, "preview")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(0, |n| n.clamp(0, 1000) as usize);
    match svc.check_repo(std::time::Duration::from_secs(10)).await {
        Err(f) => json(
            200,
            StatusResponse::error("Repository unreachable")
                .with_description(format!("reason={} {}", f.reason, f.message)),
        ),
        Ok(warnings) => {
            let mut r = StatusResponse::success("Repository reachable");
            let mut desc = warnings.join(" ");
            if preview > 0
                && let Some(items) = svc.preview(preview).await
            {
                let token = format!("preview={}", items.len());
                desc = if desc.is_empty() {
                    token
                } else {
                    format!("{desc} | {token}")
                };
                r.preview = Some(items);
            }
            r.description = (!desc.is_empty()).then_some(desc);
            json(200, r)
        }
    }
}

async fn estimate(svc: Svc, req: HttpRequest) -> HttpResponse {
    let q = query_pairs(&req);
    let limit = query_get(&q, "limit")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|l| *l >= 1);
    json(200, svc.estimate(limit).await)
}

/// `POST /<name>/full_scan?job_id=&limit=&filter=&rescan_all=` ("Full-scan endpoint"). `filter`
/// narrows the connector's own filter for this scan only (items must pass both); a scheduled
/// scan's filter arrives here. `rescan_all=true` marks every request `rescan` (docs/SCAN-REUSE.md).
async fn full_scan(svc: Svc, req: HttpRequest) -> HttpResponse {
    let q = query_pairs(&req);
    let job_id = match query_get(&q, "job_id").filter(|j| !j.is_empty()) {
        Some(j) => match JobId::parse(j) {
            Ok(j) => j.to_string(),
            Err(e) => {
                return validation(Issues::one(
                    Issue::new(
                        "value_error",
                        vec![Loc::from("query"), Loc::from("job_id")],
                        e.to_string(),
                    )
                    .with_input(json!(j)),
                ));
            }
        },
        None => JobId::generate().to_string(),
    };
    let limit = query_get(&q, "limit")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|n| n.max(1) as u64);
    let narrow = match query_get(&q, "filter").filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(f) => match Filter::parse(f) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                return validation(Issues::one(
                    Issue::new(
                        "value_error",
                        vec![Loc::from("query"), Loc::from("filter")],
                        e.to_string(),
                    )
                    .with_input(json!(f)),
                ));
            }
        },
    };
    let rescan = match query_get(&q, "rescan_all").map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return validation(Issues::one(
                Issue::new(
                    "bool_parsing",
                    vec![Loc::from("query"), Loc::from("rescan_all")],
                    "Input should be a valid boolean",
                )
                .with_input(json!(other)),
            ));
        }
    };
    if svc.is_stopping() {
        return status_error(503, "Connector stopping");
    }
    if let Err(f) = svc.check_repo(std::time::Duration::from_secs(5)).await {
        return json(
            503,
            StatusResponse::error("Repository unavailable")
                .with_description(format!("reason={} {}", f.reason, f.message)),
        );
    }
    let plan = super::full_scan::ScanPlan {
        job_id: job_id.clone(),
        limit,
        narrow,
        rescan,
    };
    if let super::service::FullScanStart::Busy { running } = super::full_scan::start(&svc, plan) {
        let max = svc.settings().max_full_scans;
        let mut r = json(
            429,
            StatusResponse::error("Too many full scans running")
                .with_description(format!("reason=busy running={running} max={max}")),
        );
        r.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("30"),
        );
        return r;
    }
    let mut desc = format!("Full scan running in the background. job_id={job_id}");
    if let Some(n) = limit {
        desc.push_str(&format!(" limit={n}"));
    }
    if rescan {
        desc.push_str(" rescan_all=true");
    }
    HttpResponse::Ok().insert_header(("X-Job-Id", job_id.clone())).json(
        StatusResponse::success("Full scan initiated")
            .with_description(desc)
            .with_id(job_id),
    )
}

async fn json_body(payload: web::Payload) -> Result<Value, HttpResponse> {
    let body = read_body(payload, BODY_LIMIT)
        .await
        .map_err(|_| status_error(413, "request body is over the 1 MiB limit"))?;
    parse_json(&body).map_err(|e| match e {
        ApiError::Validation(i) => validation(i),
        other => status_error(400, other.to_string()),
    })
}

fn scan_request_from(v: &Value) -> Result<ScanRequestModel, Issues> {
    let r = ScanRequestModel::from_value(v, &[Loc::from("body")])?;
    if r.location.is_empty() {
        return Err(Issues::one(Issue::new(
            "string_too_short",
            vec![Loc::from("body"), Loc::from("location")],
            "location must not be empty",
        )));
    }
    Ok(r)
}

async fn scan_request_body(payload: web::Payload) -> Result<ScanRequestModel, HttpResponse> {
    scan_request_from(&json_body(payload).await?).map_err(validation)
}

/// `POST /<name>/read_file`: the item's bytes, streamed ("read_file").
async fn read_file(svc: Svc, payload: web::Payload) -> HttpResponse {
    let r = match scan_request_body(payload).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match svc.storage().read(&r.location).await {
        Ok(body) => {
            let mut resp = HttpResponse::Ok();
            resp.insert_header((CONTENT_TYPE, "application/octet-stream"));
            match body.size {
                Some(n) => resp
                    .no_chunking(n)
                    .insert_header((CONTENT_LENGTH, n))
                    .streaming(body.stream),
                None => resp.streaming(body.stream),
            }
        }
        Err(e) => {
            let mut resp =
                HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            if let Some(s) = e.retry_after_secs {
                resp.insert_header((RETRY_AFTER, s.to_string()));
            }
            resp.json(StatusResponse::error(e.message))
        }
    }
}

/// `PUT /<name>/item_action`: the configured action ("item_action").
async fn item_action(svc: Svc, payload: web::Payload) -> HttpResponse {
    let r = match scan_request_body(payload).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let action = svc.settings().item_action;
    let (code, answer) = match action {
        ItemAction::Nothing => (
            200,
            ItemActionStatusResponse::new(StatusKind::Nothing, "No action configured", action),
        ),
        ItemAction::NotImplemented => (
            200,
            ItemActionStatusResponse::new(StatusKind::Nothing, "Item action not implemented", action),
        ),
        _ => svc.storage().item_action(&r.location, action).await,
    };
    if answer.status == StatusKind::Success {
        tracing::info!(location = %r.location, action = %answer.item_action, description = ?answer.description, "item action done");
    } else if answer.status == StatusKind::Error {
        tracing::warn!(location = %r.location, action = %answer.item_action, message = %answer.message, "item action failed");
    }
    json(code, answer)
}

/// `PUT /<name>/result_tag`: records a scan result on the item (connectors advertising the
/// `result_tags` capability). Body: a ScanRequestModel plus `result` and an optional `reason`.
async fn result_tag(svc: Svc, payload: web::Payload) -> HttpResponse {
    let v = match json_body(payload).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let r = match scan_request_from(&v) {
        Ok(r) => r,
        Err(issues) => return validation(issues),
    };
    let Some(result) = v
        .get("result")
        .and_then(Value::as_str)
        .filter(|x| ResultTag::RESULTS.contains(x))
    else {
        return validation(Issues::one(Issue::new(
            "literal_error",
            vec![Loc::from("body"), Loc::from("result")],
            "result must be one of clean, malicious, not_scanned, error",
        )));
    };
    let tag = ResultTag {
        result: result.to_string(),
        reason: v.get("reason").and_then(Value::as_str).map(str::to_string),
    };
    let (code, answer) = svc.storage().result_tag(&r.location, &tag).await;
    if answer.status == StatusKind::Error {
        tracing::warn!(location = %r.location, result = %tag.result, message = %answer.message, "result tag failed");
    }
    json(code, answer)
}

/// The request headers a storage may look at on the webhook ("Webhook endpoint").
fn webhook_request<'a>(req: &HttpRequest, body: &'a Value) -> WebhookRequest<'a> {
    let get = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    WebhookRequest {
        body,
        headers: WebhookHeaders {
            content_type: get("content-type"),
            origin: get("origin"),
            aeg_event_type: get("aeg-event-type"),
            ce_type: get("ce-type"),
            ce_source: get("ce-source"),
            ce_subject: get("ce-subject"),
            webhook_request_origin: get("webhook-request-origin"),
        },
    }
}

fn handshake_response(h: Handshake) -> HttpResponse {
    let mut r = HttpResponse::build(StatusCode::from_u16(h.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in h.headers {
        r.insert_header((k, v));
    }
    match h.body {
        Some(b) => r.json(b),
        None => r.finish(),
    }
}

/// `OPTIONS /<name>/webhook/event`: the storage's handshake (CloudEvents abuse protection),
/// else 405 naming `POST`.
async fn webhook_options(req: HttpRequest, svc: Svc) -> HttpResponse {
    let body = Value::Null;
    match svc.storage().webhook_options(&webhook_request(&req, &body)) {
        Some(h) => handshake_response(h),
        None => method_not_allowed_but("POST"),
    }
}

/// `POST /<name>/webhook/event` ("Webhook endpoint"). A storage may answer a handshake instead
/// of items: no job, no scan request, no `enqueue_done`.
async fn webhook(req: HttpRequest, svc: Svc, payload: web::Payload) -> HttpResponse {
    if svc.is_stopping() {
        return status_error(503, "Connector stopping");
    }
    let body = match read_body(payload, WEBHOOK_LIMIT).await {
        Ok(b) => b,
        Err(_) => return status_error(413, "webhook body is over the 10 MiB limit"),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return status_error(400, "webhook body is not JSON");
    };
    if let Some(h) = svc.storage().handshake(&webhook_request(&req, &v)) {
        return handshake_response(h);
    }
    let items = match svc.storage().webhook(&v, svc.filter()).await {
        Ok(items) => items,
        Err(e) => return status_error(e.status, e.message),
    };
    let single = items.len() == 1;
    let o = svc.webhook_job(items, svc.storage().delivery_id(&v)).await;
    let mut desc = Vec::new();
    if let Some(j) = &o.job_id {
        desc.push(format!("job_id={j}"));
    }
    desc.push(format!("enqueued={}", o.enqueued));
    desc.push(format!("ignored={}", o.ignored));
    desc.push(format!("rejected={}", o.rejected));
    desc.push(format!("failed={}", o.failed));
    if single
        && o.enqueued == 0
        && let Some(r) = o.reasons.first()
    {
        desc.push(format!("reason={r}"));
    }
    let (status, msg) = if o.rejected > 0 || o.failed > 0 {
        (StatusKind::Error, "Some event items were not enqueued")
    } else if o.enqueued > 0 {
        (StatusKind::Success, "Event items enqueued")
    } else {
        (StatusKind::Nothing, "Nothing to enqueue")
    };
    let mut r = StatusResponse::new(status, msg).with_description(desc.join(" "));
    r.id = o.job_id.clone();
    json(if o.core_unavailable { 503 } else { 200 }, r)
}

#[cfg(test)]
mod tests {
    use super::keys_match;

    #[test]
    fn keys_compare_exactly() {
        assert!(keys_match(b"k", b"k"));
        assert!(!keys_match(b"k", b"K"));
        assert!(!keys_match(b"", b"k"));
    }
}
