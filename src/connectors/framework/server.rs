//! The connector's HTTP server: binds, serves the routes of [`super::routes`] behind the shared
//! request limits, then starts the service's registration and monitor.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer};

use super::Storage;
use super::service::ConnectorService;
use super::settings::ConnectorSettings;

/// A started connector: its service and HTTP server.
pub struct RunningConnector {
    pub service: Arc<ConnectorService>,
    pub addr: std::net::SocketAddr,
    server: actix_web::dev::ServerHandle,
}

impl RunningConnector {
    /// Stops the connector gracefully (unregisters) and its server.
    pub async fn stop(self) {
        self.service.stop().await;
        self.server.stop(true).await;
    }
}

/// Binds, serves, and starts registration in the background ("Startup"). Must run inside an
/// actix system. The listener may be on port 0 (built-in connectors): the connector URL is then
/// completed with the bound port.
pub async fn start(
    mut settings: ConnectorSettings,
    storage: Arc<dyn Storage>,
    listener: TcpListener,
) -> anyhow::Result<RunningConnector> {
    let addr = listener.local_addr()?;
    if let Ok(mut u) = url::Url::parse(&settings.connector_url)
        && u.port() == Some(0)
    {
        let _ = u.set_port(Some(addr.port()));
        settings.connector_url = u.as_str().trim_end_matches('/').to_string();
    }
    let uuid = super::settings::identity(&settings)?;
    let tls = match (settings.use_tls, &settings.tls_certfile, &settings.tls_keyfile) {
        (true, Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
        _ => None,
    };
    let name = settings.name.clone();
    let service = ConnectorService::new(settings, uuid, storage)?;
    let svc = Arc::clone(&service);
    let server = HttpServer::new(move || {
        let http_metrics = Arc::clone(&svc.metrics().http);
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::web::server::limit_headers))
            .wrap(actix_web::middleware::from_fn(crate::request_id::access_log))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                crate::metrics::http::track(Arc::clone(&http_metrics), req, next)
            }))
            .configure(|c| super::routes::configure(c, Arc::clone(&svc)))
    })
    .on_connect(crate::web::server::no_delay)
    .client_request_timeout(crate::web::server::HEAD_TIMEOUT)
    .client_disconnect_timeout(std::time::Duration::from_secs(5))
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5);
    let server = match tls {
        Some(cfg) => server.listen_rustls_0_23(listener, cfg)?,
        None => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    service.launch();
    tracing::info!(connector = %name, %addr, uuid = %service.uuid(), callback = %service.settings().callback_url(), "connector listening");
    Ok(RunningConnector {
        service,
        addr,
        server: handle,
    })
}
