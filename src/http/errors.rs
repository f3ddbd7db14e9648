//! The core's error answers (docs/reference/CORE-API.md, "Error answers"): its body limits,
//! store failures and signature refusals. The shared plumbing (error shapes, request reading)
//! is `crate::web`'s, re-exported here for the core's handlers.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde_json::json;

pub use crate::web::error::{ApiError, ErrorCode, method_not_allowed_but, not_found, unauthorized, with_code};
pub use crate::web::request::{
    header_str, parse_json, query_get, query_int, query_int_in, query_pairs, read_body, read_payload, request_target,
};

use crate::backend::StoreError;

/// Body size limits ("Paths and bodies").
pub const SINGLE_BODY_LIMIT: usize = 1 << 20;
pub const BATCH_BODY_LIMIT: usize = 32 << 20;

/// A store failure's detail as it may go to the log: controls escaped, bounded. The client is
/// only ever told the kind of failure (a fixed text of ours), never the store's own words.
pub fn store_detail(e: &StoreError) -> String {
    crate::auth::relay::sanitize(&e.to_string())
}

/// A job-store failure on a job endpoint ("Job endpoints").
pub fn job_store(e: StoreError) -> ApiError {
    // A store that cannot write is logged once per episode by its write health.
    if !matches!(e, StoreError::CannotWrite(_)) {
        tracing::warn!(error = %store_detail(&e), "job store failure");
    }
    match e {
        StoreError::Unavailable(_) | StoreError::Timeout | StoreError::CannotWrite(_) => {
            ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "job_store_unavailable")
        }
        StoreError::Internal(_) => ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, "job_store_error"),
    }
}

/// `Cache-Control: no-store` for answers that change while a task runs.
pub fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
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
