//! Redaction (docs/reference/SUPERLOG.md, "Allow and deny lists", "Regex masks",
//! "Path truncation"): an ordered chain of [`Redactor`]s built once from configuration and applied
//! to each destination's own copy of an event.
//!
//! One configuration serves both event types (docs/reference/SUPERLOG.md, "The audit event"): a
//! path is valid when it exists in either schema and is applied where present, and each event keeps
//! its own schema's mandatory fields.

use regex::Regex;
use serde_json::{Map, Value};

use super::event::EventType;

/// The fields of one event schema, by dotted path.
#[derive(Debug)]
pub struct Schema {
    /// Every path: objects and their members.
    paths: &'static [&'static str],
    /// Fields no redaction may remove (docs/reference/SUPERLOG.md, "Allow and deny lists",
    /// "The audit event").
    pub mandatory: &'static [&'static str],
    /// String fields a mask may name.
    strings: &'static [&'static str],
}

/// `scan_result`, schema v1 (docs/reference/SUPERLOG.md, "Fields").
const SCAN_RESULT: Schema = Schema {
    paths: &[
        "event",
        "schema_version",
        "event_id",
        "timestamp",
        "job_id",
        "scan_request_task_id",
        "result_id",
        "connector",
        "connector.uuid",
        "connector.name",
        "connector.asset",
        "location",
        "metainfo",
        "verdict",
        "verdict_reason",
        "verdict_description",
        "threat",
        "threat_type",
        "severity",
        "file",
        "file.type",
        "file.size",
        "file.sha256",
        "action",
        "action.type",
        "action.status",
        "action.message",
        "result_status",
        "engine",
        "engine.name",
        "engine.version",
        "engine.scan_guid",
        "scan_duration_us",
        "host",
        "product",
        "product.name",
        "product.version",
        "labels",
        "truncated",
    ],
    mandatory: &[
        "event",
        "schema_version",
        "event_id",
        "timestamp",
        "verdict",
        "severity",
        "truncated",
    ],
    strings: &[
        "job_id",
        "scan_request_task_id",
        "connector.uuid",
        "connector.name",
        "connector.asset",
        "location",
        "metainfo",
        "verdict_reason",
        "verdict_description",
        "threat",
        "threat_type",
        "file.type",
        "file.sha256",
        "action.message",
        "engine.scan_guid",
        "host",
    ],
};

/// `audit`, schema v1 (docs/reference/SUPERLOG.md, "The audit event").
const AUDIT: Schema = Schema {
    paths: &[
        "event",
        "schema_version",
        "event_id",
        "timestamp",
        "audit_id",
        "actor",
        "actor.type",
        "actor.id",
        "actor.name",
        "role",
        "action",
        "target",
        "target.type",
        "target.id",
        "result",
        "http_status",
        "method",
        "path",
        "source_ip",
        "detail",
        "count",
        "severity",
        "host",
        "product",
        "product.name",
        "product.version",
        "labels",
        "truncated",
    ],
    mandatory: &[
        "event",
        "schema_version",
        "event_id",
        "timestamp",
        "action",
        "result",
        "severity",
        "truncated",
    ],
    strings: &[
        "actor.id",
        "actor.name",
        "role",
        "target.type",
        "target.id",
        "method",
        "path",
        "source_ip",
        "detail",
        "host",
    ],
};

/// Default fields of a mask without `fields` (docs/reference/SUPERLOG.md, "Regex masks"). Audit
/// fields are masked only when a mask names them: a pattern written for file paths should not
/// rewrite URL paths.
const MASK_DEFAULT_FIELDS: [&str; 6] = [
    "location",
    "metainfo",
    "action.message",
    "verdict_description",
    "verdict_reason",
    "connector.asset",
];

pub fn schema(t: EventType) -> &'static Schema {
    match t {
        EventType::ScanResult => &SCAN_RESULT,
        EventType::Audit => &AUDIT,
    }
}

/// A path is valid when it exists in either schema (docs/reference/SUPERLOG.md, "The audit event").
pub fn is_known_path(p: &str) -> bool {
    EventType::ALL.iter().any(|t| schema(*t).paths.contains(&p))
}

