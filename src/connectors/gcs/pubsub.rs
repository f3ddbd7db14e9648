//! Event intake from a Pub/Sub pull subscription receiving the bucket's notifications
//! (docs/reference/CONNECTORS.md, "GCS connector", events): the enqueueable items of one pull
//! form one job; messages are acknowledged only once that job was accepted (or when they held
//! nothing to scan), others are handed back at once. Undecodable messages stay unacknowledged
//! for the subscription's dead-letter policy.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::asset::{GcsAsset, Quarantine};
use super::client::GcsClient;
use super::events;
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::{ItemSink, WebhookItem};
use crate::retry::Backoff;

/// Waits after failed pulls: 1 s, doubling up to 30 s.
const PULL_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// Pause after an empty pull (the next one follows within a second, without a busy loop).
const IDLE: Duration = Duration::from_millis(500);
/// How long one pull may wait for messages. Pub/Sub holds a pull until messages arrive or a
/// bounded wait of its own ends, and the emulator holds it longer than the client's read
/// timeout: a pull still unanswered after this ends as an empty one (a long poll), so an idle
/// subscription never looks like an unreachable one.
const LONG_POLL: Duration = Duration::from_secs(30);
/// Held messages get this deadline…
const HOLD_SECS: u64 = 60;
/// …renewed this often while their job runs.
const RENEW: Duration = Duration::from_secs(30);

pub struct Puller {
    pub client: GcsClient,
    /// `projects/P/subscriptions/S`.
    pub subscription: String,
    pub max_messages: u32,
    pub asset: GcsAsset,
    pub quarantine: Quarantine,
    pub filter: Arc<Filter>,
    pub sink: Arc<dyn ItemSink>,
}

pub fn spawn(p: Puller, stop: CancellationToken) {
    tokio::spawn(async move { p.run(stop).await });
}

/// One received message and what it holds.
struct Received {
    ack_id: String,
    message_id: Option<String>,
    item: WebhookItem,
}

impl Puller {
    async fn run(self, stop: CancellationToken) {
        tracing::info!(subscription = %self.subscription, "pulling Cloud Storage notifications from Pub/Sub");
        let mut failures = 0u32;
        loop {
            let path = format!("v1/{}:pull", self.subscription);
            let body = json!({ "maxMessages": self.max_messages });
            let pull = tokio::time::timeout(LONG_POLL, self.client.post(&path, &body));
            let pulled = tokio::select! {
                _ = stop.cancelled() => return,
                r = pull => r,
            };
            let wait = match pulled {
                // The service held the pull open without messages: it is there, and idle.
                Err(_long_poll_ended) => {
                    failures = 0;
                    self.sink.monitor_state(None);
                    None
                }
                Ok(Ok(answer)) => {
                    failures = 0;
                    self.sink.monitor_state(None);
                    let messages = answer
                        .get("receivedMessages")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if messages.is_empty() {
                        Some(IDLE)
                    } else {
                        self.handle(messages).await;
                        None
                    }
                }
                Ok(Err(f)) => {
                    failures += 1;
                    self.sink.monitor_state(Some(format!(
                        "Pub/Sub subscription {} is unavailable: {f}",
                        self.subscription
                    )));
                    Some(PULL_BACKOFF.delay(failures))
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    async fn handle(&self, messages: Vec<Value>) {
        let mut received = Vec::new();
        for m in &messages {
            let Some(ack_id) = m.get("ackId").and_then(Value::as_str) else {
                continue;
            };
            let message = m.get("message").cloned().unwrap_or(Value::Null);
            let item = events::classify_message(&message, &self.asset, &self.quarantine, &self.filter);
            if item == WebhookItem::Rejected("malformed") {
                let id = message.get("messageId").and_then(Value::as_str).unwrap_or("?");
                let attempt = m.get("deliveryAttempt").and_then(Value::as_u64).unwrap_or(0);
                tracing::warn!(
                    message = id,
                    delivery_attempt = attempt,
                    "a Pub/Sub message is not a Cloud Storage notification; it stays unacknowledged for the dead-letter policy"
                );
                continue;
            }
            received.push(Received {
                ack_id: ack_id.to_string(),
                message_id: events::message_id(&message).map(str::to_string),
                item,
            });
        }
        let (wanted, rest): (Vec<Received>, Vec<Received>) = received
            .into_iter()
            .partition(|r| matches!(r.item, WebhookItem::Enqueue(_)));
        let mut ack: Vec<String> = rest.into_iter().map(|r| r.ack_id).collect();
        if !wanted.is_empty() {
            let held: Vec<String> = wanted.iter().map(|r| r.ack_id.clone()).collect();
            // Messages handed back are re-delivered with the same ids; when they come back as the
            // same group, their job (and the core's idempotency keys) is the same.
            let delivery = DeliveryId::of_events("pubsub", wanted.iter().map(|r| r.message_id.as_deref()));
            let items: Vec<WebhookItem> = wanted.into_iter().map(|r| r.item).collect();
            let submit = self.sink.submit_event(items, delivery);
            tokio::pin!(submit);
            let outcome = loop {
                tokio::select! {
                    o = &mut submit => break o,
                    _ = tokio::time::sleep(RENEW) => self.modify_deadline(&held, HOLD_SECS).await,
                }
            };
            if outcome.failed > 0 || outcome.core_unavailable {
                tracing::warn!(
                    enqueued = outcome.enqueued,
                    failed = outcome.failed,
                    "not every object of a Pub/Sub pull was accepted; its messages are handed back for redelivery"
                );
                self.modify_deadline(&held, 0).await;
            } else {
                tracing::info!(
                    enqueued = outcome.enqueued,
                    "Cloud Storage notifications from Pub/Sub enqueued"
                );
                ack.extend(held);
            }
        }
        if !ack.is_empty()
            && let Err(f) = self
                .client
                .post(
                    &format!("v1/{}:acknowledge", self.subscription),
                    &json!({ "ackIds": ack }),
                )
                .await
        {
            tracing::warn!(error = %f, "acknowledging Pub/Sub messages failed; they may be delivered again");
        }
    }

    async fn modify_deadline(&self, ack_ids: &[String], secs: u64) {
        if let Err(f) = self
            .client
            .post(
                &format!("v1/{}:modifyAckDeadline", self.subscription),
                &json!({ "ackIds": ack_ids, "ackDeadlineSeconds": secs }),
            )
            .await
        {
            tracing::warn!(error = %f, "changing the deadline of Pub/Sub messages failed");
        }
    }
}
