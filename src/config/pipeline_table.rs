//! Declarations of the scan pipeline's settings: the scanner, workers and retries, transfer
//! deadlines, jobs, and the core's calls to connectors (`DSXCONNECT_SCANNER__*`,
//! `WORKERS__*`, `TRANSFER__*`, `JOBS__*`, `CONNECTORS__*`); `core_table::VIEW` orders them.

use serde_json::{Value, json};

use super::core::{Settings, redact_url_password};
use crate::settings_source::setting::{
    Flag, HttpUrl, Int, SecretText, Secs, Section, Setting, Size, Text, shown_path, shown_secret,
};

type Core<K> = Setting<K, Settings>;

/// Per-class backoff bases: unset unless given.
const fn base_secs() -> Secs {
    Secs {
        default: None,
        min: 0.0,
        max: 86_400.0,
    }
}

// Scanner.
pub const SCANNER__ENGINE: Core<Text> = Setting::new(
    "SCANNER__ENGINE",
    Text(None),
    Section::Scanner,
    "`dsxa`, `clamd`, `embedded`. `embedded` is the built-in **test engine** (label `builtin-test`): it detects only the EICAR test file and the block list below and reports every other file `Benign` unexamined; `serve` warns at start, `/meta`, the UI header and the `scan` summary mark it, and its `Benign` is never tagged `clean`. Use `dsxa` or `clamd` for protection",
)
.default_doc("`dsxa` if a DSXA URL is set, else `embedded`")
.shown("scanner.engine", |s| json!(s.scanner.engine.as_str()));
pub const SCANNER__SCAN_BINARY_URL: Core<HttpUrl> = Setting::new(
    "SCANNER__SCAN_BINARY_URL",
    HttpUrl,
    Section::Scanner,
    "full DSXA URL, e.g. `http://dsxa:5000/scan/binary/v2`",
)
.shown("scanner.scan_binary_url", |s| {
    json!(s.scanner.scan_binary_url.as_deref().map(redact_url_password))
});
pub const SCANNER__BASE_URL: Core<HttpUrl> = Setting::new(
    "SCANNER__BASE_URL",
    HttpUrl,
    Section::Scanner,
    "alternative: base URL, `/scan/binary/v2` appended",
);
pub const SCANNER__AUTH_TOKEN: Core<SecretText> = Setting::new(
    "SCANNER__AUTH_TOKEN",
    SecretText::FILE,
    Section::Scanner,
    "DSXA token (`AUTH`, `AUTH_TOKEN` headers)",
)
.shown("scanner.auth_token", |s| shown_secret(&s.scanner.auth_token));
pub const SCANNER__PROTECTED_ENTITY: Core<Int> = Setting::new(
    "SCANNER__PROTECTED_ENTITY",
    Int {
        default: None,
        min: 1,
        max: i64::MAX,
    },
    Section::Scanner,
    "the `protected_entity` header",
)
.shown("scanner.protected_entity", |s| json!(s.scanner.protected_entity));
pub const SCANNER__SCAN_PASSWORD: Core<SecretText> = Setting::new(
    "SCANNER__SCAN_PASSWORD",
    SecretText::FILE,
    Section::Scanner,
    "archive password (`scan_password`, base64)",
)
.shown("scanner.scan_password", |s| shown_secret(&s.scanner.scan_password));
pub const SCANNER__VERIFY_TLS: Core<Flag> = Setting::new(
    "SCANNER__VERIFY_TLS",
    Flag(true),
    Section::Scanner,
    "verify DSXA's TLS certificate",
)
.shown("scanner.verify_tls", |s| json!(s.scanner.verify_tls));
pub const SCANNER__CA_BUNDLE: Core<Text> = Setting::new(
    "SCANNER__CA_BUNDLE",
    Text(None),
    Section::Scanner,
    "extra CA certificates (PEM) for DSXA's TLS",
)
.shown("scanner.ca_bundle", |s| shown_path(&s.scanner.ca_bundle));
pub const SCANNER__CLAMD_ADDRESS: Core<Text> = Setting::new(
    "SCANNER__CLAMD_ADDRESS",
    Text(Some("tcp://127.0.0.1:3310")),
    Section::Scanner,
    "`tcp://host:port`, `host:port`, `unix:///path` or an absolute path",
)
.shown("scanner.clamd_address", |s| json!(s.scanner.clamd_address));
pub const SCANNER__CLAMD_FDPASS_MAX_SIZE: Core<Size> = Setting::new(
    "SCANNER__CLAMD_FDPASS_MAX_SIZE",
    Size,
    Section::Scanner,
    "files of a built-in filesystem connector up to this size are passed to a clamd on a unix socket as an open descriptor \
     (`FILDES`), larger ones are streamed; 0 always streams. Keep it at most clamd's `MaxFileSize`: clamd answers OK \
     for a descriptor over that limit without scanning it",
)
.default_doc("25M")
.shown("scanner.clamd_fdpass_max_size", |s| json!(s.scanner.clamd_fdpass_max_size));
pub const SCANNER__MAX_FILE_SIZE: Core<Size> = Setting::new(
    "SCANNER__MAX_FILE_SIZE",
    Size,
    Section::Scanner,
    "larger items get verdict `Not Scanned` / `file too large`",
)
.default_doc("dsxa 2G, clamd 25M, embedded 0 (unlimited)")
.aliases(&["SCANNER__MAX_FILE_SIZE_BYTES"])
.shown("scanner.max_file_size", |s| json!(s.scanner.max_file_size));
pub const SCANNER__TIMEOUT_SECS: Core<Secs> = Setting::new(
    "SCANNER__TIMEOUT_SECS",
    Secs::with_default(600.0, 1.0, 86_400.0),
    Section::Scanner,
    "longest wait for the verdict after the last byte was sent; the connection test's whole call",
)
.aliases(&["SCANNER__TIMEOUT_SECONDS"])
.shown("scanner.timeout_secs", |s| json!(s.scanner.timeout.as_secs_f64()));
pub const SCANNER__SHA256_BLOCKLIST: Core<Text> = Setting::new(
    "SCANNER__SHA256_BLOCKLIST",
    Text(None),
    Section::Scanner,
    "built-in test engine: file with one SHA-256 per line, optional label, `#` comments",
)
.shown("scanner.sha256_blocklist", |s| shown_path(&s.scanner.sha256_blocklist));

