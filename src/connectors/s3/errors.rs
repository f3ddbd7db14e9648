//! What an S3 call's failure means for our answers: its HTTP status and error code, and whether
//! trying again later can help.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

#[derive(Debug, Clone)]
pub struct S3Failure {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    /// Network trouble, timeouts, throttling and 5xx: the same call may work later.
    pub transient: bool,
    /// The request never got an answer (connection refused, DNS, timeout).
    pub unreachable: bool,
}

const THROTTLING: [&str; 6] = [
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
];

impl S3Failure {
    pub fn of<E>(e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().map(str::to_string);
        let unreachable = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
        let transient = unreachable
            || matches!(e, SdkError::ResponseError(_))
            || status.is_some_and(|s| s >= 500 || s == 429)
            || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
        let message = match (&code, e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            _ => DisplayErrorContext(e).to_string(),
        };
        Self {
            status,
            code,
            message,
            transient,
            unreachable,
        }
    }

    pub fn is_code(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    pub fn not_found(&self) -> bool {
        self.status == Some(404) || self.is_code(&["NoSuchKey", "NotFound", "NoSuchVersion"])
    }

    pub fn throttled(&self) -> bool {
        self.status == Some(503)
            || self.status == Some(429)
            || self.is_code(&["SlowDown", "Throttling", "ThrottlingException"])
    }
}
