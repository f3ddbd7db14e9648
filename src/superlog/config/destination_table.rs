//! The declarations of the syslog, Splunk HEC, CloudWatch Logs and Sentinel destinations'
//! own settings (`DSXCONNECT_SUPERLOG__<DEST>__*`), the structs they are read into, and each
//! setting's type, default, range, documentation and how
//! the destination's section of `GET /config` shows each (secrets as `"***"`). The readers are
//! in `destinations`; the webhook's are in `webhook_table`.

use std::path::PathBuf;

use serde_json::{Value, json};

use std::time::Duration;

use crate::settings_source::Secret;
use crate::settings_source::setting::{Choice, Entry, Flag, HttpUrl, Int, SecretText, Section, Setting, Text};
use crate::superlog::destination::syslog::{Framing, Transport};
use crate::superlog::format::rfc5424::SyslogFormat;

#[derive(Debug, Clone)]
pub struct SyslogSettings {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub format: SyslogFormat,
    pub framing: Framing,
    pub facility: u8,
    pub app_name: String,
    /// `None`: structured data off.
    pub sd_id: Option<String>,
    pub udp_max_bytes: usize,
    pub stream_max_bytes: usize,
    pub batch_max_events: usize,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_insecure: bool,
    pub tls_server_name: String,
}

