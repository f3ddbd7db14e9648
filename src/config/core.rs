//! Core settings (`DSXCONNECT_*`, docs/reference/CORE-API.md, "Settings").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::url_guard::AllowList;
use crate::model::Engine;
use crate::settings_source::{ConfigError, Secret, Source};

/// `DSXCONNECT_APP_ENV`: only the namespace of Redis keys and channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Dev,
    Stg,
    Prod,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Dev => "dev",
            AppEnv::Stg => "stg",
            AppEnv::Prod => "prod",
        }
    }
}

impl std::str::FromStr for AppEnv {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "dev" => Ok(AppEnv::Dev),
            "stg" => Ok(AppEnv::Stg),
            "prod" => Ok(AppEnv::Prod),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
        }
    }
}

fn parse_engine(s: &str) -> Option<Engine> {
    match s.trim().to_ascii_lowercase().as_str() {
        "dsxa" => Some(Engine::Dsxa),
        "clamd" => Some(Engine::Clamd),
        "embedded" => Some(Engine::Embedded),
        _ => None,
    }
}

/// Scanner settings ("Engines", "Settings rules").
#[derive(Debug, Clone)]
pub struct ScannerSettings {
    pub engine: Engine,
    /// Full DSXA scan URL (`…/scan/binary/v2`).
    pub scan_binary_url: Option<String>,
    pub auth_token: Option<Secret>,
    pub protected_entity: Option<i64>,
    pub scan_password: Option<Secret>,
    pub verify_tls: bool,
    pub ca_bundle: Option<PathBuf>,
    pub clamd_address: String,
    /// 0 = unlimited.
    pub max_file_size: u64,
    pub timeout: Duration,
    pub sha256_blocklist: Option<PathBuf>,
}

/// Worker pool and retry settings ("Retries").
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub retry_backoff_base_secs: f64,
    pub retry_backoff_max_secs: f64,
    pub connector_retry_backoff_base: Option<f64>,
    pub dsxa_retry_backoff_base: Option<f64>,
    pub server_error_retry_backoff_base: Option<f64>,
    pub retry_connector_connection_errors: bool,
    pub retry_connector_server_errors: bool,
    pub retry_connector_client_errors: bool,
    pub retry_dsxa_connection_errors: bool,
    pub retry_dsxa_timeout_errors: bool,
    pub retry_dsxa_server_errors: bool,
    pub retry_dsxa_client_errors: bool,
    pub dlq_expire_after_days: u32,
    pub claim_idle_secs: u64,
    pub transfer: TransferSettings,
}

/// Deadlines of one item's transfer (docs/reference/CORE-API.md,
/// "Size limit and transfer deadlines" as hardened here): a source that stalls or trickles, or a
/// scanner that never answers, fails the attempt as a timeout (retried, then dead-lettered) instead
/// of holding a worker. The defaults let a 5 GiB file through a slow link.
#[derive(Debug, Clone, Copy)]
pub struct TransferSettings {
    /// From the start of the body to its first byte.
    pub first_byte: Duration,
    /// The window over which the source's rate is measured.
    pub rate_window: Duration,
    /// Bytes per second the source must average over every window (time the scanner keeps us
    /// waiting is not counted against the source).
    pub min_rate: u64,
    /// The whole attempt's cap is `total_base + size / total_rate` (size from the request or
    /// `Content-Length`; the scanner's limit when neither is known).
    pub total_base: Duration,
    pub total_rate: u64,
}

impl TransferSettings {
    /// The longest one attempt of an item of `size` bytes may take, body and verdict.
    pub fn total_cap(&self, size: Option<u64>, max_file_size: u64) -> Duration {
        let size = size.unwrap_or(if max_file_size > 0 { max_file_size } else { 5 << 30 });
        self.total_base + Duration::from_secs_f64(size as f64 / self.total_rate.max(1) as f64)
    }
}

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Idle rule I; 0 disables.
    pub idle_complete_secs: u64,
    pub ttl_days: u32,
    /// Finished (completed or cancelled) jobs kept; the oldest beyond are purged.
    pub retain_finished: u64,
}

