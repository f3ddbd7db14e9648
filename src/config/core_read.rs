//! Reads the core's settings (`DSXCONNECT_*`) from the environment, a TOML file and flags,
//! through their declarations (`core_table`, `pipeline_table`, `auth_table`, `oidc`), collecting every problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::core::{
    AppEnv, ConnectorClientSettings, JobSettings, Loaded, LogFormat, ScannerSettings, Settings, TransferSettings,
    WorkerSettings,
};
use super::core_table::*;
use super::pipeline_table::*;
use crate::auth::url_guard::AllowList;
use crate::model::Engine;
use crate::settings_source::{ConfigError, Secret, Source};

/// The default largest file passed to clamd by descriptor: this product's clamd size limit
/// (25 MiB). clamd answers OK, unscanned, for a descriptor over its own `MaxFileSize` (100 MiB by
/// default, often set lower), so the default stays well below what operators configure.
const CLAMD_FDPASS_MAX_SIZE: u64 = 25 << 20;

/// The prefixes (after `DSXCONNECT_`) of the variables that set command-line flags (the `env`
/// names of `src/cli/`), which the settings loader leaves to the command line.
pub const FLAG_VARIABLES: &[&str] = &["CONFIG", "SCAN_", "SERVE_", "HEALTHCHECK_", "TOKEN_", "USER_", "MAN_"];