#[derive(Debug, Clone)]
pub struct CloudwatchSettings {
    pub log_group: String,
    /// With `{host}` and `{pid}` replaced.
    pub log_stream: String,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub create_group: bool,
    pub create_stream: bool,
    pub retention_days: Option<i32>,
    pub batch_max_events: usize,
    pub flush_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct SentinelSettings {
    pub dce_url: String,
    pub dcr_immutable_id: String,
    pub stream_name: String,
    /// The stream of audit events; without it Sentinel takes none (docs/reference/SUPERLOG.md,
    /// "The audit event").
    pub audit_stream_name: Option<String>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub authority_host: String,
    pub scope: String,
    pub api_version: String,
    pub gzip: bool,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub flush_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct SplunkSettings {
    pub url: String,
    pub token: Secret,
    pub index: Option<String>,
    pub source: String,
    pub sourcetype: String,
    pub event_host: Option<String>,
    pub verify_tls: bool,
    pub ca_file: Option<PathBuf>,
    pub gzip: bool,
    pub ack: bool,
    pub channel: String,
    pub ack_poll: Duration,
    pub ack_timeout: Duration,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub flush_interval: Duration,
}

type Syslog<K> = Setting<K, SyslogSettings>;
type Splunk<K> = Setting<K, SplunkSettings>;
type Cloudwatch<K> = Setting<K, CloudwatchSettings>;
type Sentinel<K> = Setting<K, SentinelSettings>;

fn path(p: &Option<PathBuf>) -> Value {
    json!(p.as_ref().map(|p| p.display().to_string()))
}

const SYS: Section = Section::SuperlogSyslog;

pub const SYSLOG_HOST: Syslog<Text> =
    Setting::new("SUPERLOG__SYSLOG__HOST", Text(Some("127.0.0.1")), SYS, "receiver host")
        .aliases(&[
            "SYSLOG__SYSLOG_SERVER_URL",
            "SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_URL",
        ])
        .shown("host", |v| json!(v.host));
pub const SYSLOG_PORT: Syslog<Int> = Setting::new(
    "SUPERLOG__SYSLOG__PORT",
    Int {
        default: None,
        min: 1,
        max: 65_535,
    },
    SYS,
    "receiver port",
)
.default_doc("`514` (`6514` for `tls`)")
.aliases(&[
    "SYSLOG__SYSLOG_SERVER_PORT",
    "SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_PORT",
])
.shown("port", |v| json!(v.port));
pub const SYSLOG_TRANSPORT: Syslog<Choice> = Setting::new(
    "SUPERLOG__SYSLOG__TRANSPORT",
    Choice {
        default: "udp",
        accepted: "udp, tcp, tls",
    },
    SYS,
    "`udp` (one datagram per event), `tcp`, `tls` (RFC 5425, rustls)",
)
.aliases(&["SYSLOG__TRANSPORT"])
.shown("transport", |v| json!(v.transport.as_str()));
pub const SYSLOG_FORMAT: Syslog<Choice> = Setting::new(
    "SUPERLOG__SYSLOG__FORMAT",
    Choice {
        default: "rfc5424",
        accepted: "rfc5424, json",
    },
    SYS,
    "`rfc5424` (header + structured data `[dsx@32473 …]` + JSON MSG) or `json` (`<PRI>` + JSON)",
)
.shown("format", |v| json!(v.format.as_str()));
pub const SYSLOG_FRAMING: Syslog<Choice> = Setting::new(
    "SUPERLOG__SYSLOG__FRAMING",
    Choice {
        default: "octet",
        accepted: "octet, lf",
    },
    SYS,
    "TCP/TLS framing: `octet` (RFC 6587 octet counting) or `lf`",
)
.shown("framing", |v| {
    json!(match v.framing {
        Framing::Octet => "octet",
        Framing::Lf => "lf",
    })
});
pub const SYSLOG_FACILITY: Syslog<Choice> = Setting::new(
    "SUPERLOG__SYSLOG__FACILITY",
    Choice {
        default: "local0",
        accepted: "facility name (`kern` … `local7`) or 0–23",
    },
    SYS,
    "the PRI's facility",
)
.shown("facility", |v| json!(v.facility));
pub const SYSLOG_APP_NAME: Syslog<Text> = Setting::new(
    "SUPERLOG__SYSLOG__APP_NAME",
    Text(Some("dsx-connect")),
    SYS,
    "header APP-NAME (1–48 printable US-ASCII characters)",
)
.shown("app_name", |v| json!(v.app_name));
pub const SYSLOG_SD_ID: Syslog<Text> = Setting::new(
    "SUPERLOG__SYSLOG__SD_ID",
    Text(Some("dsx@32473")),
    SYS,
    "structured data element id (`name@PEN`, ≤ 32 characters)",
)
.shown("sd_id", |v| json!(v.sd_id));
pub const SYSLOG_STRUCTURED_DATA: Syslog<Flag> = Setting::new(
    "SUPERLOG__SYSLOG__STRUCTURED_DATA",
    Flag(true),
    SYS,
    "send the structured data element (`false`: `-`)",
);
pub const SYSLOG_UDP_MAX_BYTES: Syslog<Int> = Setting::new(
    "SUPERLOG__SYSLOG__UDP_MAX_BYTES",
    Int::with_default(2048, 480, 65_000),
    SYS,
    "largest datagram (longer events are shortened, `truncated: true`)",
)
.shown("udp_max_bytes", |v| json!(v.udp_max_bytes));
pub const SYSLOG_STREAM_MAX_BYTES: Syslog<Int> = Setting::new(
    "SUPERLOG__SYSLOG__STREAM_MAX_BYTES",
    Int::with_default(8192, 2048, 1_048_576),
    SYS,
    "largest TCP/TLS message (longer events are shortened, `truncated: true`)",
)
.shown("stream_max_bytes", |v| json!(v.stream_max_bytes));
pub const SYSLOG_BATCH_MAX_EVENTS: Syslog<Int> = Setting::new(
    "SUPERLOG__SYSLOG__BATCH_MAX_EVENTS",
    Int::with_default(100, 1, 10_000),
    SYS,
    "frames written per write call",
)
.shown("batch_max_events", |v| json!(v.batch_max_events));
pub const SYSLOG_TLS_CA_FILE: Syslog<Text> =
    Setting::new("SUPERLOG__SYSLOG__TLS_CA_FILE", Text(None), SYS, "PEM trust anchors")
        .default_doc("platform roots")
        .aliases(&["SYSLOG__TLS_CA_FILE"])
        .shown("tls_ca_file", |v| path(&v.tls_ca_file));
pub const SYSLOG_TLS_CERT_FILE: Syslog<Text> = Setting::new(
    "SUPERLOG__SYSLOG__TLS_CERT_FILE",
    Text(None),
    SYS,
    "client certificate chain (PEM; mutual TLS, with `TLS_KEY_FILE`)",
)
.aliases(&["SYSLOG__TLS_CERT_FILE"])
.shown("tls_cert_file", |v| path(&v.tls_cert_file));
pub const SYSLOG_TLS_KEY_FILE: Syslog<Text> = Setting::new(
    "SUPERLOG__SYSLOG__TLS_KEY_FILE",
    Text(None),
    SYS,
    "client private key (PEM; with `TLS_CERT_FILE`)",
)
.aliases(&["SYSLOG__TLS_KEY_FILE"])
.shown("tls_key_file", |v| path(&v.tls_key_file));
pub const SYSLOG_TLS_INSECURE: Syslog<Flag> = Setting::new(
    "SUPERLOG__SYSLOG__TLS_INSECURE",
    Flag(false),
    SYS,
    "skip certificate verification (logged)",
)
.aliases(&["SYSLOG__TLS_INSECURE"])
.shown("tls_insecure", |v| json!(v.tls_insecure));
pub const SYSLOG_TLS_SERVER_NAME: Syslog<Text> = Setting::new(
    "SUPERLOG__SYSLOG__TLS_SERVER_NAME",
    Text(None),
    SYS,
    "name the server certificate is checked against (DNS name or IP address)",
)
.default_doc("`HOST`")
.shown("tls_server_name", |v| json!(v.tls_server_name));

/// The syslog destination's settings, in `/config` order.
pub const SYSLOG: &[&dyn Entry<SyslogSettings>] = &[
    &SYSLOG_HOST,
    &SYSLOG_PORT,
    &SYSLOG_TRANSPORT,
    &SYSLOG_FORMAT,
    &SYSLOG_FRAMING,
    &SYSLOG_FACILITY,
    &SYSLOG_APP_NAME,
    &SYSLOG_SD_ID,
    &SYSLOG_STRUCTURED_DATA,
    &SYSLOG_UDP_MAX_BYTES,
    &SYSLOG_STREAM_MAX_BYTES,
    &SYSLOG_BATCH_MAX_EVENTS,
    &SYSLOG_TLS_CA_FILE,
    &SYSLOG_TLS_CERT_FILE,
    &SYSLOG_TLS_KEY_FILE,
    &SYSLOG_TLS_INSECURE,
    &SYSLOG_TLS_SERVER_NAME,
];

const HEC: Section = Section::SuperlogSplunk;

pub const SPLUNK_URL: Splunk<HttpUrl> = Setting::new(
    "SUPERLOG__SPLUNK__URL",
    HttpUrl,
    HEC,
    "HEC base URL, required (`/services/collector/event` is appended when missing)",
)
.shown("url", |v| json!(v.url));
pub const SPLUNK_TOKEN: Splunk<SecretText> =
    Setting::new("SUPERLOG__SPLUNK__TOKEN", SecretText::FILE, HEC, "HEC token, required")
        .shown("token", |_| json!("***"));
pub const SPLUNK_INDEX: Splunk<Text> =
    Setting::new("SUPERLOG__SPLUNK__INDEX", Text(None), HEC, "envelope `index`").shown("index", |v| json!(v.index));
pub const SPLUNK_SOURCE: Splunk<Text> = Setting::new(
    "SUPERLOG__SPLUNK__SOURCE",
    Text(Some("dsx-connect")),
    HEC,
    "envelope `source`",
)
.shown("source", |v| json!(v.source));
pub const SPLUNK_SOURCETYPE: Splunk<Text> = Setting::new(
    "SUPERLOG__SPLUNK__SOURCETYPE",
    Text(Some("dsx:scan:result")),
    HEC,
    "envelope `sourcetype` of scan results (audit events always use `dsx:audit`)",
)
.shown("sourcetype", |v| json!(v.sourcetype));
pub const SPLUNK_EVENT_HOST: Splunk<Text> =
    Setting::new("SUPERLOG__SPLUNK__EVENT_HOST", Text(None), HEC, "envelope `host`")
        .default_doc("the event's host")
        .shown("event_host", |v| json!(v.event_host));
pub const SPLUNK_VERIFY_TLS: Splunk<Flag> = Setting::new(
    "SUPERLOG__SPLUNK__VERIFY_TLS",
    Flag(true),
    HEC,
    "verify the HEC's certificate",
)
.shown("verify_tls", |v| json!(v.verify_tls));
pub const SPLUNK_CA_FILE: Splunk<Text> = Setting::new(
    "SUPERLOG__SPLUNK__CA_FILE",
    Text(None),
    HEC,
    "PEM trust anchors towards HEC",
)
.default_doc("platform roots")
.shown("ca_file", |v| path(&v.ca_file));
pub const SPLUNK_GZIP: Splunk<Flag> =
    Setting::new("SUPERLOG__SPLUNK__GZIP", Flag(false), HEC, "gzip request bodies").shown("gzip", |v| json!(v.gzip));
pub const SPLUNK_ACK: Splunk<Flag> = Setting::new(
    "SUPERLOG__SPLUNK__ACK",
    Flag(false),
    HEC,
    "wait for indexer acknowledgement",
)
.shown("ack", |v| json!(v.ack));
pub const SPLUNK_CHANNEL: Splunk<Text> = Setting::new(
    "SUPERLOG__SPLUNK__CHANNEL",
    Text(None),
    HEC,
    "HEC channel of acknowledgements",
)
.default_doc("a random UUID")
.shown("channel", |v| json!(v.channel));
pub const SPLUNK_ACK_POLL_MS: Splunk<Int> = Setting::new(
    "SUPERLOG__SPLUNK__ACK_POLL_MS",
    Int::with_default(1000, 10, 60_000),
    HEC,
    "acknowledgement poll interval (milliseconds)",
);
pub const SPLUNK_ACK_TIMEOUT_MS: Splunk<Int> = Setting::new(
    "SUPERLOG__SPLUNK__ACK_TIMEOUT_MS",
    Int::with_default(60_000, 100, 3_600_000),
    HEC,
    "time to wait for an acknowledgement (milliseconds)",
);
pub const SPLUNK_BATCH_MAX_EVENTS: Splunk<Int> = Setting::new(
    "SUPERLOG__SPLUNK__BATCH_MAX_EVENTS",
    Int::with_default(100, 1, 10_000),
    HEC,
    "events per request",
)
.shown("batch_max_events", |v| json!(v.batch_max_events));
pub const SPLUNK_BATCH_MAX_BYTES: Splunk<Int> = Setting::new(
    "SUPERLOG__SPLUNK__BATCH_MAX_BYTES",
    Int::with_default(1_000_000, 1024, 100_000_000),
    HEC,
    "bytes per request",
)
.shown("batch_max_bytes", |v| json!(v.batch_max_bytes));
pub const SPLUNK_FLUSH_INTERVAL_MS: Splunk<Int> = Setting::new(
    "SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS",
    Int::with_default(1000, 1, 600_000),
    HEC,
    "longest wait before a partial batch is sent (milliseconds)",
)
.shown("flush_interval_ms", |v| json!(v.flush_interval.as_millis() as u64));

/// The Splunk HEC destination's settings, in `/config` order.
pub const SPLUNK: &[&dyn Entry<SplunkSettings>] = &[
    &SPLUNK_URL,
    &SPLUNK_TOKEN,
    &SPLUNK_INDEX,
    &SPLUNK_SOURCE,
    &SPLUNK_SOURCETYPE,
    &SPLUNK_EVENT_HOST,
    &SPLUNK_VERIFY_TLS,
    &SPLUNK_CA_FILE,
    &SPLUNK_GZIP,
    &SPLUNK_ACK,
    &SPLUNK_CHANNEL,
    &SPLUNK_ACK_POLL_MS,
    &SPLUNK_ACK_TIMEOUT_MS,
    &SPLUNK_BATCH_MAX_EVENTS,
    &SPLUNK_BATCH_MAX_BYTES,
    &SPLUNK_FLUSH_INTERVAL_MS,
];

const CW: Section = Section::SuperlogCloudwatch;

pub const CLOUDWATCH_LOG_GROUP: Cloudwatch<Text> = Setting::new(
    "SUPERLOG__CLOUDWATCH__LOG_GROUP",
    Text(None),
    CW,
    "log group, required (`[.-_/#A-Za-z0-9]`, 1–512 characters)",
)
.shown("log_group", |v| json!(v.log_group));
pub const CLOUDWATCH_LOG_STREAM: Cloudwatch<Text> = Setting::new(
    "SUPERLOG__CLOUDWATCH__LOG_STREAM",
    Text(Some("dsx-connect/{host}/{pid}")),
    CW,
    "log stream (`{host}`, `{pid}` replaced; 1–512 characters without `:` or `*`)",
)
.shown("log_stream", |v| json!(v.log_stream));
pub const CLOUDWATCH_REGION: Cloudwatch<Text> =
    Setting::new("SUPERLOG__CLOUDWATCH__REGION", Text(None), CW, "AWS region")
        .default_doc("the AWS SDK's chain")
        .shown("region", |v| json!(v.region));
pub const CLOUDWATCH_ENDPOINT_URL: Cloudwatch<HttpUrl> = Setting::new(
    "SUPERLOG__CLOUDWATCH__ENDPOINT_URL",
    HttpUrl,
    CW,
    "endpoint override (LocalStack, moto)",
)
.shown("endpoint_url", |v| json!(v.endpoint_url));
pub const CLOUDWATCH_CREATE_LOG_GROUP: Cloudwatch<Flag> = Setting::new(
    "SUPERLOG__CLOUDWATCH__CREATE_LOG_GROUP",
    Flag(true),
    CW,
    "create a missing log group on the first batch",
)
.shown("create_log_group", |v| json!(v.create_group));
pub const CLOUDWATCH_CREATE_LOG_STREAM: Cloudwatch<Flag> = Setting::new(
    "SUPERLOG__CLOUDWATCH__CREATE_LOG_STREAM",
    Flag(true),
    CW,
    "create a missing log stream on the first batch",
)
.shown("create_log_stream", |v| json!(v.create_stream));
pub const CLOUDWATCH_RETENTION_DAYS: Cloudwatch<Int> = Setting::new(
    "SUPERLOG__CLOUDWATCH__RETENTION_DAYS",
    Int {
        default: None,
        min: 1,
        max: 3653,
    },
    CW,
    "retention of a group superlog created (one of CloudWatch's allowed values)",
)
.shown("retention_days", |v| json!(v.retention_days));
pub const CLOUDWATCH_BATCH_MAX_EVENTS: Cloudwatch<Int> = Setting::new(
    "SUPERLOG__CLOUDWATCH__BATCH_MAX_EVENTS",
    Int::with_default(1000, 1, 10_000),
    CW,
    "events per request (the service's 1 MiB and 24 h rules always apply)",
)
.shown("batch_max_events", |v| json!(v.batch_max_events));
pub const CLOUDWATCH_FLUSH_INTERVAL_MS: Cloudwatch<Int> = Setting::new(
    "SUPERLOG__CLOUDWATCH__FLUSH_INTERVAL_MS",
    Int::with_default(2000, 1, 600_000),
    CW,
    "longest wait before a partial batch is sent (milliseconds)",
)
.shown("flush_interval_ms", |v| json!(v.flush_interval.as_millis() as u64));

/// The CloudWatch Logs destination's settings, in `/config` order.
pub const CLOUDWATCH: &[&dyn Entry<CloudwatchSettings>] = &[
    &CLOUDWATCH_LOG_GROUP,
    &CLOUDWATCH_LOG_STREAM,
    &CLOUDWATCH_REGION,
    &CLOUDWATCH_ENDPOINT_URL,
    &CLOUDWATCH_CREATE_LOG_GROUP,
    &CLOUDWATCH_CREATE_LOG_STREAM,
    &CLOUDWATCH_RETENTION_DAYS,
    &CLOUDWATCH_BATCH_MAX_EVENTS,
    &CLOUDWATCH_FLUSH_INTERVAL_MS,
];

const AZ: Section = Section::SuperlogSentinel;

pub const SENTINEL_DCE_URL: Sentinel<HttpUrl> = Setting::new(
    "SUPERLOG__SENTINEL__DCE_URL",
    HttpUrl,
    AZ,
    "data collection endpoint, required (`https://`; `http://` only for loopback)",
)
.shown("dce_url", |v| json!(v.dce_url));
pub const SENTINEL_DCR_IMMUTABLE_ID: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__DCR_IMMUTABLE_ID",
    Text(None),
    AZ,
    "data collection rule, required (`dcr-` + 32 hex digits)",
)
.shown("dcr_immutable_id", |v| json!(v.dcr_immutable_id));
pub const SENTINEL_STREAM_NAME: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__STREAM_NAME",
    Text(None),
    AZ,
    "stream of scan results, required (`Custom-…` or `Microsoft-…`)",
)
.shown("stream_name", |v| json!(v.stream_name));
pub const SENTINEL_AUDIT_STREAM_NAME: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__AUDIT_STREAM_NAME",
    Text(None),
    AZ,
    "stream of audit events (`Custom-…` or `Microsoft-…`, same DCR); unset, audit events are counted `filtered` at Sentinel, and `SENTINEL__EVENT_TYPES` naming `audit` is a start-up error",
)
.shown("audit_stream_name", |v| json!(v.audit_stream_name));
pub const SENTINEL_TENANT_ID: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__TENANT_ID",
    Text(None),
    AZ,
    "Entra ID tenant, required (a GUID)",
)
.shown("tenant_id", |v| json!(v.tenant_id));
pub const SENTINEL_CLIENT_ID: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__CLIENT_ID",
    Text(None),
    AZ,
    "Entra ID application, required (a GUID)",
)
.shown("client_id", |v| json!(v.client_id));
pub const SENTINEL_CLIENT_SECRET: Sentinel<SecretText> = Setting::new(
    "SUPERLOG__SENTINEL__CLIENT_SECRET",
    SecretText::FILE,
    AZ,
    "the application's client secret, required",
)
.shown("client_secret", |_| json!("***"));
pub const SENTINEL_AUTH: Sentinel<Choice> = Setting::new(
    "SUPERLOG__SENTINEL__AUTH",
    Choice {
        default: "client_secret",
        accepted: "client_secret",
    },
    AZ,
    "how the token is obtained",
);
pub const SENTINEL_AUTHORITY_HOST: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__AUTHORITY_HOST",
    Text(Some("https://login.microsoftonline.com")),
    AZ,
    "Entra ID authority (`https://`; sovereign clouds set it)",
)
.shown("authority_host", |v| json!(v.authority_host));
pub const SENTINEL_SCOPE: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__SCOPE",
    Text(Some("https://monitor.azure.com//.default")),
    AZ,
    "token scope (sovereign clouds set it)",
)
.shown("scope", |v| json!(v.scope));
pub const SENTINEL_API_VERSION: Sentinel<Text> = Setting::new(
    "SUPERLOG__SENTINEL__API_VERSION",
    Text(Some("2023-01-01")),
    AZ,
    "Logs Ingestion API version",
)
.shown("api_version", |v| json!(v.api_version));
pub const SENTINEL_GZIP: Sentinel<Flag> =
    Setting::new("SUPERLOG__SENTINEL__GZIP", Flag(true), AZ, "gzip uploads").shown("gzip", |v| json!(v.gzip));
