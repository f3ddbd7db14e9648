//! The connector framework: everything a connector does that is not about its storage
//! (routes, authentication, status, registration and heartbeat, full scans, batching, retries,
//! webhooks intake, shutdown). A storage plugs in by implementing [`Storage`].

pub mod core_client;
pub mod delivery;
pub mod exact_len;
pub mod full_scan;
pub mod keyring;
pub mod routes;
pub mod scanned;
pub mod server;
pub mod service;
pub mod settings;
pub mod settings_table;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::connectors::filter::Filter;
use crate::model::{ItemAction, ItemActionStatusResponse, ItemIdentity};
use crate::scanner::ByteStream;

/// One item in scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub location: String,
    pub metainfo: String,
    pub size: Option<u64>,
    /// What the listing says about the current content (docs/SCAN-REUSE.md); `None` when the
    /// storage cannot tell, and such items are always scanned.
    pub identity: Option<ItemIdentity>,
}

/// Why a repository check failed (`last_repo_check_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFailure {
    /// One of `not_found`, `not_a_directory`, `auth_failure`, `unreachable`, `misconfigured`, `error`.
    pub reason: &'static str,
    pub message: String,
}

/// A passed check may still carry warnings (`warning=…` tokens).
pub type RepoCheck = Result<Vec<String>, RepoFailure>;

/// The bytes of an item being read.
pub struct ItemBody {
    pub size: Option<u64>,
    pub stream: ByteStream,
}

/// A `read_file` failure with its HTTP status (docs/reference/CONNECTORS.md, "read_file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub status: u16,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ReadError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

/// An item-action answer with its HTTP status (docs/reference/CONNECTORS.md, "item_action").
pub type ActionAnswer = (u16, ItemActionStatusResponse);

/// How one webhook item was classified (docs/reference/CONNECTORS.md, "Webhook endpoint").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookItem {
    Enqueue(Item),
    /// Out of scope: `filtered`, `quarantine`, `not_found`, `not_a_file`, `folder_marker`, …
    Ignored(&'static str),
    /// Invalid: `foreign_bucket`, `malformed`.
    Rejected(&'static str),
}

/// A webhook body that cannot be processed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookError {
    pub status: u16,
    pub message: String,
}

/// The request headers a storage may use to classify a webhook call (docs/reference/CONNECTORS.md,
/// "Webhook endpoint").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHeaders {
    pub content_type: Option<String>,
    pub origin: Option<String>,
    /// Event Grid's `aeg-event-type` (`SubscriptionValidation`, `Notification`).
    pub aeg_event_type: Option<String>,
    /// CloudEvents binary mode attributes.
    pub ce_type: Option<String>,
    pub ce_source: Option<String>,
    pub ce_subject: Option<String>,
    /// `WebHook-Request-Origin` of a CloudEvents abuse-protection `OPTIONS`.
    pub webhook_request_origin: Option<String>,
}

/// A webhook call as a storage sees it: the parsed body (`null` for `OPTIONS`) and its headers.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub body: &'a Value,
    pub headers: WebhookHeaders,
}

/// An answer to a webhook call that is a handshake, not a delivery: no job is created, nothing
/// is enqueued or counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// A scan result to record on the item itself (`PUT /<name>/result_tag`, offered by connectors
/// that advertise the `result_tags` capability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultTag {
    /// `clean`, `malicious`, `not_scanned` or `error`.
    pub result: String,
    /// Why it was not scanned or failed.
    pub reason: Option<String>,
}

impl ResultTag {
    pub const RESULTS: [&'static str; 4] = ["clean", "malicious", "not_scanned", "error"];
}

/// Where a storage's change monitor hands what it found (implemented by the framework).
#[async_trait]
pub trait ItemSink: Send + Sync {
    /// Sends settled items as one job (scan requests, then `enqueue_done`).
    async fn submit(&self, items: Vec<Item>);
    /// Sends classified event items as one job and reports what became of them (an event
    /// queue deletes a message only once its items were accepted).
    async fn submit_event(&self, items: Vec<WebhookItem>, delivery: Option<delivery::DeliveryId>) -> EventOutcome;
    /// Reports the monitor's health: `None` when it watches, else why it does not.
    fn monitor_state(&self, error: Option<String>);
}

/// What became of the items of one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventOutcome {
    pub enqueued: u64,
    /// Refused by the core or abandoned after transient failures.
    pub failed: u64,
    /// Some items were abandoned because the core was unreachable.
    pub core_unavailable: bool,
}

