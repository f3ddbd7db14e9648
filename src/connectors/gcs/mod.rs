//! The Google Cloud Storage connector (docs/reference/CONNECTORS.md, "GCS connector"): a bucket,
//! or a prefix of one, through the JSON API. Reads are streamed with an exact-length check;
//! actions act on the generation that was scanned; moves are server-side rewrites that never
//! overwrite; tags are merged custom metadata. New objects can come from a Pub/Sub pull
//! subscription or Pub/Sub push to the webhook.

mod actions;
pub mod asset;
pub mod auth;
pub mod client;
mod errors;
pub mod events;
mod generations;
mod list;
pub mod metadata;
mod pubsub;
pub mod settings;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};

use self::asset::{GcsAsset, Quarantine};
use self::auth::{Auth, AuthError};
use self::client::{ClientError, GcsClient};
use self::errors::GcsFailure;
use self::generations::Generations;
use self::settings::GcsSettings;
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::exact_len::ExactLen;
use crate::connectors::framework::settings::ConnectorSettings;
use crate::connectors::framework::{
    ActionAnswer, Item, ItemBody, ItemReceiver, ItemSink, ReadError, RepoCheck, RepoFailure, ResultTag, Storage,
    WebhookError, WebhookItem,
};
use crate::connectors::object_store::asset::AssetError;
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// Objects marked `pending` at once while items are enqueued.
const PENDING_CONCURRENCY: usize = 16;
/// The capability that makes the core send results to `result_tag`.
pub const CAP_RESULT_TAGS: &str = "result_tags";

