//! Superlog settings (SUPERLOG §11): `DSXCONNECT_SUPERLOG__*`, the legacy
//! `DSXCONNECT_SYSLOG__*` names, validation and the redacted `GET /config` view.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::destination::syslog::{Framing, Transport};
use super::format::rfc5424::{SyslogFormat, valid_sd_id};
use super::redact::{MANDATORY, Mask, is_v1_path, parse_masks};
use crate::config::Secret;
use crate::config::loader::{Source, parse_bool};

/// The destinations superlog knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DestKind {
    Syslog,
    Splunk,
    Cloudwatch,
}

impl DestKind {
    pub const ALL: [DestKind; 3] = [DestKind::Syslog, DestKind::Splunk, DestKind::Cloudwatch];
    const ACCEPTED: &str = "syslog, splunk, cloudwatch";

    pub fn as_str(self) -> &'static str {
        match self {
            DestKind::Syslog => "syslog",
            DestKind::Splunk => "splunk",
            DestKind::Cloudwatch => "cloudwatch",
        }
    }

    fn key(self) -> &'static str {
        match self {
            DestKind::Syslog => "SYSLOG",
            DestKind::Splunk => "SPLUNK",
            DestKind::Cloudwatch => "CLOUDWATCH",
        }
    }
}

/// Verdict strings an acceptance list may name (§3.1).
const VERDICTS: [&str; 5] = ["Benign", "Malicious", "Unknown", "Unsupported File Type", "Not Scanned"];

/// Redaction settings of a destination (§4.2–§4.4).
#[derive(Debug, Clone, Default)]
pub struct RedactSettings {
    pub deny: Vec<String>,
    pub allow: Option<Vec<String>>,
    /// 0 disables path truncation.
    pub path_max_chars: usize,
    pub masks: Vec<Mask>,
}

/// Settings every destination has, global or overridden per destination (§11.2).
#[derive(Debug, Clone)]
pub struct Common {
    pub verdicts: Option<Vec<String>>,
    pub buffer_events: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub redact: RedactSettings,
}

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

/// Everything superlog needs, validated once at start.
#[derive(Debug, Clone, Default)]
pub struct SuperlogSettings {
    pub enabled: bool,
    /// `HOSTNAME`, else the OS host name.
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub shutdown_flush: Duration,
    pub drop_warning_interval: Duration,
    pub syslog: Option<(SyslogSettings, Common)>,
    pub splunk: Option<(SplunkSettings, Common)>,
    pub cloudwatch: Option<(CloudwatchSettings, Common)>,
    /// The `superlog` section of `GET /config`, secrets as `"***"`.
    pub view: Value,
    /// Destinations configured but not enabled (logged at INFO when superlog starts).
    pub ignored: Vec<&'static str>,
}

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// Legacy names (§11.4): (legacy key, canonical key), highest precedence first.
const LEGACY: [(&str, &str); 9] = [
    ("SYSLOG__SYSLOG_SERVER_URL", "SUPERLOG__SYSLOG__HOST"),
    ("SYSLOG__SYSLOG_SERVER_PORT", "SUPERLOG__SYSLOG__PORT"),
    ("SYSLOG__TRANSPORT", "SUPERLOG__SYSLOG__TRANSPORT"),
    ("SYSLOG__TLS_CA_FILE", "SUPERLOG__SYSLOG__TLS_CA_FILE"),
    ("SYSLOG__TLS_CERT_FILE", "SUPERLOG__SYSLOG__TLS_CERT_FILE"),
    ("SYSLOG__TLS_KEY_FILE", "SUPERLOG__SYSLOG__TLS_KEY_FILE"),
    ("SYSLOG__TLS_INSECURE", "SUPERLOG__SYSLOG__TLS_INSECURE"),
    ("SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_URL", "SUPERLOG__SYSLOG__HOST"),
    ("SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_PORT", "SUPERLOG__SYSLOG__PORT"),
];

/// Secret keys of destination sections (shown as `"***"`).
const SECRET_KEYS: [&str; 2] = ["TOKEN", "CLIENT_SECRET"];

fn ms(s: &mut Source, key: &str, default: i64, min: i64, max: i64) -> Duration {
    Duration::from_millis(s.int_in(key, default, min, max) as u64)
}

