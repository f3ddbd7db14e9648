//! The work item that travels through the queue (docs/reference/CORE-API.md, "Work item") and
//! dead-letter entries ("Dead-letter entry").

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ids::{ConnectorUuid, JobId, TaskId};
use super::result::ReusedFrom;
use super::scan_request::ScanRequestModel;
use super::status::ItemActionStatusResponse;
use super::verdict::Verdict;

/// Pipeline stage a work item is at; a retry restarts at the failed stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// fetch from the connector and scan
    Scan,
    /// call the connector's item_action with the kept verdict
    Action,
    /// record the result
    Record,
}

impl Stage {
    /// The dead-letter queue of a stage.
    pub fn dlq(self) -> DlqQueue {
        match self {
            Stage::Scan => DlqQueue::ScanRequest,
            Stage::Action => DlqQueue::VerdictAction,
            Stage::Record => DlqQueue::ScanResult,
        }
    }
}

/// Where an accepted item's connector calls go, fixed once at acceptance (docs/AUTH.md,
/// "Pinning"): workers call `url` and nothing else, whatever happens to the registry later, and
/// attach credentials only when `connector_uuid` names the connector registered at that url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub connector_uuid: Option<ConnectorUuid>,
    pub url: String,
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub task_id: TaskId,
    pub job_id: JobId,
    pub stage: Stage,
    /// Attempts of the current stage already made.
    pub attempt: u32,
    pub max_attempts: u32,
    /// Epoch milliseconds of acceptance.
    pub enqueued_at: i64,
    pub scan_request: ScanRequestModel,
    #[serde(default)]
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub item_action: Option<ItemActionStatusResponse>,
    /// Requeued from the DLQ: dispatched whatever its job's status.
    #[serde(default)]
    pub requeued: bool,
    /// The connector destination fixed at acceptance. Absent only on items queued by an
    /// older version: those go to their `connector_url` without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    /// The id of the request that accepted the item (its `X-Request-Id`), carried on the
    /// worker's calls to the connector and the scanner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The verdict was reused from this earlier scan instead of scanning (docs/SCAN-REUSE.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<ReusedFrom>,
}

impl WorkItem {
    /// The pin, or for an item queued by an older version its `connector_url` with no
    /// connector (so no credentials).
    pub fn destination(&self) -> Option<Pin> {
        self.pin.clone().or_else(|| {
            self.scan_request
                .connector_url
                .clone()
                .filter(|u| !u.is_empty())
                .map(|url| Pin {
                    connector_uuid: None,
                    url,
                })
        })
    }
}

/// The three dead-letter queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlqQueue {
    ScanRequest,
    VerdictAction,
    ScanResult,
}

impl DlqQueue {
    pub const ALL: [DlqQueue; 3] = [DlqQueue::ScanRequest, DlqQueue::VerdictAction, DlqQueue::ScanResult];

    pub fn as_str(self) -> &'static str {
        match self {
            DlqQueue::ScanRequest => "scan_request",
            DlqQueue::VerdictAction => "verdict_action",
            DlqQueue::ScanResult => "scan_result",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        DlqQueue::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// The stage a requeued item restarts at.
    pub fn stage(self) -> Stage {
        match self {
            DlqQueue::ScanRequest => Stage::Scan,
            DlqQueue::VerdictAction => Stage::Action,
            DlqQueue::ScanResult => Stage::Record,
        }
    }

    /// The original's Celery task name for `target_task`.
    pub fn from_target_task(s: &str) -> Option<Self> {
        Some(match s {
            "dsx_connect.tasks.scan.request" => DlqQueue::ScanRequest,
            "dsx_connect.tasks.scan.verdict" => DlqQueue::VerdictAction,
            "dsx_connect.tasks.scan.result" => DlqQueue::ScanResult,
            _ => return None,
        })
    }

    /// The queue name reported in answers (the Redis key; the embedded backend reports it too).
    pub fn queue_name(self, env: &str) -> String {
        format!("{env}:dsx-connect:dlq:{}", self.as_str())
    }
}

/// One dead-letter entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqEntry {
    pub queue: DlqQueue,
    pub reason: String,
    pub error_details: String,
    pub retry_count: u32,
    pub idempotency_key: String,
    pub payload: Value,
    pub meta: DlqMeta,
    pub chain: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqMeta {
    pub task_id: String,
    pub job_id: String,
    pub attempts: u32,
    pub error_class: String,
    pub failed_at: String,
    /// The item's pin, reused by a requeue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
}

impl DlqEntry {
    /// Builds the entry for a work item that failed at its current stage.
    pub fn for_item(
        item: &WorkItem,
        reason: &str,
        error_class: &str,
        error_details: &str,
        attempts: u32,
        failed_at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let queue = item.stage.dlq();
        let mut payload = json!({ "scan_request": item.scan_request });
        if queue != DlqQueue::ScanRequest
            && let Some(v) = &item.verdict
        {
            payload["verdict"] = json!(v);
            if let Some(from) = &item.reused_from {
                payload["reused_from"] = json!(from);
            }
        }
        if queue == DlqQueue::ScanResult
            && let Some(a) = &item.item_action
        {
            payload["item_action"] = json!(a);
        }
        let idempotency_key = hex::encode(Sha256::digest(canonical_json(&payload).as_bytes()));
        Self {
            queue,
            reason: reason.to_string(),
            error_details: error_details.to_string(),
            retry_count: attempts.saturating_sub(1),
            idempotency_key,
            payload,
            meta: DlqMeta {
                task_id: item.task_id.to_string(),
                job_id: item.job_id.to_string(),
                attempts,
                error_class: error_class.to_string(),
                failed_at: failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                pin: item.pin.clone(),
            },
            chain: json!({
                "scan_request_task_id": item.task_id,
                "current_task_id": item.task_id,
                "upstream_task_id": null,
            }),
        }
    }

