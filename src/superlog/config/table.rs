//! Superlog's global settings (`DSXCONNECT_SUPERLOG__*`), declared once each: the reader
//! (`config::read`), the `superlog` section of `GET /config` and docs/CONFIGURATION.md's
//! superlog tables (`doc_tables`) all come from these declarations and the destinations' ones
//! (`destination_table`, `webhook_table`).
//!
//! The settings every destination has ([`COMMON`]) are declared under their global names
//! (`SUPERLOG__BUFFER_EVENTS`); a destination overrides one as `SUPERLOG__<DEST>__<KEY>`, read
//! with the declared range ([`crate::settings_source::Source::int_opt_at`]).

use serde_json::{Value, json};

use super::destination_table::{CLOUDWATCH, SENTINEL, SPLUNK, SYSLOG};
use super::webhook_table::WEBHOOK;
use super::{Common, DestKind, SuperlogSettings};
use crate::settings_source::setting::{Entry, Fact, Flag, Int, Section, Setting, Text, View, rows, table};

type Global<K> = Setting<K, SuperlogSettings>;
type Shared<K> = Setting<K, Common>;

/// The prefix of every variable below.
pub const PREFIX: &str = "DSXCONNECT_";

pub const ENABLED: Global<Flag> = Setting::new(
    "SUPERLOG__ENABLED",
    Flag(false),
    Section::Superlog,
    "`false` turns superlog off even when destinations or legacy variables are set; unset, superlog is on when `DESTINATIONS` is not empty or a legacy syslog variable is set",
)
.default_doc("from `DESTINATIONS`")
.shown("enabled", |s| json!(s.enabled));
pub const DESTINATIONS: Global<Text> = Setting::new(
    "SUPERLOG__DESTINATIONS",
    Text(None),
    Section::Superlog,
    "CSV of `syslog`, `splunk`, `cloudwatch`, `sentinel`, `webhook` (case-insensitive)",
)
.default_doc("empty")
.shown("destinations", |s| {
    json!(s.destinations.iter().map(|k| k.as_str()).collect::<Vec<_>>())
});
pub const HOSTNAME: Global<Text> = Setting::new(
    "SUPERLOG__HOSTNAME",
    Text(None),
    Section::Superlog,
    "the events' `host`",
)
.default_doc("OS host name")
.shown("hostname", |s| json!(s.hostname));
pub const LABELS: Global<Text> = Setting::new(
    "SUPERLOG__LABELS",
    Text(None),
    Section::Superlog,
    "`key=value,…` copied into every event's `labels` (keys of `[A-Za-z0-9_.-]`, 1–64; values ≤ 256 characters)",
)
.shown("labels", |s| json!(s.labels));
pub const SHUTDOWN_FLUSH_MS: Global<Int> = Setting::new(
    "SUPERLOG__SHUTDOWN_FLUSH_MS",
    Int::with_default(5000, 0, 60_000),
    Section::Superlog,
    "milliseconds to deliver buffers at shutdown; the rest is counted `dropped` (`shutdown`); global only",
)
.shown("shutdown_flush_ms", |s| json!(s.shutdown_flush.as_millis() as u64));
pub const DROP_WARNING_INTERVAL_MS: Global<Int> = Setting::new(
    "SUPERLOG__DROP_WARNING_INTERVAL_MS",
    Int::with_default(10_000, 1000, 3_600_000),
    Section::Superlog,
    "at most one drop/failure warning per destination per interval (milliseconds), plus a summary; global only",
)
.shown("drop_warning_interval_ms", |s| {
    json!(s.drop_warning_interval.as_millis() as u64)
});

