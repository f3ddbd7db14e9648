//! Connector → core calls (docs/reference/CONNECTORS.md, "Calls to the core",
//! "Sending scan requests"): registration, batched scan requests with fallback to single requests,
//! retries with `Idempotency-Key`, `enqueue_done`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Item;
use super::settings::ConnectorSettings;
use std::sync::Arc;

use super::keyring::Keyring;
use crate::error_chain::error_chain;
use crate::model::{ConnectorInstanceModel, ConnectorUuid, ScanRequestModel};
use crate::retry::{Backoff, Jitter};

/// Why a call to the core got no answer to act on.
#[derive(Debug, thiserror::Error)]
pub enum CoreCallError {
    #[error("the core could not be reached")]
    Transport(#[source] reqwest::Error),
    #[error("HTTP {0}")]
    Status(StatusCode),
}

/// What happened to a group of scan requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    pub accepted: u64,
    /// The core answered 409: the job is cancelled; stop enumerating.
    pub conflict: bool,
    /// Items refused for good (invalid, 4xx).
    pub rejected: u64,
    /// Items given up after transient failures.
    pub abandoned: u64,
    /// 401/403: authentication is broken.
    pub auth_failed: bool,
}

impl SendReport {
    fn add(&mut self, o: SendReport) {
        self.accepted += o.accepted;
        self.conflict |= o.conflict;
        self.rejected += o.rejected;
        self.abandoned += o.abandoned;
        self.auth_failed |= o.auth_failed;
    }
}

/// The outcome of one HTTP exchange after retries.
enum Exchange {
    Answer(StatusCode, bytes::Bytes),
    /// Still transient after the last attempt.
    GaveUp(String),
}

pub struct CoreClient {
    http: reqwest::Client,
    api: String,
    key: Option<String>,
    /// Signs every call but the probes when it holds a key (docs/AUTH.md, "Signatures").
    keyring: Arc<Keyring>,
    /// Sent on registrations so a core (ours or the original) can enroll us.
    enrollment_token: Option<String>,
    max_attempts: u32,
    batch_size: usize,
    /// False once the core answered the batch endpoint with 404/405/501.
    batch_supported: AtomicBool,
}

