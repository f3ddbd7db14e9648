//! The `audit` event, schema version 1 (docs/reference/SUPERLOG.md, "The audit event"): one audit
//! record (docs/AUTH.md, "Audit") as a SIEM event, with the envelope keys every superlog event has
//! (`event_id`, `severity`, `host`, `product`, `labels`, `truncated`, docs/reference/SUPERLOG.md,
//! "Fields").
//!
//! The record's own types are reused, so the event cannot drift from the stored record and
//! `GET /admin/audit`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{EventContext, Product};
use crate::auth::audit::{Actor, AuditRecord, Outcome, Target};

/// One `audit` event; the field order is the wire order of docs/reference/SUPERLOG.md,
/// "The audit event", every key always present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub event: &'static str,
    pub schema_version: u32,
    pub event_id: String,
    pub timestamp: String,
    /// The record's store id; `null` when the store write failed (docs/AUTH.md, "Audit").
    pub audit_id: Option<i64>,
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
    /// [`AuditRecord::severity`]: `warning`, `notice` or `info`.
    pub severity: &'static str,
    pub host: String,
    pub product: Product,
    /// Sorted by key (a `BTreeMap` serializes in byte order).
    pub labels: BTreeMap<String, String>,
    pub truncated: bool,
}

impl AuditEvent {
    /// Maps a record to the event; `audit_id` is passed separately because the event also goes
    /// out when the store write failed.
    pub fn from_record(rec: &AuditRecord, audit_id: Option<i64>, ctx: &EventContext) -> Self {
        AuditEvent {
            event: "audit",
            schema_version: 1,
            event_id: uuid::Uuid::new_v4().to_string(),
            timestamp: rec.timestamp.clone(),
            audit_id,
            actor: rec.actor.clone(),
            role: rec.role.clone(),
            action: rec.action.clone(),
            target: rec.target.clone(),
            result: rec.result,
            http_status: rec.http_status,
            method: rec.method.clone(),
            path: rec.path.clone(),
            source_ip: rec.source_ip.clone(),
            detail: rec.detail.clone(),
            count: rec.count,
            severity: rec.severity(),
            host: ctx.host.clone(),
            product: Product {
                name: "dsx-connect",
                version: crate::VERSION,
            },
            labels: ctx.labels.clone(),
            truncated: false,
        }
    }

    /// The event as an ordered JSON object (a destination's private copy).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|e| unreachable!("the event always serializes: {e}"))
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! The example of docs/CONFIGURATION.md, "Audit events", as a fixed event.
    use super::*;
    use crate::auth::audit::ActorKind;

    pub const CONNECTOR: &str = "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41";

    /// The record behind that example.
    pub fn revoke_record() -> AuditRecord {
        let mut r = AuditRecord::now(
            Actor::new(ActorKind::User, Some("alice"), Some("alice")),
            "connector.revoke",
            Outcome::Success,
        )
        .target("connector", CONNECTOR);
        r.id = 42;
        r.timestamp = "2026-11-26T10:05:00.000Z".into();
        r.role = Some("admin".into());
        r.http_status = Some(200);
        r.method = Some("POST".into());
        r.path = Some(format!("/dsx-connect/api/v1/admin/connectors/{CONNECTOR}/revoke"));
        r.source_ip = Some("10.0.0.5".into());
        r
    }

    /// The example event, with its fixed `event_id`, host and product version.
    pub fn revoke() -> AuditEvent {
        let ctx = EventContext {
            host: "dsx-api-1".into(),
            labels: BTreeMap::new(),
        };
        let mut e = AuditEvent::from_record(&revoke_record(), Some(42), &ctx);
        e.event_id = "01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e10".into();
        e.product.version = "1.0.0";
        e
    }

    /// A denied login from an anonymous client: no target, no role.
    pub fn denied_login() -> AuditEvent {
        let mut e = revoke();
        e.actor = Actor::anonymous();
        e.role = None;
        e.action = "auth.login".into();
        e.target = None;
        e.result = Outcome::Denied;
        e.http_status = Some(401);
        e.path = Some("/dsx-connect/api/v1/auth/login".into());
        e.detail = Some("invalid_credentials".into());
        e.severity = "warning";
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::audit::ActorKind;
    use crate::superlog::format::json::to_json;

    /// The example of docs/CONFIGURATION.md, "Audit events", byte for byte.
    const SPEC_EXAMPLE: &str = r#"{"event":"audit","schema_version":1,"event_id":"01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e10","timestamp":"2026-11-26T10:05:00.000Z","audit_id":42,"actor":{"type":"user","id":"alice","name":"alice"},"role":"admin","action":"connector.revoke","target":{"type":"connector","id":"3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41"},"result":"success","http_status":200,"method":"POST","path":"/dsx-connect/api/v1/admin/connectors/3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41/revoke","source_ip":"10.0.0.5","detail":null,"count":1,"severity":"notice","host":"dsx-api-1","product":{"name":"dsx-connect","version":"1.0.0"},"labels":{},"truncated":false}"#;

    #[test]
    fn the_json_of_the_spec_example_matches_byte_for_byte() {
        assert_eq!(to_json(&fixtures::revoke().to_value()), SPEC_EXAMPLE);
    }

    #[test]
    fn keys_are_exactly_those_of_the_schema_in_order_with_explicit_nulls() {
        let mut r = AuditRecord::now(Actor::anonymous(), "job.pause", Outcome::Denied);
        r.timestamp = "2026-11-26T10:05:00.000Z".into();
        let ctx = EventContext {
            host: "h".into(),
            labels: BTreeMap::from([("site".into(), "b".into()), ("env".into(), "prod".into())]),
        };
        let e = AuditEvent::from_record(&r, None, &ctx);
        let v = e.to_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "event",
                "schema_version",
                "event_id",
                "timestamp",
                "audit_id",
                "actor",
                "role",
                "action",
                "target",
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
                "labels",
                "truncated"
            ]
        );
        assert_eq!(v["audit_id"], Value::Null);
        assert_eq!(v["target"], Value::Null);
        assert_eq!(
            v["actor"],
            serde_json::json!({"type": "anonymous", "id": null, "name": null})
        );
        assert_eq!(to_json(&v["labels"]), r#"{"env":"prod","site":"b"}"#);
        assert_eq!(v["product"]["version"], crate::VERSION);
        assert_eq!(v["host"], "h");
        let id = uuid::Uuid::parse_str(&e.event_id).unwrap();
        assert!(matches!(id.get_version_num(), 4 | 7));
    }

    #[test]
    fn severity_is_the_records() {
        let actor = || Actor::new(ActorKind::User, Some("u"), None);
        let ctx = EventContext {
            host: "h".into(),
            labels: BTreeMap::new(),
        };
        for (action, result, want) in [
            ("connector.revoke", Outcome::Denied, "warning"),
            ("job.pause", Outcome::Failed, "notice"),
            ("connector.revoke", Outcome::Success, "notice"),
            ("connector.reset", Outcome::Success, "notice"),
            ("connector.forget", Outcome::Success, "notice"),
            ("connector.rotate", Outcome::Success, "notice"),
            ("user.create", Outcome::Success, "notice"),
            ("token.revoke", Outcome::Success, "notice"),
            ("dlq.clear", Outcome::Success, "notice"),
            ("dlq.requeue", Outcome::Success, "info"),
            ("auth.login", Outcome::Success, "info"),
        ] {
            let r = AuditRecord::now(actor(), action, result);
            let e = AuditEvent::from_record(&r, Some(1), &ctx);
            assert_eq!(e.severity, want, "{action} {result:?}");
            assert_eq!(e.to_value()["severity"], want);
        }
    }
}
