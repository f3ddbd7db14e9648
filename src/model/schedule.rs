//! Scheduled full scans (docs/SCHEDULES.md): what an operator defines, what the stores keep about
//! its runs, and the shape both take on the wire.
//!
//! A schedule is split in two records on purpose: the *definition* (written only by operators
//! through the API) and the *run state* (written only by the scheduler, under the run lease). An
//! edit never races a run's bookkeeping, and the lease check of a run touches only the small
//! state record.

use serde::{Deserialize, Serialize};

use super::ids::{ConnectorUuid, IdError, JobId};

/// A schedule's id: a UUID, minted by the core when the schedule is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScheduleId(String);

impl ScheduleId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Anything that is not a UUID can never name a schedule.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The job id of the run due at `due_ms`. Deterministic, so that a run retried by another
    /// process after its first holder died finds the job the first one may have started
    /// instead of starting a second one.
    /// A schedule id and a time always make a valid job id; the check is kept so a job id is
    /// only ever built through [`JobId::parse`].
    pub fn job_id_for(&self, due_ms: i64) -> Result<JobId, IdError> {
        JobId::parse(&format!("sched-{}-{due_ms}", self.0))
    }
}

impl std::fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a schedule is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cadence {
    /// A cron expression (5 fields, or 6 with seconds first) read in an IANA time zone.
    Cron { expr: String, timezone: String },
    /// Every `secs` seconds, counted from the schedule's anchor (its creation or last edit).
    Interval { secs: u64 },
}

/// What happens to due times that passed while no core process was running (or while the
/// store was unreachable). A due time is *missed* once the following one has passed too; a run
/// that is merely late (its next due time still ahead) always runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedRuns {
    /// Run once as soon as possible for all the missed due times together (never once each).
    #[default]
    Once,
    /// Record the missed due times as skipped and wait for the next one.
    Skip,
}

impl MissedRuns {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedRuns::Once => "once",
            MissedRuns::Skip => "skip",
        }
    }
}

/// What an operator defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDefinition {
    pub id: ScheduleId,
    pub connector_uuid: ConnectorUuid,
    /// Shown in the UI and used as the job name unless `job_name` is set.
    pub name: String,
    pub cadence: Cadence,
    /// A filter narrowing the connector's own filter for these runs (docs/reference/FILTERS.md syntax).
    pub filter: Option<String>,
    pub job_name: Option<String>,
    pub missed_runs: MissedRuns,
    pub paused: bool,
    /// Runs scan every item, reusing no remembered verdict (docs/SCAN-REUSE.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rescan_all: bool,
    /// Epoch ms: interval cadences count from here; set again by an edit of the cadence.
    pub anchor_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: Option<String>,
}

impl ScheduleDefinition {
    /// The name of the jobs this schedule starts.
    pub fn effective_job_name(&self) -> &str {
        self.job_name.as_deref().unwrap_or(&self.name)
    }
}

/// How one due time ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// A job was started (its id is in the run).
    Started,
    /// Not run, on purpose: the previous job was still running, or missed under `skip`.
    Skipped,
    /// The run could not start (connector gone, unreachable, refusing, or the store failed).
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Started => "started",
            RunOutcome::Skipped => "skipped",
            RunOutcome::Failed => "failed",
        }
    }
}

/// One due time of a schedule and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRun {
    /// The due time (epoch ms).
    pub due_ms: i64,
    /// When it was decided (epoch ms).
    pub at_ms: i64,
    pub outcome: RunOutcome,
    pub job_id: Option<JobId>,
    /// Why it was skipped or failed, or what the catch-up covered.
    pub reason: Option<String>,
    /// Due times before this one that passed unrun (downtime), covered by this run or skip.
    pub missed: u32,
}

/// A run taken by one process: others leave it alone until `lease_until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRun {
    pub due_ms: i64,
    pub holder: String,
    pub lease_until_ms: i64,
    /// Due times missed before it (carried to the recorded run).
    pub missed: u32,
}

/// What the scheduler keeps about a schedule's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The next due time (epoch ms); `None` while paused.
    pub next_run_ms: Option<i64>,
    pub pending: Option<PendingRun>,
    pub last_run: Option<ScheduleRun>,
    /// The job of the last started run: the next due time is skipped while it runs.
    pub last_job_id: Option<JobId>,
}

/// A schedule as the stores return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub definition: ScheduleDefinition,
    pub state: ScheduleState,
}
