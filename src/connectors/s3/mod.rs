//! The S3 connector (docs/reference/CONNECTORS.md, "S3 connector"): a bucket, or a prefix of one,
//! on AWS or an S3-compatible store. Beyond the contract it can put a result tag on every scanned
//! object (`pending` at intake, then `clean`, `malicious`, `not_scanned` or `error`) so that a
//! bucket policy can deny reads of anything not clean, and it can take S3 events from an SQS queue.

mod actions;
pub mod asset;
pub mod client;
mod errors;
pub mod events;
mod list;
pub mod settings;
mod sqs;
pub mod tags;
mod versions;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio_util::io::ReaderStream;

use self::asset::{Quarantine, S3Asset};
use self::errors::S3Failure;
use self::settings::S3Settings;
use self::versions::Versions;
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::exact_len::ExactLen;
use crate::connectors::framework::settings::ConnectorSettings;
use crate::connectors::framework::{
    ActionAnswer, Item, ItemBody, ItemReceiver, ItemSink, ReadError, RepoCheck, RepoFailure, ResultTag, Storage,
    WebhookError, WebhookItem,
};
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// Bytes per chunk streamed from GetObject.
const READ_CHUNK: usize = 256 * 1024;
/// Objects tagged `pending` at once while items are enqueued.
const PENDING_CONCURRENCY: usize = 16;
/// The capability that makes the core send results to `result_tag`.
pub const CAP_RESULT_TAGS: &str = "result_tags";

pub struct S3Storage {
    client: aws_sdk_s3::Client,
    sqs: Option<aws_sdk_sqs::Client>,
    asset: S3Asset,
    quarantine: Quarantine,
    settings: S3Settings,
    tag_scan_time: bool,
    tag_engine: Option<String>,
    versions: Versions,
}

impl S3Storage {
    /// Validates the asset and quarantine and builds the clients (no network call yet).
    pub async fn new(s: &ConnectorSettings) -> anyhow::Result<Self> {
        let asset = S3Asset::parse(&s.asset).map_err(|e| anyhow::anyhow!("DSXCONNECTOR_ASSET: {e}"))?;
        let quarantine = Quarantine::parse(&s.move_metainfo, &asset, s.item_action.moves())
            .map_err(|e| anyhow::anyhow!("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO: {e}"))?;
        let settings = s.s3.clone().unwrap_or_default();
        let conf = client::sdk_config(&settings, s.ca_bundle.as_deref()).await?;
        let sqs = settings.sqs_queue_url.as_ref().map(|_| client::sqs_client(&conf));
        Ok(Self {
            client: client::s3_client(&conf, &settings),
            sqs,
            asset,
            quarantine,
            settings,
            tag_scan_time: s.tag_scan_time,
            tag_engine: s.tag_engine.clone(),
            versions: Versions::default(),
        })
    }

    /// "S3 locations": keys outside the asset prefix are refused; folder markers are not items.
    fn inside(&self, key: &str) -> Result<(), (u16, String)> {
        if key.is_empty() || self.asset.relative(key).is_none() {
            return Err((403, format!("'{key}' is outside the asset {}", self.asset.display())));
        }
        if key.ends_with('/') {
            return Err((404, format!("'{key}' is a folder marker, not an object")));
        }
        Ok(())
    }

    /// Marks objects `pending` as they are taken in, replacing any result they carry: a result
    /// the core did not give this very scan (forged at upload, or left from earlier content)
    /// is never trusted. A rescan therefore holds readers back until the new result arrives.
    async fn mark_pending(&self, key: &str) {
        let current = match self.get_tags(&self.asset.bucket, key, None).await {
            Ok(t) => t,
            Err(f) => {
                tracing::warn!(key, error = %f.message, "cannot read tags to mark the object pending");
                return;
            }
        };
        // Whatever result the object carries now is not one the core gave this content: it may
        // be left from an earlier version or forged at upload. It becomes `pending` until the
        // core's own result replaces it, so a policy granting reads on `clean` fails closed.
        if current.iter().any(|(k, v)| k == tags::RESULT_KEY && v == "pending") {
            return;
        }
        match tags::with_result(&current, "pending", None) {
            Ok(t) => {
                if let Err(f) = self.put_tags(key, None, &t).await {
                    tracing::warn!(key, error = %f.message, "cannot tag the object pending");
                }
            }
            Err(tags::TagLimit) => tracing::warn!(key, "the object has 10 tags: no room for a result tag"),
        }
    }
}

fn read_error(f: &S3Failure, key: &str) -> ReadError {
    if f.not_found() {
        return ReadError::new(404, format!("no object '{key}'"));
    }
    if f.is_code(&["NoSuchBucket"]) {
        return ReadError::new(503, format!("the bucket is unavailable: {}", f.message));
    }
    if f.is_code(&["InvalidObjectState"]) {
        return ReadError::new(403, format!("'{key}' is archived and not restored: {}", f.message));
    }
    if f.status == Some(403) || f.is_code(&["AccessDenied"]) {
        return ReadError::new(403, format!("access to '{key}' is denied: {}", f.message));
    }
    if f.throttled() {
        return ReadError {
            retry_after_secs: Some(1),
            ..ReadError::new(503, format!("S3 is throttling: {}", f.message))
        };
    }
    ReadError::new(502, format!("reading '{key}' failed: {}", f.message))
}

fn nothing(message: &str, action: ItemAction) -> ActionAnswer {
    (200, ItemActionStatusResponse::new(StatusKind::Nothing, message, action))
}

