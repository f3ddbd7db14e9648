//! HTTP error answers in the original's shapes (docs/reference/CORE-API.md, "Error answers") and
//! request-reading helpers that turn every malformed input into a 4xx, never a 5xx or a panic.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::backend::StoreError;
use crate::model::StatusResponse;
use crate::model::validation::{Issue, Issues, Loc};

/// Body size limits ("Paths and bodies").
pub const SINGLE_BODY_LIMIT: usize = 1 << 20;
pub const BATCH_BODY_LIMIT: usize = 32 << 20;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// `{"detail": "<text>"}`.
    Detail(StatusCode, String),
    /// 422 `{"detail": [issues]}`.
    Validation(Issues),
    /// A StatusResponse body.
    Status(StatusCode, StatusResponse),
    /// 503 with a StatusResponse body and `Retry-After: <seconds>` (the store cannot write).
    RetryLater(StatusResponse, u64),
}

impl ApiError {
    pub fn detail(code: StatusCode, text: impl Into<String>) -> Self {
        ApiError::Detail(code, text.into())
    }

    pub fn not_found(text: impl Into<String>) -> Self {
        ApiError::Detail(StatusCode::NOT_FOUND, text.into())
    }

    pub fn invalid(issue: Issue) -> Self {
        ApiError::Validation(Issues::one(issue))
    }

    /// 422 for a query parameter.
    pub fn bad_query(name: &str, kind: &'static str, msg: impl Into<String>, input: &str) -> Self {
        Self::invalid(Issue::new(kind, vec![Loc::from("query"), Loc::from(name)], msg).with_input(json!(input)))
    }

    /// 422 for a path parameter.
    pub fn bad_path(name: &str, kind: &'static str, msg: impl Into<String>, input: &str) -> Self {
        Self::invalid(Issue::new(kind, vec![Loc::from("path"), Loc::from(name)], msg).with_input(json!(input)))
    }

    /// A job-store failure on a job endpoint ("Job endpoints").
    pub fn job_store(e: StoreError) -> Self {
        // A store that cannot write is logged once per episode by its write health.
        if !matches!(e, StoreError::CannotWrite(_)) {
            tracing::warn!(error = %e, "job store failure");
        }
        match e {
            StoreError::Unavailable(_) | StoreError::Timeout | StoreError::CannotWrite(_) => {
                Self::detail(StatusCode::SERVICE_UNAVAILABLE, "job_store_unavailable")
            }
            StoreError::Internal(_) => Self::detail(StatusCode::INTERNAL_SERVER_ERROR, "job_store_error"),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Detail(c, t) => write!(f, "{c}: {t}"),
            ApiError::Validation(i) => write!(f, "422: {i}"),
            ApiError::Status(c, s) => write!(f, "{c}: {}", s.message),
            ApiError::RetryLater(s, _) => write!(f, "{}: {}", StatusCode::SERVICE_UNAVAILABLE, s.message),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Detail(c, _) | ApiError::Status(c, _) => *c,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RetryLater(..) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (body, code) = match self {
            ApiError::Detail(_, t) => (json!({ "detail": t }), t.clone()),
            ApiError::Validation(i) => (json!({ "detail": i.0 }), "validation_error".to_string()),
            ApiError::Status(_, s) => (json!(s), s.message.clone()),
            ApiError::RetryLater(s, secs) => {
                let resp = HttpResponse::ServiceUnavailable()
                    .insert_header((header::RETRY_AFTER, secs.to_string()))
                    .json(json!(s));
                return with_code(resp, &s.message);
            }
        };
        with_code(HttpResponse::build(self.status_code()).json(body), &code)
    }
}

impl From<Issues> for ApiError {
    fn from(i: Issues) -> Self {
        ApiError::Validation(i)
    }
}

/// The request-target as received: path plus `?query` (what a DSX-HMAC signature covers).
pub fn request_target(uri: &actix_web::http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string())
}

/// Reads a request body up to `limit` bytes (413 `payload_too_large` beyond).
pub async fn read_body(payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    read_payload(payload.into_inner(), limit).await
}