#[derive(Debug, Clone)]
pub struct ConnectorClientSettings {
    pub api_key: Option<Secret>,
    /// `uuid-or-name` → key.
    pub api_keys: BTreeMap<String, Secret>,
    pub verify_tls: bool,
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub presence_ttl_secs: u64,
    pub sweep_secs: u64,
    /// `CONNECTORS__MAX_REGISTERED`: connectors registered at once at most. Registrations
    /// come from peers, and each one costs a store row, an actor, a mirror in every API process
    /// and a client pool, so their number is bounded like every other set keyed by client input.
    pub max_registered: usize,
    /// `CONNECTORS__ALLOWED_URLS`: where connector URLs may point (empty = anywhere outside
    /// the always-blocked ranges).
    pub allowed_urls: Arc<AllowList>,
}

/// Every core setting.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub data_dir: PathBuf,
    pub redis_url: Option<Secret>,
    pub results_db: Option<Secret>,
    /// Results retention; 0 keeps nothing in the lists, < 0 is unlimited.
    pub results_retain: i64,
    /// `HOST` as set; the listen address depends on the role and the auth mode
    /// ([`Settings::listen_host`]).
    pub host: Option<String>,
    pub port: u16,
    pub use_tls: bool,
    pub tls_certfile: Option<PathBuf>,
    pub tls_keyfile: Option<PathBuf>,
    pub enable_estimate_preflight: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    pub log_sse_events: bool,
    pub build_timestamp: Option<String>,
    /// Serve the web UI from this folder instead of the copy built into the binary (UI work).
    pub ui_dir: Option<PathBuf>,
    pub scanner: ScannerSettings,
    pub workers: WorkerSettings,
    pub jobs: JobSettings,
    pub connectors: ConnectorClientSettings,
    /// Connector trust and protected mode (docs/AUTH.md).
    pub auth: super::auth::AuthSettings,
    /// Scan-result events to SIEMs (docs/reference/SUPERLOG.md, "Settings").
    pub superlog: crate::superlog::config::SuperlogSettings,
}

/// Settings plus the warnings to log once logging is up.
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// The prefixes (after `DSXCONNECT_`) of the variables that set command-line flags (the
/// `env` names of `src/cli/`), which the settings loader leaves to the command line.
const FLAG_VARIABLES: &[&str] = &["CONFIG", "SCAN_", "SERVE_", "HEALTHCHECK_", "TOKEN_", "USER_", "MAN_"];

impl Settings {
    /// Reads the process environment (and `--config` file) and validates every value.
    pub fn from_env(config_file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::from_map(&crate::settings_source::process_env(), config_file)
    }

    /// Defaults only (tests, the `scan` command before its overrides).
    pub fn defaults() -> Settings {
        Self::from_map(&BTreeMap::new(), None)
            .map(|l| l.settings)
            .unwrap_or_else(|e| unreachable!("defaults are valid: {e}"))
    }

