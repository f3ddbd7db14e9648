//! Azure Monitor Logs Ingestion API for Microsoft Sentinel (docs/reference/SUPERLOG.md,
//! "Microsoft Sentinel"): Entra ID client-credentials token (cached, refreshed), gzip JSON arrays
//! within the 1 MB limit.
//!
//! Each event type has its own stream (a DCR stream declares one set of columns), so batches
//! hold one type and go to that type's stream (docs/reference/SUPERLOG.md, "The audit event").

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::http::{gzip, retry_after, status_error, transport_error};
use super::{Limits, Report, SendError, Sink, Unit};
use crate::settings_source::Secret;
use crate::superlog::event::EventType;
use crate::superlog::fit::{Fitted, fit};
use crate::superlog::format::json::to_json;
use crate::superlog::metrics::FailReason;

/// Largest JSON of one record (keeps every value under the service's 64 KB field limit).
const MAX_RECORD: usize = 65_000;
/// A token is refreshed when less than this remains.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct SentinelConfig {
    /// `{DCE}/dataCollectionRules/{DCR}/streams/{stream}?api-version=…` for scan results.
    pub upload_url: String,
    /// The same for `AUDIT_STREAM_NAME`; without it the destination takes no audit events.
    pub audit_upload_url: Option<String>,
    /// `{AUTHORITY_HOST}/{TENANT_ID}/oauth2/v2.0/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
    pub gzip: bool,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub flush_interval: Duration,
}

pub struct SentinelSink {
    cfg: SentinelConfig,
    client: reqwest::Client,
    token: Option<(Secret, Instant)>,
}

enum Posted {
    Done,
    TooLarge,
    Unauthorized,
}

impl SentinelSink {
    pub fn new(cfg: SentinelConfig, client: reqwest::Client) -> Self {
        Self {
            cfg,
            client,
            token: None,
        }
    }

    /// The cached token, or a new one when less than 5 minutes remain.
    async fn token(&mut self) -> Result<Secret, SendError> {
        if let Some((t, expires)) = &self.token
            && Instant::now() + REFRESH_BEFORE < *expires
        {
            return Ok(t.clone());
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("client_secret", self.cfg.client_secret.expose())
            .append_pair("scope", &self.cfg.scope)
            .finish();
        let resp = self
            .client
            .post(&self.cfg.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let retry = retry_after(&resp);
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let code = v.get("error").and_then(Value::as_str).unwrap_or("unknown");
            let text = format!("Entra ID token request refused ({status}): {code}");
            let mut e = if status == 429 || status >= 500 {
                SendError::retriable(text)
            } else {
                SendError::permanent(text)
            };
            e.retry_after = retry;
            return Err(e);
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|_| SendError::retriable("Entra ID token answer is not JSON"))?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::retriable("Entra ID token answer without access_token"))?;
        let secs = v
            .get("expires_in")
            .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
        let expires = Instant::now() + Duration::from_secs(secs.unwrap_or(3600));
        let token = Secret::new(token);
        self.token = Some((token.clone(), expires));
        Ok(token)
    }

    /// The stream a batch of `kind` goes to.
    fn upload_url(&self, kind: EventType) -> Result<String, SendError> {
        match kind {
            EventType::ScanResult => Ok(self.cfg.upload_url.clone()),
            // Not reached: without a stream audit events are filtered before the buffer.
            EventType::Audit => self
                .cfg
                .audit_upload_url
                .clone()
                .ok_or_else(|| SendError::permanent("no Sentinel stream for audit events (AUDIT_STREAM_NAME)")),
        }
    }

    async fn post(&mut self, url: &str, units: &[Unit]) -> Result<Posted, SendError> {
        let token = self.token().await?;
        let mut body = String::with_capacity(units.iter().map(|u| u.text.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, u) in units.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&u.text);
        }
        body.push(']');
        let mut req = self
            .client
            .post(url)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Content-Type", "application/json")
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        req = if self.cfg.gzip {
            req.header("Content-Encoding", "gzip").body(gzip(body.as_bytes()))
        } else {
            req.body(body)
        };
        let resp = req.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(Posted::Done),
            401 => Ok(Posted::Unauthorized),
            413 => Ok(Posted::TooLarge),
            403 => Err(SendError::permanent(
                "Azure refused the upload (403): the principal lacks Monitoring Metrics Publisher on the DCR",
            )),
            400 | 404 => {
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                let e = &v["error"];
                Err(SendError::permanent(format!(
                    "Azure refused the upload ({status}): {} {}",
                    e["code"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                )))
            }
            _ => Err(status_error(&resp, format!("Azure answered {status}"))),
        }
    }
}

/// The record of "Upload": `TimeGenerated` first, then the redacted event.
fn record(event: &Value) -> String {
    let mut rec = Map::new();
    rec.insert(
        "TimeGenerated".into(),
        event.get("timestamp").cloned().unwrap_or(Value::Null),
    );
    if let Some(o) = event.as_object() {
        rec.extend(o.clone());
    }
    to_json(&Value::Object(rec))
}

#[async_trait]
impl Sink for SentinelSink {
    fn limits(&self) -> Limits {
        Limits {
            max_events: self.cfg.batch_max_events,
            // The brackets of the array; each record adds a comma.
            max_bytes: self.cfg.batch_max_bytes - 2,
            overhead: 1,
            flush_interval: Some(self.cfg.flush_interval),
            one_type_per_batch: true,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        fit(event, MAX_RECORD, record)
    }

    /// Sends the batch; 413 halves it, 401 refreshes the token once and re-sends at once.
    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        let mut report = Report::default();
        let Some(first) = batch.first() else {
            return Ok(report);
        };
        let url = self.upload_url(first.event.kind())?;
        let mut todo = vec![(0, batch.len())];
        let mut refreshed = false;
        while let Some((start, end)) = todo.pop() {
            match self.post(&url, &batch[start..end]).await? {
                Posted::Done => {}
                Posted::Unauthorized if !refreshed => {
                    refreshed = true;
                    self.token = None;
                    todo.push((start, end));
                }
                Posted::Unauthorized => {
                    return Err(SendError::permanent("Azure refused the token twice (401)"));
                }
                Posted::TooLarge if end - start == 1 => report.failed.push((start, FailReason::Oversize)),
                Posted::TooLarge => {
                    let mid = start + (end - start) / 2;
                    todo.push((mid, end));
                    todo.push((start, mid));
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_starts_with_time_generated() {
        let v = serde_json::json!({"event": "scan_result", "timestamp": "2026-11-26T10:04:05.123Z"});
        assert_eq!(
            record(&v),
            r#"{"TimeGenerated":"2026-11-26T10:04:05.123Z","event":"scan_result","timestamp":"2026-11-26T10:04:05.123Z"}"#
        );
    }
}
