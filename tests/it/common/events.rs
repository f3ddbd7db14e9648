//! Recorded results to feed superlog, and superlog started from environment-style settings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use dsx_connect::auth::audit::{Actor, ActorKind, AuditRecord, Outcome};
use dsx_connect::config::Settings;
use dsx_connect::model::result::ScanResultModel;
use dsx_connect::model::scan_request::ScanRequestModel;
use dsx_connect::model::status::{ItemAction, ItemActionStatusResponse, StatusKind};
use dsx_connect::model::verdict::{FileInfo, Verdict, VerdictKind};
use dsx_connect::model::{ConnectorInstanceModel, Engine};
use dsx_connect::superlog::Superlog;

pub const CONNECTOR: &str = "fs \"one\" \\ two ] three\tfour";

pub fn env_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Superlog as a process with these `DSXCONNECT_*` variables would start it.
pub fn start_superlog(env: &BTreeMap<String, String>) -> Superlog {
    let s = Settings::from_map(env, None).expect("valid settings").settings;
    Superlog::start(&s.superlog).expect("superlog starts")
}

/// A recorded result: benign unless `malicious`, whose action failed when `action_error`.
pub fn result(i: usize, location: &str, malicious: bool, action_error: bool) -> ScanResultModel {
    let kind = if malicious {
        VerdictKind::Malicious
    } else {
        VerdictKind::Benign
    };
    let mut v = Verdict::bare(kind, Engine::Embedded);
    v.verdict_details.event_description = Some(
        if malicious {
            "EICAR-Test-File"
        } else {
            "No threat detected"
        }
        .into(),
    );
    v.file_info = Some(FileInfo {
        file_type: Some("TXTFileType".into()),
        file_size_in_bytes: Some(68),
        file_hash: Some("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f".into()),
        ..Default::default()
    });
    v.scan_duration_in_microseconds = 1234;
    let action = match (malicious, action_error) {
        (true, true) => ItemActionStatusResponse::new(StatusKind::Error, "permission denied", ItemAction::Move),
        (true, false) => ItemActionStatusResponse::new(StatusKind::Success, "moved", ItemAction::Move),
        _ => ItemActionStatusResponse::no_action(),
    };
    let mut req = ScanRequestModel::new(location, location);
    req.scan_job_id = Some("job-1".into());
    req.connector = Some(ConnectorInstanceModel {
        name: CONNECTOR.into(),
        uuid: Some("3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41".into()),
        asset: "/data".into(),
        ..Default::default()
    });
    let mut r = ScanResultModel::new(&format!("task-{i}"), req, v, action, chrono::Utc::now());
    r.id = i as i64 + 1;
    r
}

/// The audit record of an admin revoking a connector (the record of the example in
/// docs/CONFIGURATION.md, "Audit events").
pub fn revoke_record() -> AuditRecord {
    let uuid = "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41";
    let mut r = AuditRecord::now(
        Actor::new(ActorKind::User, Some("alice"), Some("alice")),
        "connector.revoke",
        Outcome::Success,
    )
    .target("connector", uuid);
    r.role = Some("admin".into());
    r.http_status = Some(200);
    r.method = Some("POST".into());
    r.path = Some(format!("/dsx-connect/api/v1/admin/connectors/{uuid}/revoke"));
    r.source_ip = Some("10.0.0.5".into());
    r
}

/// The keys of an `audit` event, in order (docs/reference/SUPERLOG.md, "The audit event").
pub const AUDIT_KEYS: [&str; 21] = [
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
    "truncated",
];

/// The first destination's status entry.
pub fn status_of(sl: &Superlog) -> Value {
    sl.status()["destinations"][0].clone()
}

/// Polls the first destination's status until `f` accepts it (20 s).
pub fn wait_status(sl: &Superlog, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status_of(sl);
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
