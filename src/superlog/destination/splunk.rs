//! Splunk HTTP Event Collector (docs/reference/SUPERLOG.md, "Splunk HEC"): batched event envelopes,
//! token auth, 413 halving, optional indexer acknowledgement.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::http::{gzip, status_error, transport_error};
use super::{Limits, Report, SendError, Sink, Unit};
use crate::settings_source::Secret;
use crate::superlog::event::EventType;
use crate::superlog::fit::{Fitted, fit};
use crate::superlog::format::json::to_json;
use crate::superlog::metrics::FailReason;

/// The sourcetype of audit events (docs/reference/SUPERLOG.md, "The audit event"); `SOURCETYPE`
/// names the scan results' one.
pub const AUDIT_SOURCETYPE: &str = "dsx:audit";

/// Indexer acknowledgement settings ("Indexer acknowledgement").
#[derive(Debug, Clone)]
pub struct AckConfig {
    pub channel: String,
    pub poll: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SplunkConfig {
    /// The full `…/services/collector/event` URL.
    pub event_url: String,
    /// The `…/services/collector/ack` URL.
    pub ack_url: String,
    pub token: Secret,
    pub index: Option<String>,
    pub source: String,
    /// The sourcetype of scan results (audit events use [`AUDIT_SOURCETYPE`]).
    pub sourcetype: String,
    /// `None`: the event's own `host`.
    pub event_host: Option<String>,
    pub gzip: bool,
    pub ack: Option<AckConfig>,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub flush_interval: Duration,
}

/// The event URL for a configured base ("HEC request").
pub fn event_url(base: &str) -> String {
    let b = base.trim_end_matches('/');
    if b.ends_with("/services/collector/event") {
        b.to_string()
    } else if b.ends_with("/services/collector") {
        format!("{b}/event")
    } else {
        format!("{b}/services/collector/event")
    }
}

/// The ack URL next to an event URL.
pub fn ack_url(event_url: &str) -> String {
    format!("{}/ack", event_url.trim_end_matches("/event"))
}

pub struct SplunkSink {
    cfg: SplunkConfig,
    client: reqwest::Client,
}

/// One POST's outcome short of an error.
enum Posted {
    Done,
    TooLarge,
}

impl SplunkSink {
    pub fn new(cfg: SplunkConfig, client: reqwest::Client) -> Self {
        Self { cfg, client }
    }

    /// The envelope of "HEC request", keys in order, `time` with exactly three decimals.
    fn envelope(&self, event: &Value) -> String {
        let ts = event.get("timestamp").and_then(Value::as_str).unwrap_or("");
        let ms = chrono::DateTime::parse_from_rfc3339(ts)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let host = self
            .cfg
            .event_host
            .as_deref()
            .or_else(|| event.get("host").and_then(Value::as_str))
            .unwrap_or("");
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let sourcetype = match EventType::of_value(event) {
            EventType::ScanResult => self.cfg.sourcetype.as_str(),
            EventType::Audit => AUDIT_SOURCETYPE,
        };
        let index = self
            .cfg
            .index
            .as_deref()
            .map(|i| format!(",\"index\":{}", q(i)))
            .unwrap_or_default();
        format!(
            "{{\"time\":{}.{:03},\"host\":{},\"source\":{},\"sourcetype\":{}{index},\"event\":{}}}",
            ms.div_euclid(1000),
            ms.rem_euclid(1000),
            q(host),
            q(&self.cfg.source),
            q(sourcetype),
            to_json(event)
        )
    }

    fn request(&self, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(url)
            .header("Authorization", format!("Splunk {}", self.cfg.token.expose()))
            .header("Content-Type", "application/json");
        if let Some(ack) = &self.cfg.ack {
            r = r.header("X-Splunk-Request-Channel", &ack.channel);
        }
        if self.cfg.gzip {
            r.header("Content-Encoding", "gzip").body(gzip(&body))
        } else {
            r.body(body)
        }
    }

