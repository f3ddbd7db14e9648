//! Event intake from an SQS queue that receives the bucket's event notifications: each message
//! is classified like a webhook body; it is deleted only once its items were accepted by the
//! core (or it held nothing to scan). Messages that cannot be read are left alone, so the
//! queue's redrive policy moves them to its dead-letter queue after its receive limit.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::asset::{Quarantine, S3Asset};
use super::events;
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::{ItemSink, WebhookItem};
use crate::retry::Backoff;

/// Messages per ReceiveMessage call (the SQS maximum).
const BATCH: i32 = 10;
/// Longest wait between attempts while the queue is unreachable.
/// Waits after failed receives: 2 s, 4 s, … up to 30 s.
const RECEIVE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));

pub struct Poller {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub wait: Duration,
    pub asset: S3Asset,
    pub quarantine: Quarantine,
    pub filter: Arc<Filter>,
    pub sink: Arc<dyn ItemSink>,
}

pub fn spawn(p: Poller, stop: CancellationToken) {
    tokio::spawn(async move { p.run(stop).await });
}

impl Poller {
    async fn run(self, stop: CancellationToken) {
        tracing::info!(queue = %self.queue_url, "polling SQS for S3 events");
        let mut failures = 0u32;
        loop {
            let receive = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(BATCH)
                .wait_time_seconds(self.wait.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                r = receive => r,
            };
            match received {
                Ok(out) => {
                    failures = 0;
                    self.sink.monitor_state(None);
                    for m in out.messages() {
                        if stop.is_cancelled() {
                            return;
                        }
                        self.handle(m).await;
                    }
                }
                Err(e) => {
                    failures += 1;
                    let why = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
                    self.sink
                        .monitor_state(Some(format!("SQS queue {} is unavailable: {why}", self.queue_url)));
                    let wait = RECEIVE_BACKOFF.delay(failures);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn handle(&self, m: &Message) {
        let id = m.message_id().unwrap_or("?");
        let receives = m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .map(String::as_str)
            .unwrap_or("?");
        let parsed = serde_json::from_str::<Value>(m.body().unwrap_or_default())
            .map_err(|e| e.to_string())
            .and_then(|v| events::classify(&v, &self.asset, &self.quarantine, &self.filter).map_err(|e| e.message));
        let items = match parsed {
            Ok(items) => items,
            Err(why) => {
                tracing::warn!(message = id, receives, error = %why, "an SQS message is not an S3 event; it stays on the queue for its redrive policy");
                return;
            }
        };
        let wanted = items.iter().filter(|i| matches!(i, WebhookItem::Enqueue(_))).count();
        if wanted > 0 {
            // The message id stays the same across re-deliveries of the message.
            let delivery = DeliveryId::of_events("sqs", [m.message_id()]);
            let o = self.sink.submit_event(items, delivery).await;
            if o.failed > 0 || o.core_unavailable {
                tracing::warn!(
                    message = id,
                    enqueued = o.enqueued,
                    failed = o.failed,
                    "not every item of an SQS message was accepted; it stays on the queue and will be delivered again"
                );
                return;
            }
            tracing::info!(message = id, enqueued = o.enqueued, "S3 event from SQS enqueued");
        }
        if let Some(receipt) = m.receipt_handle()
            && let Err(e) = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
        {
            tracing::warn!(message = id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "deleting a handled SQS message failed; it may be delivered again");
        }
    }
}
