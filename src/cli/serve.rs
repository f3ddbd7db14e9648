//! `dsx-connect serve`: the core (API, UI, workers) plus built-in filesystem connectors.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::{ServeArgs, builtin, shutdown_signal};
use crate::app::start_core;
use crate::config::Settings;

/// Runs until Ctrl-C / SIGTERM, then stops connectors (they unregister) and drains workers.
pub async fn run(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let listen = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let core = start_core(Arc::clone(&settings), listener, true).await?;
    let base = core.base_url();
    let mut connectors = Vec::new();
    for (i, dir) in args.fs.iter().enumerate() {
        let c = builtin::start_filesystem(
            dir,
            &builtin::fs_name(i),
            &base,
            &settings.data_dir,
            args.action.map(|a| a.as_str()),
            args.quarantine.as_deref(),
        )
        .await?;
        connectors.push(c);
    }
    eprintln!(
        "dsx-connect {} is running: web UI at {base}/ (Ctrl-C to stop)",
        crate::VERSION
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
    eprintln!("stopping…");
    for c in connectors {
        c.stop().await;
    }
    core.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