impl CoreClient {
    pub fn new(s: &ConnectorSettings, keyring: Arc<Keyring>) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(s.core_timeout)
            .pool_max_idle_per_host(64)
            .user_agent(format!(
                "dsx-connect-connector/{} ({})",
                crate::VERSION,
                s.kind.as_str()
            ))
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(!s.verify_tls);
        if let Some(ca) = &s.ca_bundle {
            b = b.tls_certs_only(
                crate::tls::load_certificates(ca).map_err(|e| anyhow::anyhow!("DSXCONNECTOR_CA_BUNDLE: {e}"))?,
            );
        }
        Ok(Self {
            http: b.build()?,
            api: s.core_api.clone(),
            key: s.core_api_key.as_ref().map(|k| k.expose().to_string()),
            keyring,
            enrollment_token: s.auth.enrollment_token.as_ref().map(|t| t.expose().to_string()),
            max_attempts: s.enqueue_max_attempts,
            batch_size: s.scan_batch_size,
            batch_supported: AtomicBool::new(s.scan_batch_size > 1),
        })
    }

    /// The core's API base (for logs and the status summary).
    pub fn api(&self) -> &str {
        &self.api
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// After a 201 registration following earlier ones, try the batch endpoint again ("Heartbeat").
    pub fn reset_batch_support(&self) {
        if self.batch_size > 1 {
            self.batch_supported.store(true, Ordering::Release);
        }
    }

    /// A request to `<core api>/<path>` with the API key, the body serialised once, and the
    /// DSX-HMAC signature over exactly those bytes (fresh for every attempt).
    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let url = format!("{}/{path}", self.api);
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let mut r = crate::request_id::attach(self.http.request(method.clone(), &url));
        if let Some(k) = &self.key {
            r = r.header("x-api-key", k);
        }
        if let Some(key) = self.keyring.current() {
            let target = crate::auth::hmac::target_of(&url);
            let auth = key.authorization(method.as_str(), &target, bytes.as_deref().unwrap_or_default());
            r = r.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(b) = bytes {
            r = r.header(reqwest::header::CONTENT_TYPE, "application/json").body(b);
        }
        r
    }

    /// One attempt per call; the caller decides about retries. The answer's status and body
    /// (a success may carry credentials), or why there was none.
    pub async fn register(&self, model: &ConnectorInstanceModel) -> Result<(StatusCode, Value), CoreCallError> {
        let body = serde_json::to_value(model).unwrap_or(Value::Null);
        let mut r = self.request(Method::POST, "connectors/register", Some(&body));
        if let Some(t) = &self.enrollment_token {
            r = r.header("X-Enrollment-Token", t);
        }
        let resp = r.send().await.map_err(CoreCallError::Transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(CoreCallError::Transport)?;
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::json!({ "detail": crate::auth::relay::error_text(&bytes) }));
        Ok((status, v))
    }

    /// Best effort, one attempt with a 5 s cap ("Graceful shutdown").
    pub async fn unregister(&self, uuid: &ConnectorUuid) -> Result<(), CoreCallError> {
        let path = format!("connectors/unregister/{}", seg(uuid.as_str()));
        let resp = self
            .request(Method::DELETE, &path, None)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(CoreCallError::Transport)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(CoreCallError::Status(resp.status()))
        }
    }

    /// `GET <core>/healthz` within 2 s.
    pub async fn core_alive(&self) -> bool {
        let mut r = self.http.get(format!("{}/healthz", self.api));
        // The probe is never signed (it is exempt), but a core behind a key still wants it.
        if let Some(k) = &self.key {
            r = r.header("x-api-key", k);
        }
        r.timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Sends with retries on transient answers, keeping the same idempotency key
    /// ("Sending scan requests").
    async fn exchange(&self, path: &str, body: &Value, idem: Option<&str>) -> Exchange {
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let mut r = self.request(Method::POST, path, Some(body));
            if let Some(k) = idem {
                r = r.header("Idempotency-Key", k);
            }
            let wait = match r.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = crate::retry::retry_after(resp.headers());
                    if !is_transient(status) {
                        let body = resp.bytes().await.unwrap_or_default();
                        return Exchange::Answer(status, body);
                    }
                    last = format!("HTTP {status}");
                    retry_after.map(|d| d.min(RETRY_AFTER_MAX))
                }
                Err(e) => {
                    last = error_chain(&e);
                    None
                }
            };
            if attempt < self.max_attempts {
                tokio::time::sleep(wait.unwrap_or_else(|| ENQUEUE_BACKOFF.delay(attempt))).await;
            }
        }
        Exchange::GaveUp(last)
    }

    /// Sends the scan requests of one group (batch endpoint, or singles), "Sending scan requests".
    pub async fn send(&self, job_id: &str, reqs: Vec<ScanRequestModel>) -> SendReport {
        if reqs.len() > 1 && self.batch_supported.load(Ordering::Acquire) {
            let key = batch_key(job_id, &reqs);
            let body = serde_json::to_value(&reqs).unwrap_or(Value::Null);
            match self.exchange("scan/request/batch", &body, Some(&key)).await {
                Exchange::Answer(s, body) if s.is_success() => return read_batch_answer(&body, reqs.len()),
                Exchange::Answer(s, _) if matches!(s.as_u16(), 404 | 405 | 501) => {
                    tracing::info!(status = %s, "the core has no batch endpoint; sending single requests");
                    self.batch_supported.store(false, Ordering::Release);
                }
                Exchange::Answer(s, _) if s == StatusCode::CONFLICT => {
                    return SendReport {
                        conflict: true,
                        ..Default::default()
                    };
                }
                Exchange::Answer(s, body) if matches!(s.as_u16(), 401 | 403) => {
                    tracing::error!(status = %s, body = %String::from_utf8_lossy(&body), "the core refused the batch: authentication");
                    return SendReport {
                        rejected: reqs.len() as u64,
                        auth_failed: true,
                        ..Default::default()
                    };
                }
                Exchange::Answer(s, _) if matches!(s.as_u16(), 400 | 413 | 422) => {
                    tracing::warn!(status = %s, "the core refused a batch; re-sending its items one by one");
                }
                Exchange::Answer(s, body) => {
                    tracing::error!(status = %s, body = %String::from_utf8_lossy(&body), "the core rejected a batch");
                    return SendReport {
                        rejected: reqs.len() as u64,
                        ..Default::default()
                    };
                }
                Exchange::GaveUp(why) => {
                    tracing::warn!(error = %why, items = reqs.len(), "scan requests abandoned after retries");
                    return SendReport {
                        abandoned: reqs.len() as u64,
                        ..Default::default()
                    };
                }
            }
        }
        let mut report = SendReport::default();
        for r in reqs {
            if report.conflict || report.auth_failed {
                break;
            }
            report.add(self.send_one(job_id, &r).await);
        }
        report
    }

    async fn send_one(&self, job_id: &str, r: &ScanRequestModel) -> SendReport {
        let key = hex::encode(Sha256::digest(format!("{job_id}\n{}", r.location)));
        let body = serde_json::to_value(r).unwrap_or(Value::Null);
        match self.exchange("scan/request", &body, Some(&key)).await {
            Exchange::Answer(s, _) if s.is_success() => SendReport {
                accepted: 1,
                ..Default::default()
            },
            Exchange::Answer(s, _) if s == StatusCode::CONFLICT => SendReport {
                conflict: true,
                ..Default::default()
            },
            Exchange::Answer(s, body) => {
                tracing::error!(status = %s, location = %r.location, body = %String::from_utf8_lossy(&body), "the core rejected a scan request");
                SendReport {
                    rejected: 1,
                    auth_failed: matches!(s.as_u16(), 401 | 403),
                    ..Default::default()
                }
            }
            Exchange::GaveUp(why) => {
                tracing::warn!(error = %why, location = %r.location, "scan request abandoned after retries");
                SendReport {
                    abandoned: 1,
                    ..Default::default()
                }
            }
        }
    }

    /// `POST <core>/scan/jobs/<J>/enqueue_done` — one logical call, retried while transient.
    /// `unreadable` (entries the enumeration could not read) is sent only when non-zero, so a
    /// clean scan's body is what it always was.
    pub async fn enqueue_done(&self, job_id: &str, total: u64, unreadable: u64) {
        let path = format!("scan/jobs/{}/enqueue_done", seg(job_id));
        let mut body = serde_json::json!({ "enqueued_total": total });
        if unreadable > 0 {
            body["unreadable_count"] = unreadable.into();
        }
        let status = match self.exchange(&path, &body, None).await {
            Exchange::Answer(s, _) => s.as_u16().to_string(),
            Exchange::GaveUp(why) => format!("abandoned: {why}"),
        };
        tracing::info!(event = "enqueue_done posted", job = %job_id, enqueued_total = total, unreadable_count = unreadable, status = %status, "enqueue_done posted");
    }
}

