//! Building and starting the core: stores, scanner, actors and the HTTP server.
//!
//! Kept in the library (not `main`) so tests and benchmarks start exactly what users run.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter};
use actix_web::{App, HttpServer, web};

use crate::actors::broadcaster::Broadcaster;
use crate::actors::connector::ConnectorRegistry;
use crate::actors::job_registry::{JobRegistry, Jobs};
use crate::backend::Backend;
use crate::backend::redis::{RedisOptions, RedisStore};
use crate::backend::sqlite::{SqliteStore, StoreOptions};
use crate::config::Settings;
use crate::connector_client::ConnectorClients;
use crate::core_state::Core;
use crate::http::ui::UiSource;
use crate::http::{HttpState, meta, routes};
use crate::pipeline::Pipeline;
use crate::pipeline::worker_pool::WorkerPool;
use crate::registry_view::RegistryView;
use crate::superlog::Superlog;

/// A running core.
pub struct CoreHandle {
    pub addr: SocketAddr,
    /// Served over HTTPS.
    pub tls: bool,
    pub state: web::Data<HttpState>,
    server: actix_web::dev::ServerHandle,
    pool: Option<Arc<WorkerPool>>,
    pool_arbiter: Option<Arbiter>,
}

impl CoreHandle {
    /// `http://127.0.0.1:<port>` for a wildcard listen address.
    pub fn base_url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    pub fn jobs(&self) -> &Jobs {
        &self.state.jobs
    }

    /// Stops accepting requests, then lets in-flight items finish (up to `grace`).
    pub async fn shutdown(self, grace: Duration) {
        self.server.stop(true).await;
        if let Some(pool) = &self.pool {
            let left = pool.drain(grace).await;
            if left > 0 {
                tracing::warn!(
                    in_flight = left,
                    "stopping with items in flight; they will be delivered again"
                );
            }
        }
        if let Some(a) = self.pool_arbiter {
            a.stop();
        }
        // Every result is recorded by now: flush what superlog still holds.
        self.state.core.superlog.shutdown().await;
    }
}

/// The Redis store of the settings' `DSXCONNECT_REDIS_URL` (connects lazily).
pub fn redis_store(settings: &Settings, url: &str) -> anyhow::Result<RedisStore> {
    Ok(RedisStore::connect(
        url,
        RedisOptions {
            app_env: settings.app_env.as_str().to_string(),
            results_retain: settings.results_retain,
            job_ttl_days: settings.jobs.ttl_days,
            jobs_retain_finished: settings.jobs.retain_finished,
            dlq_expire_days: settings.workers.dlq_expire_after_days,
            claim_idle_secs: settings.workers.claim_idle_secs,
        },
    )?)
}

/// Opens the configured backend (embedded unless a Redis URL is set).
pub fn open_backend(settings: &Settings) -> anyhow::Result<Backend> {
    let mut backend = open_engine(settings)?;
    // Connector secrets pass through the sealing layer (docs/AUTH.md, "Secrets at rest").
    backend.credentials = Arc::new(crate::backend::sealed::SealedCredentials::new(
        Arc::clone(&backend.credentials),
        settings.auth.store_key.clone(),
    ));
    if settings.auth.enabled && settings.auth.store_key.is_none() && settings.redis_url.is_some() {
        tracing::warn!(
            "connector secrets are stored in clear in Redis: set DSXCONNECT_AUTH__STORE_KEY_FILE to seal them"
        );
    }
    Ok(backend)
}

fn open_engine(settings: &Settings) -> anyhow::Result<Backend> {
    if let Some(url) = &settings.redis_url {
        let store = redis_store(settings, url.expose())?;
        tracing::info!(url = %crate::config::core::redact_url_password(url.expose()), "Redis store configured");
        return Ok(store.backend());
    }
    let store = SqliteStore::open(
        &settings.data_dir,
        StoreOptions {
            app_env: settings.app_env.as_str().to_string(),
            results_retain: settings.results_retain,
            job_ttl_days: settings.jobs.ttl_days,
            jobs_retain_finished: settings.jobs.retain_finished,
            dlq_expire_days: settings.workers.dlq_expire_after_days,
            keep_clean_results: settings.keep_clean_results,
        },
    )?;
    tracing::info!(db = %store.path().display(), "embedded store opened");
    Ok(store.backend())
}

