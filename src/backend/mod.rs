//! The stores behind small traits (docs/ARCHITECTURE.md, "5. Stores"): one code path, two engines.
//!
//! Every multi-record update the contract names (docs/reference/CORE-API.md) is one method here, so
//! an implementation can make it atomic (a SQLite transaction, a Redis Lua script). Callers never
//! compose atomic steps themselves. All methods are idempotent where the contract says
//! "exactly once": redelivered work may call them again.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::credentials::CredentialRecord;
use crate::auth::tokens::ApiToken;
use crate::model::job::JobRecord;
use crate::model::result::{ScanResultModel, TaskRecord, TaskState};
use crate::model::stats::StatsState;
use crate::model::{
    ConnectorInstanceModel, ConnectorUuid, DlqEntry, DlqQueue, JobId, JobStatus, ScanRequestModel, Stage, TaskId,
    WorkItem,
};

pub mod events;
pub mod identity;
pub mod job_rules;
pub mod redis;
pub mod reuse;
pub mod schedules;
pub mod sealed;
pub mod sqlite;
pub mod write_health;

pub use events::{BusEvent, EventBus, JobSnapshot};

/// A store failure. `Unavailable`, `Timeout` and `CannotWrite` are transient; the HTTP layer
/// maps them to 503/504. Each carries its [`Cause`], with the library error behind it as the
/// error's source.
#[derive(Debug, Clone)]
pub enum StoreError {
    Unavailable(Cause),
    Timeout,
    /// The store answers but refuses writes for lack of room (disk full under the embedded
    /// store, Redis at `maxmemory` with `noeviction`): it heals when room returns, so work
    /// waits for it instead of failing (docs/OPERATIONS.md, "A store that cannot write").
    CannotWrite(Cause),
    Internal(Cause),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(c) => write!(f, "store unavailable: {c}"),
            Self::Timeout => f.write_str("store timeout"),
            Self::CannotWrite(c) => write!(f, "store cannot write: {c}"),
            Self::Internal(c) => write!(f, "store error: {c}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable(c) | Self::CannotWrite(c) | Self::Internal(c) => c.source(),
            Self::Timeout => None,
        }
    }
}

/// What a store failure is about: a line of context and, when a library error (SQLite, Redis,
/// JSON, I/O) caused it, that error. Shown as `context: error`, so a log line that prints only
/// the store error still names its cause; the library error stays reachable as the source.
#[derive(Debug, Clone)]
pub struct Cause {
    context: Option<std::borrow::Cow<'static, str>>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Cause {
    /// A cause without a library error behind it.
    pub fn msg(context: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            context: Some(context.into()),
            source: None,
        }
    }

    /// A library error, as it is.
    pub fn from_err(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            context: None,
            source: Some(Arc::new(e)),
        }
    }

    /// A library error and what was being done.
    pub fn with(
        context: impl Into<std::borrow::Cow<'static, str>>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context: Some(context.into()),
            source: Some(Arc::new(e)),
        }
    }

    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.context, &self.source) {
            (Some(c), Some(e)) => write!(f, "{c}: {e}"),
            (Some(c), None) => f.write_str(c),
            (None, Some(e)) => write!(f, "{e}"),
            (None, None) => f.write_str("unknown"),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One scan request to accept.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub task_id: TaskId,
    pub job_id: JobId,
    /// As accepted, with `scan_job_id` and `connector_url` filled in.
    pub request: ScanRequestModel,
    pub connector_uuid: Option<ConnectorUuid>,
    /// Where the item's connector calls go (fixed here, at acceptance).
    pub pin: crate::model::Pin,
    /// The request's connector advertises `enqueue_done` (rule I waits for the signal).
    pub awaits_enqueue_done: bool,
}

/// Which endpoint an idempotency key belongs to (the key's scope, docs/reference/CORE-API.md,
/// "Idempotency keys").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdemScope {
    Single,
    Batch,
}

impl IdemScope {
    pub fn as_str(self) -> &'static str {
        match self {
            IdemScope::Single => "single",
            IdemScope::Batch => "batch",
        }
    }
}

