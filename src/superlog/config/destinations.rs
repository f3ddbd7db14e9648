//! The settings of each destination (docs/reference/SUPERLOG.md, "Settings"): parsing and
//! validation of the settings declared in `destination_table` (which also gives their
//! `GET /config` view, secrets masked).

use std::path::PathBuf;
use std::time::Duration;

use super::destination_table::*;
use crate::settings_source::setting::{Choice, Int, Setting, Text};
use crate::settings_source::{Secret, Source};
use crate::superlog::destination::syslog::{Framing, Transport};
use crate::superlog::format::rfc5424::{SyslogFormat, valid_sd_id};

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

pub(super) fn syslog(s: &mut Source) -> SyslogSettings {
    let transport = match word(s, &SYSLOG_TRANSPORT).as_str() {
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => Transport::Udp,
    };
    let host = s.text_or_default(&SYSLOG_HOST).trim().to_string();
    let default_port = if transport == Transport::Tls { 6514 } else { 514 };
    let port = s.int_opt(&SYSLOG_PORT).unwrap_or(default_port) as u16;
    let format = match word(s, &SYSLOG_FORMAT).as_str() {
        "json" => SyslogFormat::Json,
        _ => SyslogFormat::Rfc5424,
    };
    let framing = match word(s, &SYSLOG_FRAMING).as_str() {
        "lf" => Framing::Lf,
        _ => Framing::Octet,
    };
    let facility = facility(s);
    let app_name = s.text_or_default(&SYSLOG_APP_NAME);
    if !(1..=48).contains(&app_name.len()) || !app_name.bytes().all(|b| (33..=126).contains(&b)) {
        s.error(SYSLOG_APP_NAME.key, "expected 1 to 48 printable US-ASCII characters");
    }
    let sd_id = s.text_or_default(&SYSLOG_SD_ID);
    if !valid_sd_id(&sd_id) {
        s.error(
            SYSLOG_SD_ID.key,
            format!("invalid SD-ID \"{sd_id}\"; expected name@PEN (e.g. dsx@32473), at most 32 characters"),
        );
    }
    let structured = s.flag(&SYSLOG_STRUCTURED_DATA);
    let tls_ca_file = s.text(&SYSLOG_TLS_CA_FILE).map(PathBuf::from);
    let tls_cert_file = s.text(&SYSLOG_TLS_CERT_FILE).map(PathBuf::from);
    let tls_key_file = s.text(&SYSLOG_TLS_KEY_FILE).map(PathBuf::from);
    let tls_insecure = s.flag(&SYSLOG_TLS_INSECURE);
    let tls_server_name = s.text_or(&SYSLOG_TLS_SERVER_NAME, &host);
    if tls_cert_file.is_some() != tls_key_file.is_some() {
        let missing = if tls_cert_file.is_some() {
            SYSLOG_TLS_KEY_FILE.key
        } else {
            SYSLOG_TLS_CERT_FILE.key
        };
        s.error(missing, "TLS_CERT_FILE and TLS_KEY_FILE must be set together");
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
        udp_max_bytes: s.int(&SYSLOG_UDP_MAX_BYTES) as usize,
        stream_max_bytes: s.int(&SYSLOG_STREAM_MAX_BYTES) as usize,
        batch_max_events: s.int(&SYSLOG_BATCH_MAX_EVENTS) as usize,
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

/// `FACILITY`: a name or a number from 0 to 23.
fn facility(s: &mut Source) -> u8 {
    let default = FACILITIES
        .iter()
        .position(|f| *f == SYSLOG_FACILITY.kind.default)
        .unwrap_or(16) as u8;
    let Some(v) = s.choice_text(&SYSLOG_FACILITY).map(|v| v.trim().to_ascii_lowercase()) else {
        return default;
    };
    match (FACILITIES.iter().position(|f| *f == v), v.parse::<u8>()) {
        (Some(i), _) => i as u8,
        (None, Ok(n)) if n <= 23 => n,
        _ => {
            s.error(
                SYSLOG_FACILITY.key,
                format!("invalid value \"{v}\"; accepted: {} or 0-23", FACILITIES.join(", ")),
            );
            default
        }
    }
}

/// A word of a [`Choice`] setting, trimmed and lower-cased, or its declared default; a word
/// not in the declared list is recorded as an error and reads as the default.
pub(super) fn word<S>(s: &mut Source, decl: &Setting<Choice, S>) -> String {
    let Some(v) = s.choice_text(decl).map(|v| v.trim().to_ascii_lowercase()) else {
        return decl.kind.default.to_string();
    };
    if decl.kind.accepted.split(", ").any(|w| w == v) {
        return v;
    }
    s.error(
        decl.key,
        format!("invalid value \"{v}\"; accepted: {}", decl.kind.accepted),
    );
    decl.kind.default.to_string()
}

/// A declared number of milliseconds.
pub(super) fn ms<S>(s: &mut Source, decl: &Setting<Int, S>) -> Duration {
    Duration::from_millis(s.int(decl) as u64)
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
            TlsError::Ca(_) => SYSLOG_TLS_CA_FILE.key,
            TlsError::Cert(_) | TlsError::Mismatch(_) => SYSLOG_TLS_CERT_FILE.key,
            TlsError::Key(_) => SYSLOG_TLS_KEY_FILE.key,
        };
        s.error(key, e.to_string());
    }
    if rustls::pki_types::ServerName::try_from(v.tls_server_name.clone()).is_err() {
        s.error(SYSLOG_TLS_SERVER_NAME.key, "expected a DNS name or an IP address");
    }
}