/// An entry (or a listing page) the enumeration could not read: counted as `unreadable` by a
/// full scan and logged, and the enumeration goes on where it can.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what}")]
pub struct Unreadable {
    /// The entry or listing, as the storage names it.
    pub what: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Enumeration output: items in order, produced lazily into a bounded channel.
pub type ItemReceiver = mpsc::Receiver<Result<Item, Unreadable>>;

/// A storage repository behind a connector.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// `filesystem` or `s3`.
    fn kind(&self) -> &'static str;
    /// `meta_info` of the model.
    fn meta_info(&self) -> String;
    /// What the asset resolved to (`resolved_asset_base` in `/config`).
    fn resolved_asset_base(&self) -> Option<String>;
    /// Extra non-secret keys for `/config`.
    fn extra_config(&self) -> Map<String, Value>;
    /// Checks that the repository can be used (bounded by the caller).
    async fn repo_check(&self) -> RepoCheck;
    /// Items in scope (filter and quarantine rule applied), in enumeration order. Each error
    /// is one entry that could not be read (a folder that cannot be listed, a listing page that
    /// failed): the full scan logs it and counts it in the job's `unreadable_count`. The
    /// channel closes at the end.
    fn enumerate(&self, filter: Arc<Filter>) -> ItemReceiver;
    /// Opens an item for streaming; locations outside the asset are 403.
    async fn read(&self, location: &str) -> Result<ItemBody, ReadError>;
    /// Performs the configured action on an item.
    async fn item_action(&self, location: &str, action: ItemAction) -> ActionAnswer;
    /// Classifies the items of a webhook body.
    async fn webhook(&self, body: &Value, filter: &Filter) -> Result<Vec<WebhookItem>, WebhookError>;
    /// The ids the event source gave the events of a webhook body, so a re-delivery lands in
    /// the same job ([`delivery`]); `None` (the default) makes each call a new job.
    fn delivery_id(&self, _body: &Value) -> Option<delivery::DeliveryId> {
        None
    }
    /// Answers a webhook call that is a subscription handshake (e.g. Event Grid's validation
    /// event) instead of a delivery; `None` (the default) treats every call as a delivery.
    fn handshake(&self, _req: &WebhookRequest<'_>) -> Option<Handshake> {
        None
    }
    /// Answers `OPTIONS /<name>/webhook/event` (CloudEvents abuse protection); `None` (the
    /// default) leaves it 405 with `Allow: POST`.
    fn webhook_options(&self, _req: &WebhookRequest<'_>) -> Option<Handshake> {
        None
    }
    /// Capabilities this storage adds to the registration (e.g. `result_tags`).
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs before items are sent to the core (e.g. to mark new objects `pending`).
    async fn before_enqueue(&self, _items: &[Item]) {}
    /// Records a scan result on an item; storages without result tags answer `not implemented`.
    async fn result_tag(&self, _location: &str, _tag: &ResultTag) -> ActionAnswer {
        (
            200,
            ItemActionStatusResponse::new(
                crate::model::StatusKind::Nothing,
                "Result tags are not offered by this connector",
                ItemAction::NotImplemented,
            ),
        )
    }
    /// Starts watching the repository for new items, if this storage can and is configured to;
    /// runs until `stop` is cancelled. Returns whether a monitor was started.
    fn start_monitor(
        self: Arc<Self>,
        _sink: Arc<dyn ItemSink>,
        _filter: Arc<Filter>,
        _stop: tokio_util::sync::CancellationToken,
    ) -> bool {
        false
    }
}