    /// Turns the entry back into a work item with a fresh attempt budget
    /// (docs/reference/CORE-API.md, "Dead-letter administration").
    pub fn to_work_item(&self, stage: Stage, max_attempts: u32, now_ms: i64) -> Option<WorkItem> {
        let scan_request: ScanRequestModel = serde_json::from_value(self.payload.get("scan_request")?.clone()).ok()?;
        let verdict = self
            .payload
            .get("verdict")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let item_action = self
            .payload
            .get("item_action")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let reused_from = self
            .payload
            .get("reused_from")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        // A later stage needs what the earlier ones produced.
        if matches!(stage, Stage::Action | Stage::Record) && verdict.is_none() {
            return None;
        }
        // An entry whose ids are not ones the core assigns cannot become work again.
        let task_id = TaskId::parse(&self.meta.task_id).ok()?;
        let job_id = JobId::parse(&self.meta.job_id).ok()?;
        Some(WorkItem {
            task_id,
            job_id,
            stage,
            attempt: 0,
            max_attempts,
            enqueued_at: now_ms,
            scan_request,
            verdict,
            item_action,
            requeued: true,
            pin: self.meta.pin.clone(),
            reused_from,
            request_id: crate::request_id::current().map(|r| r.into_string()),
        })
    }
}

/// Canonical JSON: keys sorted recursively, no spaces, non-ASCII as `\uXXXX` (surrogate pairs
/// above U+FFFF), so the same payload always hashes the same.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_escapes_non_ascii() {
        let v = json!({"b": 1, "a": {"z": "é😀", "y": [true, null]}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"y":[true,null],"z":"\u00e9\ud83d\ude00"},"b":1}"#
        );
    }

    #[test]
    fn a_dead_letter_round_trips_to_a_requeued_work_item() {
        let item = WorkItem {
            task_id: TaskId::generate(),
            job_id: JobId::parse("j").unwrap(),
            stage: Stage::Scan,
            attempt: 3,
            max_attempts: 4,
            enqueued_at: 1,
            scan_request: ScanRequestModel::new("/a", "a"),
            verdict: None,
            item_action: None,
            requeued: false,
            pin: Some(Pin {
                connector_uuid: Some(ConnectorUuid::parse("3f0c2b2e-1111-4222-8333-444455556666").unwrap()),
                url: "http://h:1/c".into(),
            }),
            request_id: Some("req-1".into()),
            reused_from: None,
        };
        let e = DlqEntry::for_item(
            &item,
            "max_retries_exceeded",
            "connector_server",
            "HTTP 503",
            4,
            chrono::Utc::now(),
        );
        assert_eq!(e.retry_count, 3);
        assert_eq!(e.queue, DlqQueue::ScanRequest);
        let back = e.to_work_item(Stage::Scan, 4, 2).unwrap();
        assert_eq!(back.task_id, item.task_id);
        assert!(back.requeued);
        assert_eq!(back.attempt, 0);
        assert_eq!(back.pin, item.pin, "a requeue reuses the pin");
        assert_eq!(serde_json::to_value(&e.meta).unwrap()["pin"]["url"], "http://h:1/c");
        assert!(e.to_work_item(Stage::Action, 4, 2).is_none());
    }
}