pub(super) fn splunk(s: &mut Source) -> Option<SplunkSettings> {
    let url = s.http_url(&SPLUNK_URL);
    let token = s.secret_of(&SPLUNK_TOKEN);
    if url.is_none() && !s.is_set(SPLUNK_URL.key) {
        s.error(
            SPLUNK_URL.key,
            "required when splunk is enabled (e.g. https://splunk.example.com:8088)",
        );
    }
    if token.is_none() && !is_set_or_file(s, SPLUNK_TOKEN.key) {
        s.error(
            SPLUNK_TOKEN.key,
            format!(
                "required when splunk is enabled (or {}_FILE)",
                s.var_name(SPLUNK_TOKEN.key)
            ),
        );
    }
    let settings = SplunkSettings {
        url: url.as_ref().map(|u| u.to_string()).unwrap_or_default(),
        token: token.clone().unwrap_or_else(|| Secret::new("")),
        index: s.text(&SPLUNK_INDEX),
        source: s.text_or_default(&SPLUNK_SOURCE),
        sourcetype: s.text_or_default(&SPLUNK_SOURCETYPE),
        event_host: s.text(&SPLUNK_EVENT_HOST),
        verify_tls: s.flag(&SPLUNK_VERIFY_TLS),
        ca_file: s.text(&SPLUNK_CA_FILE).map(PathBuf::from),
        gzip: s.flag(&SPLUNK_GZIP),
        ack: s.flag(&SPLUNK_ACK),
        channel: s
            .text(&SPLUNK_CHANNEL)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ack_poll: ms(s, &SPLUNK_ACK_POLL_MS),
        ack_timeout: ms(s, &SPLUNK_ACK_TIMEOUT_MS),
        batch_max_events: s.int(&SPLUNK_BATCH_MAX_EVENTS) as usize,
        batch_max_bytes: s.int(&SPLUNK_BATCH_MAX_BYTES) as usize,
        flush_interval: ms(s, &SPLUNK_FLUSH_INTERVAL_MS),
    };
    if let Some(ca) = &settings.ca_file
        && let Err(e) = crate::tls::load_certificates(ca)
    {
        s.error(SPLUNK_CA_FILE.key, e.to_string());
    }
    (url.is_some() && token.is_some()).then_some(settings)
}

/// Whether the secret `key` or its `_FILE` variant is set.
pub(super) fn is_set_or_file(s: &Source, key: &str) -> bool {
    s.is_set(key) || s.is_set(&format!("{key}_FILE"))
}

const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

