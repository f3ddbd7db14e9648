//! The Event Grid harness (the EG rig of docs/reference/CONNECTORS.md, "Test fakes"): no Event
//! Grid emulator exists and Azurite emits no events, so this sender performs Event Grid's
//! documented webhook exchanges itself — the subscription validation POST
//! (`aeg-event-type: SubscriptionValidation`, expecting `validationResponse`), the CloudEvents
//! abuse-protection `OPTIONS`, and notifications with Event Grid's delivery headers
//! (`aeg-event-type: Notification`, `aeg-subscription-name`, `aeg-delivery-count`,
//! `aeg-metadata-version`, `aeg-data-version`; `Origin` for CloudEvents), single or batched, in
//! the Event Grid schema or as CloudEvents 1.0. A delivery is re-sent unchanged after any answer
//! but 200–204 (success) and 400, 401, 403, 413 (dead-lettered, never retried), including no
//! answer within Event Grid's 30 s, on a retry schedule the test chooses (Event Grid's own starts
//! at 10 s, 30 s, 1 min — too slow for a test). Events are built from blobs that really exist in
//! the blob service: their `eTag`, `contentLength`, `contentType`, `blobType` and URL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dsx_connect::connectors::azure::client::{BlobClient, Call};
use reqwest::Method;
use serde_json::{Value, json};

/// How long Event Grid waits for a webhook's answer before it counts the attempt as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Event Grid's default for the attempts of one event.
pub const MAX_ATTEMPTS: u32 = 30;
/// The origin Event Grid names in its CloudEvents requests.
pub const ORIGIN: &str = "eventgrid.azure.net";

/// The schema a subscription delivers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    EventGrid,
    CloudEvents,
}

/// A `Microsoft.Storage.BlobCreated` event of one blob, independent of the schema.
#[derive(Debug, Clone)]
pub struct BlobCreated {
    pub id: String,
    pub topic: String,
    pub subject: String,
    pub time: String,
    pub data: Value,
}

/// One attempt of a delivery, as Event Grid saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The `aeg-delivery-count` sent (0 on the first attempt).
    pub delivery_count: u32,
    /// The webhook's status; `None` when it did not answer (connection failure, timeout).
    pub status: Option<u16>,
    pub body: Value,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// A 200–204 answer, with its body.
    Delivered(u16, Value),
    /// 400, 401, 403 or 413: sent to the dead-letter destination without a retry.
    DeadLettered(u16),
    /// Every attempt failed.
    Exhausted,
}

/// An event subscription pushing to one webhook endpoint.
#[derive(Clone)]
pub struct Subscription {
    /// The webhook URL as configured in the subscription (a query such as `?api_key=` kept).
    pub endpoint: String,
    pub name: String,
    pub schema: Schema,
    /// The waits before the second, third, … attempt; the last one repeats.
    pub retry: Vec<Duration>,
    pub max_attempts: u32,
    http: reqwest::Client,
    attempts: Arc<Mutex<Vec<Attempt>>>,
}

/// The blob service URL of a blob (path-style when the endpoint is, as with Azurite).
fn blob_url(az: &BlobClient, container: &str, name: &str) -> String {
    az.blob_url(container, name, &[]).to_string()
}

/// Blob Storage orders the events of a blob by an increasing hexadecimal `sequencer`.
static SEQUENCER: AtomicU64 = AtomicU64::new(0x4420_0000_0002_8963);

/// An id in Event Grid's GUID form.
fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl BlobCreated {
    /// The event Blob Storage publishes after `api` (`PutBlob`, `PutBlockList`, `CopyBlob`,
    /// `FlushWithClose`) wrote `name`, with the blob's real properties.
    pub async fn of(az: &BlobClient, container: &str, name: &str, api: &str) -> Self {
        let r = az
            .send(&Call::new(Method::HEAD, az.blob_url(container, name, &[])))
            .await
            .unwrap_or_else(|e| panic!("Get Blob Properties of {name}: {}", e.message));
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        };
        let length: u64 = h("content-length").parse().unwrap_or(0);
        Self {
            id: guid(),
            topic: format!(
                "/subscriptions/{}/resourceGroups/dsx-test/providers/Microsoft.Storage/storageAccounts/{}",
                guid(),
                az.account
            ),
            subject: format!("/blobServices/default/containers/{container}/blobs/{name}"),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            data: json!({
                "api": api,
                "clientRequestId": guid(),
                "requestId": guid(),
                "eTag": h("etag").trim_matches('"'),
                "contentType": h("content-type"),
                "contentLength": length,
                "blobType": h("x-ms-blob-type"),
                "url": blob_url(az, container, name),
                "sequencer": format!("{:032x}", SEQUENCER.fetch_add(1, Ordering::Relaxed)),
                "storageDiagnostics": {"batchId": guid()},
            }),
        }
    }
}

impl Subscription {
    pub fn new(endpoint: &str, name: &str, schema: Schema, retry: &[Duration]) -> Self {
        assert!(!retry.is_empty(), "a retry schedule needs at least one wait");
        Self {
            endpoint: endpoint.to_string(),
            name: name.to_string(),
            schema,
            retry: retry.to_vec(),
            max_attempts: MAX_ATTEMPTS,
            http: reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build().unwrap(),
            attempts: Arc::default(),
        }
    }