/// Stage 1 input: validated items, all accepted or rejected in one atomic step.
#[derive(Debug, Clone)]
pub struct AcceptRequest {
    pub items: Vec<NewItem>,
    /// Scope and SHA-256 hex of the `Idempotency-Key` header.
    pub idempotency: Option<(IdemScope, String)>,
    pub job_name: Option<String>,
    pub max_attempts: u32,
    /// Not started after this instant (→ 504 with nothing enqueued).
    pub deadline: Instant,
    /// The accepting request's id, recorded on every item.
    pub request_id: Option<String>,
}

/// What happened to one accepted item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    Queued,
    Parked,
    /// The job is cancelled (409).
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub task_id: TaskId,
    pub job_id: JobId,
    pub outcome: ItemOutcome,
    /// The job's status after the accept.
    pub job_status: JobStatus,
}

/// Stage 1 output. A replay returns exactly what the first request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptAnswer {
    Fresh(Vec<Accepted>),
    Replay(Vec<Accepted>),
}

impl AcceptAnswer {
    pub fn items(&self) -> &[Accepted] {
        match self {
            AcceptAnswer::Fresh(v) | AcceptAnswer::Replay(v) => v,
        }
    }
}

/// A claimed work item and the handle to ack, retry or park it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub receipt: Receipt,
    pub item: WorkItem,
    /// Earlier handouts of this entry that ended without an outcome (crash-loop detection).
    pub deliveries: u32,
}

/// Opaque queue position of a claimed entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// The queue (stage 1 intake and stage 2 claims).
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Stage 1, atomically: idempotency, job gate, task records, enqueue or park, job counters.
    async fn accept(&self, req: AcceptRequest) -> StoreResult<AcceptAnswer>;
    /// Up to `max` due entries, waiting up to `wait` when there are none.
    async fn claim(&self, max: usize, wait: std::time::Duration) -> StoreResult<Vec<Claimed>>;
    /// Removes a finished entry (only after its outcome was recorded).
    async fn ack(&self, receipt: &Receipt) -> StoreResult<()>;
    /// Replaces the entry with `item`, due at `due_ms` (epoch ms); the task becomes `retrying`.
    async fn retry_later(&self, receipt: &Receipt, item: WorkItem, due_ms: i64, error: &str) -> StoreResult<()>;
    /// Moves a claimed entry of a paused job to the job's parked list (oldest first); resume
    /// re-queues parked entries in order as part of [`JobStore::control`]. Decided on the job's
    /// status at that moment: a job resumed meanwhile gets the entry back in its queue, a job
    /// cancelled meanwhile counts it skipped.
    async fn park(&self, receipt: &Receipt, item: WorkItem) -> StoreResult<ParkOutcome>;
    /// Gives a claimed entry back without an outcome (the store could not record one); it is
    /// delivered again later.
    async fn release(&self, receipt: &Receipt) -> StoreResult<()>;
    /// Dead-letters an entry whose payload cannot be read (`bad_payload`).
    async fn reject_unreadable(&self, receipt: &Receipt, raw: &str, error: &str) -> StoreResult<()>;
    /// The task record, with live state (running/retrying) where known.
    async fn task(&self, task_id: &TaskId) -> StoreResult<Option<TaskRecord>>;
    /// Marks a task `running` for its `attempts`-th execution.
    async fn task_started(&self, task_id: &TaskId, attempts: u32) -> StoreResult<()>;
    /// Entries waiting in the queue (ready + delayed), for readiness details and benchmarks.
    async fn depth(&self) -> StoreResult<u64>;
    /// Says a claimed entry is still being worked on. The distributed queue resets the entry's
    /// idle time so it is not reclaimed; the embedded one redelivers only after a restart and
    /// has nothing to do.
    async fn renew(&self, _receipt: &Receipt) -> StoreResult<()> {
        Ok(())
    }
}

/// What [`WorkQueue::park`] did.
#[derive(Debug, Clone)]
pub enum ParkOutcome {
    Parked,
    /// The job runs again: the entry went back to the queue.
    Requeued,
    /// The job was cancelled: the item was counted skipped (the change is returned).
    Skipped(Box<JobChange>),
}