/// True when `p` is mandatory in every schema that has it, so denying it could only ever be
/// refused. `action` is mandatory for audit events but an optional object of scan results: a
/// deny list may name it and then removes it from scan results only.
pub fn is_always_mandatory(p: &str) -> bool {
    let holders: Vec<&Schema> = EventType::ALL
        .iter()
        .map(|t| schema(*t))
        .filter(|s| s.paths.contains(&p))
        .collect();
    !holders.is_empty() && holders.iter().all(|s| s.mandatory.contains(&p))
}

/// The mandatory fields of every schema, for error messages.
pub fn mandatory_text() -> String {
    EventType::ALL
        .iter()
        .map(|t| format!("{}: {}", t.as_str(), schema(*t).mandatory.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One redaction step. Returns whether it shortened or removed a value that sets `truncated`.
/// `schema` is the event's own, for the steps whose effect depends on its mandatory fields.
pub trait Redactor: Send + Sync + std::fmt::Debug {
    fn apply(&self, schema: &Schema, event: &mut Map<String, Value>) -> bool;
}

/// The ordered chain of one destination.
#[derive(Debug, Default)]
pub struct Chain(Vec<Box<dyn Redactor>>);

impl Chain {
    pub fn new(steps: Vec<Box<dyn Redactor>>) -> Self {
        Self(steps)
    }

    /// Applies every step in order to an event of type `kind`; sets `truncated` when a step
    /// asks for it.
    pub fn apply(&self, kind: EventType, event: &mut Value) {
        let Some(obj) = event.as_object_mut() else {
            return;
        };
        let schema = schema(kind);
        let mut truncated = false;
        for step in &self.0 {
            truncated |= step.apply(schema, obj);
        }
        if truncated {
            obj.insert("truncated".into(), Value::Bool(true));
        }
    }
}

/// `REDACT__DENY`: removes the listed fields, except the event's mandatory ones.
#[derive(Debug)]
pub struct Deny(pub Vec<String>);

impl Redactor for Deny {
    fn apply(&self, schema: &Schema, event: &mut Map<String, Value>) -> bool {
        for path in self.0.iter().filter(|p| !schema.mandatory.contains(&p.as_str())) {
            match path.split_once('.') {
                None => {
                    event.remove(path);
                }
                Some((parent, child)) => {
                    if let Some(Value::Object(o)) = event.get_mut(parent) {
                        o.remove(child);
                    }
                }
            }
        }
        false
    }
}

/// `REDACT__ALLOW`: keeps only the listed fields plus the mandatory ones.
#[derive(Debug)]
pub struct Allow(pub Vec<String>);

impl Redactor for Allow {
    fn apply(&self, schema: &Schema, event: &mut Map<String, Value>) -> bool {
        let allowed = |k: &str| schema.mandatory.contains(&k) || self.0.iter().any(|p| p == k);
        let members = |k: &str| -> Vec<&str> {
            self.0
                .iter()
                .filter_map(|p| p.split_once('.').filter(|(parent, _)| *parent == k).map(|(_, c)| c))
                .collect()
        };
        event.retain(|k, v| {
            if allowed(k) {
                return true;
            }
            let keep = members(k);
            match v {
                Value::Object(o) if !keep.is_empty() => {
                    o.retain(|m, _| keep.contains(&m.as_str()));
                    true
                }
                _ => false,
            }
        });
        false
    }
}

/// One regex mask ("Regex masks").
#[derive(Debug, Clone)]
pub struct Mask {
    pub pattern: Regex,
    pub replacement: String,
    pub fields: Vec<String>,
}

/// `REDACT__MASKS`: regex replacements applied in order.
#[derive(Debug)]
pub struct Masks(pub Vec<Mask>);

impl Redactor for Masks {
    fn apply(&self, _: &Schema, event: &mut Map<String, Value>) -> bool {
        for m in &self.0 {
            for f in &m.fields {
                if let Some(Value::String(s)) = field_mut(event, f) {
                    let replaced = m.pattern.replace_all(s, m.replacement.as_str());
                    if let std::borrow::Cow::Owned(new) = replaced {
                        *s = new;
                    }
                }
            }
        }
        false
    }
}

/// `REDACT__PATH_MAX_CHARS`: shortens `location` and `metainfo` with [`shorten`].
#[derive(Debug)]
pub struct PathTruncation(pub usize);

impl Redactor for PathTruncation {
    fn apply(&self, _: &Schema, event: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        for f in ["location", "metainfo"] {
            changed |= shorten_field(event, f, self.0);
        }
        changed
    }
}

/// The value at a dotted path, for in-place edits.
pub fn field_mut<'a>(event: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    match path.split_once('.') {
        None => event.get_mut(path),
        Some((parent, child)) => event.get_mut(parent)?.as_object_mut()?.get_mut(child),
    }
}

/// Applies T(·, L) to a string field; true when it changed.
pub fn shorten_field(event: &mut Map<String, Value>, path: &str, max: usize) -> bool {
    if let Some(Value::String(s)) = field_mut(event, path)
        && let Some(short) = shorten(s, max)
    {
        *s = short;
        return true;
    }
    false
}

/// T(s, L) of "Path truncation": the first ⌈(L−1)/2⌉ and last ⌊(L−1)/2⌋ scalar values around `…`;
/// `None` when `s` already fits.
pub fn shorten(s: &str, max: usize) -> Option<String> {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return None;
    }
    let head = max / 2; // ⌈(L−1)/2⌉
    let tail = (max - 1) / 2;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    Some(out)
}