/// Why the connector cannot start (exit 2; the message names the variable, never a secret).
#[derive(Debug, thiserror::Error)]
pub enum GcsInitError {
    #[error("DSXCONNECTOR_ASSET: {0}")]
    Asset(#[source] AssetError),
    #[error("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO: {0}")]
    Quarantine(#[source] AssetError),
    #[error("GCS credentials")]
    Auth(#[from] AuthError),
    #[error("GCS client")]
    Client(#[from] ClientError),
}

pub struct GcsStorage {
    client: GcsClient,
    /// The Pub/Sub REST client, when a pull subscription is configured.
    pubsub: Option<GcsClient>,
    asset: GcsAsset,
    quarantine: Quarantine,
    settings: GcsSettings,
    tag_scan_time: bool,
    tag_engine: Option<String>,
    /// The configured filter as written (for `meta_info`).
    filter_text: String,
    generations: Generations,
}

impl GcsStorage {
    /// Validates the asset, quarantine and credentials and builds the clients (no network call).
    pub async fn new(s: &ConnectorSettings) -> Result<Self, GcsInitError> {
        let asset = GcsAsset::parse(&s.asset).map_err(GcsInitError::Asset)?;
        let quarantine =
            Quarantine::parse(&s.move_metainfo, &asset, s.item_action.moves()).map_err(GcsInitError::Quarantine)?;
        let settings = s.gcs.clone().unwrap_or_default();
        let auth = Auth::new(&settings)?;
        let http = client::http_client(settings.endpoint_verify, s.ca_bundle.as_deref())?;
        if !settings.endpoint_verify {
            tracing::warn!(
                "DSXCONNECTOR_GCS_ENDPOINT_VERIFY=false: TLS certificates of the GCS endpoint are not checked"
            );
        }
        let pubsub = match &settings.pubsub_subscription {
            None => None,
            Some(_) => {
                let ps_auth = if settings.pubsub_emulator {
                    Auth::anonymous()
                } else {
                    auth.clone()
                };
                let ps_http = client::http_client(true, s.ca_bundle.as_deref())?;
                Some(GcsClient::new(ps_http, &settings.pubsub_endpoint, ps_auth))
            }
        };
        Ok(Self {
            client: GcsClient::new(http, &settings.endpoint_url, auth),
            pubsub,
            asset,
            quarantine,
            settings,
            tag_scan_time: s.tag_scan_time,
            tag_engine: s.tag_engine.clone(),
            filter_text: s.filter.raw().to_string(),
            generations: Generations::default(),
        })
    }

    /// Names outside the asset prefix are refused; folder markers are not items.
    fn inside(&self, name: &str) -> Result<(), (u16, String)> {
        if name.is_empty() || self.asset.relative(name).is_none() {
            return Err((403, format!("'{name}' is outside the asset {}", self.asset.display())));
        }
        if name.ends_with('/') {
            return Err((404, format!("'{name}' is a folder marker, not an object")));
        }
        Ok(())
    }

    /// Whether a 404 is the bucket's: the message says so, or listing the bucket gives 404.
    async fn bucket_missing(&self, f: &GcsFailure) -> bool {
        if f.says_bucket_missing() {
            return true;
        }
        matches!(self.client.list(&self.asset.bucket, "", 1, None).await, Err(l) if l.not_found())
    }

    async fn read_error(&self, f: GcsFailure, name: &str) -> ReadError {
        if f.not_found() {
            if self.bucket_missing(&f).await {
                return ReadError::new(503, format!("the bucket is unavailable: {}", f.message));
            }
            return ReadError::new(404, format!("no object '{name}'"));
        }
        if f.denied() {
            return ReadError::new(403, format!("access to '{name}' is denied: {}", f.message));
        }
        if f.throttled() {
            return ReadError {
                retry_after_secs: Some(f.retry_after_secs()),
                ..ReadError::new(503, format!("Cloud Storage is throttling: {}", f.message))
            };
        }
        ReadError::new(502, format!("reading '{name}' failed: {}", f.message))
    }

    /// Marks a new object `pending` unless it carries a result already.
    async fn mark_pending(&self, name: &str) {
        let resource = match self.client.get(&self.asset.bucket, name, None).await {
            Ok(r) => r,
            Err(f) => {
                tracing::warn!(name, error = %f, "cannot read the object to mark it pending");
                return;
            }
        };
        let current = metadata::of(&resource);
        if current.contains_key(metadata::RESULT_KEY) {
            return;
        }
        let generation = resource.get("generation").and_then(Value::as_str);
        let patch = metadata::result_patch("pending", None);
        if metadata::merged_size(&current, &patch) > metadata::MAX_BYTES {
            tracing::warn!(name, "the object's custom metadata is full: no room for a result");
            return;
        }
        if let Err(f) = self
            .client
            .patch_metadata(&self.asset.bucket, name, generation, &patch)
            .await
        {
            tracing::warn!(name, error = %f, "cannot mark the object pending");
        }
    }
}

fn error_answer(code: u16, message: impl Into<String>, action: ItemAction) -> ActionAnswer {
    (code, ItemActionStatusResponse::new(StatusKind::Error, message, action))
}

fn nothing(message: &str, action: ItemAction) -> ActionAnswer {
    (200, ItemActionStatusResponse::new(StatusKind::Nothing, message, action))
}

#[async_trait]
impl Storage for GcsStorage {
    fn kind(&self) -> &'static str {
        "gcs"
    }

    fn meta_info(&self) -> String {
        let or_none = |v: &str| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.to_string()
            }
        };
        format!(
            "GCS Bucket: {}, prefix: {}, filter: {}",
            self.asset.bucket,
            or_none(&self.asset.prefix),
            or_none(&self.filter_text)
        )
    }

    fn resolved_asset_base(&self) -> Option<String> {
        Some(self.asset.display())
    }

    fn extra_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("bucket".into(), json!(self.asset.bucket));
        m.insert("prefix".into(), json!(self.asset.prefix));
        m.insert("endpoint_url".into(), json!(self.settings.endpoint_url));
        m.insert("auth".into(), json!(self.client.auth_mode()));
        m.insert("quarantine".into(), json!(self.quarantine.display()));
        m.insert("result_tags".into(), json!(self.settings.result_tags));
        m.insert("pubsub_subscription".into(), json!(self.settings.pubsub_subscription));
        m
    }

    fn capabilities(&self) -> Vec<String> {
        if self.settings.result_tags {
            vec![CAP_RESULT_TAGS.to_string()]
        } else {
            Vec::new()
        }
    }

