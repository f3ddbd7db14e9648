//! EventBus on Redis pub/sub (docs/reference/CORE-API.md, "Redis channels"): every process
//! publishes its frames to the shared channels and delivers to its own subscribers what it receives
//! from them, so an SSE client on any API process sees the results of every worker. Best effort by
//! design: counters, completion and the DLQ never depend on delivery.
//!
//! Two bounded buffers, each because a side must never wait: the outbox ([`OUTBOX`]) lets a
//! publisher (a job actor, an HTTP handler) hand an event over without waiting for Redis, and
//! drops new events while Redis is slow or down (counted, logged); the local broadcast channel
//! ([`CAPACITY`]) is the same buffer as the embedded bus's, between the subscription task and
//! this process's Broadcaster. An event is published even when it comes back to this process
//! through the subscription: that is how it reaches this process's own sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::backend::events::scan_result_json;
use crate::backend::{BusEvent, EventBus, JobSnapshot};
use crate::model::result::ScanResultModel;
use crate::retry::Backoff;

/// Events buffered per local subscriber before the oldest are dropped.
const CAPACITY: usize = 16_384;
/// Events waiting to be published before new ones are dropped (Redis slow or down).
const OUTBOX: usize = 16_384;

struct Channels {
    scan_result: String,
    connectors: String,
    dlq: String,
}

pub struct RedisBus {
    local: broadcast::Sender<BusEvent>,
    outbox: mpsc::Sender<(String, String)>,
    channels: Arc<Channels>,
    healthy: Arc<AtomicBool>,
    dropped: AtomicU64,
}

impl RedisBus {
    /// Starts the publisher and the subscriber tasks (each reconnects with backoff on its own).
    pub fn start(client: redis::Client, prefix: &str, round_trips: Arc<AtomicU64>) -> Self {
        let channels = Arc::new(Channels {
            scan_result: format!("{prefix}notify:scan_result"),
            connectors: format!("{prefix}notify:connectors"),
            dlq: format!("{prefix}notify:dlq"),
        });
        let (local, _) = broadcast::channel(CAPACITY);
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let healthy = Arc::new(AtomicBool::new(false));
        tokio::spawn(publisher(client.clone(), rx, round_trips));
        tokio::spawn(subscriber(
            client,
            Arc::clone(&channels),
            local.clone(),
            Arc::clone(&healthy),
        ));
        Self {
            local,
            outbox,
            channels,
            healthy,
            dropped: AtomicU64::new(0),
        }
    }
}

/// The channel and payload of an event (docs/reference/CORE-API.md, "Redis channels").
fn encode(channels: &Channels, ev: &BusEvent) -> (String, String) {
    match ev {
        BusEvent::ScanResult { result, job } => (
            channels.scan_result.clone(),
            scan_result_json(result, job.as_ref()).to_string(),
        ),
        BusEvent::JobSummary { job, announces_end } => (
            channels.scan_result.clone(),
            json!({"type": "job_summary", "job": &*job.summary, "terminal": announces_end}).to_string(),
        ),
        BusEvent::Connector(v) => (channels.connectors.clone(), v.to_string()),
        BusEvent::Dlq(v) => (channels.dlq.clone(), v.to_string()),
    }
}

/// A `scan_result` or `job_summary` payload of the scan-result channel. Only here is JSON read
/// back into typed fields: the job's id and status through serde ([`JobSnapshot::from_wire`]).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ScanChannelPayload {
    ScanResult {
        scan_result: Box<ScanResultModel>,
        job: Option<Value>,
    },
    JobSummary {
        job: Value,
        /// Absent from older publishers: then the job's status decides.
        terminal: Option<bool>,
    },
}

/// The event a payload received on `channel` stands for; `None` for a payload this build cannot
/// read (logged: it names a job it cannot type, or is not an event at all).
fn decode(channels: &Channels, channel: &str, payload: &str) -> Option<BusEvent> {
    if channel == channels.connectors {
        return serde_json::from_str(payload).ok().map(BusEvent::Connector);
    }
    if channel == channels.dlq {
        return serde_json::from_str(payload).ok().map(BusEvent::Dlq);
    }
    let decoded = match serde_json::from_str::<ScanChannelPayload>(payload) {
        Ok(ScanChannelPayload::ScanResult { scan_result, job }) => match job {
            None => Some(BusEvent::ScanResult {
                result: Arc::new(*scan_result),
                job: None,
            }),
            Some(j) => JobSnapshot::from_wire(j).map(|job| BusEvent::ScanResult {
                result: Arc::new(*scan_result),
                job: Some(job),
            }),
        },
        Ok(ScanChannelPayload::JobSummary { job, terminal }) => JobSnapshot::from_wire(job).map(|job| {
            let announces_end = terminal.unwrap_or(job.status.is_terminal());
            BusEvent::JobSummary { job, announces_end }
        }),
        Err(_) => None,
    };
    if decoded.is_none() {
        tracing::warn!(
            channel,
            "an event on the scan-result channel could not be read; ignored"
        );
    }
    decoded
}

