//! Superlog settings (docs/reference/SUPERLOG.md, "Settings"): `DSXCONNECT_SUPERLOG__*`, the legacy
//! `DSXCONNECT_SYSLOG__*` names, validation and the redacted `GET /config` view.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::event::{EventType, EventTypes};
use super::redact::{Mask, is_always_mandatory, is_known_path, mandatory_text, parse_masks};
use crate::settings_source::{Source, parse_bool};

mod destinations;
mod webhook;
pub use destinations::{CloudwatchSettings, SentinelSettings, SplunkSettings, SyslogSettings};
use destinations::{cloudwatch, cloudwatch_view, sentinel, sentinel_view, splunk, splunk_view, syslog, syslog_view};
pub use webhook::{WebhookFormat, WebhookSettings};
use webhook::{webhook, webhook_defaults, webhook_view};

/// The destinations superlog knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DestKind {
    Syslog,
    Splunk,
    Cloudwatch,
    Sentinel,
    Webhook,
}

impl DestKind {
    pub const ALL: [DestKind; 5] = [
        DestKind::Syslog,
        DestKind::Splunk,
        DestKind::Cloudwatch,
        DestKind::Sentinel,
        DestKind::Webhook,
    ];
    const ACCEPTED: &str = "syslog, splunk, cloudwatch, sentinel, webhook";

    pub fn as_str(self) -> &'static str {
        match self {
            DestKind::Syslog => "syslog",
            DestKind::Splunk => "splunk",
            DestKind::Cloudwatch => "cloudwatch",
            DestKind::Sentinel => "sentinel",
            DestKind::Webhook => "webhook",
        }
    }

    fn key(self) -> &'static str {
        match self {
            DestKind::Syslog => "SYSLOG",
            DestKind::Splunk => "SPLUNK",
            DestKind::Cloudwatch => "CLOUDWATCH",
            DestKind::Sentinel => "SENTINEL",
            DestKind::Webhook => "WEBHOOK",
        }
    }
}

/// Verdict strings an acceptance list may name ("Fields").
const VERDICTS: [&str; 5] = ["Benign", "Malicious", "Unknown", "Unsupported File Type", "Not Scanned"];

/// Redaction settings of a destination ("Allow and deny lists", "Regex masks", "Path truncation").
#[derive(Debug, Clone, Default)]
pub struct RedactSettings {
    pub deny: Vec<String>,
    pub allow: Option<Vec<String>>,
    /// 0 disables path truncation.
    pub path_max_chars: usize,
    pub masks: Vec<Mask>,
}

/// Settings every destination has, global or overridden per destination
/// ("Global and per-destination settings").
#[derive(Debug, Clone)]
pub struct Common {
    /// The event types the destination takes (`EVENT_TYPES`, docs/reference/SUPERLOG.md,
    /// "The audit event"); never empty.
    pub event_types: EventTypes,
    /// Scan results only.
    pub verdicts: Option<Vec<String>>,
    pub buffer_events: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub redact: RedactSettings,
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
    pub sentinel: Option<(SentinelSettings, Common)>,
    pub webhook: Option<(WebhookSettings, Common)>,
    /// The `superlog` section of `GET /config`, secrets as `"***"`.
    pub view: Value,
    /// Destinations configured but not enabled (logged at INFO when superlog starts).
    pub ignored: Vec<&'static str>,
}

/// Legacy names ("Legacy syslog settings"): (legacy key, canonical key), highest precedence first.
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

/// Secret keys of destination sections (shown as `"***"`); a webhook URL may carry a token.
const SECRET_KEYS: [&str; 4] = ["TOKEN", "CLIENT_SECRET", "SECRET", "WEBHOOK__URL"];

pub(super) fn ms(s: &mut Source, key: &str, default: i64, min: i64, max: i64) -> Duration {
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
    view.insert("event_types".into(), json!(global.event_types.names()));
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
        let mut c = common(s, &prefix, Some(&global));
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
            DestKind::Sentinel => match sentinel(s) {
                Some(v) => {
                    sentinel_event_types(s, &v, &mut c);
                    let shown = sentinel_view(&v);
                    out.sentinel = Some((v, c.clone()));
                    shown
                }
                None => Value::Null,
            },
            DestKind::Webhook => match webhook(s) {
                Some(v) => {
                    webhook_defaults(s, &mut c);
                    let shown = webhook_view(&v);
                    out.webhook = Some((v, c.clone()));
                    shown
                }
                None => Value::Null,
            },
        };
        let mut section = section;
        if let Value::Object(o) = &mut section {
            o.insert("buffer_events".into(), json!(c.buffer_events));
            o.insert("event_types".into(), json!(c.event_types.names()));
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
/// `REDACT__*` key replaces the whole redaction group ("Processing steps").
fn common(s: &mut Source, prefix: &str, global: Option<&Common>) -> Common {
    let k = |name: &str| format!("{prefix}{name}");
    let int = |s: &mut Source, name: &str, default: u64, min: i64, max: i64| {
        s.int_opt_in(&k(name), min, max).map(|v| v as u64).unwrap_or(default)
    };
    let g = global.cloned();
    let event_types = match s.string(&k("EVENT_TYPES")) {
        Some(v) => event_type_list(s, &k("EVENT_TYPES"), &v),
        None => g.as_ref().map_or(EventTypes::ALL, |g| g.event_types),
    };
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
        event_types,
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

/// `EVENT_TYPES`: a CSV of type names (case-insensitive); at least one.
fn event_type_list(s: &mut Source, key: &str, v: &str) -> EventTypes {
    let accepted = || EventType::ALL.map(EventType::as_str).join(", ");
    let mut out = EventTypes::NONE;
    let mut valid = true;
    for item in csv(v) {
        match EventType::from_name(&item) {
            Some(t) => out = out.with(t),
            None => {
                valid = false;
                s.error(key, format!("invalid value \"{item}\"; accepted: {}", accepted()));
            }
        }
    }
    if valid && out.is_empty() {
        s.error(key, format!("expected at least one of: {}", accepted()));
    }
    out
}

/// Sentinel takes audit events into their own stream only (docs/reference/SUPERLOG.md,
/// "The audit event"). Without `AUDIT_STREAM_NAME` they are counted `filtered` there, the global
/// default included; a destination-level `EVENT_TYPES` that names `audit` without a stream is a
/// contradiction caught at start.
fn sentinel_event_types(s: &mut Source, v: &SentinelSettings, c: &mut Common) {
    const KEY: &str = "SUPERLOG__SENTINEL__EVENT_TYPES";
    if v.audit_stream_name.is_some() || !c.event_types.contains(EventType::Audit) {
        return;
    }
    if s.is_set(KEY) {
        s.error(
            KEY,
            format!(
                "audit events need a stream: set {}",
                s.var_name("SUPERLOG__SENTINEL__AUDIT_STREAM_NAME")
            ),
        );
    }
    c.event_types = c.event_types.without(EventType::Audit);
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
            if !is_known_path(p) {
                s.error(
                    key,
                    format!("\"{p}\" is not a field of the scan_result or audit schema v1"),
                );
            } else if deny && is_always_mandatory(p) {
                s.error(
                    key,
                    format!(
                        "\"{p}\" is mandatory and cannot be removed; mandatory: {}",
                        mandatory_text()
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
            s.error(&k("MASKS"), crate::error_chain::error_chain(&e));
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

#[cfg(test)]
mod tests;