/// Longest pause between two pieces of a request body.
pub const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(15);
/// Longest time a whole request body may take (32 MiB at ~300 KiB/s).
pub const BODY_TOTAL: std::time::Duration = std::time::Duration::from_secs(120);
/// Longest time a client may take to send the request line and headers.
pub const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn body_timeout() -> ApiError {
    ApiError::detail(StatusCode::REQUEST_TIMEOUT, "request_timeout")
}

/// [`read_body`] for the raw payload a middleware takes from a request. A peer that stalls
/// ([`BODY_IDLE`]) or trickles ([`BODY_TOTAL`]) gets `408 request_timeout`; the connection is
/// not kept (the rest of the body is never read), so it cannot hold a worker.
pub async fn read_payload(mut payload: actix_web::dev::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut buf = web::BytesMut::new();
    let deadline = tokio::time::Instant::now() + BODY_TOTAL;
    loop {
        let wait = BODY_IDLE.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let Ok(next) = tokio::time::timeout(wait, payload.next()).await else {
            return Err(body_timeout());
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => {
                ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            other => ApiError::detail(StatusCode::BAD_REQUEST, format!("body could not be read: {other}")),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Parses a body as JSON (422 `json_invalid` otherwise).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(Issue::json_invalid(format!("JSON decode error: {e}"))))
}

/// Query parameters in order (percent-decoded).
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// An optional integer query parameter (422 `int_parsing` when not an integer).
pub fn query_int(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    match query_get(pairs, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_query(name, "int_parsing", "Input should be a valid integer", v)),
    }
}

/// An integer query parameter within bounds (422 with the bound's type otherwise).
pub fn query_int_in(pairs: &[(String, String)], name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    let Some(v) = query_int(pairs, name)? else {
        return Ok(default);
    };
    if v < min {
        return Err(ApiError::bad_query(
            name,
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            &v.to_string(),
        ));
    }
    if v > max {
        return Err(ApiError::bad_query(
            name,
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
            &v.to_string(),
        ));
    }
    Ok(v)
}

/// 404 for unknown routes.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"detail": "Not Found"}))
}

/// 405 for known routes with another method.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(json!({"detail": "Method Not Allowed"}))
}

/// Largest total size of request headers accepted (a 4xx beyond, never a crash).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with 431.
pub async fn limit_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<actix_web::body::BoxBody>>, actix_web::Error> {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        let resp = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .json(json!({"detail": "request_header_fields_too_large"}));
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// A header value as text, if present and valid.
pub fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `Cache-Control: no-store` for answers that change while a task runs.
pub fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// The error code an answer carries, for its audit record (our own text, never a peer's).
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

/// Attaches `code` (cut to 128 bytes) to an error answer.
pub fn with_code(mut resp: HttpResponse, code: &str) -> HttpResponse {
    let code = crate::auth::relay::truncate(code, 128).to_string();
    resp.extensions_mut().insert(ErrorCode(code));
    resp
}

/// A 401 with its `WWW-Authenticate` challenge.
pub fn unauthorized(detail: &str, challenge: String) -> HttpResponse {
    with_code(
        HttpResponse::Unauthorized()
            .insert_header((actix_web::http::header::WWW_AUTHENTICATE, challenge))
            .json(json!({ "detail": detail })),
        detail,
    )
}

fn hmac_challenge(reason: &str) -> String {
    format!("DSX-HMAC realm=\"dsx-connect\", error=\"{reason}\"")
}

/// The response to a refused signature.
pub fn refusal_response(r: crate::trust::Refusal) -> HttpResponse {
    use crate::auth::hmac::Reject;
    use crate::trust::Refusal;
    match r {
        Refusal::Signature(Reject::ReplayCacheFull) => {
            HttpResponse::ServiceUnavailable().json(json!({"detail": "replay_cache_full"}))
        }
        Refusal::Signature(reason) => unauthorized(reason.as_str(), hmac_challenge(reason.as_str())),
        Refusal::Unavailable(e) => {
            tracing::warn!(error = %e, "credential store unavailable: refusing a signed request");
            HttpResponse::ServiceUnavailable().json(json!({"detail": "registry_unavailable"}))
        }
    }
}