pub const BUFFER_EVENTS: Shared<Int> = Setting::new(
    "SUPERLOG__BUFFER_EVENTS",
    Int::with_default(10_000, 1, 1_000_000),
    Section::Superlog,
    "per-destination buffer; the oldest event is dropped when full",
)
.shown("buffer_events", |c| json!(c.buffer_events));
pub const EVENT_TYPES: Shared<Text> = Setting::new(
    "SUPERLOG__EVENT_TYPES",
    Text(Some("scan_result,audit")),
    Section::Superlog,
    "CSV of event types a destination takes (`scan_result`, `audit`; case-insensitive); events of other types are counted `filtered` and never enter its buffer; a type that no destination takes is not emitted at all (nor counted)",
)
.shown("event_types", |c| json!(c.event_types.names()));
pub const VERDICTS: Shared<Text> = Setting::new(
    "SUPERLOG__VERDICTS",
    Text(None),
    Section::Superlog,
    "CSV of verdicts a destination accepts for scan results (`Benign`, `Malicious`, `Unknown`, `Unsupported File Type`, `Not Scanned`; others are counted `filtered`); audit events are not affected",
)
.default_doc("all")
.shown("verdicts", |c| json!(c.verdicts));
pub const MAX_ATTEMPTS: Shared<Int> = Setting::new(
    "SUPERLOG__MAX_ATTEMPTS",
    Int::with_default(8, 1, 100),
    Section::Superlog,
    "attempts per batch, first included",
);
pub const BACKOFF_BASE_MS: Shared<Int> = Setting::new(
    "SUPERLOG__BACKOFF_BASE_MS",
    Int::with_default(500, 10, 60_000),
    Section::Superlog,
    "retry n waits a random time in [d/2, d], d = min(`BACKOFF_MAX_MS`, base × 2ⁿ⁻¹) milliseconds; `Retry-After` raises it (≤ 300 s)",
);
pub const BACKOFF_MAX_MS: Shared<Int> = Setting::new(
    "SUPERLOG__BACKOFF_MAX_MS",
    Int::with_default(30_000, 10, 300_000),
    Section::Superlog,
    "the longest retry wait (milliseconds); at least `BACKOFF_BASE_MS`",
);
pub const CONNECT_TIMEOUT_MS: Shared<Int> = Setting::new(
    "SUPERLOG__CONNECT_TIMEOUT_MS",
    Int::with_default(5000, 100, 60_000),
    Section::Superlog,
    "network connect timeout (milliseconds)",
);
pub const REQUEST_TIMEOUT_MS: Shared<Int> = Setting::new(
    "SUPERLOG__REQUEST_TIMEOUT_MS",
    Int::with_default(10_000, 100, 120_000),
    Section::Superlog,
    "network request timeout (milliseconds)",
);
pub const REDACT__DENY: Shared<Text> = Setting::new(
    "SUPERLOG__REDACT__DENY",
    Text(None),
    Section::Superlog,
    "CSV of paths of either schema removed where present (each event keeps its schema's mandatory fields)",
)
.default_doc("none");
pub const REDACT__ALLOW: Shared<Text> = Setting::new(
    "SUPERLOG__REDACT__ALLOW",
    Text(None),
    Section::Superlog,
    "CSV of paths of either schema kept where present (with the mandatory fields); the rest is removed",
)
.default_doc("all");
pub const REDACT__PATH_MAX_CHARS: Shared<Int> = Setting::new(
    "SUPERLOG__REDACT__PATH_MAX_CHARS",
    Int::with_default(1024, 0, 65_536),
    Section::Superlog,
    "shorten `location`/`metainfo` to this many characters around `…` (`0` off, else at least 64)",
);
pub const REDACT__MASKS: Shared<Text> = Setting::new(
    "SUPERLOG__REDACT__MASKS",
    Text(None),
    Section::Superlog,
    "JSON `[{\"pattern\",\"replacement\",\"fields\"}]`, Rust regex syntax",
)
.default_doc("`[]`");

/// The settings every destination has, in the order a destination's `/config` section shows
/// them (after its own).
pub const COMMON: &[&dyn Entry<Common>] = &[
    &BUFFER_EVENTS,
    &EVENT_TYPES,
    &VERDICTS,
    &MAX_ATTEMPTS,
    &BACKOFF_BASE_MS,
    &BACKOFF_MAX_MS,
    &CONNECT_TIMEOUT_MS,
    &REQUEST_TIMEOUT_MS,
    &REDACT__DENY,
    &REDACT__ALLOW,
    &REDACT__PATH_MAX_CHARS,
    &REDACT__MASKS,
];

/// The global settings in the order `GET /config` shows them, then the destinations' sections.
pub const TABLE: &[&dyn Entry<SuperlogSettings>] = &[
    &ENABLED,
    &DESTINATIONS,
    &HOSTNAME,
    &LABELS,
    &SHUTDOWN_FLUSH_MS,
    &DROP_WARNING_INTERVAL_MS,
    &Fact(View {
        path: "event_types",
        get: |s: &SuperlogSettings| json!(s.global.event_types.names()),
    }),
    &Fact(View {
        path: "buffer_events",
        get: |s: &SuperlogSettings| json!(s.global.buffer_events),
    }),
    &Fact(View {
        path: "max_attempts",
        get: |s: &SuperlogSettings| json!(s.global.max_attempts),
    }),
    &Fact(View {
        path: "syslog",
        get: |s: &SuperlogSettings| s.section_view(DestKind::Syslog),
    }),
    &Fact(View {
        path: "splunk",
        get: |s: &SuperlogSettings| s.section_view(DestKind::Splunk),
    }),
    &Fact(View {
        path: "cloudwatch",
        get: |s: &SuperlogSettings| s.section_view(DestKind::Cloudwatch),
    }),
    &Fact(View {
        path: "sentinel",
        get: |s: &SuperlogSettings| s.section_view(DestKind::Sentinel),
    }),
    &Fact(View {
        path: "webhook",
        get: |s: &SuperlogSettings| s.section_view(DestKind::Webhook),
    }),
];

