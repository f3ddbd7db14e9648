//! Declarations of the connector settings (`DSXCONNECTOR_*`, docs/reference/CONNECTORS.md,
//! "Connector settings"): variable, type, default, range and documentation, read by `settings`
//! and rendered into docs/CONFIGURATION.md. A connector's own `/config` route is part of the connector protocol,
//! not a view of these settings, so none of them has a `/config` view.

use crate::settings_source::setting::{Choice, Entry, Flag, HttpUrl, Int, SecretText, Section, Setting, Text};

/// No `/config` view: the connector's `/config` route is part of its protocol.
type Conn<K> = Setting<K, ()>;

const fn int(default: i64, min: i64, max: i64) -> Int {
    Int::with_default(default, min, max)
}

pub const NAME: Conn<Text> = Setting::new(
    "NAME",
    Text(None),
    Section::Connector,
    "`[A-Za-z0-9._-]{1,64}`; route prefix `/<name>` (`--name`)",
)
.default_doc("`filesystem-connector` / `aws-s3-connector`");
pub const CONNECTOR_URL: Conn<HttpUrl> = Setting::new(
    "CONNECTOR_URL",
    HttpUrl,
    Section::Connector,
    "where the core reaches this connector (`/<name>` is appended; `--connector-url`)",
)
.default_doc("`http://0.0.0.0:8590` / `:8591`");
pub const LISTEN_ADDR: Conn<Text> = Setting::new(
    "LISTEN_ADDR",
    Text(None),
    Section::Connector,
    "bind address, `host:port` (`--listen`)",
)
.default_doc("`0.0.0.0:<port of the connector URL>`");
pub const DSX_CONNECT_URL: Conn<HttpUrl> = Setting::new(
    "DSX_CONNECT_URL",
    HttpUrl,
    Section::Connector,
    "the core (`--core-url`)",
)
.default_doc("`http://0.0.0.0:8586`");
pub const ASSET: Conn<Text> = Setting::new(
    "ASSET",
    Text(None),
    Section::Connector,
    "the folder, or `bucket[/prefix]` (optionally `s3://…`) (`--asset`)",
)
.default_doc("required");
pub const ASSET_DISPLAY_NAME: Conn<Text> = Setting::new(
    "ASSET_DISPLAY_NAME",
    Text(None),
    Section::Connector,
    "UI text for the asset",
);
pub const DISPLAY_NAME: Conn<Text> = Setting::new(
    "DISPLAY_NAME",
    Text(None),
    Section::Connector,
    "UI text for the connector",
);
pub const DISPLAY_ICON: Conn<Text> = Setting::new(
    "DISPLAY_ICON",
    Text(None),
    Section::Connector,
    "UI icon, sanitised (data URI, safe SVG, emoji); a rejected icon is not shown (one warning)",
);
pub const FILTER: Conn<Text> = Setting::new(
    "FILTER",
    Text(None),
    Section::Connector,
    "the filter language of FILTERS.md; invalid filters stop start-up",
);
pub const ITEM_ACTION: Conn<Choice> = Setting::new(
    "ITEM_ACTION",
    Choice {
        default: "move",
        accepted: "not implemented, nothing, delete, move, tag, movetag (any case; move_tag accepted)",
    },
    Section::Connector,
    "what to do with a malicious item (`--action`)",
)
.default_doc("`move`; `nothing` for the Azure Blob connector; `tag` for the GCS connector");
pub const ITEM_ACTION_MOVE_METAINFO: Conn<Text> = Setting::new(
    "ITEM_ACTION_MOVE_METAINFO",
    Text(Some("dsxconnect-quarantine")),
    Section::Connector,
    "quarantine folder, relative to the asset; S3: a prefix in the asset's bucket or `s3://bucket[/prefix]` (`--quarantine`)",
);
pub const API_KEY: Conn<SecretText> = Setting::new(
    "API_KEY",
    SecretText::FILE,
    Section::Connector,
    "key required in `x-api-key` on every route except `healthz`/`readyz` and `metrics`",
);
pub const DSX_CONNECT_API_KEY: Conn<SecretText> = Setting::new(
    "DSX_CONNECT_API_KEY",
    SecretText::FILE,
    Section::Connector,
    "key sent to the core",
);
pub const METRICS_TOKEN: Conn<SecretText> = Setting::new(
    "METRICS_TOKEN",
    SecretText::FILE,
    Section::Connector,
    "bearer token Prometheus sends for `GET /<name>/metrics`; without it a connector with an API key or signatures serves its metrics to nobody (docs/AUTH.md, \"Connector metrics\")",
);
pub const AUTH__ENABLED: Conn<Flag> = Setting::new(
    "AUTH__ENABLED",
    Flag(false),
    Section::Connector,
    "require signatures even without a key; without an enrollment token or key it is a start-up error",
);
pub const AUTH__HMAC_KEY_ID: Conn<Text> = Setting::new(
    "AUTH__HMAC_KEY_ID",
    Text(None),
    Section::Connector,
    "a static DSX-HMAC key's id (with `AUTH__HMAC_SECRET`): the connector signs its calls to the core and requires the core's signature on every route but the probes",
);
pub const AUTH__HMAC_SECRET: Conn<SecretText> = Setting::new(
    "AUTH__HMAC_SECRET",
    SecretText::FILE,
    Section::Connector,
    "the static DSX-HMAC key's secret (with `AUTH__HMAC_KEY_ID`)",
);
pub const AUTH__CLOCK_SKEW_SECONDS: Conn<Int> = Setting::new(
    "AUTH__CLOCK_SKEW_SECONDS",
    int(60, 5, 600),
    Section::Connector,
    "seconds a signature's timestamp may differ from the clock",
);
pub const AUTH__ROTATION_GRACE_SECS: Conn<Int> = Setting::new(
    "AUTH__ROTATION_GRACE_SECS",
    int(300, 0, 86_400),
    Section::Connector,
    "the previous key is accepted this many seconds after the core issued a new one",
);
pub const AUTH__PERSIST_CREDENTIALS: Conn<Flag> = Setting::new(
    "AUTH__PERSIST_CREDENTIALS",
    Flag(true),
    Section::Connector,
    "keep issued keys in `<data dir>/<name>/credentials.json` (0600)",
);
pub const USE_TLS: Conn<Flag> = Setting::new(
    "USE_TLS",
    Flag(false),
    Section::Connector,
    "HTTPS for the connector (needs `TLS_CERTFILE` and `TLS_KEYFILE`)",
);
pub const TLS_CERTFILE: Conn<Text> = Setting::new(
    "TLS_CERTFILE",
    Text(None),
    Section::Connector,
    "the connector's certificate chain (PEM)",
);
pub const TLS_KEYFILE: Conn<Text> = Setting::new(
    "TLS_KEYFILE",
    Text(None),
    Section::Connector,
    "the connector's private key (PEM)",
);
pub const VERIFY_TLS: Conn<Flag> = Setting::new(
    "VERIFY_TLS",
    Flag(true),
    Section::Connector,
    "verify the core's TLS certificate",
);
pub const CA_BUNDLE: Conn<Text> = Setting::new(
    "CA_BUNDLE",
    Text(None),
    Section::Connector,
    "extra CA certificates (PEM) for the core's TLS",
);
pub const DATA_DIR: Conn<Text> = Setting::new(
    "DATA_DIR",
    Text(Some("data")),
    Section::Connector,
    "identity file `<dir>/<name>/connector_uuid.txt` (`--data-dir`)",
);
pub const UUID: Conn<Text> = Setting::new("UUID", Text(None), Section::Connector, "fixed identity (a UUID)");
pub const HEARTBEAT_INTERVAL_SECS: Conn<Int> = Setting::new(
    "HEARTBEAT_INTERVAL_SECS",
    int(60, 5, 3600),
    Section::Connector,
    "re-registration period",
);
pub const REGISTER_RETRY_MAX_SECS: Conn<Int> = Setting::new(
    "REGISTER_RETRY_MAX_SECS",
    int(60, 1, 3600),
    Section::Connector,
    "cap of the registration backoff",
);
pub const CORE_TIMEOUT_SECS: Conn<Int> = Setting::new(
    "CORE_TIMEOUT_SECS",
    int(30, 1, 600),
    Section::Connector,
    "timeout of calls to the core",
);
pub const SCAN_BATCH_SIZE: Conn<Int> = Setting::new(
    "SCAN_BATCH_SIZE",
    int(100, 1, 1000),
    Section::Connector,
    "scan requests per batch; 1 disables the batch endpoint",
);
pub const FULL_SCAN_ENQUEUE_CONCURRENCY: Conn<Int> = Setting::new(
    "FULL_SCAN_ENQUEUE_CONCURRENCY",
    int(8, 1, 64),
    Section::Connector,
    "requests in flight per full scan",
)
.aliases(&["SCAN_CONCURRENCY"]);
pub const MAX_CONCURRENT_FULL_SCANS: Conn<Int> = Setting::new(
    "MAX_CONCURRENT_FULL_SCANS",
    int(4, 1, 64),
    Section::Connector,
    "full scans running at once (each is an enumeration thread with its buffers); a trigger for another job beyond it answers `429` with `Retry-After: 30` and `description` `reason=busy running=<n> max=<m>` (the core relays it); a trigger for a job already running still answers 200",
);
pub const ENQUEUE_MAX_ATTEMPTS: Conn<Int> = Setting::new(
    "ENQUEUE_MAX_ATTEMPTS",
    int(8, 1, 20),
    Section::Connector,
    "attempts per scan request / `enqueue_done`",
);
pub const ESTIMATE_TIMEOUT_SECS: Conn<Int> = Setting::new(
    "ESTIMATE_TIMEOUT_SECS",
    int(10, 0, 300),
    Section::Connector,
    "counting budget of `estimate`; `0` = always unknown",
);
pub const SHUTDOWN_TIMEOUT_SECS: Conn<Int> = Setting::new(
    "SHUTDOWN_TIMEOUT_SECS",
    int(10, 1, 300),
    Section::Connector,
    "graceful shutdown bound",
);
pub const TAG_SCAN_TIME: Conn<Flag> = Setting::new(
    "TAG_SCAN_TIME",
    Flag(false),
    Section::Connector,
    "add the scan time to tags",
);
pub const TAG_ENGINE: Conn<Text> = Setting::new(
    "TAG_ENGINE",
    Text(None),
    Section::Connector,
    "an engine attribute added to tags: at most 256 characters from letters, digits, spaces and `+ - = . _ : / @`",
);
pub const LOG_LEVEL: Conn<Text> = Setting::new(
    "LOG_LEVEL",
    Text(Some("info")),
    Section::Connector,
    "connector log level",
);
pub const LOG_FORMAT: Conn<Choice> = Setting::new(
    "LOG_FORMAT",
    Choice {
        default: "text",
        accepted: "text or json",
    },
    Section::Connector,
    "JSON lines only, as for the core; colour only when stderr is a terminal",
);
pub const MONITOR: Conn<Flag> = Setting::new(
    "MONITOR",
    Flag(false),
    Section::Connector,
    "filesystem monitor: scan new and changed files as they appear; a watcher error turns `readyz` to 503",
);
pub const MONITOR_DEBOUNCE_MS: Conn<Int> = Setting::new(
    "MONITOR_DEBOUNCE_MS",
    int(1000, 50, 60_000),
    Section::Connector,
    "monitor debounce window, milliseconds",
);
pub const MONITOR_MAX_WAIT_SECS: Conn<Int> = Setting::new(
    "MONITOR_MAX_WAIT_SECS",
    int(300, 1, 86_400),
    Section::Connector,
    "longest wait for a file that keeps changing",
);
pub const MONITOR_FORCE_POLLING: Conn<Flag> = Setting::new(
    "MONITOR_FORCE_POLLING",
    Flag(false),
    Section::Connector,
    "poll instead of inotify (for NFS/SMB); legacy `WATCHFILES_FORCE_POLLING=true`",
);
pub const MONITOR_POLL_INTERVAL_MS: Conn<Int> = Setting::new(
    "MONITOR_POLL_INTERVAL_MS",
    int(1000, 100, 600_000),
    Section::Connector,
    "poll period, milliseconds",
);