    pub fn from_map(env: &BTreeMap<String, String>, config_file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let mut s = Source::load("DSXCONNECT_", env, config_file)?;
        s.command_line(FLAG_VARIABLES);
        let mut warnings = Vec::new();
        // Aliases and legacy names.
        s.alias("DATABASE__RETAIN", "RESULTS_DB__RETAIN");
        s.alias("RESULTS_DATABASE__RETAIN", "RESULTS_DB__RETAIN");
        s.alias("RESULTS_DATABASE__LOC", "RESULTS_DB");
        s.alias("SCANNER__MAX_FILE_SIZE_BYTES", "SCANNER__MAX_FILE_SIZE");
        s.alias("SCANNER__TIMEOUT_SECONDS", "SCANNER__TIMEOUT_SECS");
        for key in [
            "WORKERS__BROKER",
            "WORKERS__BACKEND",
            "WORKERS__RETRY_QUEUE_DISPATCH_ERRORS",
            "FEATURES__ENABLE_APPROXIMATE_ESTIMATES",
        ] {
            s.ignored(key, "kept for compatibility with the original");
        }

        let app_env = s.parse_opt("APP_ENV", "dev, stg or prod").unwrap_or(AppEnv::Dev);
        let data_dir = PathBuf::from(s.string_or("DATA_DIR", "./data"));
        let redis_url = s.secret_or_file("REDIS_URL");
        if let Some(u) = &redis_url
            && !["redis://", "rediss://", "unix://"]
                .iter()
                .any(|p| u.expose().starts_with(p))
        {
            s.error("REDIS_URL", "expected a redis://, rediss:// or unix:// URL");
        }
        let results_db = s.secret_or_file("RESULTS_DB");
        if let Some(u) = &results_db
            && !["redis://", "rediss://"].iter().any(|p| u.expose().starts_with(p))
        {
            s.error(
                "RESULTS_DB",
                "expected a redis:// or rediss:// URL (results share the job store when unset)",
            );
        }
        let results_retain = s.int_in("RESULTS_DB__RETAIN", 1000, i64::MIN, i64::MAX);
        let host = s.string("HOST").filter(|h| !h.trim().is_empty());
        let port = s.int_in("PORT", 8586, 0, 65535) as u16;
        let use_tls = s.bool_or("USE_TLS", false);
        let tls_certfile = s.string("TLS_CERTFILE").map(PathBuf::from);
        let tls_keyfile = s.string("TLS_KEYFILE").map(PathBuf::from);
        if use_tls && (tls_certfile.is_none() || tls_keyfile.is_none()) {
            s.error(
                "USE_TLS",
                "true requires DSXCONNECT_TLS_CERTFILE and DSXCONNECT_TLS_KEYFILE",
            );
        }
        let enable_estimate_preflight = s.bool_or("FEATURES__ENABLE_ESTIMATE_PREFLIGHT", true);
        let legacy_level = env.get("LOG_LEVEL").cloned();
        let log_level = s
            .parse_opt::<String>("LOG_LEVEL", "trace, debug, info, warn or error")
            .or(legacy_level)
            .unwrap_or_else(|| "info".into())
            .to_ascii_lowercase();
        if !["trace", "debug", "info", "warn", "warning", "error"].contains(&log_level.as_str()) {
            s.error(
                "LOG_LEVEL",
                format!("'{log_level}' is not valid: expected trace, debug, info, warn or error"),
            );
        }
        let log_format = s.parse_opt("LOG_FORMAT", "text or json").unwrap_or(LogFormat::Text);
        let log_sse_events =
            s.bool_or("LOG_SSE_EVENTS", false) || env.get("DSX_LOG_SSE_EVENTS").is_some_and(|v| v.trim() == "1");
        let build_timestamp = env.get("DSX_BUILD_TIMESTAMP").filter(|v| !v.is_empty()).cloned();
        let ui_dir = s.string("UI__STATIC_DIR").map(PathBuf::from);

        let scanner = read_scanner(&mut s);
        let workers = read_workers(&mut s, env);
        let jobs = JobSettings {
            idle_complete_secs: s.int_in("JOBS__IDLE_COMPLETE_SECS", 30, 0, 86_400 * 30) as u64,
            ttl_days: s.int_in("JOBS__TTL_DAYS", 7, 1, 3650) as u32,
            retain_finished: s.int_in("JOBS__RETAIN_FINISHED", 1000, 1, 10_000_000) as u64,
        };
        let connectors = read_connector_client(&mut s);
        let auth = super::auth::read(&mut s, &mut warnings);

        let superlog = crate::superlog::config::read(&mut s);

        warnings.extend(s.finish()?);
        Ok(Loaded {
            settings: Settings {
                app_env,
                data_dir,
                redis_url,
                results_db,
                results_retain,
                host,
                port,
                use_tls,
                tls_certfile,
                tls_keyfile,
                enable_estimate_preflight,
                log_level,
                log_format,
                log_sse_events,
                build_timestamp,
                ui_dir,
                scanner,
                workers,
                jobs,
                connectors,
                auth,
                superlog,
            },
            warnings,
        })
    }

