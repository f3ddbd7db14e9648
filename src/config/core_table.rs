//! The core's process, storage, listening and logging settings (`DSXCONNECT_*`): one
//! declaration each, and
//! [`VIEW`], the order in which `GET /config` shows them of every core setting (docs/CONFIGURATION.md
//! is rendered from the same declarations; `pipeline_table` and `auth_table` hold the rest).

use std::path::Path;

use serde_json::{Value, json};

use super::auth_table as auth;
use super::core::{LogFormat, Settings, redact_url_password};
use super::pipeline_table::*;
use crate::settings_source::setting::{
    Choice, Entry, Fact, Flag, Int, SecretText, Section, Setting, Text, View, render_view, shown_path,
};

type Core<K> = Setting<K, Settings>;

fn shown_dir(p: &Path) -> Value {
    json!(p.display().to_string())
}

const INT_ANY: Int = Int {
    default: None,
    min: i64::MIN,
    max: i64::MAX,
};

// Process and storage.
pub const APP_ENV: Core<Choice> = Setting::new(
    "APP_ENV",
    Choice {
        default: "dev",
        accepted: "dev, stg or prod",
    },
    Section::Core,
    "namespace of queue/key names reported by the API",
)
.shown("app_env", |s| json!(s.app_env.as_str()));
pub const DATA_DIR: Core<Text> = Setting::new(
    "DATA_DIR",
    Text(Some("./data")),
    Section::Core,
    "embedded store (`dsx-connect.db`) and built-in connectors' identity files",
)
.shown("data_dir", |s| shown_dir(&s.data_dir));
pub const REDIS_URL: Core<SecretText> = Setting::new(
    "REDIS_URL",
    SecretText::FILE,
    Section::Core,
    "`redis://[user:password@]host:port/db`, `rediss://…` (TLS) or `unix://…`: the distributed backend for every role; required by `api` and `worker` (docs/OPERATIONS.md); `/config` shows it with the password as `***`",
)
.shown("redis_url", |s| json!(s.redis_url.as_ref().map(|u| redact_url_password(u.expose()))));
pub const RESULTS_DB: Core<SecretText> = Setting::new(
    "RESULTS_DB",
    SecretText::FILE,
    Section::Core,
    "`redis://…` or `rediss://…` store of scan results; results share the job store when unset",
)
.aliases(&["RESULTS_DATABASE__LOC"])
.shown("results_database.loc", |s| {
    json!(s.results_db.as_ref().map(|u| redact_url_password(u.expose())))
});
pub const RESULTS_DB__RETAIN: Core<Int> = Setting::new(
    "RESULTS_DB__RETAIN",
    Int {
        default: Some(1000),
        ..INT_ANY
    },
    Section::Core,
    "results kept in the global and per-job lists; `0` none, `< 0` unlimited",
)
.aliases(&["DATABASE__RETAIN", "RESULTS_DATABASE__RETAIN"])
.shown("results_database.retain", |s| json!(s.results_retain));

pub const FEATURES__ENABLE_ESTIMATE_PREFLIGHT: Core<Flag> = Setting::new(
    "FEATURES__ENABLE_ESTIMATE_PREFLIGHT",
    Flag(true),
    Section::Core,
    "ask the connector's `estimate` when a full scan is triggered",
)
.shown("features.enable_estimate_preflight", |s| {
    json!(s.enable_estimate_preflight)
});

