//! Built-in connectors of `serve` and `scan`: the same connectors as the standalone ones, on their
//! own loopback port, registering with this process's core over HTTP (docs/reference/CONNECTORS.md,
//! "Command line").

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use crate::connectors::azure::AzureStorage;
use crate::connectors::filesystem::FilesystemStorage;
use crate::connectors::framework::Storage;
use crate::connectors::framework::server::{RunningConnector, start};
use crate::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides, identity};
use crate::connectors::gcs::GcsStorage;
use crate::connectors::s3::S3Storage;
use crate::core_state::Core;
use crate::model::ConnectorUuid;
use crate::settings_source::process_env;

/// What a built-in connector serves.
pub struct Builtin<'a> {
    pub kind: ConnectorKind,
    /// A folder, or `bucket[/prefix]`.
    pub asset: &'a str,
    pub name: String,
    pub action: Option<&'a str>,
    pub quarantine: Option<&'a str>,
    /// The connector filter, if any.
    pub filter: Option<String>,
}

/// Starts a built-in connector against `core` at `core_url`, keeping its identity in
/// `data_dir`. The core's built-in keys give it a fresh DSX-HMAC key in memory: it signs its
/// calls and requires the core's signature on its own port. A filesystem connector's items are
/// then opened by the core directly (`local_open.rs`).
pub async fn start_builtin(
    b: Builtin<'_>,
    core_url: &str,
    data_dir: &Path,
    core: &Core,
) -> anyhow::Result<RunningConnector> {
    let overrides = Overrides {
        name: Some(b.name.clone()),
        asset: Some(b.asset.to_string()),
        listen: Some("127.0.0.1:0".into()),
        connector_url: Some("http://127.0.0.1:0".into()),
        core_url: Some(core_url.to_string()),
        data_dir: Some(data_dir.to_path_buf()),
        item_action: b.action.map(str::to_string),
        move_metainfo: b.quarantine.map(str::to_string),
        filter: b.filter,
    };
    let (mut settings, warnings) =
        ConnectorSettings::load(b.kind, &process_env(), None, &overrides).map_err(anyhow::Error::new)?;
    let uuid = identity(&settings)?;
    settings.uuid = Some(uuid);
    let uuid = ConnectorUuid::from(uuid);
    settings.auth.key = Some(core.trust.builtin().issue(&uuid));
    for w in warnings.iter().filter(|w| !w.contains("0.0.0.0")) {
        tracing::warn!("{w}");
    }
    let mut local = None;
    let storage: Arc<dyn Storage> = match b.kind {
        ConnectorKind::Filesystem => {
            let fs = Arc::new(FilesystemStorage::new(&settings)?);
            local = Some(Arc::clone(&fs));
            fs
        }
        ConnectorKind::S3 => Arc::new(S3Storage::new(&settings).await?),
        ConnectorKind::AzureBlob => Arc::new(AzureStorage::new(&settings)?),
        ConnectorKind::Gcs => Arc::new(GcsStorage::new(&settings).await?),
    };
    let listener = TcpListener::bind(settings.listen_addr)?;
    let running = start(settings, storage, listener).await?;
    if let Some(fs) = local {
        let url = running.service.settings().callback_url();
        core.local_connectors.add(uuid, &url, &fs);
    }
    Ok(running)
}

/// The name of the n-th built-in connector of a kind (`filesystem-connector`, `-2`, …).
pub fn name(kind: ConnectorKind, index: usize) -> String {
    let base = match kind {
        ConnectorKind::Filesystem => "filesystem-connector",
        ConnectorKind::S3 => "aws-s3-connector",
        ConnectorKind::AzureBlob => "azure-blob-storage-connector",
        ConnectorKind::Gcs => "google-cloud-storage-connector",
    };
    if index == 0 {
        base.into()
    } else {
        format!("{base}-{}", index + 1)
    }
}