/// Waits before reconnecting to Redis: 100 ms doubling up to 3 s (`attempt` counts from 0).
fn backoff(attempt: u32) -> Duration {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(3)).delay(attempt.saturating_add(1))
}

async fn publisher(client: redis::Client, mut rx: mpsc::Receiver<(String, String)>, round_trips: Arc<AtomicU64>) {
    let mut conn = None;
    let mut attempt = 0;
    while let Some((channel, payload)) = rx.recv().await {
        loop {
            if conn.is_none() {
                match client.get_multiplexed_async_connection().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "event publisher cannot reach Redis; retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            round_trips.fetch_add(1, Ordering::Relaxed);
            match c.publish::<_, _, i64>(&channel, &payload).await {
                Ok(_) => {
                    attempt = 0;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "publishing an event failed; reconnecting");
                    conn = None;
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

async fn subscriber(
    client: redis::Client,
    channels: Arc<Channels>,
    local: broadcast::Sender<BusEvent>,
    healthy: Arc<AtomicBool>,
) {
    let mut attempt = 0;
    loop {
        let session = async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&[&channels.scan_result, &channels.connectors, &channels.dlq])
                .await?;
            Ok::<_, redis::RedisError>(ps)
        };
        match session.await {
            Ok(mut ps) => {
                healthy.store(true, Ordering::Release);
                attempt = 0;
                let mut messages = ps.on_message();
                while let Some(msg) = messages.next().await {
                    let channel = msg.get_channel_name().to_string();
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if let Some(ev) = decode(&channels, &channel, &payload) {
                        let _ = local.send(ev);
                    }
                }
                healthy.store(false, Ordering::Release);
                tracing::warn!("event subscription to Redis ended; reconnecting");
            }
            Err(e) => {
                healthy.store(false, Ordering::Release);
                if attempt == 0 {
                    tracing::warn!(error = %e, "cannot subscribe to Redis events; retrying");
                }
            }
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

impl EventBus for RedisBus {
    fn publish(&self, ev: BusEvent) {
        let msg = encode(&self.channels, &ev);
        if self.outbox.try_send(msg).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "event outbox full (Redis slow or down); events dropped");
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.local.subscribe()
    }

    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobStatus;

    fn channels() -> Channels {
        Channels {
            scan_result: "p:notify:scan_result".into(),
            connectors: "p:notify:connectors".into(),
            dlq: "p:notify:dlq".into(),
        }
    }

    fn snapshot(status: &str) -> JobSnapshot {
        JobSnapshot::from_wire(json!({"job_id": "j1", "status": status, "processed_count": 2}))
            .expect("a valid summary")
    }

    #[test]
    fn a_job_summary_keeps_its_payload_and_its_typed_facts_across_processes() {
        let ch = channels();
        let ev = BusEvent::JobSummary {
            job: snapshot("cancelled"),
            announces_end: false,
        };
        let (channel, payload) = encode(&ch, &ev);
        assert_eq!(channel, "p:notify:scan_result");
        assert_eq!(
            payload,
            r#"{"type":"job_summary","job":{"job_id":"j1","status":"cancelled","processed_count":2},"terminal":false}"#
        );
        let Some(BusEvent::JobSummary { job, announces_end }) = decode(&ch, &channel, &payload) else {
            panic!("a job summary")
        };
        assert_eq!(
            (job.job_id.as_str(), job.status, announces_end),
            ("j1", JobStatus::Cancelled, false)
        );
        // A publisher that does not say: the status decides.
        let old = r#"{"type":"job_summary","job":{"job_id":"j1","status":"completed"}}"#;
        assert!(matches!(
            decode(&ch, &channel, old),
            Some(BusEvent::JobSummary {
                announces_end: true,
                ..
            })
        ));
    }

    #[test]
    fn a_payload_naming_no_valid_job_is_ignored() {
        let ch = channels();
        let bad = r#"{"type":"job_summary","job":{"job_id":"a b","status":"running"}}"#;
        assert!(decode(&ch, &ch.scan_result, bad).is_none());
        assert!(decode(&ch, &ch.scan_result, r#"{"type":"other"}"#).is_none());
        assert!(decode(&ch, &ch.connectors, r#"{"type":"registered"}"#).is_some());
    }
}