// Listening and logging.
pub const HOST: Core<Text> = Setting::new(
    "HOST",
    Text(None),
    Section::Core,
    "listen address; see protected mode (`docs/AUTH.md`)",
)
.default_doc("`127.0.0.1` (`serve`, `api`; `0.0.0.0` for `worker` or with authentication on)")
.shown("host", |s| json!(s.host));
pub const PORT: Core<Int> = Setting::new("PORT", Int::with_default(8586, 0, 65535), Section::Core, "listen port");
pub const USE_TLS: Core<Flag> = Setting::new(
    "USE_TLS",
    Flag(false),
    Section::Core,
    "HTTPS (needs `TLS_CERTFILE` and `TLS_KEYFILE`)",
)
.shown("use_tls", |s| json!(s.use_tls));
pub const TLS_CERTFILE: Core<Text> = Setting::new(
    "TLS_CERTFILE",
    Text(None),
    Section::Core,
    "the server certificate chain (PEM)",
)
.shown("tls_certfile", |s| shown_path(&s.tls_certfile));
pub const TLS_KEYFILE: Core<Text> = Setting::new(
    "TLS_KEYFILE",
    Text(None),
    Section::Core,
    "the server's private key (PEM)",
)
.shown("tls_keyfile", |s| shown_path(&s.tls_keyfile));
pub const UI__STATIC_DIR: Core<Text> = Setting::new(
    "UI__STATIC_DIR",
    Text(None),
    Section::Core,
    "serve the web UI from this folder instead of the built-in copy (UI development)",
)
.shown("ui.static_dir", |s| shown_path(&s.ui_dir));
pub const LOG_LEVEL: Core<Choice> = Setting::new(
    "LOG_LEVEL",
    Choice {
        default: "info",
        accepted: "trace, debug, info, warn or error",
    },
    Section::Core,
    "log level (legacy `LOG_LEVEL`); `RUST_LOG` overrides",
)
.shown("log_level", |s| json!(s.log_level));
pub const LOG_FORMAT: Core<Choice> = Setting::new(
    "LOG_FORMAT",
    Choice {
        default: "text",
        accepted: "text or json",
    },
    Section::Core,
    "`json`: every line on stderr is one JSON object, start-up and stop notices included; colour only when stderr is a terminal",
)
.shown("log_format", |s| {
    json!(match s.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    })
});
pub const LOG_SSE_EVENTS: Core<Flag> = Setting::new(
    "LOG_SSE_EVENTS",
    Flag(false),
    Section::Core,
    "log each SSE frame (first 256 characters); legacy `DSX_LOG_SSE_EVENTS=1`",
);

impl Settings {
    /// `GET /config` (docs/reference/CORE-API.md, "Settings view"): every setting in declaration order (`core_table::VIEW`), secrets
    /// as `"***"`.
    pub fn view(&self) -> Value {
        render_view(VIEW, self)
    }
}