    async fn post(&self, units: &[Unit]) -> Result<Posted, SendError> {
        let body = units.iter().map(|u| u.text.as_str()).collect::<Vec<_>>().join("\n");
        let resp = self
            .request(&self.cfg.event_url, body.into_bytes())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {
                let ack_id = match &self.cfg.ack {
                    Some(_) => resp
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v.get("ackId").and_then(Value::as_u64)),
                    None => None,
                };
                if let Some(id) = ack_id {
                    self.await_ack(id).await?;
                }
                Ok(Posted::Done)
            }
            413 => Ok(Posted::TooLarge),
            401 | 403 => Err(SendError::permanent(format!("HEC token rejected ({status})"))),
            404 => Err(SendError::permanent(
                "HEC endpoint not found (404): wrong URL or HEC disabled",
            )),
            400 => {
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                Err(SendError::permanent(format!(
                    "HEC refused the batch (400): code {} {}",
                    v.get("code").map(Value::to_string).unwrap_or_default(),
                    v.get("text").and_then(Value::as_str).unwrap_or("")
                )))
            }
            _ => Err(status_error(&resp, format!("HEC answered {status}"))),
        }
    }

    /// Polls the ack endpoint until `id` is acknowledged; no `true` in time is retriable.
    async fn await_ack(&self, id: u64) -> Result<(), SendError> {
        let Some(ack) = &self.cfg.ack else { return Ok(()) };
        let url = format!("{}?channel={}", self.cfg.ack_url, ack.channel);
        let until = tokio::time::Instant::now() + ack.timeout;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(ack.poll.min(until - tokio::time::Instant::now())).await;
            let body = serde_json::to_vec(&serde_json::json!({ "acks": [id] })).unwrap_or_default();
            let Ok(resp) = self.request(&url, body).send().await else {
                continue;
            };
            if !resp.status().is_success() {
                continue;
            }
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if v["acks"][id.to_string()] == Value::Bool(true) {
                return Ok(());
            }
        }
        Err(SendError::retriable("HEC acknowledgement timed out"))
    }
}

#[async_trait]
impl Sink for SplunkSink {
    fn limits(&self) -> Limits {
        Limits {
            max_events: self.cfg.batch_max_events,
            max_bytes: self.cfg.batch_max_bytes,
            // The LF between envelopes.
            overhead: 1,
            flush_interval: Some(self.cfg.flush_interval),
            one_type_per_batch: false,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        fit(event, self.cfg.batch_max_bytes, |v| self.envelope(v))
    }

    /// Sends the batch, halving it on 413 (halves are not retries); a single event that is
    /// still too large is `failed` (oversize).
    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        let mut report = Report::default();
        let mut todo = vec![(0, batch.len())];
        while let Some((start, end)) = todo.pop() {
            match self.post(&batch[start..end]).await? {
                Posted::Done => {}
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
    use crate::superlog::event::audit::fixtures as audit;
    use crate::superlog::event::fixtures;

    fn sink(index: Option<&str>) -> SplunkSink {
        let cfg = SplunkConfig {
            event_url: event_url("http://127.0.0.1:1"),
            ack_url: ack_url(&event_url("http://127.0.0.1:1")),
            token: Secret::new("t"),
            index: index.map(str::to_string),
            source: "dsx-connect".into(),
            sourcetype: "dsx:scan:result".into(),
            event_host: None,
            gzip: false,
            ack: None,
            batch_max_events: 100,
            batch_max_bytes: 1_000_000,
            flush_interval: Duration::from_secs(1),
        };
        SplunkSink::new(cfg, reqwest::Client::new())
    }

    #[test]
    fn urls_are_completed_from_a_base() {
        assert_eq!(event_url("https://s:8088/"), "https://s:8088/services/collector/event");
        assert_eq!(
            event_url("https://s:8088/services/collector"),
            "https://s:8088/services/collector/event"
        );
        assert_eq!(
            event_url("https://s/services/collector/event"),
            "https://s/services/collector/event"
        );
        assert_eq!(
            ack_url("https://s/services/collector/event"),
            "https://s/services/collector/ack"
        );
    }

    #[test]
    fn envelopes_have_ordered_keys_and_three_decimals() {
        let v = fixtures::malicious_moved().to_value();
        let e = sink(Some("security")).envelope(&v);
        assert!(
            e.starts_with(r#"{"time":1795687445.123,"host":"scan-worker-1","source":"dsx-connect","sourcetype":"dsx:scan:result","index":"security","event":{"event":"scan_result""#),
            "{e}"
        );
        let mut ev = fixtures::benign();
        ev.timestamp = "2026-11-26T10:04:05.100Z".into();
        let e = sink(None).envelope(&ev.to_value());
        assert!(e.starts_with(r#"{"time":1795687445.100,"host":"scan-worker-1","source":"dsx-connect","sourcetype":"dsx:scan:result","event":"#), "{e}");
    }

    #[test]
    fn audit_events_travel_with_their_own_sourcetype() {
        let v = audit::revoke().to_value();
        let e = sink(Some("security")).envelope(&v);
        assert_eq!(
            e,
            format!(
                r#"{{"time":1795687500.000,"host":"dsx-api-1","source":"dsx-connect","sourcetype":"dsx:audit","index":"security","event":{}}}"#,
                to_json(&v)
            )
        );
    }
}
