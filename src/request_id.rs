//! Request ids and the access log (docs/OPERATIONS.md, "Access log and request ids").
//!
//! Every HTTP request a core or connector serves gets an id: the caller's `X-Request-Id` when it
//! is a sane token, a fresh one otherwise. The id is echoed in the response, written on the
//! request's access-log line, and sent on every call made on the request's behalf (to a
//! connector, to the scanner), so one id follows an item from the call that submitted it to the
//! connector that served its bytes and the engine that judged them. Workers get it from the work
//! item, which records the id of the request that accepted it.

use std::fmt;
use std::future::Future;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The header that carries the id, both ways.
pub const HEADER: &str = "x-request-id";

/// Longest id accepted from a caller.
const MAX_LEN: usize = 128;

/// A request id: 1 to 128 characters of `[A-Za-z0-9._:-]`, so it is safe in a header, a log
/// line and a page as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id when it is acceptable (anything else is replaced, never echoed).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(text.to_string()))
    }

    /// A fresh id (a random UUID, 122 bits).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    /// The id of the request (or work item) the current task works for.
    static CURRENT: RequestId;
}

/// The id the current task works for, if any: what outgoing calls carry.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` on behalf of `id` (a work item's recorded id; none leaves the task without one).
pub async fn scope<F: Future>(id: Option<RequestId>, fut: F) -> F::Output {
    match id {
        Some(id) => CURRENT.scope(id, fut).await,
        None => fut.await,
    }
}

/// Adds the current id to an outgoing request.
pub fn attach(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match current() {
        Some(id) => req.header(HEADER, id.as_str()),
        None => req,
    }
}

/// The middleware of every HTTP server: assigns the id, runs the request on its behalf, echoes
/// it, and writes the access-log line (target `access`, INFO; DEBUG for probes and the UI's
/// static files so an orchestrator's polling does not drown the log).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    // The path only: a query string may carry a credential (an OIDC code, a state).
    let path = req.path().to_string();
    let peer = req.peer_addr().map_or_else(|| "-".to_string(), |a| a.ip().to_string());
    let result = CURRENT.scope(id.clone(), next.call(req)).await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let quiet = is_quiet(&path);
    match result {
        Ok(mut resp) => {
            if let Ok(v) = HeaderValue::from_str(id.as_str()) {
                resp.headers_mut().insert(HeaderName::from_static(HEADER), v);
            }
            let status = resp.status().as_u16();
            if quiet {
                tracing::debug!(target: "access", request_id = %id, %method, path = %path, status, ms, %peer, "request");
            } else {
                tracing::info!(target: "access", request_id = %id, %method, path = %path, status, ms, %peer, "request");
            }
            Ok(resp)
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            tracing::info!(target: "access", request_id = %id, %method, path = %path, status, ms, %peer, "request");
            Err(e)
        }
    }
}

/// Probes and static files: logged at DEBUG.
fn is_quiet(path: &str) -> bool {
    path.ends_with("/healthz") || path.ends_with("/readyz") || path.starts_with("/static/") || path == "/metrics"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_accepted() {
        assert!(RequestId::parse("3f1c0d2e-aa.b_c:1").is_some());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
        for bad in ["", "a b", "x\ny", "<script>", &"a".repeat(129), "é"] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        let fresh = RequestId::generate();
        assert!(RequestId::parse(fresh.as_str()).is_some());
    }

    #[tokio::test]
    async fn the_current_id_follows_the_scope() {
        assert_eq!(current(), None);
        let id = RequestId::parse("item-1").unwrap();
        let seen = scope(Some(id.clone()), async { current() }).await;
        assert_eq!(seen, Some(id));
        assert_eq!(scope(None, async { current() }).await, None);
    }
}