    /// `GET /config` ("Settings view"): every setting, secrets as `"***"`.
    pub fn view(&self) -> Value {
        let secret = |s: &Option<Secret>| s.as_ref().map(|_| json!("***")).unwrap_or(Value::Null);
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| json!(p.display().to_string()))
                .unwrap_or(Value::Null)
        };
        let sc = &self.scanner;
        let w = &self.workers;
        let c = &self.connectors;
        json!({
            "app_env": self.app_env.as_str(),
            "data_dir": self.data_dir.display().to_string(),
            "backend": if self.redis_url.is_some() { "redis" } else { "embedded" },
            "redis_url": self.redis_url.as_ref().map(|u| redact_url_password(u.expose())),
            "results_database": {
                "loc": self.results_db.as_ref().map(|u| redact_url_password(u.expose())),
                "retain": self.results_retain,
            },
            "scanner": {
                "engine": sc.engine.as_str(),
                "scan_binary_url": sc.scan_binary_url.as_deref().map(redact_url_password),
                "auth_token": secret(&sc.auth_token),
                "protected_entity": sc.protected_entity,
                "scan_password": secret(&sc.scan_password),
                "verify_tls": sc.verify_tls,
                "ca_bundle": path(&sc.ca_bundle),
                "clamd_address": sc.clamd_address,
                "max_file_size": sc.max_file_size,
                "timeout_secs": sc.timeout.as_secs_f64(),
                "sha256_blocklist": path(&sc.sha256_blocklist),
            },
            "workers": {
                "concurrency": w.concurrency,
                "max_attempts": w.max_attempts,
                "retry_backoff_base_secs": w.retry_backoff_base_secs,
                "retry_backoff_max_secs": w.retry_backoff_max_secs,
                "connector_retry_backoff_base": w.connector_retry_backoff_base,
                "dsxa_retry_backoff_base": w.dsxa_retry_backoff_base,
                "server_error_retry_backoff_base": w.server_error_retry_backoff_base,
                "retry_connector_connection_errors": w.retry_connector_connection_errors,
                "retry_connector_server_errors": w.retry_connector_server_errors,
                "retry_connector_client_errors": w.retry_connector_client_errors,
                "retry_dsxa_connection_errors": w.retry_dsxa_connection_errors,
                "retry_dsxa_timeout_errors": w.retry_dsxa_timeout_errors,
                "retry_dsxa_server_errors": w.retry_dsxa_server_errors,
                "retry_dsxa_client_errors": w.retry_dsxa_client_errors,
                "dlq_expire_after_days": w.dlq_expire_after_days,
                "claim_idle_secs": w.claim_idle_secs,
            },
            "transfer": {
                "first_byte_secs": w.transfer.first_byte.as_secs_f64(),
                "rate_window_secs": w.transfer.rate_window.as_secs_f64(),
                "min_rate_bytes": w.transfer.min_rate,
                "total_base_secs": w.transfer.total_base.as_secs_f64(),
                "total_rate_bytes": w.transfer.total_rate,
            },
            "jobs": {
                "idle_complete_secs": self.jobs.idle_complete_secs,
                "ttl_days": self.jobs.ttl_days,
                "retain_finished": self.jobs.retain_finished,
            },
            "connectors": {
                "api_key": secret(&c.api_key),
                "api_keys": if c.api_keys.is_empty() { Value::Null } else { json!("***") },
                "verify_tls": c.verify_tls,
                "ca_bundle": path(&c.ca_bundle),
                "timeout_secs": c.timeout.as_secs_f64(),
                "connect_timeout_secs": c.connect_timeout.as_secs_f64(),
                "presence_ttl_secs": c.presence_ttl_secs,
                "sweep_secs": c.sweep_secs,
                "max_registered": c.max_registered,
                "allowed_urls": self.allowed_urls_view(),
            },
            "features": {
                "enable_estimate_preflight": self.enable_estimate_preflight,
            },
            "superlog": self.superlog.view,
            "host": self.host,
            "allow_unauthenticated": self.auth.allow_unauthenticated,
            "auth": self.auth.view(),
            "use_tls": self.use_tls,
            "tls_certfile": path(&self.tls_certfile),
            "tls_keyfile": path(&self.tls_keyfile),
            "ui": { "static_dir": path(&self.ui_dir) },
            "log_level": self.log_level,
            "log_format": match self.log_format { LogFormat::Text => "text", LogFormat::Json => "json" },
            "version": crate::VERSION,
        })
    }
}

