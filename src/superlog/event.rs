//! Superlog events: the `scan_result` event, schema version 1 (docs/reference/SUPERLOG.md,
//! "The scan_result event"), here, and the `audit` event (docs/reference/SUPERLOG.md,
//! "The audit event") in [`audit`].
//!
//! An event is built once and shared (`Arc<Event>`) by every destination; destinations turn it
//! into a JSON object (`to_value`) and redact their own copy. The structs' field order is the
//! wire order of the schemas, which `serde` keeps.

pub mod audit;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::Engine;
use crate::model::result::ScanResultModel;
use crate::model::status::StatusKind;
use crate::model::verdict::VerdictKind;
pub use audit::AuditEvent;

/// The event types superlog carries (docs/reference/SUPERLOG.md, "Principles").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    ScanResult,
    Audit,
}

impl EventType {
    pub const ALL: [EventType; 2] = [EventType::ScanResult, EventType::Audit];

    /// The value of the event's `event` key, also the name `EVENT_TYPES` lists.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ScanResult => "scan_result",
            EventType::Audit => "audit",
        }
    }

    /// Case-insensitive, like the other list settings.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The type of an event object. Formatters work on the redacted object, and `event` is
    /// mandatory in every schema, so it is always there to read.
    pub fn of_value(v: &Value) -> Self {
        match v.get("event").and_then(Value::as_str) {
            Some("audit") => EventType::Audit,
            _ => EventType::ScanResult,
        }
    }
}

/// A set of event types (`EVENT_TYPES`): a bit per type, so checking it on the emitting side
/// costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypes(u8);

impl EventTypes {
    pub const ALL: EventTypes = EventTypes(0b11);
    pub const NONE: EventTypes = EventTypes(0);

    fn bit(t: EventType) -> u8 {
        1 << t as u8
    }

    pub fn with(self, t: EventType) -> Self {
        Self(self.0 | Self::bit(t))
    }

    pub fn without(self, t: EventType) -> Self {
        Self(self.0 & !Self::bit(t))
    }

    pub fn contains(self, t: EventType) -> bool {
        self.0 & Self::bit(t) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names in schema order (for `GET /config`).
    pub fn names(self) -> Vec<&'static str> {
        EventType::ALL
            .into_iter()
            .filter(|t| self.contains(*t))
            .map(EventType::as_str)
            .collect()
    }
}

/// One event of any type, as the buffers and destinations carry it.
///
/// The scan-result variant is much larger than the audit one; boxing it would cost the hot path
/// an allocation, and the enum only ever lives inside one `Arc` per event, so the size
/// difference costs nothing per destination.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ScanResult(ScanResultEvent),
    Audit(AuditEvent),
}

impl Event {
    pub fn kind(&self) -> EventType {
        match self {
            Event::ScanResult(_) => EventType::ScanResult,
            Event::Audit(_) => EventType::Audit,
        }
    }

    pub fn event_id(&self) -> &str {
        match self {
            Event::ScanResult(e) => &e.event_id,
            Event::Audit(e) => &e.event_id,
        }
    }

    pub fn timestamp(&self) -> &str {
        match self {
            Event::ScanResult(e) => &e.timestamp,
            Event::Audit(e) => &e.timestamp,
        }
    }

    /// The verdict the `VERDICTS` filter looks at; audit events have none (the filter applies
    /// to scan results only).
    pub fn verdict(&self) -> Option<&str> {
        match self {
            Event::ScanResult(e) => Some(&e.verdict),
            Event::Audit(_) => None,
        }
    }

    /// `job_id` and `scan_request_task_id` for drop and failure warnings ("Warnings with context");
    /// empty for audit events, whose warnings carry their `event_id` and type.
    pub fn scan_context(&self) -> (Option<&str>, &str) {
        match self {
            Event::ScanResult(e) => (e.job_id.as_deref(), &e.scan_request_task_id),
            Event::Audit(_) => (None, ""),
        }
    }