#[async_trait]
impl Storage for S3Storage {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn meta_info(&self) -> String {
        format!("S3 location: {}", self.asset.display())
    }

    fn resolved_asset_base(&self) -> Option<String> {
        Some(self.asset.display())
    }

    fn extra_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("bucket".into(), json!(self.asset.bucket));
        m.insert("prefix".into(), json!(self.asset.prefix));
        m.insert("quarantine".into(), json!(self.quarantine.display()));
        m.insert("endpoint_url".into(), json!(self.settings.endpoint_url));
        m.insert("force_path_style".into(), json!(self.settings.force_path_style));
        m.insert("result_tags".into(), json!(self.settings.result_tags));
        m.insert("sqs_queue_url".into(), json!(self.settings.sqs_queue_url));
        m
    }

    fn capabilities(&self) -> Vec<String> {
        if self.settings.result_tags {
            vec![CAP_RESULT_TAGS.to_string()]
        } else {
            Vec::new()
        }
    }

    async fn repo_check(&self) -> RepoCheck {
        let fail = |reason: &'static str, message: String| Err(RepoFailure { reason, message });
        let bucket = &self.asset.bucket;
        if let Err(e) = self.client.head_bucket().bucket(bucket).send().await {
            let f = S3Failure::of(&e);
            let reason = match f.status {
                _ if f.unreachable => "unreachable",
                Some(404) => "not_found",
                Some(403) => "auth_failure",
                Some(301) | Some(400) => "misconfigured",
                _ => "error",
            };
            return fail(reason, format!("HeadBucket {bucket}: {}", f.message));
        }
        if let Err(e) = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(self.asset.list_prefix())
            .max_keys(1)
            .send()
            .await
        {
            let f = S3Failure::of(&e);
            let reason = match f.status {
                _ if f.unreachable => "unreachable",
                Some(403) => "auth_failure",
                _ => "error",
            };
            return fail(reason, format!("ListObjectsV2 {}: {}", self.asset.display(), f.message));
        }
        Ok(Vec::new())
    }

    fn enumerate(&self, filter: Arc<Filter>) -> ItemReceiver {
        list::spawn(
            list::ListPlan {
                client: self.client.clone(),
                asset: self.asset.clone(),
                quarantine: self.quarantine.clone(),
            },
            filter,
        )
    }

    async fn read(&self, location: &str) -> Result<ItemBody, ReadError> {
        self.inside(location).map_err(|(s, m)| ReadError::new(s, m))?;
        let out = self
            .client
            .get_object()
            .bucket(&self.asset.bucket)
            .key(location)
            .send()
            .await
            .map_err(|e| read_error(&S3Failure::of(&e), location))?;
        if let Some(v) = out.version_id() {
            self.versions.record(location, v);
        }
        let size = out.content_length().and_then(|n| u64::try_from(n).ok());
        let stream = ReaderStream::with_capacity(out.body.into_async_read(), READ_CHUNK);
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
            Err((403, m)) => return (403, ItemActionStatusResponse::new(StatusKind::Error, m, action)),
            Err((_, m)) => return (200, ItemActionStatusResponse::new(StatusKind::Error, m, action)),
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
            Err((403, m)) => return (403, ItemActionStatusResponse::new(StatusKind::Error, m, action)),
            Err((_, m)) => return (200, ItemActionStatusResponse::new(StatusKind::Error, m, action)),
        }
        if !self.settings.result_tags {
            return nothing(
                "Result tags are off (DSXCONNECTOR_S3_RESULT_TAGS)",
                ItemAction::NotImplemented,
            );
        }
        let version = self.versions.get(location);
        let current = match self.get_tags(&self.asset.bucket, location, version.as_deref()).await {
            Ok(t) => t,
            // Moved or deleted by the item action: nothing left to tag.
            Err(f) if f.not_found() => return nothing("The object no longer exists", action),
            Err(f) => {
                let code = if f.transient { 503 } else { 200 };
                return (
                    code,
                    ItemActionStatusResponse::new(StatusKind::Error, f.message, action),
                );
            }
        };
        let merged = match tags::with_result(&current, &tag.result, tag.reason.as_deref()) {
            Ok(t) => t,
            Err(tags::TagLimit) => {
                return (
                    200,
                    ItemActionStatusResponse::new(
                        StatusKind::Error,
                        "The object has 10 tags: no room for the result",
                        action,
                    )
                    .with_description("reason=tag_limit"),
                );
            }
        };
        match self.put_tags(location, version.as_deref(), &merged).await {
            Ok(()) => {
                (
                    200,
                    ItemActionStatusResponse::new(StatusKind::Success, "Result tagged", action)
                        .with_description(format!("{}={}", tags::RESULT_KEY, tag.result)),
                )
            }
            Err(f) => (
                if f.transient { 503 } else { 200 },
                ItemActionStatusResponse::new(StatusKind::Error, f.message, action),
            ),
        }
    }

    fn start_monitor(
        self: Arc<Self>,
        sink: Arc<dyn ItemSink>,
        filter: Arc<Filter>,
        stop: tokio_util::sync::CancellationToken,
    ) -> bool {
        let (Some(client), Some(url)) = (self.sqs.clone(), self.settings.sqs_queue_url.clone()) else {
            return false;
        };
        sqs::spawn(
            sqs::Poller {
                client,
                queue_url: url,
                wait: self.settings.sqs_wait,
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
