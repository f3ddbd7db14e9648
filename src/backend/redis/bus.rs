//! EventBus on Redis pub/sub (docs/reference/CORE-API.md, "Redis channels"): every process
//! publishes its frames to the shared channels and delivers to its own subscribers what it receives
//! from them, so an SSE client on any API process sees the results of every worker. Best effort by
//! design: counters, completion and the DLQ never depend on delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::backend::{BusEvent, EventBus};
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

    fn encode(&self, ev: &BusEvent) -> (String, String) {
        match ev {
            BusEvent::ScanResult { result, job } => {
                let mut v = json!({"type": "scan_result", "scan_result": &**result});
                if let Some(j) = job {
                    v["job"] = (**j).clone();
                }
                (self.channels.scan_result.clone(), v.to_string())
            }
            BusEvent::JobSummary { job, terminal } => (
                self.channels.scan_result.clone(),
                json!({"type": "job_summary", "job": &**job, "terminal": terminal}).to_string(),
            ),
            BusEvent::Connector(v) => (self.channels.connectors.clone(), v.to_string()),
            BusEvent::Dlq(v) => (self.channels.dlq.clone(), v.to_string()),
        }
    }
}

/// The event a payload received on `channel` stands for.
fn decode(channels: &Channels, channel: &str, payload: &str) -> Option<BusEvent> {
    let v: Value = serde_json::from_str(payload).ok()?;
    if channel == channels.connectors {
        return Some(BusEvent::Connector(v));
    }
    if channel == channels.dlq {
        return Some(BusEvent::Dlq(v));
    }
    match v.get("type")?.as_str()? {
        "scan_result" => {
            let result: ScanResultModel = serde_json::from_value(v.get("scan_result")?.clone()).ok()?;
            Some(BusEvent::ScanResult {
                result: Arc::new(result),
                job: v.get("job").cloned().map(Arc::new),
            })
        }
        "job_summary" => {
            let job = v.get("job")?.clone();
            let terminal = v.get("terminal").and_then(Value::as_bool).unwrap_or_else(|| {
                matches!(
                    job.get("status").and_then(Value::as_str),
                    Some("completed" | "cancelled")
                )
            });
            Some(BusEvent::JobSummary {
                job: Arc::new(job),
                terminal,
            })
        }
        _ => None,
    }
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
        let msg = self.encode(&ev);
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
