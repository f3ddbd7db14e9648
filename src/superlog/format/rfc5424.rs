//! Syslog messages: the RFC 5424 envelope with a JSON MSG ("RFC 5424 with a JSON message") and the
//! `<PRI>`+JSON layout ("PRI and JSON"), for both event types (the MSGID and the structured data
//! follow the event's type, docs/reference/SUPERLOG.md, "The audit event"). The message is produced
//! in parts so size fitting ("Size fitting" R5) can keep the header and structured data intact
//! while cutting the MSG.

use std::borrow::Cow;

use serde_json::Value;

use super::json::to_ascii_json;
use crate::superlog::event::{EventType, Severity};

/// The syslog payload layout (`SYSLOG__FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Json,
}

impl SyslogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SyslogFormat::Rfc5424 => "rfc5424",
            SyslogFormat::Json => "json",
        }
    }
}

/// Fixed parts of every message of one destination.
#[derive(Debug, Clone)]
pub struct SyslogLayout {
    pub format: SyslogFormat,
    /// 0–23.
    pub facility: u8,
    pub app_name: String,
    /// `None` writes `-` (structured data off).
    pub sd_id: Option<String>,
    pub pid: u32,
}

/// A rendered message in its three parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID` (or just `<PRI>` for the json layout).
    pub head: String,
    /// The structured-data element, or `-`; `None` for the json layout.
    pub sd: Option<String>,
    pub msg: String,
}

impl Parts {
    /// Header, structured data and MSG joined as they travel.
    pub fn join(&self) -> String {
        match &self.sd {
            Some(sd) => format!("{} {sd} {}", self.head, self.msg),
            None => format!("{}{}", self.head, self.msg),
        }
    }

    /// Everything before the MSG.
    pub fn prefix_len(&self) -> usize {
        self.head.len() + self.sd.as_ref().map_or(0, |sd| sd.len() + 2)
    }
}

/// Renders one redacted event object.
pub fn render(v: &Value, layout: &SyslogLayout) -> Parts {
    let severity = v
        .get("severity")
        .and_then(Value::as_str)
        .and_then(Severity::from_keyword)
        .unwrap_or(Severity::Notice);
    let pri = u32::from(layout.facility) * 8 + u32::from(severity.code());
    let msg = to_ascii_json(v);
    match layout.format {
        SyslogFormat::Json => Parts {
            head: format!("<{pri}>"),
            sd: None,
            msg,
        },
        SyslogFormat::Rfc5424 => {
            let ts = v.get("timestamp").and_then(Value::as_str).unwrap_or("-");
            let host = hostname_field(v.get("host").and_then(Value::as_str).unwrap_or(""));
            let msgid = EventType::of_value(v).as_str();
            let head = format!("<{pri}>1 {ts} {host} {} {} {msgid}", layout.app_name, layout.pid);
            let sd = match &layout.sd_id {
                Some(id) => structured_data(id, v),
                None => "-".to_string(),
            };
            Parts {
                head,
                sd: Some(sd),
                msg,
            }
        }
    }
}

/// HOSTNAME: printable US-ASCII only, at most 255 characters, `-` when empty.
fn hostname_field(host: &str) -> String {
    let h: String = host
        .chars()
        .take(255)
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect();
    if h.is_empty() { "-".into() } else { h }
}

/// Where a structured-data parameter's value comes from.
enum Source {
    /// A string field, by its keys.
    Field(&'static [&'static str]),
    /// `actor.name`, else `actor.id` (docs/reference/SUPERLOG.md, "The audit event").
    ActorName,
    /// `<target.type>:<target.id>` (docs/reference/SUPERLOG.md, "The audit event").
    Target,
}

/// SD parameters of a `scan_result` event (docs/reference/SUPERLOG.md,
/// "RFC 5424 with a JSON message"), in order.
const SCAN_RESULT_PARAMS: [(&str, Source); 10] = [
    ("event_id", Source::Field(&["event_id"])),
    ("job_id", Source::Field(&["job_id"])),
    ("task_id", Source::Field(&["scan_request_task_id"])),
    ("connector", Source::Field(&["connector", "name"])),
    ("verdict", Source::Field(&["verdict"])),
    ("severity", Source::Field(&["severity"])),
    ("threat", Source::Field(&["threat"])),
    ("action", Source::Field(&["action", "type"])),
    ("action_status", Source::Field(&["action", "status"])),
    ("sha256", Source::Field(&["file", "sha256"])),
];