fn parse_engine(s: &str) -> Option<Engine> {
    match s.trim().to_ascii_lowercase().as_str() {
        "dsxa" => Some(Engine::Dsxa),
        "clamd" => Some(Engine::Clamd),
        "embedded" => Some(Engine::Embedded),
        _ => None,
    }
}

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
        // Legacy names without effect (aliases are read with their settings).
        for key in [
            "WORKERS__BROKER",
            "WORKERS__BACKEND",
            "WORKERS__RETRY_QUEUE_DISPATCH_ERRORS",
            "FEATURES__ENABLE_APPROXIMATE_ESTIMATES",
        ] {
            s.ignored(key, "kept for compatibility with the original");
        }

        let app_env = s.choice(&APP_ENV).unwrap_or(AppEnv::Dev);
        let data_dir = PathBuf::from(s.text_or_default(&DATA_DIR));
        let redis_url = s.secret_of(&REDIS_URL);
        if let Some(u) = &redis_url
            && !["redis://", "rediss://", "unix://"]
                .iter()
                .any(|p| u.expose().starts_with(p))
        {
            s.error(REDIS_URL.key, "expected a redis://, rediss:// or unix:// URL");
        }
        let results_db = s.secret_of(&RESULTS_DB);
        if let Some(u) = &results_db
            && !["redis://", "rediss://"].iter().any(|p| u.expose().starts_with(p))
        {
            s.error(
                RESULTS_DB.key,
                "expected a redis:// or rediss:// URL (results share the job store when unset)",
            );
        }
        let results_retain = s.int(&RESULTS_DB__RETAIN);
        let host = s.text(&HOST).filter(|h| !h.trim().is_empty());
        let port = s.int(&PORT) as u16;
        let use_tls = s.flag(&USE_TLS);
        let tls_certfile = s.text(&TLS_CERTFILE).map(PathBuf::from);
        let tls_keyfile = s.text(&TLS_KEYFILE).map(PathBuf::from);
        if use_tls && (tls_certfile.is_none() || tls_keyfile.is_none()) {
            s.error(
                USE_TLS.key,
                "true requires DSXCONNECT_TLS_CERTFILE and DSXCONNECT_TLS_KEYFILE",
            );
        }
        let enable_estimate_preflight = s.flag(&FEATURES__ENABLE_ESTIMATE_PREFLIGHT);
        let legacy_level = env.get("LOG_LEVEL").cloned();
        let log_level = s
            .choice::<String, _>(&LOG_LEVEL)
            .or(legacy_level)
            .unwrap_or_else(|| "info".into())
            .to_ascii_lowercase();
        if !["trace", "debug", "info", "warn", "warning", "error"].contains(&log_level.as_str()) {
            s.error(
                LOG_LEVEL.key,
                format!("'{log_level}' is not valid: expected trace, debug, info, warn or error"),
            );
        }
        let log_format = s.choice(&LOG_FORMAT).unwrap_or(LogFormat::Text);
        let log_sse_events = s.flag(&LOG_SSE_EVENTS) || env.get("DSX_LOG_SSE_EVENTS").is_some_and(|v| v.trim() == "1");
        let build_timestamp = env.get("DSX_BUILD_TIMESTAMP").filter(|v| !v.is_empty()).cloned();
        let ui_dir = s.text(&UI__STATIC_DIR).map(PathBuf::from);

        let scanner = read_scanner(&mut s);
        let workers = read_workers(&mut s);
        let jobs = JobSettings {
            idle_complete_secs: s.int(&JOBS__IDLE_COMPLETE_SECS) as u64,
            ttl_days: s.int(&JOBS__TTL_DAYS) as u32,
            retain_finished: s.int(&JOBS__RETAIN_FINISHED) as u64,
        };
        let connectors = read_connector_client(&mut s);
        let auth = super::auth_read::read(&mut s, &mut warnings);

        let superlog = crate::superlog::config::read(&mut s);

        warnings.extend(s.finish()?);
        Ok(Loaded {
            settings: Settings {
                app_env,
                data_dir,
                redis_url,
                results_db,
                results_retain,
                keep_clean_results: true,
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
}

fn read_scanner(s: &mut Source) -> ScannerSettings {
    let scan_binary_url = s
        .http_url(&SCANNER__SCAN_BINARY_URL)
        .map(|u| u.to_string())
        .or_else(|| {
            s.http_url(&SCANNER__BASE_URL)
                .map(|u| format!("{}/scan/binary/v2", u.as_str().trim_end_matches('/')))
        });
    let engine = match s.text(&SCANNER__ENGINE) {
        Some(v) => parse_engine(&v).unwrap_or_else(|| {
            s.error(
                SCANNER__ENGINE.key,
                format!("'{v}' is not valid: expected dsxa, clamd, embedded"),
            );
            Engine::Embedded
        }),
        None if scan_binary_url.is_some() => Engine::Dsxa,
        None => Engine::Embedded,
    };
    if engine == Engine::Dsxa && scan_binary_url.is_none() {
        s.error(
            SCANNER__ENGINE.key,
            "dsxa requires DSXCONNECT_SCANNER__SCAN_BINARY_URL or DSXCONNECT_SCANNER__BASE_URL",
        );
    }
    let default_max = match engine {
        Engine::Dsxa => 2 << 30,
        Engine::Clamd => 25 << 20,
        Engine::Embedded => 0,
    };
    let protected_entity = s.int_opt(&SCANNER__PROTECTED_ENTITY);
    ScannerSettings {
        engine,
        scan_binary_url,
        auth_token: s.secret_of(&SCANNER__AUTH_TOKEN),
        protected_entity,
        scan_password: s.secret_of(&SCANNER__SCAN_PASSWORD),
        verify_tls: s.flag(&SCANNER__VERIFY_TLS),
        ca_bundle: s.text(&SCANNER__CA_BUNDLE).map(PathBuf::from),
        clamd_address: s.text_or_default(&SCANNER__CLAMD_ADDRESS),
        clamd_fdpass_max_size: s.size(&SCANNER__CLAMD_FDPASS_MAX_SIZE).unwrap_or(CLAMD_FDPASS_MAX_SIZE),
        max_file_size: s.size(&SCANNER__MAX_FILE_SIZE).unwrap_or(default_max),
        timeout: Duration::from_secs_f64(s.secs(&SCANNER__TIMEOUT_SECS)),
        sha256_blocklist: s.text(&SCANNER__SHA256_BLOCKLIST).map(PathBuf::from),
    }
}

fn read_workers(s: &mut Source) -> WorkerSettings {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let legacy_retries = s.int_opt(&WORKERS__SCAN_REQUEST_MAX_RETRIES);
    let max_attempts = s
        .int_opt(&WORKERS__MAX_ATTEMPTS)
        .or(legacy_retries.map(|n| n + 1))
        .or(WORKERS__MAX_ATTEMPTS.kind.default)
        .unwrap_or(1) as u32;
    WorkerSettings {
        concurrency: s.int_opt(&WORKERS__CONCURRENCY).unwrap_or((8 * cpus).max(32) as i64) as usize,
        max_attempts,
        retry_backoff_base_secs: s.secs(&WORKERS__RETRY_BACKOFF_BASE_SECS),
        retry_backoff_max_secs: s.secs(&WORKERS__RETRY_BACKOFF_MAX_SECS),
        connector_retry_backoff_base: s.secs_opt(&WORKERS__CONNECTOR_RETRY_BACKOFF_BASE),
        dsxa_retry_backoff_base: s.secs_opt(&WORKERS__DSXA_RETRY_BACKOFF_BASE),
        server_error_retry_backoff_base: s.secs_opt(&WORKERS__SERVER_ERROR_RETRY_BACKOFF_BASE),
        retry_connector_connection_errors: s.flag(&WORKERS__RETRY_CONNECTOR_CONNECTION_ERRORS),
        retry_connector_server_errors: s.flag(&WORKERS__RETRY_CONNECTOR_SERVER_ERRORS),
        retry_connector_client_errors: s.flag(&WORKERS__RETRY_CONNECTOR_CLIENT_ERRORS),
        retry_dsxa_connection_errors: s.flag(&WORKERS__RETRY_DSXA_CONNECTION_ERRORS),
        retry_dsxa_timeout_errors: s.flag(&WORKERS__RETRY_DSXA_TIMEOUT_ERRORS),
        retry_dsxa_server_errors: s.flag(&WORKERS__RETRY_DSXA_SERVER_ERRORS),
        retry_dsxa_client_errors: s.flag(&WORKERS__RETRY_DSXA_CLIENT_ERRORS),
        dlq_expire_after_days: s.int(&WORKERS__DLQ_EXPIRE_AFTER_DAYS) as u32,
        claim_idle_secs: s.int(&WORKERS__CLAIM_IDLE_SECS) as u64,
        reuse_max_entries: s.int(&WORKERS__REUSE_MAX_ENTRIES) as u64,
        transfer: TransferSettings {
            first_byte: Duration::from_secs_f64(s.secs(&TRANSFER__FIRST_BYTE_SECS)),
            rate_window: Duration::from_secs_f64(s.secs(&TRANSFER__RATE_WINDOW_SECS)),
            min_rate: s.int(&TRANSFER__MIN_RATE_BYTES) as u64,
            total_base: Duration::from_secs_f64(s.secs(&TRANSFER__TOTAL_BASE_SECS)),
            total_rate: s.int(&TRANSFER__TOTAL_RATE_BYTES) as u64,
        },
    }
}

fn read_connector_client(s: &mut Source) -> ConnectorClientSettings {
    let mut api_keys = BTreeMap::new();
    if let Some(pairs) = s.secret_of(&CONNECTORS__API_KEYS) {
        for pair in pairs.expose().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((who, key)) if !who.trim().is_empty() && !key.trim().is_empty() => {
                    api_keys.insert(who.trim().to_ascii_lowercase(), Secret::new(key.trim()));
                }
                _ => s.error(
                    CONNECTORS__API_KEYS.key,
                    "expected comma-separated uuid-or-name=key pairs (one pair is malformed)",
                ),
            }
        }
    }
    let allowed_urls = match s.text(&CONNECTORS__ALLOWED_URLS).map(|l| AllowList::parse(&l)) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            s.error(CONNECTORS__ALLOWED_URLS.key, e.to_string());
            AllowList::default()
        }
        None => AllowList::default(),
    };
    ConnectorClientSettings {
        allowed_urls: Arc::new(allowed_urls),
        api_key: s.secret_of(&CONNECTORS__API_KEY),
        api_keys,
        verify_tls: s.flag(&CONNECTORS__VERIFY_TLS),
        ca_bundle: s.text(&CONNECTORS__CA_BUNDLE).map(PathBuf::from),
        timeout: Duration::from_secs_f64(s.secs(&CONNECTORS__TIMEOUT_SECS)),
        connect_timeout: Duration::from_secs_f64(s.secs(&CONNECTORS__CONNECT_TIMEOUT_SECS)),
        presence_ttl_secs: s.int(&CONNECTORS__PRESENCE_TTL_SECS) as u64,
        sweep_secs: s.int(&CONNECTORS__SWEEP_SECS) as u64,
        max_registered: s.int(&CONNECTORS__MAX_REGISTERED) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engine;

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