/// Every core setting and fact in the order `GET /config` shows them (authentication's own
/// declarations are in `auth_table`).
pub const VIEW: &[&dyn Entry<Settings>] = &[
    &APP_ENV,
    &DATA_DIR,
    &Fact(View {
        path: "backend",
        get: |s: &Settings| json!(if s.redis_url.is_some() { "redis" } else { "embedded" }),
    }),
    &REDIS_URL,
    &RESULTS_DB,
    &RESULTS_DB__RETAIN,
    &SCANNER__ENGINE,
    &SCANNER__SCAN_BINARY_URL,
    &SCANNER__BASE_URL,
    &SCANNER__AUTH_TOKEN,
    &SCANNER__PROTECTED_ENTITY,
    &SCANNER__SCAN_PASSWORD,
    &SCANNER__VERIFY_TLS,
    &SCANNER__CA_BUNDLE,
    &SCANNER__CLAMD_ADDRESS,
    &SCANNER__MAX_FILE_SIZE,
    &SCANNER__CLAMD_FDPASS_MAX_SIZE,
    &SCANNER__TIMEOUT_SECS,
    &SCANNER__SHA256_BLOCKLIST,
    &WORKERS__CONCURRENCY,
    &WORKERS__MAX_ATTEMPTS,
    &WORKERS__SCAN_REQUEST_MAX_RETRIES,
    &WORKERS__RETRY_BACKOFF_BASE_SECS,
    &WORKERS__RETRY_BACKOFF_MAX_SECS,
    &WORKERS__CONNECTOR_RETRY_BACKOFF_BASE,
    &WORKERS__DSXA_RETRY_BACKOFF_BASE,
    &WORKERS__SERVER_ERROR_RETRY_BACKOFF_BASE,
    &WORKERS__RETRY_CONNECTOR_CONNECTION_ERRORS,
    &WORKERS__RETRY_CONNECTOR_SERVER_ERRORS,
    &WORKERS__RETRY_CONNECTOR_CLIENT_ERRORS,
    &WORKERS__RETRY_DSXA_CONNECTION_ERRORS,
    &WORKERS__RETRY_DSXA_TIMEOUT_ERRORS,
    &WORKERS__RETRY_DSXA_SERVER_ERRORS,
    &WORKERS__RETRY_DSXA_CLIENT_ERRORS,
    &WORKERS__DLQ_EXPIRE_AFTER_DAYS,
    &WORKERS__CLAIM_IDLE_SECS,
    &WORKERS__REUSE_MAX_ENTRIES,
    &TRANSFER__FIRST_BYTE_SECS,
    &TRANSFER__RATE_WINDOW_SECS,
    &TRANSFER__MIN_RATE_BYTES,
    &TRANSFER__TOTAL_BASE_SECS,
    &TRANSFER__TOTAL_RATE_BYTES,
    &JOBS__IDLE_COMPLETE_SECS,
    &JOBS__TTL_DAYS,
    &JOBS__RETAIN_FINISHED,
    &CONNECTORS__API_KEY,
    &CONNECTORS__API_KEYS,
    &CONNECTORS__VERIFY_TLS,
    &CONNECTORS__CA_BUNDLE,
    &CONNECTORS__TIMEOUT_SECS,
    &CONNECTORS__CONNECT_TIMEOUT_SECS,
    &CONNECTORS__PRESENCE_TTL_SECS,
    &CONNECTORS__SWEEP_SECS,
    &CONNECTORS__MAX_REGISTERED,
    &CONNECTORS__ALLOWED_URLS,
    &FEATURES__ENABLE_ESTIMATE_PREFLIGHT,
    &Fact(View {
        path: "superlog",
        get: |s: &Settings| s.superlog.view(),
    }),
    &HOST,
    &PORT,
    &auth::ALLOW_UNAUTHENTICATED,
    &auth::AUTH__ENABLED,
    &auth::AUTH__ENROLLMENT_TOKEN,
    &auth::AUTH__ENROLLMENT_TOKENS,
    &auth::AUTH__ENROLLMENT_TOKENS_FILE,
    &auth::AUTH__HMAC_MAX_SKEW,
    &auth::AUTH__ROTATION_GRACE_SECS,
    &auth::AUTH__KEY_MAX_AGE_DAYS,
    &auth::AUTH__LEGACY_CONNECTORS,
    &auth::AUTH__FORGET_AFTER_DAYS,
    &auth::AUTH__NONCE_CACHE_MAX,
    &auth::AUTH__TOKEN_DEFAULT_DAYS,
    &auth::PUBLIC_URL,
    &auth::ALLOWED_HOSTS,
    &auth::AUTH__SESSION_IDLE_SECS,
    &auth::AUTH__SESSION_MAX_SECS,
    &auth::AUTH__LOGIN_MAX_FAILURES,
    &auth::AUTH__LOGIN_IP_MAX_FAILURES,
    &auth::AUTH__LOGIN_WINDOW_SECS,
    &auth::AUTH__LOCKOUT_SECS,
    &auth::AUTH__AUDIT_RETAIN,
    &auth::AUTH__AUDIT_RETAIN_DAYS,
    &auth::AUTH__AUDIT_COALESCE_SECS,
    &auth::AUTH__BOOTSTRAP_ADMIN_USERNAME,
    &auth::AUTH__BOOTSTRAP_ADMIN_PASSWORD,
    &auth::TRUSTED_PROXIES,
    &Fact(View {
        path: "auth.oidc",
        get: |s: &Settings| json!(s.auth.oidc.as_ref().map(super::oidc::OidcSettings::view)),
    }),
    &auth::AUTH__STORE_KEY_FILE,
    &USE_TLS,
    &TLS_CERTFILE,
    &TLS_KEYFILE,
    &UI__STATIC_DIR,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &LOG_SSE_EVENTS,
    &Fact(View {
        path: "version",
        get: |_: &Settings| json!(crate::VERSION),
    }),
];