/// The key of the common setting `s` under `prefix` (`SUPERLOG__` or `SUPERLOG__<DEST>__`).
pub fn key_under<K>(s: &Shared<K>, prefix: &str) -> String {
    let name = s.key.strip_prefix("SUPERLOG__").unwrap_or(s.key);
    format!("{prefix}{name}")
}

/// The declared default of an integer setting.
pub fn int_default<S>(s: &Setting<Int, S>) -> i64 {
    s.kind.default.unwrap_or(s.kind.min)
}

/// The declared keys of `kind`'s own settings that hold secrets.
pub fn secret_keys(kind: DestKind) -> Vec<&'static str> {
    fn secrets<S: 'static>(t: &[&dyn Entry<S>]) -> Vec<&'static str> {
        t.iter().filter(|e| e.is_secret()).filter_map(|e| e.key()).collect()
    }
    match kind {
        DestKind::Syslog => secrets(SYSLOG),
        DestKind::Splunk => secrets(SPLUNK),
        DestKind::Cloudwatch => secrets(CLOUDWATCH),
        DestKind::Sentinel => secrets(SENTINEL),
        DestKind::Webhook => secrets(WEBHOOK),
    }
}

/// The rows of every superlog declaration, in document order (for the tests).
pub fn all_rows() -> Vec<crate::settings_source::setting::Row> {
    fn all<S: 'static>(t: &[&dyn Entry<S>]) -> Vec<crate::settings_source::setting::Row> {
        t.iter().filter_map(|e| e.row(PREFIX)).collect()
    }
    let mut out = all(TABLE);
    out.extend(all(COMMON));
    out.extend(all(SYSLOG));
    out.extend(all(SPLUNK));
    out.extend(all(CLOUDWATCH));
    out.extend(all(SENTINEL));
    out.extend(all(WEBHOOK));
    out
}

/// Superlog's tables of docs/CONFIGURATION.md: marker name and Markdown.
pub fn doc_tables() -> Vec<(&'static str, String)> {
    let mut global = rows(TABLE, PREFIX, Section::Superlog);
    global.extend(rows(COMMON, PREFIX, Section::Superlog));
    vec![
        ("superlog", table(global)),
        ("superlog-syslog", table(rows(SYSLOG, PREFIX, Section::SuperlogSyslog))),
        ("superlog-splunk", table(rows(SPLUNK, PREFIX, Section::SuperlogSplunk))),
        (
            "superlog-cloudwatch",
            table(rows(CLOUDWATCH, PREFIX, Section::SuperlogCloudwatch)),
        ),
        (
            "superlog-sentinel",
            table(rows(SENTINEL, PREFIX, Section::SuperlogSentinel)),
        ),
        (
            "superlog-webhook",
            table(rows(WEBHOOK, PREFIX, Section::SuperlogWebhook)),
        ),
    ]
}

