//! Superlog settings (docs/reference/SUPERLOG.md, "Settings"): `DSXCONNECT_SUPERLOG__*`, the legacy
//! `DSXCONNECT_SYSLOG__*` names, validation and the redacted `GET /config` view.
//!
//! Each setting is declared once (`table` for the global and common ones, `destination_table`
//! and `webhook_table` for the destinations'); the reader here, the view ([`SuperlogSettings::view`])
//! and docs/CONFIGURATION.md's superlog tables ([`table::doc_tables`]) come from those
//! declarations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::event::{EventType, EventTypes};
use super::redact::{Mask, is_always_mandatory, is_known_path, mandatory_text, parse_masks};
use crate::settings_source::Source;
use crate::settings_source::setting::{Entry, Setting, Text, render_view};

pub mod destination_table;
mod destinations;
pub mod table;
mod webhook;
pub mod webhook_table;
pub use destination_table::{CloudwatchSettings, SentinelSettings, SplunkSettings, SyslogSettings};
use destinations::{cloudwatch, sentinel, splunk, syslog};
use table::{COMMON, key_under};
use webhook::{webhook, webhook_defaults};
pub use webhook_table::{WebhookFormat, WebhookSettings};

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

    /// The prefix of the destination's keys: `SUPERLOG__SYSLOG__`.
    fn prefix(self) -> &'static str {
        match self {
            DestKind::Syslog => "SUPERLOG__SYSLOG__",
            DestKind::Splunk => "SUPERLOG__SPLUNK__",
            DestKind::Cloudwatch => "SUPERLOG__CLOUDWATCH__",
            DestKind::Sentinel => "SUPERLOG__SENTINEL__",
            DestKind::Webhook => webhook_table::PREFIX,
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

impl Default for Common {
    /// The declared global defaults.
    fn default() -> Self {
        use table::*;
        let ms = |s| Duration::from_millis(int_default(s) as u64);
        Common {
            event_types: EventTypes::ALL,
            verdicts: None,
            buffer_events: int_default(&BUFFER_EVENTS) as usize,
            max_attempts: int_default(&MAX_ATTEMPTS) as u32,
            backoff_base: ms(&BACKOFF_BASE_MS),
            backoff_max: ms(&BACKOFF_MAX_MS),
            connect_timeout: ms(&CONNECT_TIMEOUT_MS),
            request_timeout: ms(&REQUEST_TIMEOUT_MS),
            redact: RedactSettings {
                path_max_chars: int_default(&REDACT__PATH_MAX_CHARS) as usize,
                ..RedactSettings::default()
            },
        }
    }
}

/// Everything superlog needs, validated once at start.
#[derive(Debug, Clone, Default)]
pub struct SuperlogSettings {
    pub enabled: bool,
    /// The destinations listed in `DESTINATIONS` (or implied by legacy names).
    pub destinations: Vec<DestKind>,
    /// `HOSTNAME` as set.
    pub hostname: Option<String>,
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
    /// The global values of the common settings.
    pub global: Common,
    /// Sections configured but not enabled: their keys as set, secrets masked (for the view).
    unused: BTreeMap<DestKind, Map<String, Value>>,
    /// Destinations configured but not enabled (logged at INFO when superlog starts).
    pub ignored: Vec<&'static str>,
}

impl SuperlogSettings {
    /// The `superlog` section of `GET /config`, secrets as `"***"`.
    pub fn view(&self) -> Value {
        table::view(self)
    }

    /// A destination's section of the view: its settings then the common ones when enabled,
    /// the keys as set when configured but not enabled, else `null`.
    fn section_view(&self, kind: DestKind) -> Value {
        fn shown<S: 'static>(own: &[&dyn Entry<S>], v: &(S, Common)) -> Value {
            let mut out = render_view(own, &v.0);
            if let (Value::Object(o), Value::Object(c)) = (&mut out, render_view(COMMON, &v.1)) {
                o.extend(c);
            }
            out
        }
        let active = match kind {
            DestKind::Syslog => self.syslog.as_ref().map(|v| shown(destination_table::SYSLOG, v)),
            DestKind::Splunk => self.splunk.as_ref().map(|v| shown(destination_table::SPLUNK, v)),
            DestKind::Cloudwatch => self
                .cloudwatch
                .as_ref()
                .map(|v| shown(destination_table::CLOUDWATCH, v)),
            DestKind::Sentinel => self.sentinel.as_ref().map(|v| shown(destination_table::SENTINEL, v)),
            DestKind::Webhook => self.webhook.as_ref().map(|v| shown(webhook_table::WEBHOOK, v)),
        };
        active
            .or_else(|| self.unused.get(&kind).cloned().map(Value::Object))
            .unwrap_or(Value::Null)
    }
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
    let enabled_flag = s.flag_opt(&table::ENABLED);
    let mut kinds = destinations(s);
    if kinds.is_empty() && legacy_set && enabled_flag != Some(false) {
        kinds.push(DestKind::Syslog);
    }
    let enabled = enabled_flag.unwrap_or(!kinds.is_empty());
    if enabled && kinds.is_empty() {
        let message = format!(
            "superlog is enabled but {} is empty; accepted: {}",
            s.var_name(table::DESTINATIONS.key),
            DestKind::ACCEPTED
        );
        s.error(table::ENABLED.key, message);
    }
    if enabled_flag == Some(false) && (!kinds.is_empty() || legacy_set) {
        let message = format!(
            "superlog is disabled by {}=false; its destination settings are ignored",
            s.var_name(table::ENABLED.key)
        );
        s.warn(message);
    }
    let hostname = s.text(&table::HOSTNAME);
    let host = hostname.clone().unwrap_or_else(|| {
        hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into())
    });
    let labels = labels(s);
    let shutdown_flush = destinations::ms(s, &table::SHUTDOWN_FLUSH_MS);
    let drop_warning_interval = destinations::ms(s, &table::DROP_WARNING_INTERVAL_MS);
    let global = common(s, "SUPERLOG__", None);

    let mut out = SuperlogSettings {
        enabled,
        destinations: kinds.clone(),
        hostname,
        host: host.clone(),
        labels,
        shutdown_flush,
        drop_warning_interval,
        global: global.clone(),
        ..Default::default()
    };
    for kind in DestKind::ALL {
        if !(enabled && kinds.contains(&kind)) {
            let raw = raw_section(s, kind);
            if !raw.is_empty() {
                out.ignored.push(kind.as_str());
                out.unused.insert(kind, raw);
            }
            continue;
        }
        let mut c = common(s, kind.prefix(), Some(&global));
        match kind {
            DestKind::Syslog => out.syslog = Some((syslog(s), c)),
            DestKind::Splunk => out.splunk = splunk(s).map(|v| (v, c)),
            DestKind::Cloudwatch => out.cloudwatch = cloudwatch(s, &host).map(|v| (v, c)),
            DestKind::Sentinel => {
                out.sentinel = sentinel(s).map(|v| {
                    sentinel_event_types(s, &v, &mut c);
                    (v, c)
                })
            }
            DestKind::Webhook => {
                out.webhook = webhook(s).map(|v| {
                    webhook_defaults(s, &mut c);
                    (v, c)
                })
            }
        }
    }
    out
}