fn csv(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads and validates the superlog settings; problems are recorded on `s`.
pub fn read(s: &mut Source) -> SuperlogSettings {
    let legacy_set = apply_legacy(s);
    let explicit = s.string("SUPERLOG__ENABLED");
    let enabled_flag = explicit.as_deref().map(|v| match parse_bool(v) {
        Some(b) => b,
        None => {
            s.error(
                "SUPERLOG__ENABLED",
                format!("'{v}' is not a boolean: expected true or false"),
            );
            false
        }
    });
    let mut kinds = destinations(s);
    if kinds.is_empty() && legacy_set && enabled_flag != Some(false) {
        kinds.push(DestKind::Syslog);
    }
    let enabled = enabled_flag.unwrap_or(!kinds.is_empty());
    if enabled && kinds.is_empty() {
        s.error(
            "SUPERLOG__ENABLED",
            format!(
                "superlog is enabled but DSXCONNECT_SUPERLOG__DESTINATIONS is empty; accepted: {}",
                DestKind::ACCEPTED
            ),
        );
    }
    if enabled_flag == Some(false) && (!kinds.is_empty() || legacy_set) {
        s.warn("superlog is disabled by DSXCONNECT_SUPERLOG__ENABLED=false; its destination settings are ignored");
    }
    let hostname = s.string("SUPERLOG__HOSTNAME");
    let host = hostname.clone().unwrap_or_else(|| {
        hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into())
    });
    let labels = labels(s);
    let shutdown_flush = ms(s, "SUPERLOG__SHUTDOWN_FLUSH_MS", 5000, 0, 60_000);
    let drop_warning_interval = ms(s, "SUPERLOG__DROP_WARNING_INTERVAL_MS", 10_000, 1000, 3_600_000);
    let global = common(s, "SUPERLOG__", None);

    let active = |k: DestKind| enabled && kinds.contains(&k);
    let mut view = Map::new();
    view.insert("enabled".into(), json!(enabled));
    view.insert(
        "destinations".into(),
        json!(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
    );
    view.insert("hostname".into(), json!(hostname));
    view.insert("labels".into(), json!(labels));
    view.insert("shutdown_flush_ms".into(), json!(shutdown_flush.as_millis() as u64));
    view.insert(
        "drop_warning_interval_ms".into(),
        json!(drop_warning_interval.as_millis() as u64),
    );
    view.insert("buffer_events".into(), json!(global.buffer_events));
    view.insert("max_attempts".into(), json!(global.max_attempts));

    let mut out = SuperlogSettings {
        enabled,
        host: host.clone(),
        labels,
        shutdown_flush,
        drop_warning_interval,
        ..Default::default()
    };
    let mut ignored = Vec::new();
    for kind in DestKind::ALL {
        let prefix = format!("SUPERLOG__{}__", kind.key());
        if !active(kind) {
            let raw = raw_section(s, &prefix);
            if !raw.is_empty() {
                ignored.push(kind.as_str());
            }
            view.insert(
                kind.as_str().into(),
                if raw.is_empty() {
                    Value::Null
                } else {
                    Value::Object(raw)
                },
            );
            continue;
        }
        let c = common(s, &prefix, Some(&global));
        let section = match kind {
            DestKind::Syslog => {
                let v = syslog(s);
                let shown = syslog_view(&v);
                out.syslog = Some((v, c.clone()));
                shown
            }
            DestKind::Splunk => match splunk(s) {
                Some(v) => {
                    let shown = splunk_view(&v);
                    out.splunk = Some((v, c.clone()));
                    shown
                }
                None => Value::Null,
            },
            DestKind::Cloudwatch => match cloudwatch(s, &host) {
                Some(v) => {
                    let shown = cloudwatch_view(&v);
                    out.cloudwatch = Some((v, c.clone()));
                    shown
                }
                None => Value::Null,
            },
        };
        let mut section = section;
        if let Value::Object(o) = &mut section {
            o.insert("buffer_events".into(), json!(c.buffer_events));
            o.insert("verdicts".into(), json!(c.verdicts));
        }
        view.insert(kind.as_str().into(), section);
    }
    out.ignored = ignored;
    out.view = Value::Object(view);
    out
}

/// Maps the legacy syslog names onto the new ones; true when any was set.
fn apply_legacy(s: &mut Source) -> bool {
    let mut any = false;
    for (legacy, canonical) in LEGACY {
        if s.is_set(legacy) {
            any = true;
            s.warn(format!(
                "{} is deprecated; use {}",
                s.var_name(legacy),
                s.var_name(canonical)
            ));
            s.alias(legacy, canonical);
        }
    }
    any
}

fn destinations(s: &mut Source) -> Vec<DestKind> {
    let Some(v) = s.string("SUPERLOG__DESTINATIONS") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in csv(&v) {
        match DestKind::ALL.iter().find(|k| k.as_str().eq_ignore_ascii_case(&item)) {
            Some(k) if out.contains(k) => {
                s.error("SUPERLOG__DESTINATIONS", format!("'{item}' is listed twice"));
            }
            Some(k) => out.push(*k),
            None => s.error(
                "SUPERLOG__DESTINATIONS",
                format!("invalid value \"{item}\"; accepted: {}", DestKind::ACCEPTED),
            ),
        }
    }
    out
}

fn labels(s: &mut Source) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(v) = s.string("SUPERLOG__LABELS") else {
        return out;
    };
    for pair in csv(&v) {
        let ok = pair.split_once('=').filter(|(k, v)| {
            (1..=64).contains(&k.len())
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && v.chars().count() <= 256
        });
        match ok {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => s.error(
                "SUPERLOG__LABELS",
                format!("invalid label \"{pair}\"; expected key=value with keys of [A-Za-z0-9_.-]{{1,64}}"),
            ),
        }
    }
    out
}