/// SD parameters of an `audit` event (docs/reference/SUPERLOG.md, "The audit event"), in order.
const AUDIT_PARAMS: [(&str, Source); 9] = [
    ("event_id", Source::Field(&["event_id"])),
    ("actor", Source::ActorName),
    ("actor_type", Source::Field(&["actor", "type"])),
    ("role", Source::Field(&["role"])),
    ("action", Source::Field(&["action"])),
    ("target", Source::Target),
    ("result", Source::Field(&["result"])),
    ("source_ip", Source::Field(&["source_ip"])),
    ("severity", Source::Field(&["severity"])),
];

/// A parameter's value; `None` when its field is null or was removed by redaction.
fn param_value<'a>(v: &'a Value, source: &Source) -> Option<Cow<'a, str>> {
    let field = |path: &[&str]| path.iter().try_fold(v, |cur, key| cur.get(*key))?.as_str();
    match source {
        Source::Field(path) => field(path).map(Cow::Borrowed),
        Source::ActorName => field(&["actor", "name"])
            .or_else(|| field(&["actor", "id"]))
            .map(Cow::Borrowed),
        Source::Target => Some(Cow::Owned(format!(
            "{}:{}",
            field(&["target", "type"])?,
            field(&["target", "id"])?
        ))),
    }
}

/// The SD element of "RFC 5424 with a JSON message" (parameters only for present, non-null fields,
/// in this order).
fn structured_data(sd_id: &str, v: &Value) -> String {
    let params: &[(&str, Source)] = match EventType::of_value(v) {
        EventType::ScanResult => &SCAN_RESULT_PARAMS,
        EventType::Audit => &AUDIT_PARAMS,
    };
    let mut out = format!("[{sd_id}");
    for (name, source) in params {
        if let Some(s) = param_value(v, source) {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_param(&s, &mut out);
            out.push('"');
        }
    }
    out.push(']');
    out
}

