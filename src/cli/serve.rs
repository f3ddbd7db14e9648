//! `dsx-connect serve`: the core (API, UI, workers) plus built-in filesystem, S3 and GCS
//! connectors.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::{ServeArgs, builtin, shutdown_signal};
use crate::app::start_core;
use crate::config::Settings;
use crate::config::core::Listener;
use crate::connectors::framework::settings::ConnectorKind;

/// Runs until Ctrl-C / SIGTERM, then stops connectors (they unregister) and drains workers.
pub async fn run(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    settings.check_protected_mode(Listener::Api)?;
    let listen = format!("{}:{}", settings.listen_host(Listener::Api), settings.port);
    let listener = TcpListener::bind(&listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let core = start_core(Arc::clone(&settings), listener, true).await?;
    let base = core.base_url();
    let mut connectors = Vec::new();
    let fs = args
        .fs
        .iter()
        .map(|d| (ConnectorKind::Filesystem, d.display().to_string()));
    let s3 = args.s3.iter().map(|b| (ConnectorKind::S3, b.clone()));
    let azure = args.azure.iter().map(|c| (ConnectorKind::AzureBlob, c.clone()));
    let gcs = args.gcs.iter().map(|b| (ConnectorKind::Gcs, b.clone()));
    let (mut fs_count, mut s3_count, mut az_count, mut gcs_count) = (0usize, 0usize, 0usize, 0usize);
    for (kind, asset) in fs.chain(s3).chain(azure).chain(gcs) {
        let n = match kind {
            ConnectorKind::Filesystem => &mut fs_count,
            ConnectorKind::S3 => &mut s3_count,
            ConnectorKind::AzureBlob => &mut az_count,
            ConnectorKind::Gcs => &mut gcs_count,
        };
        let quarantine = args.quarantine.as_ref().map(|q| q.display().to_string());
        let c = builtin::start_builtin(
            builtin::Builtin {
                kind,
                asset: &asset,
                name: builtin::name(kind, *n),
                action: args.action.map(|a| a.as_str()),
                // A quarantine folder given on the command line is for folders.
                quarantine: quarantine.as_deref().filter(|_| kind == ConnectorKind::Filesystem),
                filter: None,
            },
            &base,
            &settings.data_dir,
            &core.state.core,
        )
        .await?;
        *n += 1;
        connectors.push(c);
    }
    // Through the log, so JSON mode stays JSON lines only.
    tracing::info!(
        version = crate::VERSION,
        ui = %format!("{base}/"),
        "dsx-connect is running (Ctrl-C to stop)"
    );
    if args.scan_now {
        for c in &connectors {
            let uuid = c.service.uuid().to_string();
            let url = format!("{base}/dsx-connect/api/v1/connectors/full_scan/{uuid}");
            tokio::spawn(async move {
                for _ in 0..100 {
                    match reqwest::Client::new().post(&url).send().await {
                        Ok(r) if r.status().as_u16() == 202 => return,
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
                tracing::warn!(%url, "could not start the initial full scan");
            });
        }
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    for c in connectors {
        c.stop().await;
    }
    core.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
