//! Built-in connectors of `serve` and `scan`: the same connector as the standalone one, on its
//! own loopback port, registering with this process's core over HTTP.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use crate::config::loader::process_env;
use crate::connectors::filesystem::FilesystemStorage;
use crate::connectors::framework::service::{RunningConnector, start};
use crate::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};

/// Starts a filesystem connector for `dir` against the core at `core_url`.
pub async fn start_filesystem(
    dir: &Path,
    name: &str,
    core_url: &str,
    data_dir: &Path,
    action: Option<&str>,
    quarantine: Option<&Path>,
) -> anyhow::Result<RunningConnector> {
    let overrides = Overrides {
        name: Some(name.to_string()),
        asset: Some(dir.display().to_string()),
        listen: Some("127.0.0.1:0".into()),
        connector_url: Some("http://127.0.0.1:0".into()),
        core_url: Some(core_url.to_string()),
        data_dir: Some(data_dir.to_path_buf()),
        item_action: action.map(str::to_string),
        move_metainfo: quarantine.map(|q| q.display().to_string()),
    };
    let (settings, warnings) = ConnectorSettings::load(ConnectorKind::Filesystem, &process_env(), None, &overrides)
        .map_err(anyhow::Error::new)?;
    for w in warnings.iter().filter(|w| !w.contains("0.0.0.0")) {
        tracing::warn!("{w}");
    }
    let storage = Arc::new(FilesystemStorage::new(&settings)?);
    let listener = TcpListener::bind(settings.listen_addr)?;
    start(settings, storage, listener).await
}

/// The name of the n-th built-in filesystem connector (`filesystem-connector`, `-2`, …).
pub fn fs_name(index: usize) -> String {
    if index == 0 {
        "filesystem-connector".into()
    } else {
        format!("filesystem-connector-{}", index + 1)
    }
}
