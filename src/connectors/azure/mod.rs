//! The Azure Blob Storage connector (docs/reference/CONNECTORS.md, "Azure Blob connector"): a
//! container, or a prefix of one, on Azure or an emulator such as Azurite. Beyond the contract it
//! can put a result tag on every scanned blob (`pending` at intake, then the result), so that an
//! ABAC condition can deny reads of anything not clean, and it takes Event Grid deliveries on
//! its webhook (with the validation handshake).
//!
//! Crates: the blob service is reached through a small REST client on the project's own reqwest
//! (rustls) with our Shared Key signer, not the `azure_storage_blob` SDK. The SDK has no Shared
//! Key credential (the emulator and most on-premises tests need it), and it would add a second
//! HTTP stack (its own reqwest major) and a long build, for the dozen calls this connector makes.
//! Entra tokens (client secret, workload identity, managed identity) are fetched by the same
//! client (see `token.rs`).

mod actions;
pub mod asset;
pub mod client;
pub mod credentials;
mod errors;
pub mod events;
mod list;
pub mod ops;
pub mod settings;
pub mod sign;
mod token;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};

use self::asset::{AzAsset, Quarantine};
use self::client::BlobClient;
use self::errors::AzFailure;
use self::settings::AzureSettings;
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::exact_len::ExactLen;
use crate::connectors::framework::scanned::ScannedVersions;
use crate::connectors::framework::settings::ConnectorSettings;
use crate::connectors::framework::{
    ActionAnswer, Handshake, Item, ItemBody, ItemReceiver, ReadError, RepoCheck, RepoFailure, ResultTag, Storage,
    WebhookError, WebhookItem, WebhookRequest,
};
use crate::connectors::s3::tags as tagsets;
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// Blobs tagged `pending` at once while items are enqueued.
const PENDING_CONCURRENCY: usize = 16;
/// The capability that makes the core send results to `result_tag`.
pub const CAP_RESULT_TAGS: &str = "result_tags";
/// Largest chunk handed on from a read.
const READ_CHUNK: usize = 1024 * 1024;

/// What was read for a scan: the version (where the account keeps versions) and the ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub version: Option<String>,
    pub etag: Option<String>,
}

pub struct AzureStorage {
    client: Arc<BlobClient>,
    asset: AzAsset,
    quarantine: Quarantine,
    settings: AzureSettings,
    auth_mode: &'static str,
    tag_scan_time: bool,
    tag_engine: Option<String>,
    /// The connector filter as configured, for `meta_info`.
    filter_text: String,
    scanned: ScannedVersions<Scanned>,
}

/// Blob index tag characters: letters, digits, space and `+ - . / : = _`.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " +-./:=_".contains(c)
}

/// Free text as a blob index tag value (other characters become `_`, at most 256).
pub fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| if tag_char(c) { c } else { '_' })
        .take(256)
        .collect::<String>()
        .trim()
        .to_string()
}

impl AzureStorage {
    /// Validates the asset, quarantine and credentials and builds the client (no network call).
    pub fn new(s: &ConnectorSettings) -> anyhow::Result<Self> {
        let asset = AzAsset::parse(&s.asset).map_err(|e| anyhow::anyhow!("DSXCONNECTOR_ASSET: {e}"))?;
        let quarantine = Quarantine::parse(&s.move_metainfo, &asset, s.item_action.moves())
            .map_err(|e| anyhow::anyhow!("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO: {e}"))?;
        let settings = s.azure.clone().unwrap_or_default();
        if let Some(e) = &s.tag_engine
            && (e.is_empty() || e.chars().count() > 256 || !e.chars().all(tag_char))
        {
            anyhow::bail!(
                "DSXCONNECTOR_TAG_ENGINE: blob index tag values allow only letters, digits, space and + - . / : = _ (at most 256)"
            );
        }
        let resolved = credentials::resolve(&settings)?;
        let client = BlobClient::new(
            &resolved,
            &settings.api_version,
            settings.endpoint_verify,
            s.ca_bundle.as_deref(),
        )?;
        Ok(Self {
            client: Arc::new(client),
            auth_mode: resolved.auth.mode(),
            asset,
            quarantine,
            settings,
            tag_scan_time: s.tag_scan_time,
            tag_engine: s.tag_engine.clone(),
            filter_text: s.filter.raw().to_string(),
            scanned: ScannedVersions::default(),
        })
    }

