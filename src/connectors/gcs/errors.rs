//! What a Cloud Storage or Pub/Sub call's failure means for our answers: the HTTP status, the
//! JSON API's `error.errors[0].reason`, and whether trying again later can help.

use std::time::Duration;

use serde_json::Value;

/// A failed JSON API call (or one that never got an answer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GcsFailure {
    pub status: Option<u16>,
    /// `error.errors[0].reason` (`notFound`, `retentionPolicyNotMet`, …).
    pub reason: Option<String>,
    pub message: String,
    /// Network trouble, timeouts, 408, 429 and 5xx: the same call may work later.
    pub transient: bool,
    /// The request never got an answer (connection refused, DNS, timeout).
    pub unreachable: bool,
    /// The service's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl GcsFailure {
    /// A failure of our own making (no call was answered).
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            status: None,
            reason: None,
            message: message.into(),
            transient: false,
            unreachable: false,
            retry_after: None,
        }
    }

    /// A request that got no answer. The error chain is flattened into the message: reqwest's
    /// top-level text alone ("error sending request") says nothing useful.
    pub fn transport(what: &str, e: &reqwest::Error) -> Self {
        Self {
            status: None,
            reason: None,
            message: format!("{what}: {}", crate::error_chain::error_chain(e)),
            transient: true,
            unreachable: true,
            retry_after: None,
        }
    }

    /// A non-success answer with its body (JSON API errors, or plain text from emulators).
    pub fn answer(what: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let err = json.as_ref().and_then(|v| v.get("error"));
        let reason = err
            .and_then(|e| e.pointer("/errors/0/reason"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let text = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string());
        Self {
            status: Some(status),
            reason,
            message: format!("{what}: HTTP {status}: {text}"),
            transient: status == 408 || status == 429 || status >= 500,
            unreachable: false,
            retry_after: crate::retry::retry_after(headers),
        }
    }

    pub fn not_found(&self) -> bool {
        self.status == Some(404)
    }

    /// The message names the bucket as what is missing (Google's "The specified bucket does not
    /// exist."); emulators may not say.
    pub fn says_bucket_missing(&self) -> bool {
        self.not_found() && self.message.to_ascii_lowercase().contains("bucket")
    }

    pub fn denied(&self) -> bool {
        matches!(self.status, Some(401) | Some(403))
    }

    /// A retention policy or a hold keeps the object.
    pub fn immutable(&self) -> bool {
        self.reason.as_deref() == Some("retentionPolicyNotMet")
            || (self.status == Some(403) && self.message.to_ascii_lowercase().contains("hold"))
    }

    pub fn throttled(&self) -> bool {
        matches!(self.status, Some(429) | Some(503))
    }

    /// The Retry-After to pass on (the service's, else 1 s).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.map(|d| d.as_secs().max(1)).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_api_errors_give_their_reason_and_message() {
        let body = br#"{"error":{"code":403,"message":"Object is under retention","errors":[{"reason":"retentionPolicyNotMet"}]}}"#;
        let f = GcsFailure::answer("DELETE x", 403, &reqwest::header::HeaderMap::new(), body);
        assert!(f.immutable() && f.denied() && !f.transient);
        assert!(f.message.contains("Object is under retention"));
        let plain = GcsFailure::answer("GET y", 404, &reqwest::header::HeaderMap::new(), b"Not Found\n");
        assert!(plain.not_found() && !plain.says_bucket_missing());
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        let busy = GcsFailure::answer("GET z", 503, &h, b"");
        assert!(busy.transient && busy.throttled());
        assert_eq!(busy.retry_after_secs(), 7);
    }
}
