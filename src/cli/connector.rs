//! `dsx-connect connector filesystem|s3|azure-blob|gcs`: a standalone connector service.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use super::{ConnectorArgs, shutdown_signal};
use crate::connectors::azure::AzureStorage;
use crate::connectors::filesystem::FilesystemStorage;
use crate::connectors::framework::Storage;
use crate::connectors::framework::server::start;
use crate::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
use crate::connectors::gcs::GcsStorage;
use crate::connectors::s3::S3Storage;
use crate::settings_source::{ConfigError, process_env};

/// Reads the settings (exit 2 on invalid ones, before listening).
pub fn load(
    kind: ConnectorKind,
    config: Option<&Path>,
    args: &ConnectorArgs,
) -> Result<(ConnectorSettings, Vec<String>), ConfigError> {
    let overrides = Overrides {
        name: args.name.clone(),
        asset: args.asset.clone(),
        listen: args.listen.clone(),
        connector_url: args.connector_url.clone(),
        core_url: args.core_url.clone(),
        data_dir: args.data_dir.clone(),
        item_action: args.action.clone(),
        move_metainfo: args.quarantine.clone(),
        filter: None,
    };
    ConnectorSettings::load(kind, &process_env(), config, &overrides)
}

/// Serves until Ctrl-C / SIGTERM, then shuts down gracefully (docs/reference/CONNECTORS.md,
/// "Graceful shutdown").
pub async fn run(settings: ConnectorSettings) -> anyhow::Result<()> {
    let storage: Arc<dyn Storage> = match settings.kind {
        ConnectorKind::Filesystem => Arc::new(FilesystemStorage::new(&settings)?),
        ConnectorKind::S3 => Arc::new(S3Storage::new(&settings).await?),
        ConnectorKind::AzureBlob => Arc::new(AzureStorage::new(&settings)?),
        ConnectorKind::Gcs => Arc::new(GcsStorage::new(&settings).await?),
    };
    let listener = TcpListener::bind(settings.listen_addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen_addr))?;
    let running = start(settings, storage, listener).await?;
    shutdown_signal().await;
    tracing::info!("stopping");
    running.stop().await;
    Ok(())
}