/// Maps the legacy syslog names onto the new ones; true when any was set.
/// The legacy names are the declared aliases of the syslog settings, highest precedence
/// first.
fn apply_legacy(s: &mut Source) -> bool {
    let mut any = false;
    for entry in destination_table::SYSLOG {
        let Some(canonical) = entry.key() else { continue };
        for legacy in entry.aliases() {
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
    }
    any
}

fn destinations(s: &mut Source) -> Vec<DestKind> {
    const KEY: &str = table::DESTINATIONS.key;
    let Some(v) = s.text(&table::DESTINATIONS) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in csv(&v) {
        match DestKind::ALL.iter().find(|k| k.as_str().eq_ignore_ascii_case(&item)) {
            Some(k) if out.contains(k) => {
                s.error(KEY, format!("'{item}' is listed twice"));
            }
            Some(k) => out.push(*k),
            None => s.error(
                KEY,
                format!("invalid value \"{item}\"; accepted: {}", DestKind::ACCEPTED),
            ),
        }
    }
    out
}

fn labels(s: &mut Source) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(v) = s.text(&table::LABELS) else {
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
                table::LABELS.key,
                format!("invalid label \"{pair}\"; expected key=value with keys of [A-Za-z0-9_.-]{{1,64}}"),
            ),
        }
    }
    out
}

