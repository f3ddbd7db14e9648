//! AWS CloudWatch Logs through the AWS SDK (docs/reference/SUPERLOG.md, "CloudWatch Logs"):
//! `PutLogEvents` in batches that keep the service's rules, log group and stream created on first
//! need.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde_json::Value;
use tokio::time::Instant;

use super::{Limits, Report, SendError, Sink, Unit};
use crate::superlog::fit::{Fitted, fit};
use crate::superlog::format::json::to_json;
use crate::superlog::metrics::FailReason;

/// The service's per-request limits.
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_BYTES: usize = 1_048_576;
/// Bytes the service adds to each message when it sums a batch.
pub const EVENT_OVERHEAD: usize = 26;
/// Largest message of one event.
const MAX_MESSAGE: usize = 262_144 - EVENT_OVERHEAD;
/// Newest minus oldest timestamp of one request.
const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// At most 5 `PutLogEvents` calls per second per stream.
const MIN_CALL_GAP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct CloudwatchConfig {
    pub log_group: String,
    pub log_stream: String,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub create_group: bool,
    pub create_stream: bool,
    pub retention_days: Option<i32>,
    pub batch_max_events: usize,
    pub flush_interval: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

pub struct CloudwatchSink {
    cfg: CloudwatchConfig,
    /// Built on the first batch (the SDK's credential chain is async).
    client: Option<Client>,
    last_call: Option<Instant>,
}

impl CloudwatchSink {
    pub fn new(cfg: CloudwatchConfig) -> Self {
        Self {
            cfg,
            client: None,
            last_call: None,
        }
    }

    async fn client(&mut self) -> Client {
        if let Some(c) = &self.client {
            return c.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // "Retries and backoff" alone governs retries and counters: one attempt per SDK call.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.cfg.connect_timeout)
                    .operation_attempt_timeout(self.cfg.request_timeout)
                    .build(),
            );
        if let Some(r) = &self.cfg.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &self.cfg.endpoint_url {
            loader = loader.endpoint_url(u.clone());
        }
        let client = Client::new(&loader.load().await);
        self.client = Some(client.clone());
        client
    }

    /// Creates what is missing; "already exists" counts as success ("CloudWatch Logs").
    async fn create_missing(&mut self, client: &Client) -> Result<(), SendError> {
        if !self.cfg.create_stream {
            return Err(SendError::permanent(
                "CloudWatch log group or stream does not exist (creation disabled)",
            ));
        }
        if self.cfg.create_group {
            match client
                .create_log_group()
                .log_group_name(&self.cfg.log_group)
                .send()
                .await
            {
                Ok(_) => {
                    if let Some(days) = self.cfg.retention_days {
                        client
                            .put_retention_policy()
                            .log_group_name(&self.cfg.log_group)
                            .retention_in_days(days)
                            .send()
                            .await
                            .map_err(|e| classify(&e, "PutRetentionPolicy"))?;
                    }
                }
                Err(e) if code(&e) == Some("ResourceAlreadyExistsException") => {}
                Err(e) => return Err(classify(&e, "CreateLogGroup")),
            }
        }
        match client
            .create_log_stream()
            .log_group_name(&self.cfg.log_group)
            .log_stream_name(&self.cfg.log_stream)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ResourceAlreadyExistsException") => Ok(()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Err(SendError::permanent(
                "CloudWatch log group does not exist (creation disabled)",
            )),
            Err(e) => Err(classify(&e, "CreateLogStream")),
        }
    }

    /// One `PutLogEvents` call; returns the indices (into `events`) the service rejected.
    async fn put(&mut self, client: &Client, events: &[InputLogEvent]) -> Result<Vec<usize>, SendError> {
        if let Some(last) = self.last_call {
            tokio::time::sleep_until(last + MIN_CALL_GAP).await;
        }
        let mut created = false;
        loop {
            self.last_call = Some(Instant::now());
            let answer = client
                .put_log_events()
                .log_group_name(&self.cfg.log_group)
                .log_stream_name(&self.cfg.log_stream)
                .set_log_events(Some(events.to_vec()))
                .send()
                .await;
            match answer {
                Ok(out) => return Ok(rejected(out.rejected_log_events_info(), events.len())),
                Err(e) if code(&e) == Some("ResourceNotFoundException") && !created => {
                    self.create_missing(client).await?;
                    created = true;
                }
                Err(e) if code(&e) == Some("DataAlreadyAcceptedException") => return Ok(Vec::new()),
                Err(e) => return Err(classify(&e, "PutLogEvents")),
            }
        }
    }
}

