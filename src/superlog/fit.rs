//! Size fitting (docs/reference/SUPERLOG.md, "Size fitting"): deterministic reductions until a
//! formatted unit fits the destination's limit.

use serde_json::{Map, Value};

use super::format::rfc5424::{Parts, SyslogLayout, render};
use super::redact::shorten_field;

/// A formatted unit ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub text: String,
    /// Size fitting changed the event (counted once in `truncated`).
    pub reduced: bool,
}

/// One reduction step; returns whether it changed anything.
type Reduction = Box<dyn Fn(&mut Map<String, Value>) -> bool>;

/// R1–R4 of "Size fitting", in order. A field an event does not have is left alone, so one list
/// serves both types. "Size fitting" names scan-result fields only; an audit event's free-text
/// fields take the same steps as their scan-result counterparts (`path` as `location`, `detail` and
/// `target.id` as the descriptions), which keeps its syslog MSG valid JSON and never touches its
/// mandatory fields.
fn reductions() -> Vec<Reduction> {
    let mut steps: Vec<Reduction> = Vec::new();
    for l in [1024, 512, 256, 128, 64] {
        steps.push(Box::new(move |e| {
            ["location", "metainfo", "path"]
                .iter()
                .fold(false, |acc, f| shorten_field(e, f, l) | acc)
        }));
    }
    steps.push(Box::new(|e| match e.get_mut("metainfo") {
        Some(v) if !v.is_null() => {
            *v = Value::Null;
            true
        }
        _ => false,
    }));
    for l in [256, 64] {
        steps.push(Box::new(move |e| {
            [
                "verdict_description",
                "verdict_reason",
                "threat",
                "threat_type",
                "action.message",
                "connector.name",
                "connector.asset",
                "detail",
                "target.id",
            ]
            .iter()
            .fold(false, |acc, f| shorten_field(e, f, l) | acc)
        }));
    }
    steps.push(Box::new(|e| match e.get_mut("labels") {
        Some(Value::Object(o)) if !o.is_empty() => {
            o.clear();
            true
        }
        _ => false,
    }));
    steps
}

/// Applies reductions until `render` fits `limit` bytes; `None` when even R4 is not enough
/// (R6: the event is not sent).
pub fn fit(v: &mut Value, limit: usize, render: impl Fn(&Value) -> String) -> Option<Fitted> {
    let (text, reduced) = reduce(v, |v| {
        let t = render(v);
        (t.len() <= limit).then_some(t)
    });
    text.map(|text| Fitted { text, reduced })
}

/// Syslog fitting: R1–R4, then R5 (drop structured data if needed, cut the MSG at a character
/// boundary). Always yields a message of at most `limit` bytes.
pub fn fit_syslog(v: &mut Value, limit: usize, layout: &SyslogLayout) -> Fitted {
    let (text, reduced) = reduce(v, |v| {
        let t = render(v, layout).join();
        (t.len() <= limit).then_some(t)
    });
    if let Some(text) = text {
        return Fitted { text, reduced };
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("truncated".into(), Value::Bool(true));
    }
    let mut parts: Parts = render(v, layout);
    if parts.prefix_len() + 1 > limit && parts.sd.is_some() {
        parts.sd = Some("-".into());
    }
    let mut text = parts.join();
    let mut cut = limit.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    Fitted { text, reduced: true }
}

/// Runs the reductions, re-rendering after each change, until `try_render` accepts.
fn reduce(v: &mut Value, try_render: impl Fn(&Value) -> Option<String>) -> (Option<String>, bool) {
    if let Some(t) = try_render(v) {
        return (Some(t), false);
    }
    let mut reduced = false;
    for step in reductions() {
        let Some(obj) = v.as_object_mut() else { break };
        if step(obj) {
            reduced = true;
            obj.insert("truncated".into(), Value::Bool(true));
            if let Some(t) = try_render(v) {
                return (Some(t), true);
            }
        }
    }
    (None, reduced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::audit::fixtures as audit;
    use crate::superlog::event::fixtures;
    use crate::superlog::format::json::to_json;
    use crate::superlog::format::rfc5424::SyslogFormat;

    fn layout() -> SyslogLayout {
        SyslogLayout {
            format: SyslogFormat::Rfc5424,
            facility: 16,
            app_name: "dsx-connect".into(),
            sd_id: Some("dsx@32473".into()),
            pid: 1,
        }
    }

    #[test]
    fn a_long_location_is_shortened_by_the_first_length_that_fits() {
        let mut ev = fixtures::benign();
        ev.location = "L".repeat(5000);
        ev.metainfo = Some("m".into());
        let mut v = ev.to_value();
        let f = fit_syslog(&mut v, 2048, &layout());
        assert!(f.reduced && f.text.len() <= 2048);
        let msg = &f.text[f.text.find("] {").unwrap() + 2..];
        let parsed: Value = serde_json::from_str(msg).unwrap();
        assert_eq!(parsed["truncated"], true);
        // Header, structured data and the rest of the JSON take ~1,400 bytes: 1,024 location
        // characters do not fit in 2,048, 512 do.
        assert_eq!(parsed["location"].as_str().unwrap().chars().count(), 512);
    }

    #[test]
    fn a_tiny_udp_limit_cuts_the_msg_but_keeps_the_header() {
        let mut ev = fixtures::malicious_moved();
        ev.location = "L".repeat(5000);
        let mut v = ev.to_value();
        let untouched = render(&fixtures::malicious_moved().to_value(), &layout());
        let f = fit_syslog(&mut v, 480, &layout());
        assert!(f.text.len() <= 480);
        assert!(f.text.starts_with(&untouched.head), "{}", f.text);
    }

    #[test]
    fn fitting_is_deterministic_and_a_no_op_when_it_fits() {
        let mut v = fixtures::malicious_moved().to_value();
        let f = fit(&mut v, 100_000, to_json).unwrap();
        assert!(!f.reduced);
        assert_eq!(f.text, to_json(&fixtures::malicious_moved().to_value()));
        let mut a = fixtures::benign();
        a.location = "é".repeat(3000);
        let (mut v1, mut v2) = (a.to_value(), a.to_value());
        assert_eq!(fit_syslog(&mut v1, 600, &layout()), fit_syslog(&mut v2, 600, &layout()));
    }

    #[test]
    fn an_event_that_cannot_fit_is_oversize() {
        let mut v = fixtures::malicious_moved().to_value();
        assert_eq!(fit(&mut v, 100, to_json), None);
    }

    #[test]
    fn a_long_audit_path_is_shortened_and_the_mandatory_fields_survive() {
        let mut ev = audit::revoke();
        ev.path = Some(format!(
            "/dsx-connect/api/v1/admin/connectors/{}/revoke",
            "p".repeat(5000)
        ));
        ev.detail = Some("d".repeat(512));
        let mut v = ev.to_value();
        let f = fit_syslog(&mut v, 1200, &layout());
        assert!(f.reduced && f.text.len() <= 1200, "{}", f.text.len());
        let msg = &f.text[f.text.find("] {").unwrap() + 2..];
        let parsed: Value = serde_json::from_str(msg).expect("the MSG stays JSON");
        assert_eq!(parsed["truncated"], true);
        assert!(parsed["path"].as_str().unwrap().chars().count() <= 256);
        let original = audit::revoke().to_value();
        for k in [
            "event",
            "schema_version",
            "event_id",
            "timestamp",
            "action",
            "result",
            "severity",
        ] {
            assert_eq!(parsed[k], original[k], "{k}");
        }
    }
}
