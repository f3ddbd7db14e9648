//! Text that came from a peer (a connector's or scanner's error body) on its way into an answer,
//! a task's `error`, a dead-letter entry or a log line (docs/AUTH.md "Relaying connector answers").
//!
//! A peer's text is bounded and its control characters are written out, so it can neither forge
//! a log line nor carry a page's worth of markup into the UI.

use serde_json::Value;

/// Most bytes of peer text kept.
pub const MAX_PEER_TEXT: usize = 512;

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// U+0000–U+001F and U+007F–U+009F written as `\u00XX`.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let n = u32::from(c);
        if n < 0x20 || (0x7f..=0x9f).contains(&n) {
            out.push_str(&format!("\\u{n:04x}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Peer text made safe to store and show: at most 512 bytes of the source, controls escaped.
pub fn sanitize(s: &str) -> String {
    escape_controls(truncate(s, MAX_PEER_TEXT))
}

/// The text of a peer's error answer: its JSON `detail` string, else its `message` string (with
/// a StatusResponse's `description` after a colon: that is where connectors say why), else the
/// body as text; sanitised.
pub fn error_text(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let message = || {
        field("message").map(|m| match field("description").filter(|d| !d.trim().is_empty()) {
            Some(d) => format!("{m}: {d}"),
            None => m,
        })
    };
    let text = field("detail")
        .or_else(message)
        .unwrap_or_else(|| String::from_utf8_lossy(truncate_bytes(body, MAX_PEER_TEXT + 4)).into_owned());
    sanitize(&text)
}

fn truncate_bytes(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

/// Depth of a JSON value (a scalar is 0, `{}` and `[]` are 1).
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let s = "é".repeat(400);
        let t = truncate(&s, 511);
        assert_eq!(t.len(), 510);
        assert_eq!(sanitize(&s).len(), 512);
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("a\nb\u{1b}[31m\u{85}\u{7f}ok"),
            "a\\u000ab\\u001b[31m\\u0085\\u007fok"
        );
    }

    #[test]
    fn error_text_prefers_detail_then_message() {
        assert_eq!(error_text(br#"{"detail":"no\nway","message":"m"}"#), "no\\u000away");
        assert_eq!(error_text(br#"{"message":"m"}"#), "m");
        assert_eq!(
            error_text(br#"{"status":"error","message":"m","description":"why"}"#),
            "m: why"
        );
        assert_eq!(
            error_text(b"plain\r\nINFO forged line"),
            "plain\\u000d\\u000aINFO forged line"
        );
        let big = vec![b'x'; 4096];
        assert_eq!(error_text(&big).len(), 512);
    }

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": {}}]})), 4);
    }
}
