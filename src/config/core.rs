//! Core settings (`DSXCONNECT_*`, docs/reference/CORE-API.md, "Settings"): the typed values.
//! Their declarations are in `core_table`, their reader in `core_read`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::url_guard::AllowList;
use crate::model::Engine;
use crate::settings_source::Secret;

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

/// Scanner settings (docs/reference/CORE-API.md, "Engines", "Settings rules").
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
    /// Largest local file passed to clamd as a descriptor (0 = never).
    pub clamd_fdpass_max_size: u64,
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
    /// Bound of the verdict memory (docs/SCAN-REUSE.md); 0 turns reuse off.
    pub reuse_max_entries: u64,
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
    /// Whether the embedded store keeps the bodies of results that are not findings. Not read
    /// from the environment: always on for the service, off for `scan` without `--ui`, whose
    /// summary lists findings only (docs/OPERATIONS.md, "Temporary disk of scan").
    pub keep_clean_results: bool,
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
}