/// Job fields set when a job is created by a trigger.
#[derive(Debug, Clone, Default)]
pub struct JobInit {
    pub connector_uuid: Option<ConnectorUuid>,
    pub expected_total: Option<u64>,
    pub job_name: Option<String>,
    pub awaits_enqueue_done: bool,
}

/// A job control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Cancel => "cancel",
        }
    }
}

/// Why a control command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("job_not_found")]
    NotFound,
    #[error("job_not_paused")]
    NotPaused,
    #[error("job_cancelled")]
    Cancelled,
    #[error("job_completed")]
    Completed,
}

/// The job after a change, and whether the change made it terminal just now (exactly once).
#[derive(Debug, Clone)]
pub struct JobChange {
    pub job: JobRecord,
    pub previous: Option<JobStatus>,
    pub became_terminal: bool,
    /// Whether anything was written (false for idempotent repeats).
    pub changed: bool,
}

/// The final outcome of one task.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Scanned (and acted on): the result is recorded in the same atomic step as the outcome,
    /// so no reader sees a result whose job does not count it yet, or the reverse.
    Processed(Box<ScanResultModel>),
    /// Dead-lettered: the entry is written in the same atomic step.
    Failed(Box<DlqEntry>),
    /// Dropped because the job was cancelled.
    Skipped,
}

impl Outcome {
    pub fn task_state(&self) -> TaskState {
        match self {
            Outcome::Processed { .. } => TaskState::Succeeded,
            Outcome::Failed(_) => TaskState::DeadLettered,
            Outcome::Skipped => TaskState::Skipped,
        }
    }
}

/// Input of [`JobStore::record_outcome`].
#[derive(Debug, Clone)]
pub struct OutcomeRecord {
    pub task_id: TaskId,
    pub job_id: JobId,
    pub outcome: Outcome,
    pub attempts: u32,
    /// The item came back from the DLQ: a failure re-dead-letters without touching counters.
    pub requeued: bool,
}

/// What [`JobStore::record_outcome`] wrote.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub change: JobChange,
    /// A processed outcome's result as stored: the first recording's on a repeat (redelivery).
    pub result: Option<StoredResult>,
}

/// A scan result as the store holds it.
#[derive(Debug, Clone)]
pub struct StoredResult {
    /// With the store's `id` assigned.
    pub result: ScanResultModel,
    /// Whether this call recorded it (false for a redelivered item's repeat).
    pub inserted: bool,
}

/// Jobs: counters, state machine and completion decided exactly once (docs/reference/CORE-API.md,
/// "Job state machine").
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates the job if absent (status `running`). An existing job (created by an early scan
    /// request of the same job) gains what `init` knows and it lacks: connector, expected total,
    /// name, and the promise of `enqueue_done`; nothing it has is overwritten.
    async fn create(&self, job_id: &JobId, init: JobInit) -> StoreResult<JobRecord>;
    async fn get(&self, job_id: &JobId) -> StoreResult<Option<JobRecord>>;
    /// Newest `started_at` first, skipping `offset` jobs (paging).
    async fn list(&self, status: Option<JobStatus>, limit: usize, offset: usize) -> StoreResult<Vec<JobRecord>>;
    /// How many stored jobs are in each status (statuses without jobs may be left out); read
    /// when Prometheus scrapes `/metrics`.
    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, u64)>>;
    /// The raw record with its remaining TTL in seconds (−2 missing, −1 none).
    async fn raw(&self, job_id: &JobId) -> StoreResult<(i64, Map<String, Value>)>;
    /// Fast status lookup for the dispatch gate (may be served from a cache kept current).
    async fn status(&self, job_id: &JobId) -> StoreResult<Option<JobStatus>>;
    /// Records `enqueue_done` (creating an empty job if absent) and evaluates rule C;
    /// `unreadable` is added to the job's `unreadable_count`.
    async fn enqueue_done(&self, job_id: &JobId, total: Option<u64>, unreadable: u64) -> StoreResult<JobChange>;
    /// Pause / resume / cancel per the state table, atomically with its effect on parked
    /// items: resume re-queues them in order, cancel counts them skipped at once.
    async fn control(&self, job_id: &JobId, cmd: Control) -> StoreResult<Result<JobChange, ControlError>>;
    /// Records a task's outcome with its scan result or DLQ entry in one atomic step (the result
    /// once per task id: the guard), updates counters and statistics, evaluates rule C.
    async fn record_outcome(&self, rec: OutcomeRecord) -> StoreResult<Recorded>;
    /// Rules I and L for every active job; `connector_present` says whether a connector uuid is
    /// still registered. Returns the jobs completed by this sweep.
    async fn sweep_idle(
        &self,
        idle_secs: u64,
        connector_present: &(dyn for<'a> Fn(&'a ConnectorUuid) -> bool + Send + Sync),
    ) -> StoreResult<Vec<JobRecord>>;
    /// Sets `expected_total` from a preflight estimate if it is still absent.
    async fn set_expected_total(&self, job_id: &JobId, total: u64) -> StoreResult<()>;
}