pub const SENTINEL_BATCH_MAX_EVENTS: Sentinel<Int> = Setting::new(
    "SUPERLOG__SENTINEL__BATCH_MAX_EVENTS",
    Int::with_default(500, 1, 10_000),
    AZ,
    "events per upload",
)
.shown("batch_max_events", |v| json!(v.batch_max_events));
pub const SENTINEL_BATCH_MAX_BYTES: Sentinel<Int> = Setting::new(
    "SUPERLOG__SENTINEL__BATCH_MAX_BYTES",
    Int::with_default(1_000_000, 1024, 1_000_000),
    AZ,
    "bytes per upload (the default is the service's limit)",
)
.shown("batch_max_bytes", |v| json!(v.batch_max_bytes));
pub const SENTINEL_FLUSH_INTERVAL_MS: Sentinel<Int> = Setting::new(
    "SUPERLOG__SENTINEL__FLUSH_INTERVAL_MS",
    Int::with_default(1000, 1, 600_000),
    AZ,
    "longest wait before a partial batch is sent (milliseconds)",
)
.shown("flush_interval_ms", |v| json!(v.flush_interval.as_millis() as u64));

/// The Sentinel destination's settings, in `/config` order.
pub const SENTINEL: &[&dyn Entry<SentinelSettings>] = &[
    &SENTINEL_DCE_URL,
    &SENTINEL_DCR_IMMUTABLE_ID,
    &SENTINEL_STREAM_NAME,
    &SENTINEL_AUDIT_STREAM_NAME,
    &SENTINEL_TENANT_ID,
    &SENTINEL_CLIENT_ID,
    &SENTINEL_CLIENT_SECRET,
    &SENTINEL_AUTH,
    &SENTINEL_AUTHORITY_HOST,
    &SENTINEL_SCOPE,
    &SENTINEL_API_VERSION,
    &SENTINEL_GZIP,
    &SENTINEL_BATCH_MAX_EVENTS,
    &SENTINEL_BATCH_MAX_BYTES,
    &SENTINEL_FLUSH_INTERVAL_MS,
];
