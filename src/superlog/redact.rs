//! Redaction (SUPERLOG §4.2–§4.4): an ordered chain of [`Redactor`]s built once from
//! configuration and applied to each destination's own copy of an event.

use regex::Regex;
use serde_json::{Map, Value};

/// Fields that no redaction may remove (§4.2.4).
pub const MANDATORY: [&str; 7] = [
    "event",
    "schema_version",
    "event_id",
    "timestamp",
    "verdict",
    "severity",
    "truncated",
];

/// Every dotted path of schema v1 (objects and their members).
const PATHS: &[&str] = &[
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
];

/// String fields a mask may name.
const STRING_PATHS: &[&str] = &[
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
];

/// Default fields of a mask without `fields` (§4.3.1).
const MASK_DEFAULT_FIELDS: [&str; 6] = [
    "location",
    "metainfo",
    "action.message",
    "verdict_description",
    "verdict_reason",
    "connector.asset",
];

pub fn is_v1_path(p: &str) -> bool {
    PATHS.contains(&p)
}

/// One redaction step. Returns whether it shortened or removed a value that sets `truncated`.
pub trait Redactor: Send + Sync + std::fmt::Debug {
    fn apply(&self, event: &mut Map<String, Value>) -> bool;
}

/// The ordered chain of one destination.
#[derive(Debug, Default)]
pub struct Chain(Vec<Box<dyn Redactor>>);

impl Chain {
    pub fn new(steps: Vec<Box<dyn Redactor>>) -> Self {
        Self(steps)
    }

    /// Applies every step in order; sets `truncated` when a step asks for it.
    pub fn apply(&self, event: &mut Value) {
        let Some(obj) = event.as_object_mut() else {
            return;
        };
        let mut truncated = false;
        for step in &self.0 {
            truncated |= step.apply(obj);
        }
        if truncated {
            obj.insert("truncated".into(), Value::Bool(true));
        }
    }
}

/// `REDACT__DENY`: removes the listed fields.
#[derive(Debug)]
pub struct Deny(pub Vec<String>);

impl Redactor for Deny {
    fn apply(&self, event: &mut Map<String, Value>) -> bool {
        for path in &self.0 {
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
    fn apply(&self, event: &mut Map<String, Value>) -> bool {
        let allowed = |k: &str| MANDATORY.contains(&k) || self.0.iter().any(|p| p == k);
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

/// One regex mask (§4.3).
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
    fn apply(&self, event: &mut Map<String, Value>) -> bool {
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
    fn apply(&self, event: &mut Map<String, Value>) -> bool {
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

/// T(s, L) of §4.4.2: the first ⌈(L−1)/2⌉ and last ⌊(L−1)/2⌋ scalar values around `…`;
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

/// Parses `REDACT__MASKS` (§4.3); the error text does not include the variable name.
pub fn parse_masks(json: &str) -> Result<Vec<Mask>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        pattern: String,
        replacement: String,
        fields: Option<Vec<String>>,
    }
    let raw: Vec<Raw> = serde_json::from_str(json)
        .map_err(|e| format!("expected a JSON array of {{\"pattern\",\"replacement\",\"fields\"}} objects: {e}"))?;
    raw.into_iter()
        .map(|r| {
            let pattern = Regex::new(&r.pattern).map_err(|e| format!("invalid pattern {:?}: {e}", r.pattern))?;
            let fields = r
                .fields
                .unwrap_or_else(|| MASK_DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect());
            if let Some(bad) = fields.iter().find(|f| !STRING_PATHS.contains(&f.as_str())) {
                return Err(format!("field {bad:?} is not a string field of schema v1"));
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
        Chain::new(vec![Box::new(Deny(vec!["metainfo".into(), "connector.asset".into()]))]).apply(&mut v);
        assert!(v.get("metainfo").is_none());
        assert!(v["connector"].get("asset").is_none());
        assert_eq!(v["connector"]["name"], "filesystem-connector");

        let mut v = fixtures::malicious_moved().to_value();
        Chain::new(vec![Box::new(Allow(vec!["location".into(), "file.sha256".into()]))]).apply(&mut v);
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
        Chain::new(vec![Box::new(Masks(masks))]).apply(&mut v);
        assert_eq!(v["location"], "/home/<user>/report.PDF");
        assert_eq!(v["metainfo"], "/home/<user>/x");
        assert_eq!(v["truncated"], false);
    }

    #[test]
    fn bad_masks_are_rejected_with_a_reason() {
        assert!(
            parse_masks("[{\"pattern\":\"(\",\"replacement\":\"\"}]")
                .unwrap_err()
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
        Chain::new(vec![Box::new(PathTruncation(64))]).apply(&mut v);
        assert_eq!(v["location"].as_str().unwrap().chars().count(), 64);
        assert_eq!(v["truncated"], true);
    }
}
