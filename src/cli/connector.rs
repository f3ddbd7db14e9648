//! `dsx-connect connector filesystem`: a standalone connector service.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use super::{ConnectorArgs, shutdown_signal};
use crate::config::loader::{ConfigError, process_env};
use crate::connectors::filesystem::FilesystemStorage;
use crate::connectors::framework::service::start;
use crate::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};

/// Reads the settings (exit 2 on invalid ones, before listening).
pub fn load(config: Option<&Path>, args: &ConnectorArgs) -> Result<(ConnectorSettings, Vec<String>), ConfigError> {
    let overrides = Overrides {
        name: args.name.clone(),
        asset: args.asset.clone(),
        listen: args.listen.clone(),
        connector_url: args.connector_url.clone(),
        core_url: args.core_url.clone(),
        data_dir: args.data_dir.clone(),
        item_action: args.action.clone(),
        move_metainfo: args.quarantine.clone(),
    };
    ConnectorSettings::load(ConnectorKind::Filesystem, &process_env(), config, &overrides)
}

/// Serves until Ctrl-C / SIGTERM, then shuts down gracefully (§6.5).
pub async fn run(settings: ConnectorSettings) -> anyhow::Result<()> {
    let storage = Arc::new(FilesystemStorage::new(&settings)?);
    let listener = TcpListener::bind(settings.listen_addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen_addr))?;
    let running = start(settings, storage, listener).await?;
    shutdown_signal().await;
    tracing::info!("stopping");
    running.stop().await;
    Ok(())
}