fn read_scanner(s: &mut Source) -> ScannerSettings {
    let scan_binary_url = s
        .http_url_opt("SCANNER__SCAN_BINARY_URL")
        .map(|u| u.to_string())
        .or_else(|| {
            s.http_url_opt("SCANNER__BASE_URL")
                .map(|u| format!("{}/scan/binary/v2", u.as_str().trim_end_matches('/')))
        });
    let engine = match s.string("SCANNER__ENGINE") {
        Some(v) => parse_engine(&v).unwrap_or_else(|| {
            s.error(
                "SCANNER__ENGINE",
                format!("'{v}' is not valid: expected dsxa, clamd, embedded"),
            );
            Engine::Embedded
        }),
        None if scan_binary_url.is_some() => Engine::Dsxa,
        None => Engine::Embedded,
    };
    if engine == Engine::Dsxa && scan_binary_url.is_none() {
        s.error(
            "SCANNER__ENGINE",
            "dsxa requires DSXCONNECT_SCANNER__SCAN_BINARY_URL or DSXCONNECT_SCANNER__BASE_URL",
        );
    }
    let default_max = match engine {
        Engine::Dsxa => 2 << 30,
        Engine::Clamd => 25 << 20,
        Engine::Embedded => 0,
    };
    let protected_entity = s.int_opt_in("SCANNER__PROTECTED_ENTITY", 1, i64::MAX);
    ScannerSettings {
        engine,
        scan_binary_url,
        auth_token: s.secret_or_file("SCANNER__AUTH_TOKEN"),
        protected_entity,
        scan_password: s.secret_or_file("SCANNER__SCAN_PASSWORD"),
        verify_tls: s.bool_or("SCANNER__VERIFY_TLS", true),
        ca_bundle: s.string("SCANNER__CA_BUNDLE").map(PathBuf::from),
        clamd_address: s.string_or("SCANNER__CLAMD_ADDRESS", "tcp://127.0.0.1:3310"),
        max_file_size: s.size_opt("SCANNER__MAX_FILE_SIZE").unwrap_or(default_max),
        timeout: Duration::from_secs_f64(s.secs_in("SCANNER__TIMEOUT_SECS", 600.0, 1.0, 86_400.0)),
        sha256_blocklist: s.string("SCANNER__SHA256_BLOCKLIST").map(PathBuf::from),
    }
}

fn read_workers(s: &mut Source, env: &BTreeMap<String, String>) -> WorkerSettings {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let legacy_retries = s.int_opt_in("WORKERS__SCAN_REQUEST_MAX_RETRIES", 0, 99);
    let max_attempts = s
        .int_opt_in("WORKERS__MAX_ATTEMPTS", 1, 100)
        .or(legacy_retries.map(|n| n + 1))
        .unwrap_or(4) as u32;
    let _ = env;
    let base = |s: &mut Source, key: &str| {
        let v = s.secs_in(key, -1.0, 0.0, 86_400.0);
        (v >= 0.0).then_some(v)
    };
    WorkerSettings {
        concurrency: s.int_in("WORKERS__CONCURRENCY", (8 * cpus).max(32) as i64, 1, 10_000) as usize,
        max_attempts,
        retry_backoff_base_secs: s.secs_in("WORKERS__RETRY_BACKOFF_BASE_SECS", 2.0, 0.0, 86_400.0),
        retry_backoff_max_secs: s.secs_in("WORKERS__RETRY_BACKOFF_MAX_SECS", 300.0, 0.0, 86_400.0),
        connector_retry_backoff_base: base(s, "WORKERS__CONNECTOR_RETRY_BACKOFF_BASE"),
        dsxa_retry_backoff_base: base(s, "WORKERS__DSXA_RETRY_BACKOFF_BASE"),
        server_error_retry_backoff_base: base(s, "WORKERS__SERVER_ERROR_RETRY_BACKOFF_BASE"),
        retry_connector_connection_errors: s.bool_or("WORKERS__RETRY_CONNECTOR_CONNECTION_ERRORS", true),
        retry_connector_server_errors: s.bool_or("WORKERS__RETRY_CONNECTOR_SERVER_ERRORS", true),
        retry_connector_client_errors: s.bool_or("WORKERS__RETRY_CONNECTOR_CLIENT_ERRORS", false),
        retry_dsxa_connection_errors: s.bool_or("WORKERS__RETRY_DSXA_CONNECTION_ERRORS", true),
        retry_dsxa_timeout_errors: s.bool_or("WORKERS__RETRY_DSXA_TIMEOUT_ERRORS", true),
        retry_dsxa_server_errors: s.bool_or("WORKERS__RETRY_DSXA_SERVER_ERRORS", true),
        retry_dsxa_client_errors: s.bool_or("WORKERS__RETRY_DSXA_CLIENT_ERRORS", false),
        dlq_expire_after_days: s.int_in("WORKERS__DLQ_EXPIRE_AFTER_DAYS", 7, 1, 3650) as u32,
        claim_idle_secs: s.int_in("WORKERS__CLAIM_IDLE_SECS", 120, 1, 86_400) as u64,
        transfer: TransferSettings {
            first_byte: Duration::from_secs_f64(s.secs_in("TRANSFER__FIRST_BYTE_SECS", 60.0, 0.1, 86_400.0)),
            rate_window: Duration::from_secs_f64(s.secs_in("TRANSFER__RATE_WINDOW_SECS", 60.0, 0.1, 86_400.0)),
            min_rate: s.int_in("TRANSFER__MIN_RATE_BYTES", 16 * 1024, 0, 1 << 40) as u64,
            total_base: Duration::from_secs_f64(s.secs_in("TRANSFER__TOTAL_BASE_SECS", 600.0, 1.0, 7.0 * 86_400.0)),
            total_rate: s.int_in("TRANSFER__TOTAL_RATE_BYTES", 256 * 1024, 1, 1 << 40) as u64,
        },
    }
}