// Workers and retries.
pub const WORKERS__CONCURRENCY: Core<Int> = Setting::new(
    "WORKERS__CONCURRENCY",
    Int {
        default: None,
        min: 1,
        max: 10_000,
    },
    Section::Workers,
    "items in flight per worker process",
)
.default_doc("`max(32, 8 × CPUs)`")
.shown("workers.concurrency", |s| json!(s.workers.concurrency));
pub const WORKERS__MAX_ATTEMPTS: Core<Int> = Setting::new(
    "WORKERS__MAX_ATTEMPTS",
    Int::with_default(4, 1, 100),
    Section::Workers,
    "attempts per stage",
)
.shown("workers.max_attempts", |s| json!(s.workers.max_attempts));
pub const WORKERS__SCAN_REQUEST_MAX_RETRIES: Core<Int> = Setting::new(
    "WORKERS__SCAN_REQUEST_MAX_RETRIES",
    Int {
        default: None,
        min: 0,
        max: 99,
    },
    Section::Workers,
    "legacy: `N` means `MAX_ATTEMPTS` N+1 when that is unset",
);
pub const WORKERS__RETRY_BACKOFF_BASE_SECS: Core<Secs> = Setting::new(
    "WORKERS__RETRY_BACKOFF_BASE_SECS",
    Secs::with_default(2.0, 0.0, 86_400.0),
    Section::Workers,
    "retry delay `min(base·2^(n−1), max)`, jittered to `[d/2, d]`",
)
.shown("workers.retry_backoff_base_secs", |s| {
    json!(s.workers.retry_backoff_base_secs)
});
pub const WORKERS__RETRY_BACKOFF_MAX_SECS: Core<Secs> = Setting::new(
    "WORKERS__RETRY_BACKOFF_MAX_SECS",
    Secs::with_default(300.0, 0.0, 86_400.0),
    Section::Workers,
    "cap of the retry delay",
)
.shown("workers.retry_backoff_max_secs", |s| {
    json!(s.workers.retry_backoff_max_secs)
});
pub const WORKERS__CONNECTOR_RETRY_BACKOFF_BASE: Core<Secs> = Setting::new(
    "WORKERS__CONNECTOR_RETRY_BACKOFF_BASE",
    base_secs(),
    Section::Workers,
    "base seconds for connector errors",
)
.shown("workers.connector_retry_backoff_base", |s| {
    json!(s.workers.connector_retry_backoff_base)
});
pub const WORKERS__DSXA_RETRY_BACKOFF_BASE: Core<Secs> = Setting::new(
    "WORKERS__DSXA_RETRY_BACKOFF_BASE",
    base_secs(),
    Section::Workers,
    "base seconds for scanner errors",
)
.shown("workers.dsxa_retry_backoff_base", |s| {
    json!(s.workers.dsxa_retry_backoff_base)
});
pub const WORKERS__SERVER_ERROR_RETRY_BACKOFF_BASE: Core<Secs> = Setting::new(
    "WORKERS__SERVER_ERROR_RETRY_BACKOFF_BASE",
    base_secs(),
    Section::Workers,
    "base seconds for server errors",
)
.shown("workers.server_error_retry_backoff_base", |s| {
    json!(s.workers.server_error_retry_backoff_base)
});
pub const WORKERS__RETRY_CONNECTOR_CONNECTION_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_CONNECTOR_CONNECTION_ERRORS",
    Flag(true),
    Section::Workers,
    "retry when the connector cannot be reached",
)
.shown("workers.retry_connector_connection_errors", |s| {
    json!(s.workers.retry_connector_connection_errors)
});
pub const WORKERS__RETRY_CONNECTOR_SERVER_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_CONNECTOR_SERVER_ERRORS",
    Flag(true),
    Section::Workers,
    "retry a connector's 5xx",
)
.shown("workers.retry_connector_server_errors", |s| {
    json!(s.workers.retry_connector_server_errors)
});
pub const WORKERS__RETRY_CONNECTOR_CLIENT_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_CONNECTOR_CLIENT_ERRORS",
    Flag(false),
    Section::Workers,
    "retry a connector's 4xx",
)
.shown("workers.retry_connector_client_errors", |s| {
    json!(s.workers.retry_connector_client_errors)
});
pub const WORKERS__RETRY_DSXA_CONNECTION_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_DSXA_CONNECTION_ERRORS",
    Flag(true),
    Section::Workers,
    "retry when the scanner cannot be reached",
)
.shown("workers.retry_dsxa_connection_errors", |s| {
    json!(s.workers.retry_dsxa_connection_errors)
});
pub const WORKERS__RETRY_DSXA_TIMEOUT_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_DSXA_TIMEOUT_ERRORS",
    Flag(true),
    Section::Workers,
    "retry a scanner timeout",
)
.shown("workers.retry_dsxa_timeout_errors", |s| {
    json!(s.workers.retry_dsxa_timeout_errors)
});
pub const WORKERS__RETRY_DSXA_SERVER_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_DSXA_SERVER_ERRORS",
    Flag(true),
    Section::Workers,
    "retry a scanner's 5xx",
)
.shown("workers.retry_dsxa_server_errors", |s| {
    json!(s.workers.retry_dsxa_server_errors)
});
pub const WORKERS__RETRY_DSXA_CLIENT_ERRORS: Core<Flag> = Setting::new(
    "WORKERS__RETRY_DSXA_CLIENT_ERRORS",
    Flag(false),
    Section::Workers,
    "retry a scanner's 4xx, 401 and 403 included",
)
.shown("workers.retry_dsxa_client_errors", |s| {
    json!(s.workers.retry_dsxa_client_errors)
});
pub const WORKERS__DLQ_EXPIRE_AFTER_DAYS: Core<Int> = Setting::new(
    "WORKERS__DLQ_EXPIRE_AFTER_DAYS",
    Int::with_default(7, 1, 3650),
    Section::Workers,
    "dead letters are purged after this many days",
)
.shown("workers.dlq_expire_after_days", |s| {
    json!(s.workers.dlq_expire_after_days)
});
pub const WORKERS__CLAIM_IDLE_SECS: Core<Int> = Setting::new(
    "WORKERS__CLAIM_IDLE_SECS",
    Int::with_default(120, 1, 86_400),
    Section::Workers,
    "(distributed backend) reclaim un-acked entries after this many seconds",
)
.shown("workers.claim_idle_secs", |s| json!(s.workers.claim_idle_secs));
pub const WORKERS__REUSE_MAX_ENTRIES: Core<Int> = Setting::new(
    "WORKERS__REUSE_MAX_ENTRIES",
    Int::with_default(1_000_000, 0, 1_000_000_000),
    Section::Workers,
    "verdicts remembered for rescans of unchanged items (oldest forgotten first; 0 = off; docs/SCAN-REUSE.md)",
)
.shown("workers.reuse_max_entries", |s| json!(s.workers.reuse_max_entries));
pub const TRANSFER__FIRST_BYTE_SECS: Core<Secs> = Setting::new(
    "TRANSFER__FIRST_BYTE_SECS",
    Secs::with_default(60.0, 0.1, 86_400.0),
    Section::Workers,
    "an item's body must start within this",
)
.shown("transfer.first_byte_secs", |s| {
    json!(s.workers.transfer.first_byte.as_secs_f64())
});
pub const TRANSFER__RATE_WINDOW_SECS: Core<Secs> = Setting::new(
    "TRANSFER__RATE_WINDOW_SECS",
    Secs::with_default(60.0, 0.1, 86_400.0),
    Section::Workers,
    "the window over which the source's rate is measured",
)
.shown("transfer.rate_window_secs", |s| {
    json!(s.workers.transfer.rate_window.as_secs_f64())
});
pub const TRANSFER__MIN_RATE_BYTES: Core<Int> = Setting::new(
    "TRANSFER__MIN_RATE_BYTES",
    Int::with_default(16 * 1024, 0, 1 << 40),
    Section::Workers,
    "bytes/s the source must average over every window (time the scanner keeps the stream waiting does not count); a slower source fails the attempt as `connector_connection` (\"timed out\"), retried, then dead-lettered",
)
.shown("transfer.min_rate_bytes", |s| json!(s.workers.transfer.min_rate));
pub const TRANSFER__TOTAL_BASE_SECS: Core<Secs> = Setting::new(
    "TRANSFER__TOTAL_BASE_SECS",
    Secs::with_default(600.0, 1.0, 7.0 * 86_400.0),
    Section::Workers,
    "one attempt's cap is this plus size / `TOTAL_RATE_BYTES`",
)
.shown("transfer.total_base_secs", |s| {
    json!(s.workers.transfer.total_base.as_secs_f64())
});
pub const TRANSFER__TOTAL_RATE_BYTES: Core<Int> = Setting::new(
    "TRANSFER__TOTAL_RATE_BYTES",
    Int::with_default(256 * 1024, 1, 1 << 40),
    Section::Workers,
    "with the defaults a 5 GiB item may take 6 h on one attempt; a 5 GiB file over a 10 Mbit/s link (≈ 72 min) passes every bound",
)
.shown("transfer.total_rate_bytes", |s| json!(s.workers.transfer.total_rate));
pub const JOBS__IDLE_COMPLETE_SECS: Core<Int> = Setting::new(
    "JOBS__IDLE_COMPLETE_SECS",
    Int::with_default(30, 0, 86_400 * 30),
    Section::Workers,
    "idle completion for connectors that never send `enqueue_done`; `0` disables",
)
.shown("jobs.idle_complete_secs", |s| json!(s.jobs.idle_complete_secs));
pub const JOBS__TTL_DAYS: Core<Int> = Setting::new(
    "JOBS__TTL_DAYS",
    Int::with_default(7, 1, 3650),
    Section::Workers,
    "job records expire this many days after their last change",
)
.shown("jobs.ttl_days", |s| json!(s.jobs.ttl_days));
pub const JOBS__RETAIN_FINISHED: Core<Int> = Setting::new(
    "JOBS__RETAIN_FINISHED",
    Int::with_default(1000, 1, 10_000_000),
    Section::Workers,
    "finished (completed or cancelled) jobs kept; the oldest beyond are purged",
)
.shown("jobs.retain_finished", |s| json!(s.jobs.retain_finished));