/// The common settings under `prefix`; with `global`, unset keys fall back to it, and any
/// `REDACT__*` key replaces the whole redaction group (§4.1).
fn common(s: &mut Source, prefix: &str, global: Option<&Common>) -> Common {
    let k = |name: &str| format!("{prefix}{name}");
    let int = |s: &mut Source, name: &str, default: u64, min: i64, max: i64| {
        s.int_opt_in(&k(name), min, max).map(|v| v as u64).unwrap_or(default)
    };
    let g = global.cloned();
    let verdicts = match s.string(&k("VERDICTS")) {
        Some(v) => Some(verdict_list(s, &k("VERDICTS"), &v)),
        None => g.as_ref().and_then(|g| g.verdicts.clone()),
    };
    let buffer_events = int(
        s,
        "BUFFER_EVENTS",
        g.as_ref().map_or(10_000, |g| g.buffer_events as u64),
        1,
        1_000_000,
    );
    let max_attempts = int(
        s,
        "MAX_ATTEMPTS",
        g.as_ref().map_or(8, |g| g.max_attempts as u64),
        1,
        100,
    );
    let base = int(
        s,
        "BACKOFF_BASE_MS",
        g.as_ref().map_or(500, |g| g.backoff_base.as_millis() as u64),
        10,
        60_000,
    );
    let max = int(
        s,
        "BACKOFF_MAX_MS",
        g.as_ref().map_or(30_000, |g| g.backoff_max.as_millis() as u64),
        10,
        300_000,
    );
    if max < base {
        s.error(
            &k("BACKOFF_MAX_MS"),
            format!("must be at least {}BACKOFF_BASE_MS", s.var_name(prefix)),
        );
    }
    let connect = int(
        s,
        "CONNECT_TIMEOUT_MS",
        g.as_ref().map_or(5000, |g| g.connect_timeout.as_millis() as u64),
        100,
        60_000,
    );
    let request = int(
        s,
        "REQUEST_TIMEOUT_MS",
        g.as_ref().map_or(10_000, |g| g.request_timeout.as_millis() as u64),
        100,
        120_000,
    );
    let own_redaction = global.is_none() || !s.keys_with_prefix(&k("REDACT__")).is_empty();
    let redact = if own_redaction {
        redaction(s, &k("REDACT__"))
    } else {
        g.as_ref().map(|g| g.redact.clone()).unwrap_or_default()
    };
    Common {
        verdicts,
        buffer_events: buffer_events as usize,
        max_attempts: max_attempts as u32,
        backoff_base: Duration::from_millis(base),
        backoff_max: Duration::from_millis(max),
        connect_timeout: Duration::from_millis(connect),
        request_timeout: Duration::from_millis(request),
        redact,
    }
}

