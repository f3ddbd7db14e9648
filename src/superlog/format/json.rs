//! `json` — compact JSON of a (redacted) event (docs/reference/SUPERLOG.md, "Compact JSON").
//!
//! The event object is built with `serde_json`'s `preserve_order`, so serializing it keeps the
//! schema's key order; `serde_json` already escapes exactly as RFC 8259 asks (control characters,
//! `"` and `\`, never `/`). ASCII-only mode, used for the syslog MSG, additionally escapes every
//! non-ASCII scalar as `\uXXXX` (surrogate pairs above U+FFFF).

use serde_json::Value;

/// Compact JSON, UTF-8, no trailing newline.
pub fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| unreachable!("a JSON value always serializes: {e}"))
}

/// Compact JSON with every non-ASCII character escaped.
pub fn to_ascii_json(v: &Value) -> String {
    escape_non_ascii(&to_json(v))
}

/// Rewrites non-ASCII characters as JSON `\u` escapes. Only valid on JSON text, where such
/// characters can occur only inside strings.
pub fn escape_non_ascii(json: &str) -> String {
    if json.is_ascii() {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::fixtures;

    fn golden(name: &str) -> String {
        let path = format!("{}/tests/data/superlog/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_json_output_equals_the_golden_files_byte_for_byte() {
        for (name, ev) in [
            ("malicious_moved", fixtures::malicious_moved()),
            ("benign", fixtures::benign()),
            ("encrypted_not_scanned", fixtures::encrypted_not_scanned()),
            ("connectorless", fixtures::connectorless()),
        ] {
            assert_eq!(to_json(&ev.to_value()), golden(name), "{name}");
        }
    }

    #[test]
    fn the_spec_example_is_1062_bytes() {
        assert_eq!(to_json(&fixtures::malicious_moved().to_value()).len(), 1062);
    }

    #[test]
    fn ascii_mode_escapes_non_ascii_with_surrogate_pairs() {
        let v = serde_json::json!({"location": "/ü/😀\t/x"});
        assert_eq!(to_ascii_json(&v), r#"{"location":"/\u00fc/\ud83d\ude00\t/x"}"#);
        assert_eq!(to_json(&v), "{\"location\":\"/ü/😀\\t/x\"}");
    }
}