    /// Names outside the asset prefix are refused; folder markers are not items.
    fn inside(&self, name: &str) -> Result<(), (u16, String)> {
        if name.is_empty() || self.asset.relative(name).is_none() {
            return Err((403, format!("'{name}' is outside the asset {}", self.asset.display())));
        }
        if name.ends_with('/') {
            return Err((404, format!("'{name}' is a folder marker, not a blob")));
        }
        Ok(())
    }

    /// `<blob service URL>/<container>[/<prefix>]`.
    fn base_url(&self) -> String {
        let mut s = format!("{}/{}", self.client.endpoint, self.asset.bucket);
        if !self.asset.prefix.is_empty() {
            s.push('/');
            s.push_str(&self.asset.prefix);
        }
        s
    }

    /// Marks a blob `pending` as it is taken in, replacing any result it carries (one the core
    /// did not give this very scan is never trusted).
    async fn mark_pending(&self, name: &str) {
        let c = &self.asset.bucket;
        let current = match self.client.get_tags(c, name, None).await {
            Ok(t) => t,
            Err(f) => {
                tracing::warn!(blob = name, error = %f.message, "cannot read tags to mark the blob pending");
                return;
            }
        };
        if current.iter().any(|(k, v)| k == tagsets::RESULT_KEY && v == "pending") {
            return;
        }
        match tagsets::with_result(&current, "pending", None) {
            Ok(t) => {
                if let Err(f) = self.client.set_tags(c, name, None, &t).await {
                    tracing::warn!(blob = name, error = %f.message, "cannot tag the blob pending");
                }
            }
            Err(tagsets::TagLimit) => tracing::warn!(blob = name, "the blob has 10 tags: no room for a result tag"),
        }
    }

    /// Whether a blob is a hierarchical-namespace directory (read from its properties).
    fn folder_answer(name: &str) -> ReadError {
        ReadError::new(404, format!("'{name}' is a folder marker, not a blob"))
    }
}

fn read_error(f: &AzFailure, name: &str) -> ReadError {
    if f.container_not_found() {
        return ReadError::new(503, format!("the container is unavailable: {}", f.message));
    }
    if f.status == Some(404) {
        return ReadError::new(404, format!("no blob '{name}'"));
    }
    if f.archived() {
        return ReadError::new(403, format!("'{name}' is archived: {}", f.message));
    }
    if f.auth() {
        return ReadError::new(403, format!("access to '{name}' is denied: {}", f.message));
    }
    if f.throttled() {
        return ReadError {
            retry_after_secs: Some(f.retry_after.unwrap_or(1)),
            ..ReadError::new(503, format!("the blob service is busy: {}", f.message))
        };
    }
    ReadError::new(502, format!("reading '{name}' failed: {}", f.message))
}

fn nothing(message: &str, action: ItemAction) -> ActionAnswer {
    (200, ItemActionStatusResponse::new(StatusKind::Nothing, message, action))
}