fn verdict_list(s: &mut Source, key: &str, v: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in csv(v) {
        match VERDICTS.iter().find(|x| x.eq_ignore_ascii_case(&item)) {
            Some(x) => out.push(x.to_string()),
            None => s.error(
                key,
                format!("invalid verdict \"{item}\"; accepted: {}", VERDICTS.join(", ")),
            ),
        }
    }
    out
}

fn redaction(s: &mut Source, prefix: &str) -> RedactSettings {
    let k = |name: &str| format!("{prefix}{name}");
    let paths = |s: &mut Source, key: &str, deny: bool| -> Vec<String> {
        let list = s.string(key).map(|v| csv(&v)).unwrap_or_default();
        for p in &list {
            if !is_v1_path(p) {
                s.error(key, format!("\"{p}\" is not a field of the scan_result schema v1"));
            } else if deny && MANDATORY.contains(&p.as_str()) {
                s.error(
                    key,
                    format!(
                        "\"{p}\" is mandatory and cannot be removed; mandatory: {}",
                        MANDATORY.join(", ")
                    ),
                );
            }
        }
        list
    };
    let deny = paths(s, &k("DENY"), true);
    let allow = paths(s, &k("ALLOW"), false);
    let path_max_chars = s.int_in(&k("PATH_MAX_CHARS"), 1024, 0, 65_536) as usize;
    if path_max_chars != 0 && path_max_chars < 64 {
        s.error(&k("PATH_MAX_CHARS"), "expected 0 (off) or 64 to 65536");
    }
    let masks = match s.string(&k("MASKS")) {
        Some(json) => parse_masks(&json).unwrap_or_else(|e| {
            s.error(&k("MASKS"), e);
            Vec::new()
        }),
        None => Vec::new(),
    };
    RedactSettings {
        deny,
        allow: (!allow.is_empty()).then_some(allow),
        path_max_chars,
        masks,
    }
}

fn syslog(s: &mut Source) -> SyslogSettings {
    let p = |name: &str| format!("SUPERLOG__SYSLOG__{name}");
    let transport = match s.string(&p("TRANSPORT")).map(|v| v.trim().to_ascii_lowercase()) {
        None => Transport::Udp,
        Some(v) => match v.as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => {
                s.error(
                    &p("TRANSPORT"),
                    format!("invalid value \"{v}\"; accepted: udp, tcp, tls"),
                );
                Transport::Udp
            }
        },
    };
    let host = s.string_or(&p("HOST"), "127.0.0.1").trim().to_string();
    let default_port = if transport == Transport::Tls { 6514 } else { 514 };
    let port = s.int_in(&p("PORT"), default_port, 1, 65_535) as u16;
    let format = match s.string(&p("FORMAT")).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("rfc5424") => SyslogFormat::Rfc5424,
        Some("json") => SyslogFormat::Json,
        Some(v) => {
            s.error(&p("FORMAT"), format!("invalid value \"{v}\"; accepted: rfc5424, json"));
            SyslogFormat::Rfc5424
        }
    };
    let framing = match s
        .string(&p("FRAMING"))
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("octet") => Framing::Octet,
        Some("lf") => Framing::Lf,
        Some(v) => {
            s.error(&p("FRAMING"), format!("invalid value \"{v}\"; accepted: octet, lf"));
            Framing::Octet
        }
    };
    let facility = match s.string(&p("FACILITY")).map(|v| v.trim().to_ascii_lowercase()) {
        None => 16,
        Some(v) => match (FACILITIES.iter().position(|f| *f == v), v.parse::<u8>()) {
            (Some(i), _) => i as u8,
            (None, Ok(n)) if n <= 23 => n,
            _ => {
                s.error(
                    &p("FACILITY"),
                    format!("invalid value \"{v}\"; accepted: {} or 0-23", FACILITIES.join(", ")),
                );
                16
            }
        },
    };
    let app_name = s.string_or(&p("APP_NAME"), "dsx-connect");
    if !(1..=48).contains(&app_name.len()) || !app_name.bytes().all(|b| (33..=126).contains(&b)) {
        s.error(&p("APP_NAME"), "expected 1 to 48 printable US-ASCII characters");
    }
    let sd_id = s.string_or(&p("SD_ID"), "dsx@32473");
    if !valid_sd_id(&sd_id) {
        s.error(
            &p("SD_ID"),
            format!("invalid SD-ID \"{sd_id}\"; expected name@PEN (e.g. dsx@32473), at most 32 characters"),
        );
    }
    let structured = s.bool_or(&p("STRUCTURED_DATA"), true);
    let tls_ca_file = s.string(&p("TLS_CA_FILE")).map(PathBuf::from);
    let tls_cert_file = s.string(&p("TLS_CERT_FILE")).map(PathBuf::from);
    let tls_key_file = s.string(&p("TLS_KEY_FILE")).map(PathBuf::from);
    let tls_insecure = s.bool_or(&p("TLS_INSECURE"), false);
    let tls_server_name = s.string(&p("TLS_SERVER_NAME")).unwrap_or_else(|| host.clone());
    if tls_cert_file.is_some() != tls_key_file.is_some() {
        let missing = if tls_cert_file.is_some() {
            "TLS_KEY_FILE"
        } else {
            "TLS_CERT_FILE"
        };
        s.error(&p(missing), "TLS_CERT_FILE and TLS_KEY_FILE must be set together");
    }
    let settings = SyslogSettings {
        host,
        port,
        transport,
        format,
        framing,
        facility,
        app_name,
        sd_id: structured.then_some(sd_id),
        udp_max_bytes: s.int_in(&p("UDP_MAX_BYTES"), 2048, 480, 65_000) as usize,
        stream_max_bytes: s.int_in(&p("STREAM_MAX_BYTES"), 8192, 2048, 1_048_576) as usize,
        batch_max_events: s.int_in(&p("BATCH_MAX_EVENTS"), 100, 1, 10_000) as usize,
        tls_ca_file,
        tls_cert_file,
        tls_key_file,
        tls_insecure,
        tls_server_name,
    };
    if transport == Transport::Tls {
        check_tls_files(s, &settings);
    }
    settings
}

