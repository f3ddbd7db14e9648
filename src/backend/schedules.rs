//! The schedule store (docs/SCHEDULES.md): definitions written by operators, run state written by
//! the scheduler under a lease, and a short history of runs per schedule.
//!
//! Exactly one run per due time, whatever the number of API processes: [`ScheduleStore::claim_run`]
//! is a compare-and-set on the due time (a Lua script on Redis, a conditional `UPDATE` on SQLite),
//! so of all processes that see the same due time one wins; the winner holds a lease on the run
//! until it records the outcome. A run whose holder died is taken over once its lease expires.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::schedule::{Schedule, ScheduleDefinition, ScheduleId, ScheduleRun};

/// Runs kept per schedule (newest first).
pub const RUNS_KEPT: usize = 50;

/// How a run was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub due_ms: i64,
    /// Due times passed unrun before this one (kept with the run).
    pub missed: u32,
}

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Stores a new schedule due first at `next_run_ms`; `Ok(false)` when `max` exist already.
    async fn create_schedule(
        &self,
        def: &ScheduleDefinition,
        next_run_ms: Option<i64>,
        max: usize,
    ) -> StoreResult<bool>;
    /// Replaces a definition and its next due time (edit, pause, resume); a run in progress
    /// keeps its lease. `Ok(false)` when there is no such schedule.
    async fn update_schedule(&self, def: &ScheduleDefinition, next_run_ms: Option<i64>) -> StoreResult<bool>;
    /// Deletes a schedule with its run state and history. `Ok(false)` when absent.
    async fn delete_schedule(&self, id: &ScheduleId) -> StoreResult<bool>;
    async fn schedule(&self, id: &ScheduleId) -> StoreResult<Option<Schedule>>;
    /// Every schedule, ordered by creation.
    async fn schedules(&self) -> StoreResult<Vec<Schedule>>;
    /// The last runs of a schedule, newest first, at most [`RUNS_KEPT`].
    async fn schedule_runs(&self, id: &ScheduleId) -> StoreResult<Vec<ScheduleRun>>;
    /// Schedules with a due time at or before `now_ms`, or a taken run whose lease expired.
    async fn due_schedules(&self, now_ms: i64) -> StoreResult<Vec<ScheduleId>>;
    /// Takes the run due at `claim.due_ms` for `holder` until `now_ms + lease_ms`, and moves the
    /// schedule's next due time to `next_run_ms`. Succeeds for one caller per due time: the
    /// schedule's next due time must still be `claim.due_ms` and no run may be held, or the run
    /// must be this due time's, held under an expired lease (a takeover; `next_run_ms` is then
    /// left as it is).
    async fn claim_run(
        &self,
        id: &ScheduleId,
        claim: Claim,
        next_run_ms: Option<i64>,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<bool>;
    /// Records how the run of `run.due_ms` ended and releases it (only the run it names).
    async fn finish_run(&self, id: &ScheduleId, run: &ScheduleRun) -> StoreResult<()>;
}
