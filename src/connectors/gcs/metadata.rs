//! Custom metadata as tags (docs/reference/CONNECTORS.md, "GCS connector", item actions): the
//! verdict and result keys written by a merging PATCH, and the 8 KiB limit of an object's custom
//! metadata checked before anything is written.

use serde_json::{Map, Value, json};

/// Cloud Storage's limit on the custom metadata of one object (keys and values, in bytes).
pub const MAX_BYTES: usize = 8 * 1024;
/// The result key: `pending`, `clean`, `malicious`, `not_scanned`, `error`.
pub const RESULT_KEY: &str = "DsxScanResult";
/// Why an object was not scanned (or failed); removed when there is no reason.
pub const REASON_KEY: &str = "DsxScanReason";
/// Longest reason written.
const MAX_REASON: usize = 256;

/// An object resource's custom metadata.
pub fn of(resource: &Value) -> Map<String, Value> {
    resource
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The metadata after the service merges `patch` into `current` (a `null` value removes a key).
pub fn merged(current: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut out = current.clone();
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The size that counts against [`MAX_BYTES`] once `patch` is merged.
pub fn merged_size(current: &Map<String, Value>, patch: &Map<String, Value>) -> usize {
    merged(current, patch)
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or_else(|| v.to_string().len(), str::len))
        .sum()
}

/// The keys a malicious verdict adds: `Verdict=Malicious`, and the scan time and engine when
/// configured.
pub fn verdict_patch(scan_time: Option<String>, engine: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Verdict".into(), json!("Malicious"));
    if let Some(t) = scan_time {
        m.insert("DsxScanTime".into(), json!(t));
    }
    if let Some(e) = engine {
        m.insert("DsxScanEngine".into(), json!(e));
    }
    m
}

/// Free text as a metadata value: control characters replaced, at most 256 characters.
pub fn clean_value(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The keys of a scan result; without a reason a stale one is removed (`null`).
pub fn result_patch(result: &str, reason: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(RESULT_KEY.into(), json!(result));
    let reason = reason.map(clean_value).filter(|r| !r.is_empty());
    m.insert(REASON_KEY.into(), reason.map_or(Value::Null, Value::String));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_keys_and_null_removes_one() {
        let current: Map<String, Value> = serde_json::from_value(json!({"owner": "me", REASON_KEY: "old"})).unwrap();
        let after = merged(&current, &result_patch("clean", None));
        assert_eq!(Value::Object(after), json!({"owner": "me", RESULT_KEY: "clean"}));
        let with_reason = result_patch("not_scanned", Some("too\nlarge"));
        assert_eq!(with_reason[REASON_KEY], json!("too large"));
    }

    #[test]
    fn the_size_counts_keys_and_values_after_the_merge() {
        let current: Map<String, Value> = serde_json::from_value(json!({"a": "x".repeat(8180)})).unwrap();
        assert_eq!(merged_size(&current, &Map::new()), 8181);
        assert!(merged_size(&current, &verdict_patch(None, None)) > MAX_BYTES);
    }
}