/// Loads the PEM files once so a bad file stops start-up naming its variable.
fn check_tls_files(s: &mut Source, v: &SyslogSettings) {
    use super::destination::tls::{TlsError, TlsFiles, client_config};
    let files = TlsFiles {
        ca: v.tls_ca_file.as_deref(),
        cert: v.tls_cert_file.as_deref(),
        key: v.tls_key_file.as_deref(),
        insecure: v.tls_insecure,
    };
    if let Err(e) = client_config(&files) {
        let key = match e {
            TlsError::Ca(_) => "SUPERLOG__SYSLOG__TLS_CA_FILE",
            TlsError::Cert(_) | TlsError::Mismatch(_) => "SUPERLOG__SYSLOG__TLS_CERT_FILE",
            TlsError::Key(_) => "SUPERLOG__SYSLOG__TLS_KEY_FILE",
        };
        s.error(key, e.to_string());
    }
    if rustls::pki_types::ServerName::try_from(v.tls_server_name.clone()).is_err() {
        s.error(
            "SUPERLOG__SYSLOG__TLS_SERVER_NAME",
            "expected a DNS name or an IP address",
        );
    }
}

fn splunk(s: &mut Source) -> Option<SplunkSettings> {
    let p = |name: &str| format!("SUPERLOG__SPLUNK__{name}");
    let url = s.http_url_opt(&p("URL"));
    let token = s.secret_or_file(&p("TOKEN"));
    if url.is_none() && !s.is_set(&p("URL")) {
        s.error(
            &p("URL"),
            "required when splunk is enabled (e.g. https://splunk.example.com:8088)",
        );
    }
    if token.is_none() && !s.is_set(&p("TOKEN")) && !s.is_set(&p("TOKEN_FILE")) {
        s.error(
            &p("TOKEN"),
            "required when splunk is enabled (or DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE)",
        );
    }
    let settings = SplunkSettings {
        url: url.as_ref().map(|u| u.to_string()).unwrap_or_default(),
        token: token.clone().unwrap_or_else(|| Secret::new("")),
        index: s.string(&p("INDEX")),
        source: s.string_or(&p("SOURCE"), "dsx-connect"),
        sourcetype: s.string_or(&p("SOURCETYPE"), "dsx:scan:result"),
        event_host: s.string(&p("EVENT_HOST")),
        verify_tls: s.bool_or(&p("VERIFY_TLS"), true),
        ca_file: s.string(&p("CA_FILE")).map(PathBuf::from),
        gzip: s.bool_or(&p("GZIP"), false),
        ack: s.bool_or(&p("ACK"), false),
        channel: s
            .string(&p("CHANNEL"))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ack_poll: ms(s, &p("ACK_POLL_MS"), 1000, 10, 60_000),
        ack_timeout: ms(s, &p("ACK_TIMEOUT_MS"), 60_000, 100, 3_600_000),
        batch_max_events: s.int_in(&p("BATCH_MAX_EVENTS"), 100, 1, 10_000) as usize,
        batch_max_bytes: s.int_in(&p("BATCH_MAX_BYTES"), 1_000_000, 1024, 100_000_000) as usize,
        flush_interval: ms(s, &p("FLUSH_INTERVAL_MS"), 1000, 1, 600_000),
    };
    if let Some(ca) = &settings.ca_file
        && let Err(e) = crate::tls::load_certificates(ca)
    {
        s.error(&p("CA_FILE"), e.to_string());
    }
    (url.is_some() && token.is_some()).then_some(settings)
}

