//! `slack` — a chat message for Slack or Microsoft Teams incoming webhooks: `{"text": "…"}`.
//!
//! Both services accept that body. The text is built from the redacted event, so a field a
//! destination denies is absent here too. Every value that came from a peer (paths, connector
//! names, threat names, action messages, user names) goes through [`mrkdwn`]: Slack treats `<`,
//! `>` and `&` as control characters (links, `<!channel>` mentions), so they are sent as the
//! entities Slack documents, and control characters are written out as `\u00XX` so a path
//! cannot start a line of its own that looks like one of ours.

use serde_json::{Value, json};

use super::json::to_json;
use crate::superlog::event::EventType;

/// The `{"text": …}` body of one redacted event.
pub fn to_slack(event: &Value) -> String {
    let text = match EventType::of_value(event) {
        EventType::ScanResult => scan_result_text(event),
        EventType::Audit => audit_text(event),
    };
    to_json(&json!({ "text": text }))
}

/// Peer text made safe for Slack's mrkdwn: `&`, `<`, `>` as entities, control characters as
/// visible `\u00XX` escapes.
pub fn mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Inline code: formatting characters inside are shown as typed. A backtick would end the span
/// early, so it is shown as the look-alike `ˋ` (U+02CB).
fn code(s: &str) -> String {
    format!("`{}`", mrkdwn(s).replace('`', "\u{2cb}"))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn scan_result_text(v: &Value) -> String {
    let verdict = str_at(v, &["verdict"]).unwrap_or("Unknown");
    let icon = if verdict == "Malicious" {
        ":rotating_light:"
    } else {
        ":information_source:"
    };
    let mut lines = vec![format!(
        "{icon} *{}* file found by dsx-connect on {}",
        mrkdwn(verdict),
        mrkdwn(str_at(v, &["host"]).unwrap_or("-"))
    )];
    if let Some(p) = str_at(v, &["location"]) {
        lines.push(format!("*Path:* {}", code(p)));
    }
    let threat = str_at(v, &["threat"])
        .or_else(|| str_at(v, &["verdict_description"]))
        .or_else(|| str_at(v, &["verdict_reason"]));
    if let Some(t) = threat {
        lines.push(format!("*Threat:* {}", mrkdwn(t)));
    }
    if let Some(name) = str_at(v, &["engine", "name"]) {
        let version = str_at(v, &["engine", "version"])
            .map(|x| format!(" {}", mrkdwn(x)))
            .unwrap_or_default();
        lines.push(format!("*Engine:* {}{version}", mrkdwn(name)));
    }
    if let Some(kind) = str_at(v, &["action", "type"]) {
        let status = str_at(v, &["action", "status"]).unwrap_or("-");
        let message = str_at(v, &["action", "message"])
            .map(|m| format!(": {}", mrkdwn(m)))
            .unwrap_or_default();
        lines.push(format!("*Action:* {} ({}){message}", mrkdwn(kind), mrkdwn(status)));
    }
    let mut whence = Vec::new();
    if let Some(c) = str_at(v, &["connector", "name"]) {
        whence.push(format!("*Connector:* {}", mrkdwn(c)));
    }
    if let Some(j) = str_at(v, &["job_id"]) {
        whence.push(format!("*Job:* {}", code(j)));
    }
    if !whence.is_empty() {
        lines.push(whence.join(" · "));
    }
    lines.join("\n")
}

fn audit_text(v: &Value) -> String {
    let actor = str_at(v, &["actor", "name"])
        .or_else(|| str_at(v, &["actor", "id"]))
        .or_else(|| str_at(v, &["actor", "type"]))
        .unwrap_or("-");
    let mut lines = vec![format!(
        ":memo: *Audit* {} by {} — {} (dsx-connect on {})",
        code(str_at(v, &["action"]).unwrap_or("-")),
        mrkdwn(actor),
        mrkdwn(str_at(v, &["result"]).unwrap_or("-")),
        mrkdwn(str_at(v, &["host"]).unwrap_or("-"))
    )];
    if let Some(t) = str_at(v, &["target", "type"]) {
        let id = str_at(v, &["target", "id"]).unwrap_or("");
        lines.push(format!("*Target:* {} {}", mrkdwn(t), code(id)));
    }
    if let Some(d) = str_at(v, &["detail"]) {
        lines.push(format!("*Detail:* {}", mrkdwn(d)));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::event::audit::fixtures as audit;
    use crate::superlog::event::fixtures;

    fn text_of(body: &str) -> String {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
        v["text"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_finding_names_path_verdict_threat_engine_and_action() {
        let text = text_of(&to_slack(&fixtures::malicious_moved().to_value()));
        assert_eq!(
            text,
            ":rotating_light: *Malicious* file found by dsx-connect on scan-worker-1\n\
             *Path:* `/data/share/inbox/eicar.com`\n\
             *Threat:* EICAR test file\n\
             *Engine:* dsxa\n\
             *Action:* move (success): Moved to /data/quarantine/eicar.com\n\
             *Connector:* filesystem-connector · *Job:* `9c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f`"
        );
    }

    #[test]
    fn peer_text_cannot_mention_link_or_add_lines() {
        let mut e = fixtures::malicious_moved();
        e.location = "/x/<!channel>&`rm`\n*Verdict:* Benign".into();
        e.threat = Some("<https://evil.example|click>".into());
        e.connector.as_mut().unwrap().name = Some("a>b".into());
        let text = text_of(&to_slack(&e.to_value()));
        assert!(text.contains("*Path:* `/x/&lt;!channel&gt;&amp;\u{2cb}rm\u{2cb}\\u000a*Verdict:* Benign`"));
        assert!(text.contains("*Threat:* &lt;https://evil.example|click&gt;"));
        assert!(text.contains("*Connector:* a&gt;b"));
        assert!(!text.contains('<') && !text.contains('>'));
        assert_eq!(text.lines().count(), 6, "{text}");
    }

    #[test]
    fn a_redacted_field_is_left_out() {
        let mut v = fixtures::malicious_moved().to_value();
        let o = v.as_object_mut().unwrap();
        o.remove("location");
        o.remove("connector");
        let text = text_of(&to_slack(&v));
        assert!(!text.contains("*Path:*") && !text.contains("*Connector:*"), "{text}");
        assert!(text.contains("*Job:*"));
    }

    #[test]
    fn an_audit_event_has_its_own_line() {
        let text = text_of(&to_slack(&audit::revoke().to_value()));
        assert!(
            text.starts_with(":memo: *Audit* `connector.revoke` by alice — success (dsx-connect on dsx-api-1)"),
            "{text}"
        );
        assert!(text.contains("*Target:* connector `3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41`"));
    }
}