    /// One objects.list of at most one name (no buckets.get, which object-level roles lack).
    async fn repo_check(&self) -> RepoCheck {
        match self
            .client
            .list(&self.asset.bucket, &self.asset.list_prefix(), 1, None)
            .await
        {
            Ok(_) => Ok(Vec::new()),
            Err(f) => {
                let reason = match f.status {
                    _ if f.unreachable => "unreachable",
                    Some(404) => "not_found",
                    Some(401) | Some(403) => "auth_failure",
                    Some(400) => "misconfigured",
                    Some(s) if s == 429 || s >= 500 => "unreachable",
                    _ => "error",
                };
                Err(RepoFailure {
                    reason,
                    message: f.message,
                })
            }
        }
    }

    fn enumerate(&self, filter: Arc<Filter>) -> ItemReceiver {
        list::spawn(
            list::ListPlan {
                client: self.client.clone(),
                asset: self.asset.clone(),
                quarantine: self.quarantine.clone(),
                page_size: self.settings.list_page_size,
            },
            filter,
        )
    }

    async fn read(&self, location: &str) -> Result<ItemBody, ReadError> {
        self.inside(location).map_err(|(s, m)| ReadError::new(s, m))?;
        let r = match self.client.media(&self.asset.bucket, location).await {
            Ok(r) => r,
            Err(f) => return Err(self.read_error(f, location).await),
        };
        if let Some(g) = r.headers().get("x-goog-generation").and_then(|v| v.to_str().ok()) {
            self.generations.record(location, g);
        }
        let size = r
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let stream = r.bytes_stream().map_err(std::io::Error::other);
        Ok(ItemBody {
            size,
            stream: match size {
                Some(n) => Box::pin(ExactLen::new(stream, n, "the object ended before its announced length")),
                None => Box::pin(stream),
            },
        })
    }

    async fn item_action(&self, location: &str, action: ItemAction) -> ActionAnswer {
        match self.inside(location) {
            Ok(()) => {}
            Err((403, m)) => return error_answer(403, m, action),
            Err((_, m)) => return error_answer(200, m, action),
        }
        if self.quarantine.holds(location) {
            return nothing("Item is in the quarantine area", action);
        }
        self.act(location, action).await
    }

    async fn webhook(&self, body: &Value, filter: &Filter) -> Result<Vec<WebhookItem>, WebhookError> {
        events::classify(body, &self.asset, &self.quarantine, filter)
    }

    fn delivery_id(&self, body: &Value) -> Option<DeliveryId> {
        events::delivery_id(body)
    }

    async fn before_enqueue(&self, items: &[Item]) {
        if !self.settings.result_tags {
            return;
        }
        futures_util::stream::iter(items)
            .for_each_concurrent(PENDING_CONCURRENCY, |i| self.mark_pending(&i.location))
            .await;
    }

    async fn result_tag(&self, location: &str, tag: &ResultTag) -> ActionAnswer {
        let action = ItemAction::Tag;
        match self.inside(location) {
            Ok(()) => {}
            Err((403, m)) => return error_answer(403, m, action),
            Err((_, m)) => return error_answer(200, m, action),
        }
        if !self.settings.result_tags {
            return nothing(
                "Result tags are off (DSXCONNECTOR_GCS_RESULT_TAGS)",
                ItemAction::NotImplemented,
            );
        }
        self.write_result(location, tag).await
    }

    fn start_monitor(
        self: Arc<Self>,
        sink: Arc<dyn ItemSink>,
        filter: Arc<Filter>,
        stop: tokio_util::sync::CancellationToken,
    ) -> bool {
        let (Some(client), Some(subscription)) = (self.pubsub.clone(), self.settings.pubsub_subscription.clone())
        else {
            return false;
        };
        pubsub::spawn(
            pubsub::Puller {
                client,
                subscription,
                max_messages: self.settings.pubsub_max_messages,
                asset: self.asset.clone(),
                quarantine: self.quarantine.clone(),
                filter,
                sink,
            },
            stop,
        );
        true
    }
}