    /// Waits `timeout` for the webhook's answer instead of Event Grid's 30 s, so a test can make
    /// the sender give up on a slow attempt without waiting half a minute.
    pub fn with_answer_timeout(mut self, timeout: Duration) -> Self {
        self.http = reqwest::Client::builder().timeout(timeout).build().unwrap();
        self
    }

    /// Every attempt so far, of every delivery of this subscription.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// The event in this subscription's schema.
    pub fn event(&self, e: &BlobCreated) -> Value {
        match self.schema {
            Schema::EventGrid => json!({
                "topic": e.topic,
                "subject": e.subject,
                "eventType": "Microsoft.Storage.BlobCreated",
                "eventTime": e.time,
                "id": e.id,
                "data": e.data,
                "dataVersion": "",
                "metadataVersion": "1",
            }),
            Schema::CloudEvents => json!({
                "source": e.topic,
                "subject": e.subject,
                "type": "Microsoft.Storage.BlobCreated",
                "time": e.time,
                "id": e.id,
                "data": e.data,
                "specversion": "1.0",
            }),
        }
    }

    /// The validation handshake Event Grid performs when the subscription is created (Event
    /// Grid schema): the webhook must echo the code. Returns the status and whether the answer
    /// echoed the code sent.
    pub async fn validate(&self) -> (u16, bool) {
        let code = guid().to_uppercase();
        let body = json!([{
            "id": guid(),
            "topic": "/subscriptions/s/resourceGroups/dsx-test/providers/Microsoft.Storage/storageAccounts/x",
            "subject": "",
            "data": {
                "validationCode": code,
                "validationUrl": format!("https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/{}/validate?id={code}", self.name),
            },
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": chrono::Utc::now().to_rfc3339(),
            "metadataVersion": "1",
            "dataVersion": "2",
        }]);
        let r = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json; charset=utf-8")
            .header("aeg-event-type", "SubscriptionValidation")
            .header("aeg-subscription-name", self.name.to_uppercase())
            .header("aeg-delivery-count", "0")
            .header("aeg-metadata-version", "1")
            .header("aeg-data-version", "2")
            .body(body.to_string())
            .send()
            .await
            .expect("the webhook answers the validation");
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (status, v["validationResponse"].as_str() == Some(code.as_str()))
    }

    /// The CloudEvents abuse-protection handshake: `OPTIONS` with `WebHook-Request-Origin`.
    /// Returns the status and the allowed origin.
    pub async fn abuse_protection(&self) -> (u16, Option<String>) {
        let r = self
            .http
            .request(Method::OPTIONS, &self.endpoint)
            .header("WebHook-Request-Origin", ORIGIN)
            .header("WebHook-Request-Rate", "120")
            .send()
            .await
            .expect("the webhook answers OPTIONS");
        let allowed = r
            .headers()
            .get("webhook-allowed-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (r.status().as_u16(), allowed)
    }

    /// Delivers `events` as one request (Event Grid batches; CloudEvents as one event or as
    /// `application/cloudevents-batch+json`), re-sending the same bytes after failures.
    pub async fn deliver(&self, events: &[BlobCreated]) -> Fate {
        let bodies: Vec<Value> = events.iter().map(|e| self.event(e)).collect();
        let (content_type, body) = match (self.schema, bodies.as_slice()) {
            (Schema::CloudEvents, [one]) => ("application/cloudevents+json; charset=utf-8", one.clone()),
            (Schema::CloudEvents, _) => (
                "application/cloudevents-batch+json; charset=utf-8",
                Value::Array(bodies),
            ),
            (Schema::EventGrid, _) => ("application/json; charset=utf-8", Value::Array(bodies)),
        };
        self.deliver_raw(content_type, &body.to_string(), events.first().map(|e| e.id.as_str()))
            .await
    }

    /// Delivers a body as it is (e.g. one the webhook cannot read), with the retry rules.
    pub async fn deliver_raw(&self, content_type: &str, body: &str, event_id: Option<&str>) -> Fate {
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                let i = (attempt as usize - 1).min(self.retry.len() - 1);
                tokio::time::sleep(self.retry[i]).await;
            }
            let mut rb = self
                .http
                .post(&self.endpoint)
                .header("content-type", content_type)
                .header("aeg-event-type", "Notification")
                .header("aeg-subscription-name", self.name.to_uppercase())
                .header("aeg-delivery-count", attempt.to_string());
            rb = match self.schema {
                Schema::EventGrid => rb.header("aeg-metadata-version", "1").header("aeg-data-version", ""),
                Schema::CloudEvents => rb.header("aeg-metadata-version", "1.0").header("Origin", ORIGIN),
            };
            if let Some(id) = event_id {
                rb = rb.header("aeg-output-event-id", id);
            }
            let (status, answer) = match rb.body(body.to_string()).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    (Some(s), r.json::<Value>().await.unwrap_or(Value::Null))
                }
                Err(_) => (None, Value::Null),
            };
            self.attempts.lock().unwrap().push(Attempt {
                delivery_count: attempt,
                status,
                body: answer.clone(),
            });
            match status {
                Some(s @ 200..=204) => return Fate::Delivered(s, answer),
                Some(s @ (400 | 401 | 403 | 413)) => return Fate::DeadLettered(s),
                _ => {}
            }
        }
        Fate::Exhausted
    }
}