/// The `superlog` object of `GET /config`.
pub fn view(s: &SuperlogSettings) -> Value {
    crate::settings_source::setting::render_view(TABLE, s)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::Settings;

    /// Enough settings for every destination to be enabled and valid.
    fn all_enabled() -> BTreeMap<String, String> {
        [
            ("SUPERLOG__DESTINATIONS", "syslog,splunk,cloudwatch,sentinel,webhook"),
            ("SUPERLOG__SPLUNK__URL", "http://127.0.0.1:8088"),
            ("SUPERLOG__SPLUNK__TOKEN", "tok-123"),
            ("SUPERLOG__CLOUDWATCH__LOG_GROUP", "dsx"),
            ("SUPERLOG__SENTINEL__DCE_URL", "http://127.0.0.1:9"),
            (
                "SUPERLOG__SENTINEL__DCR_IMMUTABLE_ID",
                "dcr-00112233445566778899aabbccddeeff",
            ),
            ("SUPERLOG__SENTINEL__STREAM_NAME", "Custom-DSXConnect_CL"),
            ("SUPERLOG__SENTINEL__TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
            ("SUPERLOG__SENTINEL__CLIENT_ID", "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10"),
            ("SUPERLOG__SENTINEL__CLIENT_SECRET", "s3cr3t"),
            ("SUPERLOG__WEBHOOK__URL", "https://receiver.example/hooks/dsx?key=k1"),
            ("SUPERLOG__WEBHOOK__SECRET", "whsec-0123456789abcdef"),
        ]
        .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
        .into()
    }

    /// Every declared key: the global ones, the common ones under each destination's prefix
    /// too, each destination's own, and the legacy aliases.
    fn every_key() -> Vec<String> {
        fn keys<S: 'static>(t: &[&dyn Entry<S>]) -> Vec<String> {
            t.iter()
                .flat_map(|e| e.key().into_iter().chain(e.aliases().iter().copied()))
                .map(str::to_string)
                .collect()
        }
        let mut out = keys(TABLE);
        for k in keys(COMMON) {
            out.extend(
                DestKind::ALL
                    .map(|d| key_under(&BUFFER_EVENTS, d.prefix()).replace("BUFFER_EVENTS", &k["SUPERLOG__".len()..])),
            );
            out.push(k);
        }
        out.extend(keys(SYSLOG));
        out.extend(keys(SPLUNK));
        out.extend(keys(CLOUDWATCH));
        out.extend(keys(SENTINEL));
        out.extend(keys(WEBHOOK));
        out
    }

    #[test]
    fn every_variable_is_declared_once() {
        let mut seen = BTreeSet::new();
        for r in all_rows() {
            assert!(seen.insert(r.variable.clone()), "{} is declared twice", r.variable);
        }
        assert!(seen.len() > 70, "{}", seen.len());
    }

    #[test]
    fn every_declared_variable_is_read() {
        // An unread variable would warn as unknown: each declaration must have a reader.
        for key in every_key() {
            let name = format!("{PREFIX}{key}");
            let mut env = all_enabled();
            env.entry(name.clone()).or_default();
            let warnings = Settings::from_map(&env, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .warnings;
            assert!(
                !warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{name} is not a known setting"))),
                "{name} is declared but not read: {warnings:?}"
            );
        }
    }

    #[test]
    fn no_declared_secret_reaches_the_view_of_an_enabled_or_an_ignored_section() {
        const SENTINEL_VALUE: &str = "Sentinel-Secret-0123456789abcdef";
        let secrets: Vec<&str> = DestKind::ALL.iter().flat_map(|k| secret_keys(*k)).collect();
        assert_eq!(secrets.len(), 4, "{secrets:?}");
        for enabled in [true, false] {
            let mut env = all_enabled();
            for key in &secrets {
                let value = if key.ends_with("WEBHOOK__URL") {
                    format!("https://receiver.example/hooks/{SENTINEL_VALUE}")
                } else {
                    SENTINEL_VALUE.to_string()
                };
                env.insert(format!("{PREFIX}{key}"), value);
            }
            if !enabled {
                env.remove(&format!("{PREFIX}{}", DESTINATIONS.key));
            }
            let loaded = Settings::from_map(&env, None).unwrap_or_else(|e| panic!("{e}"));
            let view = loaded.settings.view().to_string();
            assert!(!view.contains(SENTINEL_VALUE), "{view}");
            let superlog = &loaded.settings.superlog;
            assert_eq!(superlog.enabled, enabled);
            // Syslog has no required setting, so nothing of it is set here.
            for kind in &DestKind::ALL[1..] {
                assert!(superlog.view()[kind.as_str()].is_object(), "{kind:?}: {view}");
            }
        }
    }

    #[test]
    fn common_settings_are_read_per_destination_in_the_declared_range() {
        let mut env = all_enabled();
        env.insert(format!("{PREFIX}SUPERLOG__SPLUNK__MAX_ATTEMPTS"), "3".into());
        let s = Settings::from_map(&env, None).unwrap().settings.superlog;
        assert_eq!(s.splunk.unwrap().1.max_attempts, 3);
        assert_eq!(s.syslog.unwrap().1.max_attempts, 8, "the declared default");
        env.insert(format!("{PREFIX}SUPERLOG__SPLUNK__MAX_ATTEMPTS"), "101".into());
        let e = Settings::from_map(&env, None).err().expect("out of range").to_string();
        assert!(
            e.contains(
                "DSXCONNECT_SUPERLOG__SPLUNK__MAX_ATTEMPTS: '101' is not valid: expected an integer from 1 to 100"
            ),
            "{e}"
        );
    }
}
