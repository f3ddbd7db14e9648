//! `dsx-connect api` and `dsx-connect worker`: the scale-out roles on the Redis backend. Any
//! number of each, on any hosts, share the Redis store; built-in connectors are not started
//! here (connectors run as their own services and register through any API process).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::shutdown_signal;
use crate::app::{Role, start_role};
use crate::config::Settings;
use crate::config::core::Listener;

/// Runs `role` until Ctrl-C / SIGTERM; a worker then lets in-flight items finish.
pub async fn run(settings: Settings, role: Role) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let listener_kind = if role == Role::Worker {
        Listener::Worker
    } else {
        Listener::Api
    };
    settings.check_protected_mode(listener_kind)?;
    let listen = format!("{}:{}", settings.listen_host(listener_kind), settings.port);
    let listener = TcpListener::bind(&listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let core = start_role(Arc::clone(&settings), listener, role).await?;
    match role {
        // Through the log, so JSON mode stays JSON lines only.
        Role::Worker => tracing::info!(
            version = crate::VERSION,
            health = %format!("{}/dsx-connect/api/v1/readyz", core.base_url()),
            "dsx-connect worker is running"
        ),
        _ => tracing::info!(
            version = crate::VERSION,
            ui = %format!("{}/", core.base_url()),
            "dsx-connect API is running"
        ),
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    core.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