/// Every connector setting, in the order the document lists them.
pub const TABLE: &[&dyn Entry<()>] = &[
    &NAME,
    &CONNECTOR_URL,
    &LISTEN_ADDR,
    &DSX_CONNECT_URL,
    &ASSET,
    &ASSET_DISPLAY_NAME,
    &DISPLAY_NAME,
    &DISPLAY_ICON,
    &FILTER,
    &ITEM_ACTION,
    &ITEM_ACTION_MOVE_METAINFO,
    &API_KEY,
    &METRICS_TOKEN,
    &AUTH__HMAC_KEY_ID,
    &AUTH__HMAC_SECRET,
    &AUTH__ENABLED,
    &AUTH__CLOCK_SKEW_SECONDS,
    &AUTH__ROTATION_GRACE_SECS,
    &AUTH__PERSIST_CREDENTIALS,
    &DSX_CONNECT_API_KEY,
    &USE_TLS,
    &TLS_CERTFILE,
    &TLS_KEYFILE,
    &VERIFY_TLS,
    &CA_BUNDLE,
    &DATA_DIR,
    &UUID,
    &HEARTBEAT_INTERVAL_SECS,
    &REGISTER_RETRY_MAX_SECS,
    &CORE_TIMEOUT_SECS,
    &SCAN_BATCH_SIZE,
    &FULL_SCAN_ENQUEUE_CONCURRENCY,
    &MAX_CONCURRENT_FULL_SCANS,
    &ENQUEUE_MAX_ATTEMPTS,
    &ESTIMATE_TIMEOUT_SECS,
    &SHUTDOWN_TIMEOUT_SECS,
    &TAG_SCAN_TIME,
    &TAG_ENGINE,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &MONITOR,
    &MONITOR_DEBOUNCE_MS,
    &MONITOR_MAX_WAIT_SECS,
    &MONITOR_FORCE_POLLING,
    &MONITOR_POLL_INTERVAL_MS,
];

/// The connector tables of docs/CONFIGURATION.md: marker name and Markdown.
pub fn doc_tables() -> Vec<(&'static str, String)> {
    use crate::config::docs::{rows, table};
    use crate::connectors::azure::settings::{AzureSettings, TABLE as AZURE_TABLE};
    use crate::connectors::gcs::settings::{GcsSettings, TABLE as GCS_TABLE};
    use crate::connectors::s3::settings::{S3Settings, TABLE as S3_TABLE};
    vec![
        (
            "connector",
            table(rows::<()>(TABLE, "DSXCONNECTOR_", Section::Connector)),
        ),
        ("s3", table(rows::<S3Settings>(S3_TABLE, "DSXCONNECTOR_", Section::S3))),
        (
            "azure",
            table(rows::<AzureSettings>(AZURE_TABLE, "DSXCONNECTOR_", Section::Azure)),
        ),
        (
            "gcs",
            table(rows::<GcsSettings>(GCS_TABLE, "DSXCONNECTOR_", Section::Gcs)),
        ),
    ]
}