/// PARAM-VALUE escaping: `"`, `\` and `]` get a backslash; control characters become U+FFFD.
fn escape_param(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Validates an SD-ID of the form `name@digits(.digits)*` ("RFC 5424 with a JSON message").
pub fn valid_sd_id(id: &str) -> bool {
    let Some((name, pen)) = id.split_once('@') else {
        return false;
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| ('!'..='~').contains(&c) && !matches!(c, '=' | ']' | '"' | '@'));
    let pen_ok = pen
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    name_ok && pen_ok && id.len() <= 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::audit::fixtures as audit;
    use crate::superlog::event::fixtures;
    use crate::superlog::format::json::to_json;

    fn layout() -> SyslogLayout {
        SyslogLayout {
            format: SyslogFormat::Rfc5424,
            facility: 16,
            app_name: "dsx-connect".into(),
            sd_id: Some("dsx@32473".into()),
            pid: 4242,
        }
    }

    #[test]
    fn the_spec_example_renders_to_the_golden_line() {
        let v = fixtures::malicious_moved().to_value();
        let line = render(&v, &layout()).join();
        let want = format!(
            "<132>1 2026-11-26T10:04:05.123Z scan-worker-1 dsx-connect 4242 scan_result [dsx@32473 event_id=\"01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e0f\" job_id=\"9c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f\" task_id=\"a1b2c3d4-0000-4000-8000-000000000001\" connector=\"filesystem-connector\" verdict=\"Malicious\" severity=\"warning\" threat=\"EICAR test file\" action=\"move\" action_status=\"success\" sha256=\"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\"] {}",
            to_json(&v)
        );
        assert_eq!(line, want);
        assert_eq!(line.len(), 1499);
    }

    #[test]
    fn an_audit_event_renders_with_its_msgid_and_structured_data() {
        let v = audit::revoke().to_value();
        let line = render(&v, &layout()).join();
        let want = format!(
            "<133>1 2026-11-26T10:05:00.000Z dsx-api-1 dsx-connect 4242 audit [dsx@32473 event_id=\"01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e10\" actor=\"alice\" actor_type=\"user\" role=\"admin\" action=\"connector.revoke\" target=\"connector:3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41\" result=\"success\" source_ip=\"10.0.0.5\" severity=\"notice\"] {}",
            to_json(&v)
        );
        assert_eq!(line, want);
    }

    #[test]
    fn audit_structured_data_falls_back_to_the_actor_id_and_skips_nulls() {
        let v = audit::denied_login().to_value();
        let parts = render(&v, &layout());
        assert!(parts.head.starts_with("<132>1 "), "denied is a warning: {}", parts.head);
        assert_eq!(
            parts.sd.unwrap(),
            "[dsx@32473 event_id=\"01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e10\" actor_type=\"anonymous\" action=\"auth.login\" result=\"denied\" source_ip=\"10.0.0.5\" severity=\"warning\"]"
        );
        let mut ev = audit::revoke();
        ev.actor.name = None;
        ev.actor.id = Some("t]1".into());
        let mut v = ev.to_value();
        v["target"].as_object_mut().unwrap().remove("id");
        let sd = render(&v, &layout()).sd.unwrap();
        assert!(sd.contains(" actor=\"t\\]1\" actor_type=\"user\" "), "{sd}");
        assert!(!sd.contains("target="), "a target without its id is left out: {sd}");
    }

    #[test]
    fn pri_is_facility_times_eight_plus_severity() {
        let mut l = layout();
        for (facility, ev, want) in [
            (16, fixtures::malicious_moved(), "<132>"),
            (1, fixtures::benign(), "<14>"),
            (23, fixtures::malicious_moved(), "<187>"),
            (16, fixtures::encrypted_not_scanned(), "<133>"),
        ] {
            let mut ev = ev;
            if facility == 23 {
                ev.action.status = "error".into();
                ev.severity = crate::superlog::event::Severity::Err;
            }
            l.facility = facility;
            assert!(render(&ev.to_value(), &l).head.starts_with(want), "{want}");
        }
    }

    #[test]
    fn structured_data_escapes_and_skips_null_and_removed_fields() {
        let mut ev = fixtures::benign();
        ev.connector.as_mut().unwrap().name = Some("a\"b\\c]d\te".into());
        let mut v = ev.to_value();
        v.as_object_mut().unwrap().remove("job_id");
        let sd = render(&v, &layout()).sd.unwrap();
        assert_eq!(
            sd,
            "[dsx@32473 event_id=\"01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e0f\" task_id=\"a1b2c3d4-0000-4000-8000-000000000001\" connector=\"a\\\"b\\\\c\\]d\u{fffd}e\" verdict=\"Benign\" severity=\"info\" action=\"nothing\" action_status=\"nothing\" sha256=\"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\"]"
        );
    }

    #[test]
    fn the_json_layout_is_pri_then_ascii_json() {
        let mut l = layout();
        l.format = SyslogFormat::Json;
        let mut ev = fixtures::benign();
        ev.location = "ü".into();
        let line = render(&ev.to_value(), &l).join();
        assert!(line.starts_with("<134>{\"event\":\"scan_result\""), "{line}");
        assert!(line.contains("\"location\":\"\\u00fc\""));
    }

    #[test]
    fn host_names_are_sanitised() {
        assert_eq!(hostname_field("a b\u{e9}"), "a_b_");
        assert_eq!(hostname_field(""), "-");
    }

    #[test]
    fn sd_ids_need_a_name_and_a_pen() {
        assert!(valid_sd_id("dsx@32473"));
        assert!(valid_sd_id("dsx@1.2.3"));
        for bad in [
            "dsx",
            "@1",
            "d x@1",
            "d=x@1",
            "dsx@",
            "dsx@1.",
            "dsx@abc",
            "averyveryverylongname@1234567890123",
        ] {
            assert!(!valid_sd_id(bad), "{bad}");
        }
    }
}