/// Hourly (in the process that leads the sweeps): credential records of connectors silent for
/// `days` are deleted and audited as `connector.forget` by `system`.
fn spawn_forget_sweep(
    trust: Arc<crate::trust::Trust>,
    auditor: Arc<crate::audit_trail::Auditor>,
    maintenance: Arc<dyn crate::backend::Maintenance>,
    days: u64,
) {
    use crate::auth::audit::{Actor, ActorKind, AuditRecord, Outcome};
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if !matches!(maintenance.lead().await, Ok(true)) {
                continue;
            }
            match trust.forget_stale(days, crate::auth::hmac::now_secs()).await {
                Ok(gone) => {
                    for uuid in gone {
                        let rec = AuditRecord::now(
                            Actor::new(ActorKind::System, None, Some("retention")),
                            "connector.forget",
                            Outcome::Success,
                        )
                        .target("connector", uuid.as_str())
                        .detail(format!("no registration for {days} days"));
                        auditor.record(rec).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "forgetting stale connector credentials failed"),
            }
        }
    });
}

/// What a process runs (docs/ARCHITECTURE.md, "1. Processes and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API, UI and a worker pool (`serve`, `scan`).
    All,
    /// API and UI only (`api`, distributed backend).
    Api,
    /// A worker pool with health endpoints only (`worker`, distributed backend).
    Worker,
}

/// Starts the core on `listener` inside the current actix system. With `workers`, this
/// process also runs a worker pool (on its own thread).
pub async fn start_core(settings: Arc<Settings>, listener: TcpListener, workers: bool) -> anyhow::Result<CoreHandle> {
    start_role(settings, listener, if workers { Role::All } else { Role::Api }).await
}

