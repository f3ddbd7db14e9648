//! ScanResultModel (docs/reference/CORE-API.md, "Scan result") and the task status view
//! ("Task status").

use serde::{Deserialize, Serialize};

use super::ids::{JobId, TaskId};
use super::scan_request::ScanRequestModel;
use super::status::{ItemActionStatusResponse, StatusKind};
use super::verdict::{Verdict, VerdictKind};

/// One recorded scan result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanResultModel {
    /// Store sequence number, strictly increasing; assigned when recorded.
    pub id: i64,
    pub scan_request_task_id: String,
    pub scan_job_id: Option<String>,
    /// Always null; kept for the original's shape.
    pub metadata_tag: Option<String>,
    pub scan_request: ScanRequestModel,
    pub verdict: Verdict,
    pub item_action: ItemActionStatusResponse,
    pub status: String,
    pub created_at: String,
    /// RFC 3339 UTC recording time; same instant as `created_at`.
    pub timestamp: String,
    /// The verdict was not scanned again but reused from an earlier scan of the same content
    /// with the same engine (docs/SCAN-REUSE.md). Omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The scan whose verdict was reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<ReusedFrom>,
}

/// Which scan a reused verdict comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReusedFrom {
    /// The task that scanned the content.
    pub task_id: TaskId,
    /// RFC 3339 UTC time of that scan.
    pub scanned_at: String,
}

impl ScanResultModel {
    /// Builds a result with `id = -1`; the result store assigns the real id.
    pub fn new(
        task_id: &str,
        scan_request: ScanRequestModel,
        verdict: Verdict,
        item_action: ItemActionStatusResponse,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let status = result_status(&verdict, &item_action).to_string();
        let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Self {
            id: -1,
            scan_request_task_id: task_id.to_string(),
            scan_job_id: scan_request.scan_job_id.clone(),
            metadata_tag: None,
            scan_request,
            verdict,
            item_action,
            status,
            created_at: ts.clone(),
            timestamp: ts,
            reused: false,
            reused_from: None,
        }
    }

    /// Marks the result as reusing the verdict of scan `from`.
    pub fn reusing(mut self, from: Option<ReusedFrom>) -> Self {
        self.reused = from.is_some();
        self.reused_from = from;
        self
    }
}

/// `status` derivation of "Scan result".
pub fn result_status(verdict: &Verdict, action: &ItemActionStatusResponse) -> &'static str {
    match action.status {
        StatusKind::Success => "action succeeded",
        StatusKind::Error => "action attempted, but failed",
        StatusKind::Nothing if verdict.verdict == VerdictKind::NotScanned => "not scanned",
        StatusKind::Nothing => "scanned",
    }
}

/// Lifecycle state of one task (docs/reference/CORE-API.md, "Task status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Running,
    Retrying,
    Succeeded,
    DeadLettered,
    Skipped,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Retrying => "retrying",
            TaskState::Succeeded => "succeeded",
            TaskState::DeadLettered => "dead_lettered",
            TaskState::Skipped => "skipped",
        }
    }

    /// The original's Celery state names.
    pub fn celery_state(self) -> &'static str {
        match self {
            TaskState::Queued => "PENDING",
            TaskState::Running => "STARTED",
            TaskState::Retrying => "RETRY",
            TaskState::Succeeded => "SUCCESS",
            TaskState::DeadLettered | TaskState::Skipped => "FAILURE",
        }
    }

    pub fn is_pending(self) -> bool {
        matches!(self, TaskState::Queued | TaskState::Running | TaskState::Retrying)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "retrying" => TaskState::Retrying,
            "succeeded" => TaskState::Succeeded,
            "dead_lettered" => TaskState::DeadLettered,
            "skipped" => TaskState::Skipped,
            _ => return None,
        })
    }
}

/// What a store knows about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub task_id: TaskId,
    pub job_id: JobId,
    pub state: TaskState,
    pub attempts: u32,
    pub error: Option<String>,
    pub verdict: Option<String>,
}

/// `GET /scan/request/{task_id}` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStatusView {
    pub task_id: String,
    pub state: &'static str,
    pub status: &'static str,
    pub result: Option<ScanResultModel>,
    pub error: Option<String>,
    pub task_state: &'static str,
    pub job_id: String,
    pub attempts: u32,
    pub verdict: Option<String>,
}

impl TaskStatusView {
    pub fn new(task: TaskRecord, result: Option<ScanResultModel>) -> Self {
        let failed = matches!(task.state, TaskState::DeadLettered | TaskState::Skipped);
        let error = match task.state {
            TaskState::Skipped => Some("skipped: job cancelled".to_string()),
            TaskState::DeadLettered | TaskState::Retrying => task.error.clone(),
            _ => None,
        };
        let succeeded = task.state == TaskState::Succeeded;
        Self {
            task_id: task.task_id.into(),
            state: task.state.celery_state(),
            status: if failed { "error" } else { "success" },
            result: if succeeded { result } else { None },
            error,
            task_state: task.state.as_str(),
            job_id: task.job_id.into(),
            attempts: task.attempts,
            verdict: if succeeded { task.verdict } else { None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::ItemAction;
    use crate::model::verdict::Engine;

    #[test]
    fn result_status_follows_the_action_then_the_verdict() {
        let benign = Verdict::bare(VerdictKind::Benign, Engine::Embedded);
        let not_scanned = Verdict::bare(VerdictKind::NotScanned, Engine::Embedded);
        let none = ItemActionStatusResponse::no_action();
        let ok = ItemActionStatusResponse::new(StatusKind::Success, "moved", ItemAction::Move);
        let bad = ItemActionStatusResponse::new(StatusKind::Error, "nope", ItemAction::Move);
        assert_eq!(result_status(&benign, &none), "scanned");
        assert_eq!(result_status(&not_scanned, &none), "not scanned");
        assert_eq!(result_status(&benign, &ok), "action succeeded");
        assert_eq!(result_status(&benign, &bad), "action attempted, but failed");
    }
}