fn is_transient(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Waits between attempts of a call to the core: 1 s, 2 s, 4 s, … capped at 30 s, ±20 % jitter.
const ENQUEUE_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).jitter(Jitter::Spread(0.2));
/// Longest `Retry-After` of the core honoured; it replaces the backoff when given.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Everything but the unreserved characters of RFC 3986 is encoded in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// SHA-256 hex of `<job_id>` followed by LF and each location in order.
fn batch_key(job_id: &str, reqs: &[ScanRequestModel]) -> String {
    let mut h = Sha256::new();
    h.update(job_id.as_bytes());
    for r in reqs {
        h.update(b"\n");
        h.update(r.location.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Reads a batch answer item by item; an unreadable 2xx body counts every item accepted.
fn read_batch_answer(body: &[u8], n: usize) -> SendReport {
    let mut report = SendReport::default();
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("items").and_then(Value::as_array).cloned());
    let Some(items) = items else {
        report.accepted = n as u64;
        return report;
    };
    for it in items {
        if it.get("status").and_then(Value::as_str) == Some("success") {
            report.accepted += 1;
        } else if it.get("http_status").and_then(Value::as_u64) == Some(409) {
            report.conflict = true;
        } else {
            report.rejected += 1;
        }
    }
    report
}

/// Builds the scan request of an item ("Building a scan request"): the model without its icon, the
/// callback url, the item's identity, and `rescan` when the scan was asked to read everything.
pub fn scan_request(item: &Item, model: &ConnectorInstanceModel, job_id: &str, rescan: bool) -> ScanRequestModel {
    ScanRequestModel {
        location: item.location.clone(),
        metainfo: item.metainfo.clone(),
        connector: Some(ConnectorInstanceModel {
            display_icon: None,
            ..model.clone()
        }),
        connector_url: model.url.clone(),
        scan_job_id: Some(job_id.to_string()),
        size_in_bytes: item.size.and_then(|s| i64::try_from(s).ok()),
        identity: item.identity.clone(),
        rescan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_are_read_item_by_item() {
        let body = br#"{"items":[{"status":"success","http_status":202},{"status":"error","http_status":409},{"status":"error","http_status":400}]}"#;
        let r = read_batch_answer(body, 3);
        assert_eq!((r.accepted, r.conflict, r.rejected), (1, true, 1));
        assert_eq!(read_batch_answer(b"not json", 4).accepted, 4);
    }

    #[test]
    fn idempotency_keys_are_stable() {
        let a = vec![ScanRequestModel::new("/x", "x"), ScanRequestModel::new("/y", "y")];
        assert_eq!(batch_key("J", &a), batch_key("J", &a));
        assert_ne!(batch_key("J", &a), batch_key("K", &a));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert!(ENQUEUE_BACKOFF.delay(1) <= Duration::from_secs_f64(1.2));
        assert!(ENQUEUE_BACKOFF.delay(10) <= Duration::from_secs(36));
        assert!(ENQUEUE_BACKOFF.delay(10) >= Duration::from_secs(24));
    }
}