#[async_trait]
impl Storage for AzureStorage {
    fn kind(&self) -> &'static str {
        "azure_blob"
    }

    fn meta_info(&self) -> String {
        let or_none = |s: &str| {
            if s.is_empty() {
                "(none)".to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "ABS container: {}, prefix: {}, filter: {}",
            self.asset.bucket,
            or_none(&self.asset.prefix),
            or_none(&self.filter_text)
        )
    }

    fn resolved_asset_base(&self) -> Option<String> {
        Some(self.base_url())
    }

    fn extra_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("account".into(), json!(self.client.account));
        m.insert("container".into(), json!(self.asset.bucket));
        m.insert("prefix".into(), json!(self.asset.prefix));
        m.insert("endpoint_url".into(), json!(self.client.endpoint));
        m.insert("auth".into(), json!(self.auth_mode));
        m.insert("quarantine".into(), json!(self.quarantine.display()));
        m.insert("result_tags".into(), json!(self.settings.result_tags));
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
        match self
            .client
            .list_page(&self.asset.bucket, &self.asset.list_prefix(), None, 1)
            .await
        {
            Ok(_) => Ok(Vec::new()),
            Err(f) => {
                let reason = if f.unreachable || f.transient {
                    "unreachable"
                } else if f.container_not_found() {
                    "not_found"
                } else if f.auth() {
                    "auth_failure"
                } else if f.bad_version() {
                    "misconfigured"
                } else {
                    "error"
                };
                Err(RepoFailure {
                    reason,
                    message: format!("List Blobs {}: {}", self.asset.display(), f.message),
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
        let resp = self
            .client
            .get(&self.asset.bucket, location)
            .await
            .map_err(|f| read_error(&f, location))?;
        let h = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let size = h("content-length").and_then(|v| v.parse::<u64>().ok());
        if size == Some(0) && h("x-ms-meta-hdi_isfolder").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(Self::folder_answer(location));
        }
        self.scanned.record(
            location,
            Scanned {
                version: h("x-ms-version-id"),
                etag: h("etag"),
            },
        );
        let stream = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::other(crate::error_chain::error_chain(&e)))
            .flat_map(|r| {
                // Hand on at most 1 MiB at a time.
                let parts: Vec<std::io::Result<bytes::Bytes>> = match r {
                    Ok(mut b) => {
                        let mut v = Vec::new();
                        while b.len() > READ_CHUNK {
                            v.push(Ok(b.split_to(READ_CHUNK)));
                        }
                        v.push(Ok(b));
                        v
                    }
                    Err(e) => vec![Err(e)],
                };
                futures_util::stream::iter(parts)
            });
        Ok(ItemBody {
            size,
            stream: match size {
                Some(n) => Box::pin(ExactLen::new(stream, n, "the blob ended before its announced length")),
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

    fn handshake(&self, req: &WebhookRequest<'_>) -> Option<Handshake> {
        events::handshake(req.body)
    }

    fn webhook_options(&self, req: &WebhookRequest<'_>) -> Option<Handshake> {
        Some(events::options(&req.headers))
    }

    async fn webhook(&self, body: &Value, filter: &Filter) -> Result<Vec<WebhookItem>, WebhookError> {
        events::classify(
            body,
            &events::Scope {
                account: &self.client.account,
                asset: &self.asset,
                quarantine: &self.quarantine,
                filter,
            },
        )
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
                "Result tags are off (DSXCONNECTOR_AZURE_RESULT_TAGS)",
                ItemAction::NotImplemented,
            );
        }
        let c = &self.asset.bucket;
        let version = self.scanned.get(location).and_then(|s| s.version);
        let current = match self.client.get_tags(c, location, version.as_deref()).await {
            Ok(t) => t,
            Err(f) if f.status == Some(404) => return nothing("The blob no longer exists", action),
            Err(f) => return actions::failed_before_change("Get Blob Tags", &f, action),
        };
        let reason = tag.reason.as_deref().map(tag_value);
        let merged = match tagsets::with_result(&current, &tag.result, reason.as_deref()) {
            Ok(t) => t,
            Err(tagsets::TagLimit) => {
                return (
                    200,
                    ItemActionStatusResponse::new(
                        StatusKind::Error,
                        "The blob has 10 index tags: no room for the result",
                        action,
                    )
                    .with_description("reason=tag_limit"),
                );
            }
        };
        match self.client.set_tags(c, location, version.as_deref(), &merged).await {
            Ok(()) => {
                (
                    200,
                    ItemActionStatusResponse::new(StatusKind::Success, "Result tagged", action)
                        .with_description(format!("{}={}", tagsets::RESULT_KEY, tag.result)),
                )
            }
            Err(f) if f.status == Some(404) => nothing("The blob no longer exists", action),
            Err(f) => actions::failed_before_change("Set Blob Tags", &f, action),
        }
    }
}
