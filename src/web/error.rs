//! Error answers in the original's shapes (`{"detail": ...}` or a StatusResponse), the codes the
//! audit records carry, and the 401/404/405 answers of the core and the connectors.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::model::StatusResponse;
use crate::model::validation::{Issue, Issues, Loc};

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

/// 404 for unknown routes.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"detail": "Not Found"}))
}

/// 405 for a known route asked with another method, naming the methods it answers in `Allow`
/// (RFC 9110, section 15.5.6).
pub fn method_not_allowed_but(allow: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow.to_string()))
        .json(json!({"detail": "Method Not Allowed"}))
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