/// The indices a `rejectedLogEventsInfo` names ("CloudWatch Logs").
fn rejected(info: Option<&aws_sdk_cloudwatchlogs::types::RejectedLogEventsInfo>, n: usize) -> Vec<usize> {
    let Some(info) = info else { return Vec::new() };
    let idx = |v: Option<i32>| v.and_then(|i| usize::try_from(i).ok());
    let mut out: Vec<usize> = Vec::new();
    if let Some(end) = idx(info.too_old_log_event_end_index()) {
        out.extend(0..=end.min(n.saturating_sub(1)));
    }
    if let Some(end) = idx(info.expired_log_event_end_index()) {
        out.extend(0..=end.min(n.saturating_sub(1)));
    }
    if let Some(start) = idx(info.too_new_log_event_start_index()) {
        out.extend(start..n);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// Retriable: throttling, unavailability, 5xx and anything that is not a service answer.
fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>, op: &str) -> SendError {
    match e {
        SdkError::ServiceError(s) => {
            let c = s.err().code().unwrap_or("unknown error");
            let retriable = matches!(
                c,
                "ThrottlingException" | "ServiceUnavailableException" | "InvalidSequenceTokenException"
            ) || s.raw().status().is_server_error();
            let text = format!("CloudWatch {op}: {c}");
            if retriable {
                SendError::retriable(text)
            } else {
                SendError::permanent(text)
            }
        }
        SdkError::TimeoutError(_) => SendError::retriable(format!("CloudWatch {op}: timed out")),
        _ => SendError::retriable(format!("CloudWatch {op}: request failed")),
    }
}

/// Groups of batch indices sorted by timestamp (stable), split where a group would span more
/// than 24 hours ("CloudWatch Logs").
pub fn groups(timestamps: &[i64]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..timestamps.len()).collect();
    order.sort_by_key(|i| timestamps[*i]);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(g) if timestamps[i] - timestamps[g[0]] <= MAX_SPAN_MS => g.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

fn epoch_ms(u: &Unit) -> i64 {
    chrono::DateTime::parse_from_rfc3339(u.event.timestamp())
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

#[async_trait]
impl Sink for CloudwatchSink {
    fn limits(&self) -> Limits {
        Limits {
            max_events: self.cfg.batch_max_events.min(MAX_EVENTS),
            max_bytes: MAX_BYTES,
            overhead: EVENT_OVERHEAD,
            flush_interval: Some(self.cfg.flush_interval),
            one_type_per_batch: false,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        fit(event, MAX_MESSAGE, to_json)
    }

    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        let client = self.client().await;
        let ts: Vec<i64> = batch.iter().map(epoch_ms).collect();
        let mut report = Report::default();
        for group in groups(&ts) {
            let events: Vec<InputLogEvent> = group
                .iter()
                .map(|i| {
                    InputLogEvent::builder()
                        .timestamp(ts[*i])
                        .message(batch[*i].text.clone())
                        .build()
                        .map_err(|e| SendError::permanent(format!("CloudWatch event: {e}")))
                })
                .collect::<Result<_, _>>()?;
            for r in self.put(&client, &events).await? {
                report.failed.push((group[r], FailReason::Rejected));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sorted_and_split_at_24_hours() {
        let h = 3600 * 1000;
        assert_eq!(groups(&[3, 1, 2]), vec![vec![1, 2, 0]]);
        assert_eq!(groups(&[0, 25 * h, 1]), vec![vec![0, 2], vec![1]]);
        assert_eq!(groups(&[5, 5, 5]), vec![vec![0, 1, 2]], "stable for equal timestamps");
        assert_eq!(groups(&[0, 24 * h]), vec![vec![0, 1]], "exactly 24 h still fits");
    }

    #[test]
    fn rejected_ranges_name_the_right_events() {
        use aws_sdk_cloudwatchlogs::types::RejectedLogEventsInfo;
        let info = RejectedLogEventsInfo::builder().too_old_log_event_end_index(1).build();
        assert_eq!(rejected(Some(&info), 5), vec![0, 1]);
        let info = RejectedLogEventsInfo::builder()
            .too_new_log_event_start_index(3)
            .expired_log_event_end_index(0)
            .build();
        assert_eq!(rejected(Some(&info), 5), vec![0, 3, 4]);
        assert!(rejected(None, 5).is_empty());
    }
}