const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

fn cloudwatch(s: &mut Source, host: &str) -> Option<CloudwatchSettings> {
    let p = |name: &str| format!("SUPERLOG__CLOUDWATCH__{name}");
    let log_group = s.string(&p("LOG_GROUP"));
    match &log_group {
        None => s.error(&p("LOG_GROUP"), "required when cloudwatch is enabled"),
        Some(g)
            if !(1..=512).contains(&g.len())
                || !g.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b)) =>
        {
            s.error(&p("LOG_GROUP"), "expected 1 to 512 characters of [.-_/#A-Za-z0-9]")
        }
        Some(_) => {}
    }
    let log_stream = s
        .string_or(&p("LOG_STREAM"), "dsx-connect/{host}/{pid}")
        .replace("{host}", host)
        .replace("{pid}", &std::process::id().to_string());
    if !(1..=512).contains(&log_stream.chars().count()) || log_stream.contains([':', '*']) {
        s.error(&p("LOG_STREAM"), "expected 1 to 512 characters without ':' or '*'");
    }
    let endpoint_url = s.http_url_opt(&p("ENDPOINT_URL")).map(|u| u.to_string());
    let retention_days = s.int_opt_in(&p("RETENTION_DAYS"), 1, 3653);
    if let Some(d) = retention_days
        && !RETENTION_DAYS.contains(&d)
    {
        let accepted: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        s.error(
            &p("RETENTION_DAYS"),
            format!("invalid value {d}; accepted: {}", accepted.join(", ")),
        );
    }
    let settings = CloudwatchSettings {
        log_group: log_group.clone().unwrap_or_default(),
        log_stream,
        region: s.string(&p("REGION")),
        endpoint_url,
        create_group: s.bool_or(&p("CREATE_LOG_GROUP"), true),
        create_stream: s.bool_or(&p("CREATE_LOG_STREAM"), true),
        retention_days: retention_days.map(|d| d as i32),
        batch_max_events: s.int_in(&p("BATCH_MAX_EVENTS"), 1000, 1, 10_000) as usize,
        flush_interval: ms(s, &p("FLUSH_INTERVAL_MS"), 2000, 1, 600_000),
    };
    log_group.map(|_| settings)
}

fn cloudwatch_view(v: &CloudwatchSettings) -> Value {
    json!({
        "log_group": v.log_group,
        "log_stream": v.log_stream,
        "region": v.region,
        "endpoint_url": v.endpoint_url,
        "create_log_group": v.create_group,
        "create_log_stream": v.create_stream,
        "retention_days": v.retention_days,
        "batch_max_events": v.batch_max_events,
        "flush_interval_ms": v.flush_interval.as_millis() as u64,
    })
}

/// A section that is configured but not enabled: its keys as set, secrets masked.
fn raw_section(s: &mut Source, prefix: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for key in s.keys_with_prefix(prefix) {
        let value = s.string(&key).unwrap_or_default();
        let name = key[prefix.len()..].to_ascii_lowercase();
        let secret = SECRET_KEYS.iter().any(|k| key.ends_with(&format!("__{k}")));
        out.insert(name, if secret { json!("***") } else { json!(value) });
    }
    out
}

