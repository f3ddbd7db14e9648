//! Reading requests: bodies with a size limit and deadlines, JSON, query parameters and headers.
//! Every malformed input becomes a 4xx, never a 5xx or a panic.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::Value;

use super::error::ApiError;
use crate::model::validation::Issue;

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

/// A header value as text, if present and valid.
pub fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
