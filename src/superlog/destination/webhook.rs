//! Webhook: one event per HTTP POST, signed with HMAC-SHA256 so the receiver can tell our
//! requests from anyone else's (docs/CONFIGURATION.md, "Webhook").
//!
//! One event per request keeps a receiver simple (one body, one signature, one event id to
//! deduplicate on) and matches what chat services accept; the expected volume — findings, not
//! every result — is small. Each attempt is signed afresh, so a retry after a long backoff still
//! carries a current timestamp:
//!
//! `X-DSX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! Redirects are never followed (the client has no redirect policy), and names resolve through
//! the SSRF guard, so the URL cannot lead to the metadata service or another blocked address.

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::http::{status_error, transport_error};
use super::{Limits, Report, SendError, Sink, Unit};
use crate::settings_source::Secret;
use crate::superlog::config::WebhookFormat;
use crate::superlog::fit::{Fitted, fit};
use crate::superlog::format::json::to_json;
use crate::superlog::format::slack::to_slack;
use crate::superlog::metrics::FailReason;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-DSX-Signature";
/// The event's id (the same on every retry): receivers deduplicate on it.
pub const EVENT_ID_HEADER: &str = "X-DSX-Event-Id";
/// `scan_result` or `audit`.
pub const EVENT_TYPE_HEADER: &str = "X-DSX-Event-Type";

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Secret,
    pub secret: Option<Secret>,
    pub format: WebhookFormat,
    pub max_body_bytes: usize,
}

pub struct WebhookSink {
    cfg: WebhookConfig,
    client: reqwest::Client,
}

/// The `X-DSX-Signature` value of `body` sent at `unix` (seconds).
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSink {
    pub fn new(cfg: WebhookConfig, client: reqwest::Client) -> Self {
        Self { cfg, client }
    }

    fn render(&self, event: &Value) -> String {
        match self.cfg.format {
            WebhookFormat::Json => to_json(event),
            WebhookFormat::Slack => to_slack(event),
        }
    }

    /// One POST; `Ok(false)` when the receiver found the body too large (413).
    async fn post(&self, unit: &Unit) -> Result<bool, SendError> {
        let mut req = self
            .client
            .post(self.cfg.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, unit.event.event_id())
            .header(EVENT_TYPE_HEADER, unit.event.kind().as_str());
        if let Some(secret) = &self.cfg.secret {
            let now = chrono::Utc::now().timestamp();
            req = req.header(SIGNATURE_HEADER, signature(secret.expose(), now, unit.text.as_bytes()));
        }
        let resp = req
            .body(unit.text.clone())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(true),
            413 => Ok(false),
            300..=399 => Err(SendError::permanent(format!(
                "webhook answered {status}: redirects are not followed"
            ))),
            401 | 403 => Err(SendError::permanent(format!(
                "webhook refused the request ({status}): check the signing secret and the URL"
            ))),
            _ => Err(status_error(&resp, format!("webhook answered {status}"))),
        }
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn limits(&self) -> Limits {
        Limits {
            max_events: 1,
            max_bytes: self.cfg.max_body_bytes,
            overhead: 0,
            flush_interval: None,
            one_type_per_batch: true,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        fit(event, self.cfg.max_body_bytes, |v| self.render(v))
    }

    /// Posts each event of the batch (one, by the limits above) in order.
    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        let mut report = Report::default();
        for (i, unit) in batch.iter().enumerate() {
            if !self.post(unit).await? {
                report.failed.push((i, FailReason::Oversize));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Independent value: printf '1795687445.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef
        assert_eq!(
            signature("0123456789abcdef", 1_795_687_445, br#"{"a":1}"#),
            "t=1795687445,v1=a7900fe680f86c151faa19939273b54c6632bf46e8e8ebf49c7441c484266309"
        );
    }
}