fn syslog_view(v: &SyslogSettings) -> Value {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    json!({
        "host": v.host,
        "port": v.port,
        "transport": v.transport.as_str(),
        "format": v.format.as_str(),
        "framing": match v.framing { Framing::Octet => "octet", Framing::Lf => "lf" },
        "facility": v.facility,
        "app_name": v.app_name,
        "sd_id": v.sd_id,
        "udp_max_bytes": v.udp_max_bytes,
        "stream_max_bytes": v.stream_max_bytes,
        "batch_max_events": v.batch_max_events,
        "tls_ca_file": path(&v.tls_ca_file),
        "tls_cert_file": path(&v.tls_cert_file),
        "tls_key_file": path(&v.tls_key_file),
        "tls_insecure": v.tls_insecure,
        "tls_server_name": v.tls_server_name,
    })
}

fn splunk_view(v: &SplunkSettings) -> Value {
    json!({
        "url": v.url,
        "token": "***",
        "index": v.index,
        "source": v.source,
        "sourcetype": v.sourcetype,
        "event_host": v.event_host,
        "verify_tls": v.verify_tls,
        "ca_file": v.ca_file.as_ref().map(|p| p.display().to_string()),
        "gzip": v.gzip,
        "ack": v.ack,
        "channel": v.channel,
        "batch_max_events": v.batch_max_events,
        "batch_max_bytes": v.batch_max_bytes,
        "flush_interval_ms": v.flush_interval.as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Settings;
    use crate::config::core::Loaded;
    use crate::config::loader::ConfigError;

    fn load(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&env, None)
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        load(pairs).err().expect("an error").to_string()
    }

    const HEC: [(&str, &str); 2] = [
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "http://127.0.0.1:8088"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", "tok-123"),
    ];

    #[test]
    fn nothing_configured_means_off() {
        let s = load(&[]).unwrap().settings.superlog;
        assert!(!s.enabled);
        assert!(s.syslog.is_none() && s.splunk.is_none());
    }

    #[test]
    fn destinations_are_trimmed_and_case_insensitive() {
        let mut env = vec![("DSXCONNECT_SUPERLOG__DESTINATIONS", " Syslog , splunk ,")];
        env.extend(HEC);
        let s = load(&env).unwrap().settings.superlog;
        assert!(s.enabled);
        assert!(s.syslog.is_some() && s.splunk.is_some());
        assert_eq!(s.view["destinations"], json!(["syslog", "splunk"]));
    }

    #[test]
    fn an_unknown_destination_names_the_variable_and_the_accepted_values() {
        let e = err(&[("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,graylog")]);
        assert!(e.contains("DSXCONNECT_SUPERLOG__DESTINATIONS"), "{e}");
        assert!(e.contains("accepted: syslog, splunk, cloudwatch"), "{e}");
        let e = err(&[("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,SYSLOG")]);
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn a_bad_transport_is_reported_exactly() {
        let e = err(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "udpp"),
        ]);
        assert!(
            e.contains("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT: invalid value \"udpp\"; accepted: udp, tcp, tls"),
            "{e}"
        );
    }

    #[test]
    fn legacy_syslog_variables_alone_enable_syslog_and_warn_once_each() {
        let l = load(&[
            ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "10.0.0.5"),
            ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_PORT", "1514"),
            ("DSXCONNECT_SYSLOG__TRANSPORT", "tcp"),
        ])
        .unwrap();
        let (sys, _) = l.settings.superlog.syslog.clone().unwrap();
        assert_eq!(
            (sys.host.as_str(), sys.port, sys.transport),
            ("10.0.0.5", 1514, Transport::Tcp)
        );
        assert_eq!(sys.framing, Framing::Octet);
        let deprecations: Vec<_> = l.warnings.iter().filter(|w| w.contains("deprecated")).collect();
        assert_eq!(deprecations.len(), 3, "{:?}", l.warnings);
        assert!(
            !l.warnings.iter().any(|w| w.contains("not a known setting")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn new_names_win_over_legacy_ones_and_stale_worker_names_work() {
        let s = load(&[
            ("DSXCONNECT_SUPERLOG__SYSLOG__HOST", "new"),
            ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "old"),
            ("DSXCONNECT_SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_URL", "older"),
            ("DSXCONNECT_SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_PORT", "5140"),
        ])
        .unwrap()
        .settings
        .superlog;
        let (sys, _) = s.syslog.unwrap();
        assert_eq!((sys.host.as_str(), sys.port), ("new", 5140));
    }

    #[test]
    fn enabled_false_overrides_destinations_and_legacy_names() {
        let s = load(&[
            ("DSXCONNECT_SUPERLOG__ENABLED", "false"),
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
            ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "x"),
        ])
        .unwrap()
        .settings
        .superlog;
        assert!(!s.enabled && s.syslog.is_none());
        let e = err(&[("DSXCONNECT_SUPERLOG__ENABLED", "true")]);
        assert!(e.contains("DESTINATIONS is empty"), "{e}");
    }

    #[test]
    fn secrets_come_from_the_value_or_a_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let s = load(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "https://splunk:8088"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE", f.to_str().unwrap()),
        ])
        .unwrap()
        .settings
        .superlog;
        assert_eq!(s.splunk.unwrap().0.token.expose(), "from-file");
        let e = err(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "https://splunk:8088"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", "a"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE", f.to_str().unwrap()),
        ]);
        assert!(e.contains("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN"), "{e}");
        assert!(!e.contains("from-file"), "{e}");
    }

    #[test]
    fn the_config_view_masks_tokens_of_enabled_and_of_ignored_sections() {
        let l = load(&HEC).unwrap();
        let v = l.settings.view();
        assert_eq!(v["superlog"]["enabled"], false);
        assert_eq!(v["superlog"]["splunk"]["token"], "***");
        let mut env = vec![("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk")];
        env.extend(HEC);
        let v = load(&env).unwrap().settings.view();
        assert_eq!(v["superlog"]["splunk"]["token"], "***");
        assert!(!v.to_string().contains("tok-123"));
    }

    #[test]
    fn redaction_errors_name_the_variable() {
        let base = ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog");
        let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__DENY", "metainfo,verdict")]);
        assert!(
            e.contains("DSXCONNECT_SUPERLOG__REDACT__DENY") && e.contains("mandatory"),
            "{e}"
        );
        let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__ALLOW", "nope")]);
        assert!(e.contains("DSXCONNECT_SUPERLOG__REDACT__ALLOW"), "{e}");
        let e = err(&[
            base,
            (
                "DSXCONNECT_SUPERLOG__REDACT__MASKS",
                r#"[{"pattern":"(","replacement":""}]"#,
            ),
        ]);
        assert!(
            e.contains("DSXCONNECT_SUPERLOG__REDACT__MASKS") && e.contains("invalid pattern"),
            "{e}"
        );
    }

    #[test]
    fn per_destination_keys_override_the_global_ones() {
        let mut env = vec![
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,splunk"),
            ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "50"),
            ("DSXCONNECT_SUPERLOG__REDACT__DENY", "metainfo"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__VERDICTS", "malicious"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__REDACT__PATH_MAX_CHARS", "0"),
        ];
        env.extend(HEC);
        let s = load(&env).unwrap().settings.superlog;
        let (_, sys) = s.syslog.unwrap();
        let (_, hec) = s.splunk.unwrap();
        assert_eq!((sys.buffer_events, hec.buffer_events), (50, 50));
        assert_eq!(sys.verdicts, None);
        assert_eq!(hec.verdicts, Some(vec!["Malicious".to_string()]));
        assert_eq!(sys.redact.deny, ["metainfo"]);
        // A destination's own REDACT key replaces the whole group.
        assert!(hec.redact.deny.is_empty());
        assert_eq!(hec.redact.path_max_chars, 0);
    }

    #[test]
    fn tls_cert_without_key_is_an_error() {
        let e = err(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tls"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__TLS_CERT_FILE", "/nonexistent.pem"),
        ]);
        assert!(e.contains("DSXCONNECT_SUPERLOG__SYSLOG__TLS_KEY_FILE"), "{e}");
    }

    #[test]
    fn toml_and_environment_give_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[superlog]\ndestinations = \"syslog\"\n[superlog.syslog]\nhost = \"h\"\nport = 1514\nfacility = \"user\"\n",
        )
        .unwrap();
        let from_file = Settings::from_map(&BTreeMap::new(), Some(&p))
            .unwrap()
            .settings
            .superlog;
        let from_env = load(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__HOST", "h"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", "1514"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__FACILITY", "user"),
        ])
        .unwrap()
        .settings
        .superlog;
        assert_eq!(from_file.view, from_env.view);
        assert_eq!(from_file.syslog.unwrap().0.facility, 1);
    }
}