/// Starts `role` on `listener`: the worker pool runs on its own thread when the role has one;
/// a worker's listener serves only the health endpoints.
pub async fn start_role(settings: Arc<Settings>, listener: TcpListener, role: Role) -> anyhow::Result<CoreHandle> {
    let workers = role != Role::Api;
    let backend = open_backend(&settings)?;
    let scanner = crate::scanner::build(&settings.scanner)?;
    crate::scanner::spawn_version_refresh(&scanner);
    if workers && scanner.engine().is_test_engine() {
        // Said at every start: its `Benign` is not a scan result anyone should rely on.
        tracing::warn!(
            engine = crate::scanner::embedded::TEST_ENGINE_LABEL,
            "the built-in test engine is active: it detects only the EICAR test file and the SHA-256 hash list, \
             so every other file is reported Benign without being examined; configure DSXA or clamd \
             (DSXCONNECT_SCANNER__ENGINE) for real protection"
        );
    }
    let registry_view = Arc::new(RegistryView::default());
    let trust = Arc::new(crate::trust::Trust::new(
        Arc::clone(&backend.credentials),
        Arc::clone(&backend.tokens),
        Arc::default(),
        settings.auth.clone(),
    ));
    let clients = Arc::new(ConnectorClients::new(
        settings.connectors.clone(),
        Arc::clone(&registry_view),
        Arc::clone(&trust),
    )?);
    // Ends a "cannot write" episode of the store once a probe write succeeds.
    crate::backend::write_health::spawn_prober(Arc::clone(&backend.write_health), Arc::clone(&backend.maintenance));
    // Scan results are emitted where they are recorded (workers, docs/reference/SUPERLOG.md,
    // "When events are produced"); audit events where the request was handled, so every core
    // process runs the superlog.
    let superlog = Superlog::start(&settings.superlog)?;
    let identity = Arc::new(crate::identity::Identity::new(
        Arc::clone(&backend.users),
        Arc::clone(&backend.sessions),
        Arc::clone(&backend.attempts),
        settings.auth.login.clone(),
        settings.auth.oidc.as_ref().is_some_and(|o| o.can_yield_admin()),
    ));
    let oidc = match (&settings.auth.oidc, settings.auth.enabled) {
        (Some(o), true) => {
            let oidc = Arc::new(crate::oidc::Oidc::new(o.clone())?);
            // Fetched now so a wrong issuer shows at start; a provider that is down is retried
            // at the first sign-in.
            if let Err(e) = oidc.metadata(true).await {
                tracing::warn!(error = %e, "single sign-on provider not reachable yet");
            }
            Some(oidc)
        }
        _ => None,
    };
    if settings.auth.enabled {
        identity.bootstrap().await?;
    }
    let auditor = crate::audit_trail::Auditor::new(
        Arc::clone(&backend.audit),
        superlog.clone(),
        settings.auth.login.audit_retain,
        std::time::Duration::from_secs(settings.auth.login.audit_coalesce_secs),
    );
    auditor.spawn_upkeep(settings.auth.login.audit_retain_days);
    let scanner_probe = match workers {
        true => Some(crate::scanner::probe::ScannerProbe::start(&scanner).await),
        false => None,
    };
    let core = Arc::new(Core {
        settings: Arc::clone(&settings),
        backend: backend.clone(),
        registry_view,
        held: Default::default(),
        trust,
        metrics: Arc::default(),
        local_connectors: Default::default(),
        scanner,
        scanner_probe,
        clients,
        superlog,
        identity,
        oidc,
        auditor,
        build_timestamp: meta::build_timestamp(settings.build_timestamp.as_deref()),
    });

    let broadcaster = Broadcaster::start(&*backend.events);
    let jobs = JobRegistry::start(Arc::clone(&core));
    let connectors = ConnectorRegistry::new(Arc::clone(&core)).start();
    let (pool, pool_arbiter) = if workers {
        let ctx = Arc::new(Pipeline {
            core: Arc::clone(&core),
            jobs: jobs.clone(),
        });
        let arbiter = Arbiter::new();
        // The pool and its items run on their own thread, beside the HTTP workers.
        let (tx, rx) = tokio::sync::oneshot::channel();
        arbiter.spawn(async move {
            let _ = tx.send(WorkerPool::start(ctx));
        });
        let pool = rx
            .await
            .map_err(|_| anyhow::anyhow!("the worker pool's thread ended at start"))?;
        (Some(pool), Some(arbiter))
    } else {
        (None, None)
    };
    if settings.auth.enabled && role != Role::Worker {
        spawn_forget_sweep(
            Arc::clone(&core.trust),
            Arc::clone(&core.auditor),
            Arc::clone(&backend.maintenance),
            settings.auth.forget_after_days,
        );
    }
    if role != Role::Worker {
        // Every API process runs due schedules; the store's run lease picks one per due time.
        crate::schedule::runner::Scheduler::new(Arc::clone(&core)).spawn();
    }
    let state = web::Data::new(HttpState {
        core,
        jobs,
        connectors,
        broadcaster,
        host_policy: crate::http::origin::HostPolicy::new(
            settings.auth.public_url.as_ref(),
            &settings.auth.allowed_hosts,
            listener.local_addr()?.ip().is_loopback(),
        ),
    });
    let addr = listener.local_addr()?;
    let tls = match (settings.use_tls, &settings.tls_certfile, &settings.tls_keyfile) {
        (true, Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
        _ => None,
    };
    let data = state.clone();
    let http_metrics = Arc::clone(&state.core.metrics.http);
    let ui = web::Data::new(UiSource(settings.ui_dir.clone()));
    let api_doc = web::Data::new(crate::http::openapi::ApiDocument::new(
        crate::http::access::table(),
        crate::http::access::root_table(),
        settings.auth.enabled,
    ));
    let server = HttpServer::new(move || {
        let http_metrics = Arc::clone(&http_metrics);
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::web::server::limit_headers))
            .wrap(actix_web::middleware::from_fn(crate::request_id::access_log))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                crate::metrics::http::track(Arc::clone(&http_metrics), req, next)
            }))
            .app_data(data.clone())
            .app_data(ui.clone())
            .app_data(api_doc.clone())
            .configure(if role == Role::Worker {
                crate::http::health_routes
            } else {
                routes
            })
    })
    .on_connect(crate::web::server::no_delay)
    .client_request_timeout(crate::web::server::HEAD_TIMEOUT)
    .client_disconnect_timeout(std::time::Duration::from_secs(5))
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5);
    let tls_on = tls.is_some();
    let server = match tls {
        Some(cfg) => server.listen_rustls_0_23(listener, cfg)?,
        None => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(%addr, engine = %settings.scanner.engine, ?role, "core listening");
    Ok(CoreHandle {
        addr,
        tls: tls_on,
        state,
        server: handle,
        pool,
        pool_arbiter,
    })
}