    /// The event as an ordered JSON object (a destination's private copy).
    pub fn to_value(&self) -> Value {
        match self {
            Event::ScanResult(e) => e.to_value(),
            Event::Audit(e) => e.to_value(),
        }
    }
}

impl From<ScanResultEvent> for Event {
    fn from(e: ScanResultEvent) -> Self {
        Event::ScanResult(e)
    }
}

impl From<AuditEvent> for Event {
    fn from(e: AuditEvent) -> Self {
        Event::Audit(e)
    }
}

/// One `scan_result` event ("Fields"). Every key is always serialized; unknown values are `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanResultEvent {
    pub event: &'static str,
    pub schema_version: u32,
    pub event_id: String,
    pub timestamp: String,
    pub job_id: Option<String>,
    pub scan_request_task_id: String,
    pub result_id: Option<i64>,
    pub connector: Option<ConnectorRef>,
    pub location: String,
    pub metainfo: Option<String>,
    pub verdict: String,
    pub verdict_reason: Option<String>,
    pub verdict_description: Option<String>,
    pub threat: Option<String>,
    pub threat_type: Option<String>,
    pub severity: Severity,
    pub file: FileRef,
    pub action: ActionRef,
    pub result_status: String,
    pub engine: EngineRef,
    pub scan_duration_us: Option<i64>,
    pub host: String,
    pub product: Product,
    /// Sorted by key (a `BTreeMap` serializes in byte order).
    pub labels: BTreeMap<String, String>,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorRef {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub asset: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRef {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineRef {
    pub name: String,
    pub version: Option<String>,
    pub scan_guid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub version: &'static str,
}

/// Syslog severity derived from verdict and action ("Severity").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Err,
    Warning,
    Notice,
    Info,
}

impl Severity {
    /// "Severity", first match wins.
    pub fn of(verdict: VerdictKind, action_status: StatusKind) -> Self {
        match (verdict, action_status) {
            (VerdictKind::Malicious, StatusKind::Error) => Severity::Err,
            (VerdictKind::Malicious, _) => Severity::Warning,
            (VerdictKind::Benign, _) => Severity::Info,
            _ => Severity::Notice,
        }
    }

    /// The RFC 5424 numeric severity.
    pub fn code(self) -> u8 {
        match self {
            Severity::Err => 3,
            Severity::Warning => 4,
            Severity::Notice => 5,
            Severity::Info => 6,
        }
    }

    pub fn from_keyword(s: &str) -> Option<Self> {
        match s {
            "err" => Some(Severity::Err),
            "warning" => Some(Severity::Warning),
            "notice" => Some(Severity::Notice),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

/// Process-wide values every event carries (fixed at start).
#[derive(Debug, Clone)]
pub struct EventContext {
    pub host: String,
    pub labels: BTreeMap<String, String>,
}

impl ScanResultEvent {
    /// Maps a stored result to the event ("Fields"); only the documented normalisations happen.
    pub fn from_result(r: &ScanResultModel, ctx: &EventContext) -> Self {
        let v = &r.verdict;
        let malicious = v.verdict == VerdictKind::Malicious;
        let details = &v.verdict_details;
        let info = v.file_info.as_ref();
        let sha256 = info
            .and_then(|f| f.file_hash.as_deref())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        let req = &r.scan_request;
        let a = &r.item_action;
        ScanResultEvent {
            event: "scan_result",
            schema_version: 1,
            event_id: uuid::Uuid::new_v4().to_string(),
            timestamp: r.timestamp.clone(),
            job_id: r.scan_job_id.clone().or_else(|| req.scan_job_id.clone()),
            scan_request_task_id: r.scan_request_task_id.clone(),
            result_id: (r.id >= 0).then_some(r.id),
            connector: req.connector.as_ref().map(|c| ConnectorRef {
                uuid: c.uuid.clone(),
                name: Some(c.name.clone()),
                asset: Some(c.asset.clone()).filter(|a| !a.is_empty()),
            }),
            location: req.location.clone(),
            metainfo: Some(req.metainfo.clone()),
            verdict: v.verdict.as_str().to_string(),
            verdict_reason: details.reason.clone(),
            verdict_description: details.event_description.clone(),
            threat: details.event_description.clone().filter(|_| malicious),
            threat_type: details.threat_type.clone().filter(|_| malicious),
            severity: Severity::of(v.verdict, a.status),
            file: FileRef {
                kind: info.and_then(|f| f.file_type.clone()),
                size: info.and_then(|f| f.file_size_in_bytes),
                sha256,
            },
            action: ActionRef {
                kind: a.item_action.as_str().to_string(),
                status: status_str(a.status).to_string(),
                message: Some(a.message.clone()),
            },
            result_status: r.status.clone(),
            engine: EngineRef {
                name: v.scan_engine.as_str().to_string(),
                // As recorded with the verdict; a record from before versions were recorded
                // names this build for the embedded engine, which is this build.
                version: v
                    .scan_engine_version
                    .clone()
                    .or_else(|| (v.scan_engine == Engine::Embedded).then(|| crate::VERSION.to_string())),
                scan_guid: v.scan_guid.clone().filter(|g| !g.is_empty()),
            },
            scan_duration_us: Some(v.scan_duration_in_microseconds).filter(|d| *d >= 0),
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

fn status_str(s: StatusKind) -> &'static str {
    match s {
        StatusKind::Success => "success",
        StatusKind::Error => "error",
        StatusKind::Nothing => "nothing",
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Fixed events for golden tests: the example of docs/reference/SUPERLOG.md, "Example event",
    //! and its variants.
    use super::*;

    pub fn malicious_moved() -> ScanResultEvent {
        ScanResultEvent {
            event: "scan_result",
            schema_version: 1,
            event_id: "01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e0f".into(),
            timestamp: "2026-11-26T10:04:05.123Z".into(),
            job_id: Some("9c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f".into()),
            scan_request_task_id: "a1b2c3d4-0000-4000-8000-000000000001".into(),
            result_id: Some(4711),
            connector: Some(ConnectorRef {
                uuid: Some("3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41".into()),
                name: Some("filesystem-connector".into()),
                asset: Some("/data/share".into()),
            }),
            location: "/data/share/inbox/eicar.com".into(),
            metainfo: Some("/data/share/inbox/eicar.com".into()),
            verdict: "Malicious".into(),
            verdict_reason: None,
            verdict_description: Some("EICAR test file".into()),
            threat: Some("EICAR test file".into()),
            threat_type: None,
            severity: Severity::Warning,
            file: FileRef {
                kind: Some("TXTFileType".into()),
                size: Some(68),
                sha256: Some("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f".into()),
            },
            action: ActionRef {
                kind: "move".into(),
                status: "success".into(),
                message: Some("Moved to /data/quarantine/eicar.com".into()),
            },
            result_status: "action succeeded".into(),
            engine: EngineRef {
                name: "dsxa".into(),
                version: None,
                scan_guid: Some("007ea79292ae4261ad82269cd13051b9".into()),
            },
            scan_duration_us: Some(10404),
            host: "scan-worker-1".into(),
            product: Product {
                name: "dsx-connect",
                version: "1.0.0",
            },
            labels: BTreeMap::new(),
            truncated: false,
        }
    }

    pub fn benign() -> ScanResultEvent {
        let mut e = malicious_moved();
        e.verdict = "Benign".into();
        e.verdict_description = Some("No threat detected".into());
        e.threat = None;
        e.severity = Severity::Info;
        e.action = ActionRef {
            kind: "nothing".into(),
            status: "nothing".into(),
            message: Some("No action taken".into()),
        };
        e.result_status = "scanned".into();
        e
    }

    pub fn encrypted_not_scanned() -> ScanResultEvent {
        let mut e = benign();
        e.verdict = "Not Scanned".into();
        e.verdict_reason = Some("Encrypted File".into());
        e.verdict_description = None;
        e.severity = Severity::Notice;
        e.file = FileRef {
            kind: None,
            size: None,
            sha256: None,
        };
        e.result_status = "not scanned".into();
        e.scan_duration_us = None;
        e
    }

    pub fn connectorless() -> ScanResultEvent {
        let mut e = benign();
        e.connector = None;
        e.job_id = None;
        e.result_id = None;
        e.labels = BTreeMap::from([("site".into(), "b".into()), ("env".into(), "prod".into())]);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::result::ScanResultModel;
    use crate::model::scan_request::ScanRequestModel;
    use crate::model::status::{ItemAction, ItemActionStatusResponse};
    use crate::model::verdict::{FileInfo, Verdict};

    #[test]
    fn severity_follows_the_table_for_every_verdict_and_action_status() {
        use StatusKind::*;
        use VerdictKind::*;
        let cases = [
            (Malicious, Error, Severity::Err),
            (Malicious, Success, Severity::Warning),
            (Malicious, Nothing, Severity::Warning),
            (NotScanned, Error, Severity::Notice),
            (Unknown, Nothing, Severity::Notice),
            (UnsupportedFileType, Success, Severity::Notice),
            (Benign, Error, Severity::Info),
            (Benign, Nothing, Severity::Info),
        ];
        for (v, a, want) in cases {
            assert_eq!(Severity::of(v, a), want, "{v:?} {a:?}");
        }
    }

    #[test]
    fn a_stored_result_maps_to_the_schema_with_normalised_fields() {
        let mut verdict = Verdict::bare(VerdictKind::Malicious, Engine::Embedded);
        verdict.verdict_details.event_description = Some("EICAR".into());
        verdict.verdict_details.threat_type = Some("Virus".into());
        verdict.file_info = Some(FileInfo {
            file_hash: Some("275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F".into()),
            ..Default::default()
        });
        let action = ItemActionStatusResponse::new(StatusKind::Error, "denied", ItemAction::Delete);
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:04:05.123456Z")
            .unwrap()
            .to_utc();
        let mut r = ScanResultModel::new("t1", ScanRequestModel::new("/a/b", "/a/b"), verdict, action, now);
        r.id = 7;
        let ctx = EventContext {
            host: "h".into(),
            labels: BTreeMap::new(),
        };
        let e = ScanResultEvent::from_result(&r, &ctx);
        assert_eq!(e.timestamp, "2026-11-26T10:04:05.123Z");
        assert_eq!(e.result_id, Some(7));
        assert_eq!(e.severity, Severity::Err);
        assert_eq!(e.threat.as_deref(), Some("EICAR"));
        assert_eq!(e.threat_type.as_deref(), Some("Virus"));
        assert_eq!(e.scan_duration_us, None);
        assert_eq!(
            e.file.sha256.as_deref(),
            Some("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f")
        );
        assert_eq!(e.connector, None);
        assert_eq!(e.action.kind, "delete");
        assert_eq!(e.action.status, "error");
        assert_eq!(e.engine.name, "embedded");
        assert_eq!(e.engine.version.as_deref(), Some(crate::VERSION));
        assert!(uuid::Uuid::parse_str(&e.event_id).is_ok());
        let keys: Vec<String> = e.to_value().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 25);
        assert_eq!(keys[0], "event");
        assert_eq!(keys[24], "truncated");
    }

    #[test]
    fn the_engine_version_is_the_one_recorded_with_the_verdict() {
        let mut verdict = Verdict::bare(VerdictKind::Benign, Engine::Clamd);
        verdict.scan_engine_version = Some("ClamAV 1.0.7, database 27480".into());
        let now = chrono::Utc::now();
        let r = ScanResultModel::new(
            "t2",
            ScanRequestModel::new("/a", "/a"),
            verdict,
            ItemActionStatusResponse::no_action(),
            now,
        );
        let ctx = EventContext {
            host: "h".into(),
            labels: BTreeMap::new(),
        };
        let e = ScanResultEvent::from_result(&r, &ctx);
        assert_eq!(e.engine.name, "clamd");
        assert_eq!(e.engine.version.as_deref(), Some("ClamAV 1.0.7, database 27480"));
    }
}