fn read_connector_client(s: &mut Source) -> ConnectorClientSettings {
    let mut api_keys = BTreeMap::new();
    if let Some(pairs) = s.secret_or_file("CONNECTORS__API_KEYS") {
        for pair in pairs.expose().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((who, key)) if !who.trim().is_empty() && !key.trim().is_empty() => {
                    api_keys.insert(who.trim().to_ascii_lowercase(), Secret::new(key.trim()));
                }
                _ => s.error(
                    "CONNECTORS__API_KEYS",
                    "expected comma-separated uuid-or-name=key pairs (one pair is malformed)",
                ),
            }
        }
    }
    let allowed_urls = match s.string("CONNECTORS__ALLOWED_URLS").map(|l| AllowList::parse(&l)) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            s.error("CONNECTORS__ALLOWED_URLS", e.to_string());
            AllowList::default()
        }
        None => AllowList::default(),
    };
    ConnectorClientSettings {
        allowed_urls: Arc::new(allowed_urls),
        api_key: s.secret_or_file("CONNECTORS__API_KEY"),
        api_keys,
        verify_tls: s.bool_or("CONNECTORS__VERIFY_TLS", true),
        ca_bundle: s.string("CONNECTORS__CA_BUNDLE").map(PathBuf::from),
        timeout: Duration::from_secs_f64(s.secs_in("CONNECTORS__TIMEOUT_SECS", 30.0, 0.1, 3600.0)),
        connect_timeout: Duration::from_secs_f64(s.secs_in("CONNECTORS__CONNECT_TIMEOUT_SECS", 5.0, 0.1, 600.0)),
        presence_ttl_secs: s.int_in("CONNECTORS__PRESENCE_TTL_SECS", 120, 1, 86_400) as u64,
        sweep_secs: s.int_in("CONNECTORS__SWEEP_SECS", 20, 1, 3600) as u64,
        max_registered: s.int_in("CONNECTORS__MAX_REGISTERED", 1000, 1, 1_000_000) as usize,
    }
}

/// Which kind of process listens (its default address and protected mode differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `serve`, `api`, `scan --ui`: the API and UI.
    Api,
    /// `worker`: health and status routes only.
    Worker,
}

impl Settings {
    /// The address to listen on: `HOST` when set; else loopback for the API with
    /// authentication off, and every address for a worker or with authentication on.
    pub fn listen_host(&self, listener: Listener) -> String {
        match &self.host {
            Some(h) => h.clone(),
            None if listener == Listener::Worker || self.auth.enabled => "0.0.0.0".into(),
            None => "127.0.0.1".into(),
        }
    }

    /// Protected mode: without authentication the API serves loopback only, unless the
    /// operator says otherwise. The error is the start-up message.
    pub fn check_protected_mode(&self, listener: Listener) -> Result<(), Unprotected> {
        let host = self.listen_host(listener);
        if listener == Listener::Worker || self.auth.enabled || self.auth.allow_unauthenticated || is_loopback(&host) {
            return Ok(());
        }
        Err(Unprotected { host })
    }

