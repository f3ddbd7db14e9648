//! The audit trail's record (docs/AUTH.md, "Audit"): who did what to which target, with what
//! outcome, from where. Field order is part of the contract (store, API and SIEM event).

use serde::{Deserialize, Serialize};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Token,
    Connector,
    Anonymous,
    System,
    Cli,
}

impl Actor {
    pub fn new(kind: ActorKind, id: Option<&str>, name: Option<&str>) -> Self {
        Self {
            kind,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    pub fn anonymous() -> Self {
        Self::new(ActorKind::Anonymous, None, None)
    }
}

/// What an action was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
    Failed,
}

impl Outcome {
    /// 2xx → success; 401/403/429 → denied; anything else → failed.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Outcome::Success,
            401 | 403 | 429 => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Longest `detail` kept, in bytes.
pub const DETAIL_MAX: usize = 512;

/// One audit record, keys in contract order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Assigned by the store (0 until stored).
    pub id: i64,
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub timestamp: String,
    pub actor: Actor,
    pub role: Option<String>,
    pub action: String,
    pub target: Option<Target>,
    pub result: Outcome,
    pub http_status: Option<u16>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
    pub count: u32,
}

impl AuditRecord {
    /// A record stamped now, with `detail` cut to [`DETAIL_MAX`] bytes.
    pub fn now(actor: Actor, action: &str, result: Outcome) -> Self {
        Self {
            id: 0,
            timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            actor,
            role: None,
            action: action.to_string(),
            target: None,
            result,
            http_status: None,
            method: None,
            path: None,
            source_ip: None,
            detail: None,
            count: 1,
        }
    }

    pub fn target(mut self, kind: &str, id: &str) -> Self {
        self.target = Some(Target {
            kind: kind.to_string(),
            id: id.to_string(),
        });
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        let mut d: String = d.into();
        if d.len() > DETAIL_MAX {
            let mut cut = DETAIL_MAX;
            while !d.is_char_boundary(cut) {
                cut -= 1;
            }
            d.truncate(cut);
        }
        self.detail = Some(d);
        self
    }

    /// Epoch milliseconds of `timestamp` (0 when unreadable).
    pub fn epoch_ms(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.timestamp).map_or(0, |t| t.timestamp_millis())
    }

    /// The SIEM severity (first match): denied → warning; failed → notice; key, user, token
    /// and queue-clearing actions → notice; else info.
    pub fn severity(&self) -> &'static str {
        let a = self.action.as_str();
        match self.result {
            Outcome::Denied => "warning",
            Outcome::Failed => "notice",
            Outcome::Success
                if matches!(
                    a,
                    "connector.revoke" | "connector.reset" | "connector.forget" | "connector.rotate" | "dlq.clear"
                ) || a.starts_with("user.")
                    || a.starts_with("token.") =>
            {
                "notice"
            }
            Outcome::Success => "info",
        }
    }
}

/// A filter for listing the trail, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: usize,
    pub before_id: Option<i64>,
    /// Exact `actor.id` or `actor.name`.
    pub actor: Option<String>,
    /// Exact, or a prefix when it ends in `.`.
    pub action: Option<String>,
    pub result: Option<Outcome>,
}

impl AuditQuery {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.before_id.is_none_or(|b| r.id < b)
            && self
                .actor
                .as_deref()
                .is_none_or(|a| r.actor.id.as_deref() == Some(a) || r.actor.name.as_deref() == Some(a))
            && self.action.as_deref().is_none_or(|a| {
                if a.ends_with('.') {
                    r.action.starts_with(a)
                } else {
                    r.action == a
                }
            })
            && self.result.is_none_or(|o| r.result == o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_serialise_in_contract_order_with_explicit_nulls() {
        let mut r = AuditRecord::now(
            Actor::new(ActorKind::User, Some("alice"), Some("alice")),
            "job.pause",
            Outcome::Success,
        )
        .target("job", "j1");
        r.timestamp = "2026-11-26T10:05:00.000Z".into();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"id":0,"timestamp":"2026-11-26T10:05:00.000Z","actor":{"type":"user","id":"alice","name":"alice"},"role":null,"action":"job.pause","target":{"type":"job","id":"j1"},"result":"success","http_status":null,"method":null,"path":null,"source_ip":null,"detail":null,"count":1}"#
        );
        assert_eq!(r.epoch_ms(), 1_795_687_500_000);
    }

    #[test]
    fn outcome_severity_and_detail_limits() {
        assert_eq!(Outcome::of_status(204), Outcome::Success);
        assert_eq!(Outcome::of_status(429), Outcome::Denied);
        assert_eq!(Outcome::of_status(422), Outcome::Failed);
        let a = Actor::anonymous();
        assert_eq!(
            AuditRecord::now(a.clone(), "job.pause", Outcome::Denied).severity(),
            "warning"
        );
        assert_eq!(
            AuditRecord::now(a.clone(), "job.pause", Outcome::Failed).severity(),
            "notice"
        );
        assert_eq!(
            AuditRecord::now(a.clone(), "user.create", Outcome::Success).severity(),
            "notice"
        );
        assert_eq!(
            AuditRecord::now(a.clone(), "dlq.clear", Outcome::Success).severity(),
            "notice"
        );
        assert_eq!(
            AuditRecord::now(a.clone(), "dlq.requeue", Outcome::Success).severity(),
            "info"
        );
        let long = AuditRecord::now(a, "x", Outcome::Failed).detail("é".repeat(400));
        assert!(long.detail.unwrap().len() <= DETAIL_MAX);
    }

    #[test]
    fn queries_filter_by_actor_action_prefix_and_result() {
        let mut r = AuditRecord::now(
            Actor::new(ActorKind::Token, Some("t1"), Some("ci")),
            "job.cancel",
            Outcome::Denied,
        );
        r.id = 5;
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&r)
        };
        assert!(q(|q| q.action = Some("job.".into())));
        assert!(!q(|q| q.action = Some("job".into())));
        assert!(q(|q| q.actor = Some("ci".into())));
        assert!(q(|q| q.actor = Some("t1".into())));
        assert!(!q(|q| q.result = Some(Outcome::Success)));
        assert!(!q(|q| q.before_id = Some(5)));
        assert!(q(|q| q.before_id = Some(6)));
    }
}
