//! The settings of each destination (docs/reference/SUPERLOG.md, "Settings"): parsing, validation
//! and the `GET /config` view with secrets masked.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::ms;
use crate::settings_source::Secret;
use crate::settings_source::Source;
use crate::superlog::destination::syslog::{Framing, Transport};
use crate::superlog::format::rfc5424::{SyslogFormat, valid_sd_id};

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

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

pub(super) fn syslog(s: &mut Source) -> SyslogSettings {
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
pub(super) fn check_tls_files(s: &mut Source, v: &SyslogSettings) {
    use crate::superlog::destination::tls::{TlsError, TlsFiles, client_config};
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

pub(super) fn splunk(s: &mut Source) -> Option<SplunkSettings> {
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

pub(super) fn cloudwatch(s: &mut Source, host: &str) -> Option<CloudwatchSettings> {
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

pub(super) fn cloudwatch_view(v: &CloudwatchSettings) -> Value {
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

pub(super) fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// `https://`, or `http://` to a loopback host (tests) ("Upload").
pub(super) fn secure_or_loopback(u: &url::Url) -> bool {
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    u.scheme() == "https" || loopback
}

const STREAM_NAME_FORM: &str = "Custom-<name> or Microsoft-<name>";

fn is_stream_name(v: &str) -> bool {
    v.strip_prefix("Custom-")
        .or_else(|| v.strip_prefix("Microsoft-"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

pub(super) fn sentinel(s: &mut Source) -> Option<SentinelSettings> {
    let p = |name: &str| format!("SUPERLOG__SENTINEL__{name}");
    let mut ok = true;
    let mut url = |s: &mut Source, key: &str, default: Option<&str>| -> String {
        let v = s
            .http_url_opt(&p(key))
            .or_else(|| default.and_then(|d| url::Url::parse(d).ok()));
        match v {
            Some(u) if secure_or_loopback(&u) => u.as_str().trim_end_matches('/').to_string(),
            Some(_) => {
                s.error(&p(key), "expected an https:// URL (http:// only for loopback hosts)");
                ok = false;
                String::new()
            }
            None => {
                if !s.is_set(&p(key)) {
                    s.error(&p(key), "required when sentinel is enabled");
                }
                ok = false;
                String::new()
            }
        }
    };
    let dce_url = url(s, "DCE_URL", None);
    let authority_host = url(s, "AUTHORITY_HOST", Some("https://login.microsoftonline.com"));
    let mut required = |s: &mut Source, key: &str, valid: &dyn Fn(&str) -> bool, what: &str| -> String {
        match s.string(&p(key)) {
            Some(v) if valid(&v) => v,
            Some(v) => {
                s.error(&p(key), format!("invalid value \"{v}\"; expected {what}"));
                ok = false;
                String::new()
            }
            None => {
                s.error(&p(key), format!("required when sentinel is enabled ({what})"));
                ok = false;
                String::new()
            }
        }
    };
    let dcr_immutable_id = required(
        s,
        "DCR_IMMUTABLE_ID",
        &|v| {
            v.strip_prefix("dcr-")
                .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        },
        "dcr- followed by 32 hex digits",
    );
    let stream_name = required(s, "STREAM_NAME", &is_stream_name, STREAM_NAME_FORM);
    let tenant_id = required(s, "TENANT_ID", &is_guid, "a GUID");
    let client_id = required(s, "CLIENT_ID", &is_guid, "a GUID");
    let audit_stream_name = s.string(&p("AUDIT_STREAM_NAME"));
    if let Some(v) = &audit_stream_name
        && !is_stream_name(v)
    {
        s.error(
            &p("AUDIT_STREAM_NAME"),
            format!("invalid value \"{v}\"; expected {STREAM_NAME_FORM}"),
        );
        ok = false;
    }
    match s.string(&p("AUTH")).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("client_secret") => {}
        Some(v) => {
            s.error(&p("AUTH"), format!("invalid value \"{v}\"; accepted: client_secret"));
            ok = false;
        }
    }
    let client_secret = s.secret_or_file(&p("CLIENT_SECRET"));
    if client_secret.is_none() {
        if !s.is_set(&p("CLIENT_SECRET")) && !s.is_set(&p("CLIENT_SECRET_FILE")) {
            s.error(
                &p("CLIENT_SECRET"),
                "required when sentinel is enabled (or DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_SECRET_FILE)",
            );
        }
        ok = false;
    }
    let settings = SentinelSettings {
        dce_url,
        dcr_immutable_id,
        stream_name,
        audit_stream_name,
        tenant_id,
        client_id,
        client_secret: client_secret.unwrap_or_else(|| Secret::new("")),
        authority_host,
        scope: s.string_or(&p("SCOPE"), "https://monitor.azure.com//.default"),
        api_version: s.string_or(&p("API_VERSION"), "2023-01-01"),
        gzip: s.bool_or(&p("GZIP"), true),
        batch_max_events: s.int_in(&p("BATCH_MAX_EVENTS"), 500, 1, 10_000) as usize,
        batch_max_bytes: s.int_in(&p("BATCH_MAX_BYTES"), 1_000_000, 1024, 1_000_000) as usize,
        flush_interval: ms(s, &p("FLUSH_INTERVAL_MS"), 1000, 1, 600_000),
    };
    ok.then_some(settings)
}

pub(super) fn sentinel_view(v: &SentinelSettings) -> Value {
    json!({
        "dce_url": v.dce_url,
        "dcr_immutable_id": v.dcr_immutable_id,
        "stream_name": v.stream_name,
        "audit_stream_name": v.audit_stream_name,
        "tenant_id": v.tenant_id,
        "client_id": v.client_id,
        "client_secret": "***",
        "authority_host": v.authority_host,
        "scope": v.scope,
        "api_version": v.api_version,
        "gzip": v.gzip,
        "batch_max_events": v.batch_max_events,
        "batch_max_bytes": v.batch_max_bytes,
        "flush_interval_ms": v.flush_interval.as_millis() as u64,
    })
}

pub(super) fn syslog_view(v: &SyslogSettings) -> Value {
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

pub(super) fn splunk_view(v: &SplunkSettings) -> Value {
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