/// Why `REDACT__MASKS` is refused; the text does not include the variable name.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("expected a JSON array of {{\"pattern\",\"replacement\",\"fields\"}} objects")]
    Json(#[source] serde_json::Error),
    #[error("invalid pattern {0:?}")]
    Pattern(String, #[source] regex::Error),
    #[error("field {0:?} is not a string field of the scan_result or audit schema")]
    Field(String),
}

/// Parses `REDACT__MASKS` ("Regex masks").
pub fn parse_masks(json: &str) -> Result<Vec<Mask>, MaskError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        pattern: String,
        replacement: String,
        fields: Option<Vec<String>>,
    }
    let raw: Vec<Raw> = serde_json::from_str(json).map_err(MaskError::Json)?;
    raw.into_iter()
        .map(|r| {
            let pattern = Regex::new(&r.pattern).map_err(|e| MaskError::Pattern(r.pattern.clone(), e))?;
            let fields = r
                .fields
                .unwrap_or_else(|| MASK_DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect());
            let is_string = |f: &str| EventType::ALL.iter().any(|t| schema(*t).strings.contains(&f));
            if let Some(bad) = fields.iter().find(|f| !is_string(f)) {
                return Err(MaskError::Field(bad.clone()));
            }
            Ok(Mask {
                pattern,
                replacement: r.replacement,
                fields,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::audit::fixtures as audit;
    use crate::superlog::event::fixtures;

    #[test]
    fn truncation_keeps_both_ends_around_an_ellipsis() {
        assert_eq!(shorten("abcdefghij", 5).as_deref(), Some("ab…ij"));
        assert_eq!(shorten("abcdefghij", 6).as_deref(), Some("abc…ij"));
        assert_eq!(shorten("abcdefghij", 10), None);
        assert_eq!(shorten("äöü😀xyz", 4).unwrap().chars().count(), 4);
    }

    #[test]
    fn deny_removes_keys_and_allow_keeps_only_the_listed_and_mandatory_ones() {
        let mut v = fixtures::malicious_moved().to_value();
        Chain::new(vec![Box::new(Deny(vec!["metainfo".into(), "connector.asset".into()]))])
            .apply(EventType::ScanResult, &mut v);
        assert!(v.get("metainfo").is_none());
        assert!(v["connector"].get("asset").is_none());
        assert_eq!(v["connector"]["name"], "filesystem-connector");

        let mut v = fixtures::malicious_moved().to_value();
        Chain::new(vec![Box::new(Allow(vec!["location".into(), "file.sha256".into()]))])
            .apply(EventType::ScanResult, &mut v);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "event",
                "schema_version",
                "event_id",
                "timestamp",
                "location",
                "verdict",
                "severity",
                "file",
                "truncated"
            ]
        );
        assert_eq!(v["file"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn masks_apply_in_order_with_capture_groups() {
        let masks = parse_masks(
            r#"[{"pattern":"^/home/[^/]+","replacement":"/home/<user>"},
                {"pattern":"(?P<n>[a-z]+)\\.pdf$","replacement":"${n}.PDF","fields":["location"]}]"#,
        )
        .unwrap();
        let mut ev = fixtures::benign();
        ev.location = "/home/alice/report.pdf".into();
        ev.metainfo = Some("/home/bob/x".into());
        let mut v = ev.to_value();
        Chain::new(vec![Box::new(Masks(masks))]).apply(EventType::ScanResult, &mut v);
        assert_eq!(v["location"], "/home/<user>/report.PDF");
        assert_eq!(v["metainfo"], "/home/<user>/x");
        assert_eq!(v["truncated"], false);
    }

    #[test]
    fn bad_masks_are_rejected_with_a_reason() {
        assert!(
            parse_masks("[{\"pattern\":\"(\",\"replacement\":\"\"}]")
                .unwrap_err()
                .to_string()
                .contains("invalid pattern")
        );
        assert!(parse_masks("[{\"pattern\":\"a\",\"replacement\":\"\",\"fields\":[\"file.size\"]}]").is_err());
        assert!(parse_masks("{}").is_err());
    }

    #[test]
    fn path_truncation_sets_truncated() {
        let mut ev = fixtures::benign();
        ev.location = "x".repeat(100);
        let mut v = ev.to_value();
        Chain::new(vec![Box::new(PathTruncation(64))]).apply(EventType::ScanResult, &mut v);
        assert_eq!(v["location"].as_str().unwrap().chars().count(), 64);
        assert_eq!(v["truncated"], true);
    }

    #[test]
    fn paths_of_either_schema_are_known_and_mandatory_only_where_always_mandatory() {
        for p in [
            "metainfo",
            "source_ip",
            "actor.name",
            "target",
            "action",
            "action.type",
            "labels",
        ] {
            assert!(is_known_path(p), "{p}");
            assert!(!is_always_mandatory(p), "{p}");
        }
        for p in ["verdict", "result", "event_id", "truncated", "severity"] {
            assert!(is_always_mandatory(p), "{p}");
        }
        assert!(!is_known_path("nope") && !is_always_mandatory("nope"));
        assert!(!is_known_path("actor.email"));
    }

    #[test]
    fn deny_applies_where_present_and_never_removes_an_audit_events_mandatory_fields() {
        let deny = || {
            Chain::new(vec![Box::new(Deny(vec![
                "source_ip".into(),
                "metainfo".into(),
                "action".into(),
            ]))])
        };
        let mut v = audit::revoke().to_value();
        deny().apply(EventType::Audit, &mut v);
        assert!(v.get("source_ip").is_none());
        assert_eq!(v["action"], "connector.revoke", "mandatory for audit events");
        assert_eq!(v["path"], audit::revoke().to_value()["path"]);

        let mut v = fixtures::malicious_moved().to_value();
        deny().apply(EventType::ScanResult, &mut v);
        assert!(v.get("action").is_none(), "an optional object of scan results");
        assert!(v.get("metainfo").is_none());
    }

    #[test]
    fn allow_keeps_the_mandatory_audit_fields_and_masks_reach_audit_strings() {
        let mut v = audit::revoke().to_value();
        Chain::new(vec![Box::new(Allow(vec!["location".into(), "actor.name".into()]))]).apply(EventType::Audit, &mut v);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "event",
                "schema_version",
                "event_id",
                "timestamp",
                "actor",
                "action",
                "result",
                "severity",
                "truncated"
            ]
        );
        assert_eq!(v["actor"], serde_json::json!({"name": "alice"}));

        let masks = parse_masks(r#"[{"pattern":"\\.\\d+$","replacement":".x","fields":["source_ip"]}]"#).unwrap();
        let mut v = audit::revoke().to_value();
        Chain::new(vec![Box::new(Masks(masks))]).apply(EventType::Audit, &mut v);
        assert_eq!(v["source_ip"], "10.0.0.x");
        assert!(parse_masks(r#"[{"pattern":"a","replacement":"","fields":["result"]}]"#).is_err());
    }
}