// Calls to connectors.
pub const CONNECTORS__API_KEY: Core<SecretText> = Setting::new(
    "CONNECTORS__API_KEY",
    SecretText::FILE,
    Section::ConnectorCalls,
    "`x-api-key` sent to every connector",
)
.shown("connectors.api_key", |s| shown_secret(&s.connectors.api_key));
pub const CONNECTORS__API_KEYS: Core<SecretText> = Setting::new(
    "CONNECTORS__API_KEYS",
    SecretText::FILE,
    Section::ConnectorCalls,
    "`uuid-or-name=key,…` per connector",
)
.shown("connectors.api_keys", |s| {
    if s.connectors.api_keys.is_empty() {
        Value::Null
    } else {
        json!("***")
    }
});
pub const CONNECTORS__VERIFY_TLS: Core<Flag> = Setting::new(
    "CONNECTORS__VERIFY_TLS",
    Flag(true),
    Section::ConnectorCalls,
    "verify connectors' TLS certificates",
)
.shown("connectors.verify_tls", |s| json!(s.connectors.verify_tls));
pub const CONNECTORS__CA_BUNDLE: Core<Text> = Setting::new(
    "CONNECTORS__CA_BUNDLE",
    Text(None),
    Section::ConnectorCalls,
    "extra CA certificates (PEM) for connectors' TLS",
)
.shown("connectors.ca_bundle", |s| shown_path(&s.connectors.ca_bundle));
pub const CONNECTORS__TIMEOUT_SECS: Core<Secs> = Setting::new(
    "CONNECTORS__TIMEOUT_SECS",
    Secs::with_default(30.0, 0.1, 3600.0),
    Section::ConnectorCalls,
    "read gap timeout of calls to connectors",
)
.shown("connectors.timeout_secs", |s| json!(s.connectors.timeout.as_secs_f64()));
pub const CONNECTORS__CONNECT_TIMEOUT_SECS: Core<Secs> = Setting::new(
    "CONNECTORS__CONNECT_TIMEOUT_SECS",
    Secs::with_default(5.0, 0.1, 600.0),
    Section::ConnectorCalls,
    "connect timeout of calls to connectors",
)
.shown("connectors.connect_timeout_secs", |s| {
    json!(s.connectors.connect_timeout.as_secs_f64())
});
pub const CONNECTORS__PRESENCE_TTL_SECS: Core<Int> = Setting::new(
    "CONNECTORS__PRESENCE_TTL_SECS",
    Int::with_default(120, 1, 86_400),
    Section::ConnectorCalls,
    "presence lifetime of a registration, in seconds",
)
.shown("connectors.presence_ttl_secs", |s| {
    json!(s.connectors.presence_ttl_secs)
});
pub const CONNECTORS__SWEEP_SECS: Core<Int> = Setting::new(
    "CONNECTORS__SWEEP_SECS",
    Int::with_default(20, 1, 3600),
    Section::ConnectorCalls,
    "health sweep period, in seconds",
)
.shown("connectors.sweep_secs", |s| json!(s.connectors.sweep_secs));
pub const CONNECTORS__MAX_REGISTERED: Core<Int> = Setting::new(
    "CONNECTORS__MAX_REGISTERED",
    Int::with_default(1000, 1, 1_000_000),
    Section::ConnectorCalls,
    "connectors registered at once; a new connector beyond it gets `507 {\"detail\":\"registry_full\",\"message\":…,\"max_registered\":N}` while registered ones may still refresh, and this process's built-in connectors are never refused (see \"Limits\" below)",
)
.shown("connectors.max_registered", |s| json!(s.connectors.max_registered));
pub const CONNECTORS__ALLOWED_URLS: Core<Text> = Setting::new(
    "CONNECTORS__ALLOWED_URLS",
    Text(None),
    Section::ConnectorCalls,
    "SSRF allow-list: comma list of `host`, `*.domain`, IP or CIDR (optionally `:port`); when set, a connector URL must match a name or resolve only into the listed networks (`docs/AUTH.md`)",
)
.shown("connectors.allowed_urls", |s| {
    let a = &s.connectors.allowed_urls;
    if a.is_empty() { Value::Null } else { json!(a.to_string()) }
});