/// The common settings under `prefix` (`SUPERLOG__` or a destination's); with `global`, unset
/// keys fall back to it, and any `REDACT__*` key replaces the whole redaction group
/// ("Processing steps").
fn common(s: &mut Source, prefix: &str, global: Option<&Common>) -> Common {
    use table::*;
    let g = global.cloned().unwrap_or_default();
    let key = |decl: &Setting<Text, Common>| key_under(decl, prefix);
    let int = |s: &mut Source, decl, fallback: u64| {
        s.int_opt_at(decl, &key_under(decl, prefix))
            .map(|v| v as u64)
            .unwrap_or(fallback)
    };
    let event_types = match s.string(&key(&EVENT_TYPES)) {
        Some(v) => event_type_list(s, &key(&EVENT_TYPES), &v),
        None => g.event_types,
    };
    let verdicts = match s.string(&key(&VERDICTS)) {
        Some(v) => Some(verdict_list(s, &key(&VERDICTS), &v)),
        None => g.verdicts.clone(),
    };
    let buffer_events = int(s, &BUFFER_EVENTS, g.buffer_events as u64);
    let max_attempts = int(s, &MAX_ATTEMPTS, g.max_attempts as u64);
    let base = int(s, &BACKOFF_BASE_MS, g.backoff_base.as_millis() as u64);
    let max = int(s, &BACKOFF_MAX_MS, g.backoff_max.as_millis() as u64);
    if max < base {
        let message = format!("must be at least {}", s.var_name(&key_under(&BACKOFF_BASE_MS, prefix)));
        s.error(&key_under(&BACKOFF_MAX_MS, prefix), message);
    }
    let connect = int(s, &CONNECT_TIMEOUT_MS, g.connect_timeout.as_millis() as u64);
    let request = int(s, &REQUEST_TIMEOUT_MS, g.request_timeout.as_millis() as u64);
    let redact_prefix = format!("{prefix}REDACT__");
    let own_redaction = global.is_none() || !s.keys_with_prefix(&redact_prefix).is_empty();
    let redact = if own_redaction {
        redaction(s, prefix)
    } else {
        // Keys set to nothing count as unset, yet are known.
        for decl in [&REDACT__DENY, &REDACT__ALLOW, &REDACT__MASKS] {
            s.string(&key(decl));
        }
        s.string(&key_under(&REDACT__PATH_MAX_CHARS, prefix));
        g.redact.clone()
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
    let key = key_under(&table::EVENT_TYPES, DestKind::Sentinel.prefix());
    if v.audit_stream_name.is_some() || !c.event_types.contains(EventType::Audit) {
        return;
    }
    if s.is_set(&key) {
        let message = format!(
            "audit events need a stream: set {}",
            s.var_name(destination_table::SENTINEL_AUDIT_STREAM_NAME.key)
        );
        s.error(&key, message);
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

/// The redaction group under `prefix` (`SUPERLOG__` or a destination's).
fn redaction(s: &mut Source, prefix: &str) -> RedactSettings {
    use table::*;
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
    let deny = paths(s, &key_under(&REDACT__DENY, prefix), true);
    let allow = paths(s, &key_under(&REDACT__ALLOW, prefix), false);
    let max_key = key_under(&REDACT__PATH_MAX_CHARS, prefix);
    let path_max_chars = s
        .int_opt_at(&REDACT__PATH_MAX_CHARS, &max_key)
        .unwrap_or(int_default(&REDACT__PATH_MAX_CHARS)) as usize;
    if path_max_chars != 0 && path_max_chars < 64 {
        s.error(&max_key, "expected 0 (off) or 64 to 65536");
    }
    let masks_key = key_under(&REDACT__MASKS, prefix);
    let masks = match s.string(&masks_key) {
        Some(json) => parse_masks(&json).unwrap_or_else(|e| {
            s.error(&masks_key, crate::error_chain::error_chain(&e));
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

/// A section that is configured but not enabled: its keys as set, the declared secrets masked.
fn raw_section(s: &mut Source, kind: DestKind) -> Map<String, Value> {
    let prefix = kind.prefix();
    let secrets = table::secret_keys(kind);
    let mut out = Map::new();
    for key in s.keys_with_prefix(prefix) {
        let value = s.string(&key).unwrap_or_default();
        let name = key[prefix.len()..].to_ascii_lowercase();
        let secret = secrets.contains(&key.as_str());
        out.insert(name, if secret { json!("***") } else { json!(value) });
    }
    out
}

#[cfg(test)]
mod tests;