pub(super) fn cloudwatch(s: &mut Source, host: &str) -> Option<CloudwatchSettings> {
    let log_group = s.text(&CLOUDWATCH_LOG_GROUP);
    match &log_group {
        None => s.error(CLOUDWATCH_LOG_GROUP.key, "required when cloudwatch is enabled"),
        Some(g)
            if !(1..=512).contains(&g.len())
                || !g.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b)) =>
        {
            s.error(
                CLOUDWATCH_LOG_GROUP.key,
                "expected 1 to 512 characters of [.-_/#A-Za-z0-9]",
            )
        }
        Some(_) => {}
    }
    let log_stream = s
        .text_or_default(&CLOUDWATCH_LOG_STREAM)
        .replace("{host}", host)
        .replace("{pid}", &std::process::id().to_string());
    if !(1..=512).contains(&log_stream.chars().count()) || log_stream.contains([':', '*']) {
        s.error(
            CLOUDWATCH_LOG_STREAM.key,
            "expected 1 to 512 characters without ':' or '*'",
        );
    }
    let endpoint_url = s.http_url(&CLOUDWATCH_ENDPOINT_URL).map(|u| u.to_string());
    let retention_days = s.int_opt(&CLOUDWATCH_RETENTION_DAYS);
    if let Some(d) = retention_days
        && !RETENTION_DAYS.contains(&d)
    {
        let accepted: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        s.error(
            CLOUDWATCH_RETENTION_DAYS.key,
            format!("invalid value {d}; accepted: {}", accepted.join(", ")),
        );
    }
    let settings = CloudwatchSettings {
        log_group: log_group.clone().unwrap_or_default(),
        log_stream,
        region: s.text(&CLOUDWATCH_REGION),
        endpoint_url,
        create_group: s.flag(&CLOUDWATCH_CREATE_LOG_GROUP),
        create_stream: s.flag(&CLOUDWATCH_CREATE_LOG_STREAM),
        retention_days: retention_days.map(|d| d as i32),
        batch_max_events: s.int(&CLOUDWATCH_BATCH_MAX_EVENTS) as usize,
        flush_interval: ms(s, &CLOUDWATCH_FLUSH_INTERVAL_MS),
    };
    log_group.map(|_| settings)
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
    let mut ok = true;
    let mut url = |s: &mut Source, key: &str, default: Option<&str>| -> String {
        let v = s
            .http_url_opt(key)
            .or_else(|| default.and_then(|d| url::Url::parse(d).ok()));
        match v {
            Some(u) if secure_or_loopback(&u) => u.as_str().trim_end_matches('/').to_string(),
            Some(_) => {
                s.error(key, "expected an https:// URL (http:// only for loopback hosts)");
                ok = false;
                String::new()
            }
            None => {
                if !s.is_set(key) {
                    s.error(key, "required when sentinel is enabled");
                }
                ok = false;
                String::new()
            }
        }
    };
    let dce_url = url(s, SENTINEL_DCE_URL.key, None);
    let authority_host = url(s, SENTINEL_AUTHORITY_HOST.key, SENTINEL_AUTHORITY_HOST.kind.0);
    let mut required =
        |s: &mut Source, decl: &Setting<Text, SentinelSettings>, valid: &dyn Fn(&str) -> bool, what: &str| -> String {
            match s.text(decl) {
                Some(v) if valid(&v) => v,
                Some(v) => {
                    s.error(decl.key, format!("invalid value \"{v}\"; expected {what}"));
                    ok = false;
                    String::new()
                }
                None => {
                    s.error(decl.key, format!("required when sentinel is enabled ({what})"));
                    ok = false;
                    String::new()
                }
            }
        };
    let dcr_immutable_id = required(
        s,
        &SENTINEL_DCR_IMMUTABLE_ID,
        &|v| {
            v.strip_prefix("dcr-")
                .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        },
        "dcr- followed by 32 hex digits",
    );
    let stream_name = required(s, &SENTINEL_STREAM_NAME, &is_stream_name, STREAM_NAME_FORM);
    let tenant_id = required(s, &SENTINEL_TENANT_ID, &is_guid, "a GUID");
    let client_id = required(s, &SENTINEL_CLIENT_ID, &is_guid, "a GUID");
    let audit_stream_name = s.text(&SENTINEL_AUDIT_STREAM_NAME);
    if let Some(v) = &audit_stream_name
        && !is_stream_name(v)
    {
        s.error(
            SENTINEL_AUDIT_STREAM_NAME.key,
            format!("invalid value \"{v}\"; expected {STREAM_NAME_FORM}"),
        );
        ok = false;
    }
    // One method is accepted; another word is recorded as an error by `word`.
    word(s, &SENTINEL_AUTH);
    let client_secret = s.secret_of(&SENTINEL_CLIENT_SECRET);
    if client_secret.is_none() {
        if !is_set_or_file(s, SENTINEL_CLIENT_SECRET.key) {
            s.error(
                SENTINEL_CLIENT_SECRET.key,
                format!(
                    "required when sentinel is enabled (or {}_FILE)",
                    s.var_name(SENTINEL_CLIENT_SECRET.key)
                ),
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
        scope: s.text_or_default(&SENTINEL_SCOPE),
        api_version: s.text_or_default(&SENTINEL_API_VERSION),
        gzip: s.flag(&SENTINEL_GZIP),
        batch_max_events: s.int(&SENTINEL_BATCH_MAX_EVENTS) as usize,
        batch_max_bytes: s.int(&SENTINEL_BATCH_MAX_BYTES) as usize,
        flush_interval: ms(s, &SENTINEL_FLUSH_INTERVAL_MS),
    };
    ok.then_some(settings)
}