    fn allowed_urls_view(&self) -> Value {
        let a = &self.connectors.allowed_urls;
        if a.is_empty() {
            Value::Null
        } else {
            json!(a.to_string())
        }
    }
}

/// Serving without authentication on a non-loopback address, which protected mode refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "DSXCONNECT_HOST={host}: refusing to serve without authentication on a non-loopback address; \
     set DSXCONNECT_AUTH__ENABLED=true or DSXCONNECT_ALLOW_UNAUTHENTICATED=true"
)]
pub struct Unprotected {
    pub host: String,
}

/// Loopback: `127.0.0.0/8`, `::1`, `localhost`, or a name that resolves only to these
/// (`0.0.0.0` and `::` listen everywhere, so they are not).
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    use std::net::ToSocketAddrs;
    match (h, 0u16).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// A URL safe to show or log: a userinfo password and `pass` / `password` query values become
/// `***` (`redis://user:secret@host` → `redis://user:***@host`,
/// `unix:///run/redis.sock?pass=secret` → `unix:///run/redis.sock?pass=***`).
pub fn redact_url_password(u: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(u) else {
        return u.to_string();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret_key = |k: &str| k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password");
    if parsed.query_pairs().any(|(k, _)| secret_key(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_redacted() {
        assert_eq!(redact_url_password("redis://u:pw@h:6379/0"), "redis://u:***@h:6379/0");
        assert_eq!(
            redact_url_password("unix:///run/redis.sock?db=2&pass=s3cret"),
            "unix:///run/redis.sock?db=2&pass=***"
        );
        assert_eq!(
            redact_url_password("http://scanner:pw@dsxa:5000/scan/binary/v2?Password=x"),
            "http://scanner:***@dsxa:5000/scan/binary/v2?Password=***"
        );
        assert_eq!(redact_url_password("http://dsxa:5000/scan"), "http://dsxa:5000/scan");
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&env, None)
    }

    #[test]
    fn the_engine_defaults_to_embedded_and_to_dsxa_with_a_url() {
        assert_eq!(load(&[]).unwrap().settings.scanner.engine, Engine::Embedded);
        let l = load(&[("DSXCONNECT_SCANNER__BASE_URL", "http://dsxa:5000/")]).unwrap();
        assert_eq!(l.settings.scanner.engine, Engine::Dsxa);
        assert_eq!(
            l.settings.scanner.scan_binary_url.as_deref(),
            Some("http://dsxa:5000/scan/binary/v2")
        );
        assert_eq!(l.settings.scanner.max_file_size, 2 << 30);
    }

    #[test]
    fn an_unknown_engine_names_the_variable_and_the_choices() {
        let e = load(&[("DSXCONNECT_SCANNER__ENGINE", "foo")])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("DSXCONNECT_SCANNER__ENGINE"), "{e}");
        assert!(e.contains("dsxa, clamd, embedded"), "{e}");
    }

    #[test]
    fn an_unknown_variable_only_warns() {
        let l = load(&[("DSXCONNECT_FOO", "1")]).unwrap();
        assert_eq!(l.warnings.len(), 1);
    }

    #[test]
    fn secrets_are_redacted_in_the_config_view() {
        let l = load(&[
            ("DSXCONNECT_CONNECTORS__API_KEY", "k"),
            ("DSXCONNECT_SCANNER__AUTH_TOKEN", "t"),
            ("DSXCONNECT_REDIS_URL", "redis://:pw@localhost:6379/0"),
        ])
        .unwrap();
        let v = l.settings.view();
        assert_eq!(v["connectors"]["api_key"], "***");
        assert_eq!(v["scanner"]["auth_token"], "***");
        assert_eq!(v["redis_url"], "redis://:***@localhost:6379/0");
        assert!(!v.to_string().contains("pw"));
    }

    #[test]
    fn legacy_retry_count_means_one_more_attempt() {
        let l = load(&[("DSXCONNECT_WORKERS__SCAN_REQUEST_MAX_RETRIES", "2")]).unwrap();
        assert_eq!(l.settings.workers.max_attempts, 3);
        let l = load(&[
            ("DSXCONNECT_WORKERS__SCAN_REQUEST_MAX_RETRIES", "2"),
            ("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "6"),
        ])
        .unwrap();
        assert_eq!(l.settings.workers.max_attempts, 6);
    }
}