/// Query of `GET /scan/results`.
#[derive(Debug, Clone, Default)]
pub struct ResultQuery {
    pub limit: usize,
    pub job_id: Option<String>,
    pub verdict: Option<String>,
    pub before_id: Option<i64>,
}

/// One DLQ queue's figures.
#[derive(Debug, Clone)]
pub struct DlqQueueStats {
    pub length: u64,
    /// Newest entry time (epoch ms): the queue TTL runs from the last push.
    pub newest_failed_at_ms: Option<i64>,
    pub samples: Vec<DlqEntry>,
}

/// Outcome of a DLQ requeue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequeueReport {
    pub requeued: u64,
    pub failed: u64,
    pub remaining: u64,
}

/// Results, statistics and the dead-letter queues.
#[async_trait]
pub trait ResultStore: Send + Sync {
    async fn by_task(&self, task_id: &TaskId) -> StoreResult<Option<ScanResultModel>>;
    async fn list(&self, q: ResultQuery) -> StoreResult<Vec<ScanResultModel>>;
    async fn stats(&self) -> StoreResult<StatsState>;
    /// Malicious results recorded at or after `since_ms` (epoch ms), newest first, at most `max`
    /// (the findings summary). Empty when results are not kept (`RESULTS_DB__RETAIN=0`).
    async fn findings(&self, since_ms: i64, max: usize) -> StoreResult<Vec<ScanResultModel>>;
    async fn dlq_stats(&self, queue: DlqQueue, samples: usize) -> StoreResult<DlqQueueStats>;
    /// Entries `start..=end`, oldest first.
    async fn dlq_items(&self, queue: DlqQueue, start: u64, end: u64) -> StoreResult<Vec<DlqEntry>>;
    /// Moves the oldest `max` entries back into the work queue at `stage`, atomically per entry;
    /// entries that cannot be turned into work stay in the DLQ.
    async fn dlq_requeue(
        &self,
        queue: DlqQueue,
        max: usize,
        stage: Stage,
        max_attempts: u32,
    ) -> StoreResult<RequeueReport>;
    /// Removes every entry; returns how many were removed.
    async fn dlq_clear(&self, queue: DlqQueue) -> StoreResult<u64>;
    /// Drops entries older than `days` (measured from `meta.failed_at`).
    async fn dlq_purge(&self, days: u32) -> StoreResult<u64>;
}

/// Connector presence (shared registry view across API processes).
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Stores the model with a TTL; returns true if no live presence existed (first registration).
    async fn upsert(&self, uuid: &ConnectorUuid, model: &ConnectorInstanceModel, ttl_secs: u64) -> StoreResult<bool>;
    async fn remove(&self, uuid: &ConnectorUuid) -> StoreResult<Option<ConnectorInstanceModel>>;
    /// Every stored model with its expiry (epoch ms); expired ones included for the sweeper.
    async fn all(&self) -> StoreResult<Vec<(ConnectorInstanceModel, i64)>>;
    async fn renew(&self, uuid: &ConnectorUuid, ttl_secs: u64) -> StoreResult<()>;
}

/// Connector credential records (docs/AUTH.md, "Enrollment"), shared by every API process.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn credential(&self, uuid: &ConnectorUuid) -> StoreResult<Option<CredentialRecord>>;
    /// The record owning `key_id` as its current or previous key.
    async fn credential_by_key(&self, key_id: &str) -> StoreResult<Option<CredentialRecord>>;
    /// Writes `rec` if the stored version is still `read` (`None`: no record may exist yet);
    /// the stored copy gets version `read + 1`. False when another writer came first.
    async fn put_credential(&self, rec: &CredentialRecord, read: Option<u64>) -> StoreResult<bool>;
    async fn delete_credential(&self, uuid: &ConnectorUuid) -> StoreResult<()>;
    async fn credentials(&self) -> StoreResult<Vec<CredentialRecord>>;
    /// Records a verified nonce for `ttl_secs`: `Some(true)` the first time, `Some(false)` for a
    /// replay, `None` when this store keeps no shared cache (the caller keeps its own).
    async fn first_use(&self, key_id: &str, nonce: &str, ttl_secs: u64) -> StoreResult<Option<bool>>;
}

/// API tokens (docs/AUTH.md, "API tokens"), stored as digests.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn put_token(&self, t: &ApiToken) -> StoreResult<()>;
    async fn token_by_digest(&self, sha256: &str) -> StoreResult<Option<ApiToken>>;
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// False when no token has that id.
    async fn delete_token(&self, id: &str) -> StoreResult<bool>;
    async fn touch_token(&self, id: &str, now: i64) -> StoreResult<()>;
}

/// The stores a process uses, chosen once at start.
#[derive(Clone)]
pub struct Backend {
    pub kind: BackendKind,
    pub queue: Arc<dyn WorkQueue>,
    pub jobs: Arc<dyn JobStore>,
    pub results: Arc<dyn ResultStore>,
    pub registry: Arc<dyn RegistryStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub users: Arc<dyn identity::UserStore>,
    pub sessions: Arc<dyn identity::SessionStore>,
    pub attempts: Arc<dyn identity::AttemptStore>,
    pub audit: Arc<dyn identity::AuditStore>,
    pub schedules: Arc<dyn schedules::ScheduleStore>,
    /// Verdicts of earlier scans, for reuse on unchanged items (docs/SCAN-REUSE.md).
    pub memory: Arc<dyn reuse::VerdictMemory>,
    pub events: Arc<dyn EventBus>,
    /// Readiness probe and retention sweeps.
    pub maintenance: Arc<dyn Maintenance>,
    /// Whether the store can write right now (set by the store, cleared by the prober).
    pub write_health: Arc<write_health::WriteHealth>,
}

impl Backend {
    /// Releases a claimed entry, logging (not failing) when even that is impossible: the entry
    /// is then delivered again after a restart or a claim timeout.
    pub async fn queue_release(&self, receipt: &Receipt) {
        if let Err(e) = self.queue.release(receipt).await {
            tracing::warn!(error = %e, "releasing a queue entry failed");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Embedded,
    Redis,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Embedded => "embedded",
            BackendKind::Redis => "redis",
        }
    }
}

/// Store upkeep: a readiness probe and the periodic retention sweep ("Retention").
#[async_trait]
pub trait Maintenance: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
    /// A small write, to learn whether a store that could not write can again (it overwrites
    /// one probe record; nothing else changes).
    async fn probe_write(&self) -> StoreResult<()>;
    /// Drops what outlived its retention (jobs, tasks, results, DLQ entries, idempotency).
    async fn purge_expired(&self) -> StoreResult<()>;
    /// Whether this process should run the periodic sweeps now (idle completion, retention).
    /// Distributed: one process at a time holds a short lease (`{env}:dsx-connect:lock:janitor`),
    /// renewed while it keeps sweeping; the embedded store has one process.
    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }
    /// Requests this process has made to a network store so far (commands, pipelines and
    /// scripts each count one), for readiness details and benchmarks; `None` when embedded.
    fn round_trips(&self) -> Option<u64> {
        None
    }
}
