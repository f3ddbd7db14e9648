//! The job state machine and completion rules (docs/reference/CORE-API.md, "Job state machine",
//! "Dead letters and job accounting") as pure functions.
//!
//! Stores call these inside their atomic step (a SQLite transaction); the Redis backend's Lua
//! scripts implement the same table and are tested against the same cases.

use crate::model::job::{CompletedBy, JobRecord, JobStatus};

use super::{Control, ControlError, ItemOutcome, Outcome};

/// The intake gate: what becomes of an item that arrives for a job in `status` — a cancelled
/// job refuses it, a paused one parks it, otherwise it is queued (a completed job reopens).
pub fn admit(status: JobStatus) -> ItemOutcome {
    match status {
        JobStatus::Cancelled => ItemOutcome::Rejected,
        JobStatus::Paused => ItemOutcome::Parked,
        JobStatus::Running | JobStatus::Completed => ItemOutcome::Queued,
    }
}

/// The stored outcome of a task, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorOutcome {
    Processed,
    Failed,
    Skipped,
}

impl PriorOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PriorOutcome::Processed => "processed",
            PriorOutcome::Failed => "failed",
            PriorOutcome::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "processed" => PriorOutcome::Processed,
            "failed" => PriorOutcome::Failed,
            "skipped" => PriorOutcome::Skipped,
            _ => return None,
        })
    }

    pub fn of(o: &Outcome) -> Self {
        match o {
            Outcome::Processed { .. } => PriorOutcome::Processed,
            Outcome::Failed(_) => PriorOutcome::Failed,
            Outcome::Skipped => PriorOutcome::Skipped,
        }
    }
}

/// What recording an outcome does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEffect {
    /// Same outcome again (redelivery): nothing changes.
    Repeat,
    /// First outcome of the task: counters change.
    Count,
    /// A requeued item succeeded: failed −1, processed +1, its verdict +1 (status untouched).
    FailedToProcessed,
    /// A requeued item failed again: a new DLQ entry, no counter change.
    Redeadletter,
}

/// Decides the effect of recording `new` when `prior` is stored
/// ("Dead letters and job accounting").
pub fn record_effect(prior: Option<PriorOutcome>, new: PriorOutcome, requeued: bool) -> RecordEffect {
    match (prior, new) {
        (None, _) => RecordEffect::Count,
        (Some(PriorOutcome::Failed), PriorOutcome::Processed) => RecordEffect::FailedToProcessed,
        (Some(PriorOutcome::Failed), PriorOutcome::Failed) if requeued => RecordEffect::Redeadletter,
        _ => RecordEffect::Repeat,
    }
}

/// Applies a counted outcome to the job's counters.
pub fn apply_outcome(job: &mut JobRecord, outcome: &Outcome, effect: RecordEffect, now: i64) {
    match (effect, outcome) {
        (RecordEffect::Count, Outcome::Processed(result)) => {
            job.processed_count += 1;
            job.verdicts.apply(&result.verdict, 1);
            count_action(job, &result.item_action);
        }
        (RecordEffect::Count, Outcome::Failed(_)) => job.failed_count += 1,
        (RecordEffect::Count, Outcome::Skipped) => job.skipped_count += 1,
        (RecordEffect::FailedToProcessed, Outcome::Processed(result)) => {
            job.failed_count = job.failed_count.saturating_sub(1);
            job.processed_count += 1;
            job.verdicts.apply(&result.verdict, 1);
            count_action(job, &result.item_action);
        }
        _ => return,
    }
    job.last_update = now;
}

fn count_action(job: &mut JobRecord, action: &crate::model::ItemActionStatusResponse) {
    use crate::model::StatusKind;
    match action.status {
        StatusKind::Success => job.actions_taken += 1,
        StatusKind::Error => job.actions_failed += 1,
        StatusKind::Nothing => {}
    }
}

/// Rule C: completes a running job whose enumeration is done and whose items are all finished.
/// Returns true when it completed the job just now.
pub fn evaluate_completion(job: &mut JobRecord, now: i64) -> bool {
    if job.status != JobStatus::Running || !job.enqueue_done {
        return false;
    }
    let finished = job.finished();
    if finished < job.enqueued_count || job.enqueued_total.is_some_and(|t| finished < t) {
        return false;
    }
    complete(job, CompletedBy::EnqueueDone, now);
    true
}

fn complete(job: &mut JobRecord, by: CompletedBy, now: i64) {
    job.status = JobStatus::Completed;
    job.completed_by = Some(by);
    job.finished_at.get_or_insert(now);
    job.last_update = now;
}

/// Rules I and L for one job; returns how it completed, if it did.
pub fn evaluate_idle(job: &mut JobRecord, now: i64, idle_secs: u64, connector_present: bool) -> Option<CompletedBy> {
    if idle_secs == 0 || job.status != JobStatus::Running || job.finished() < job.enqueued_count {
        return None;
    }
    let quiet_since = job.last_enqueued_at.unwrap_or(job.started_at);
    if now - quiet_since < idle_secs as i64 {
        return None;
    }
    let by = if job.enqueue_done || !job.awaits_enqueue_done {
        CompletedBy::Idle
    } else if !connector_present {
        CompletedBy::ConnectorLost
    } else {
        return None;
    };
    complete(job, by, now);
    Some(by)
}

/// Records `enqueue_done` and evaluates rule C. Returns true when the job completed just now.
/// `unreadable` is added to the job's count (a job may be reported on more than once).
pub fn enqueue_done(job: &mut JobRecord, total: Option<u64>, unreadable: u64, now: i64) -> bool {
    job.enqueue_done = true;
    job.unreadable_count = job.unreadable_count.saturating_add(unreadable);
    job.enqueue_finished_at = Some(now);
    if let Some(t) = total {
        job.enqueued_total = Some(t);
        job.expected_total.get_or_insert(t);
    }
    job.last_update = now;
    evaluate_completion(job, now)
}

/// Applies a control command per the state table. `parked` is the number of parked items,
/// which a cancel counts as skipped at once. Returns whether the job became terminal.
pub fn control(job: &mut JobRecord, cmd: Control, parked: u64, now: i64) -> Result<bool, ControlError> {
    use JobStatus::*;
    match (job.status, cmd) {
        (Completed, _) => Err(ControlError::Completed),
        (Cancelled, Control::Cancel) => Ok(false),
        (Cancelled, _) => Err(ControlError::Cancelled),
        (Running, Control::Resume) => Err(ControlError::NotPaused),
        (Paused, Control::Pause) => Ok(false),
        (Running, Control::Pause) => {
            job.status = Paused;
            job.last_update = now;
            Ok(false)
        }
        (Paused, Control::Resume) => {
            job.status = Running;
            job.last_update = now;
            Ok(evaluate_completion(job, now))
        }
        (Running | Paused, Control::Cancel) => {
            job.status = Cancelled;
            job.cancel_flag = true;
            job.skipped_count += parked;
            job.finished_at.get_or_insert(now);
            job.last_update = now;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Engine, ItemActionStatusResponse, Verdict, VerdictKind};

    fn processed() -> Outcome {
        Outcome::Processed(Box::new(crate::model::result::ScanResultModel::new(
            "t",
            crate::model::ScanRequestModel::new("/t", "t"),
            Verdict::bare(VerdictKind::Benign, Engine::Embedded),
            ItemActionStatusResponse::no_action(),
            chrono::Utc::now(),
        )))
    }

    fn job_with(enqueued: u64) -> JobRecord {
        let mut j = JobRecord::new(&crate::model::JobId::parse("j").unwrap(), 100);
        j.enqueued_count = enqueued;
        j
    }

    #[test]
    fn a_job_completes_only_after_enqueue_done_and_all_items() {
        let mut j = job_with(2);
        apply_outcome(&mut j, &processed(), RecordEffect::Count, 101);
        apply_outcome(&mut j, &processed(), RecordEffect::Count, 101);
        assert!(!evaluate_completion(&mut j, 101));
        assert!(enqueue_done(&mut j, Some(2), 0, 102));
        assert_eq!(j.status, JobStatus::Completed);
        assert_eq!(j.completed_by, Some(CompletedBy::EnqueueDone));
        assert_eq!(j.finished_at, Some(102));
        // Exactly once.
        assert!(!evaluate_completion(&mut j, 103));
        assert_eq!(j.finished_at, Some(102));
    }

    #[test]
    fn an_empty_job_completes_at_enqueue_done() {
        let mut j = job_with(0);
        assert!(enqueue_done(&mut j, Some(0), 0, 100));
    }

    #[test]
    fn unreadable_entries_add_up_and_still_complete_the_job() {
        let mut j = job_with(0);
        assert!(enqueue_done(&mut j, Some(0), 2, 100));
        assert_eq!((j.status, j.unreadable_count), (JobStatus::Completed, 2));
        enqueue_done(&mut j, None, 3, 101);
        assert_eq!(j.unreadable_count, 5);
    }

    #[test]
    fn a_reported_total_larger_than_accepted_holds_completion() {
        let mut j = job_with(1);
        apply_outcome(&mut j, &processed(), RecordEffect::Count, 101);
        assert!(!enqueue_done(&mut j, Some(2), 0, 101));
        assert_eq!(j.status, JobStatus::Running);
    }

    #[test]
    fn redelivery_never_counts_twice_and_requeue_moves_failed_to_processed() {
        assert_eq!(record_effect(None, PriorOutcome::Processed, false), RecordEffect::Count);
        assert_eq!(
            record_effect(Some(PriorOutcome::Processed), PriorOutcome::Processed, false),
            RecordEffect::Repeat
        );
        assert_eq!(
            record_effect(Some(PriorOutcome::Failed), PriorOutcome::Processed, true),
            RecordEffect::FailedToProcessed
        );
        assert_eq!(
            record_effect(Some(PriorOutcome::Failed), PriorOutcome::Failed, true),
            RecordEffect::Redeadletter
        );
        assert_eq!(
            record_effect(Some(PriorOutcome::Failed), PriorOutcome::Failed, false),
            RecordEffect::Repeat
        );
        let mut j = job_with(1);
        j.failed_count = 1;
        j.status = JobStatus::Completed;
        apply_outcome(&mut j, &processed(), RecordEffect::FailedToProcessed, 200);
        assert_eq!((j.failed_count, j.processed_count, j.verdicts.benign), (0, 1, 1));
        assert_eq!(j.status, JobStatus::Completed);
    }

    #[test]
    fn the_control_table_is_exact() {
        let mut j = job_with(0);
        assert_eq!(control(&mut j, Control::Resume, 0, 1), Err(ControlError::NotPaused));
        assert_eq!(control(&mut j, Control::Pause, 0, 1), Ok(false));
        assert_eq!(j.status, JobStatus::Paused);
        assert_eq!(control(&mut j, Control::Pause, 0, 1), Ok(false));
        assert_eq!(control(&mut j, Control::Cancel, 3, 2), Ok(true));
        assert_eq!(
            (j.status, j.skipped_count, j.cancel_flag),
            (JobStatus::Cancelled, 3, true)
        );
        assert_eq!(control(&mut j, Control::Cancel, 0, 3), Ok(false));
        assert_eq!(control(&mut j, Control::Pause, 0, 3), Err(ControlError::Cancelled));
        assert_eq!(control(&mut j, Control::Resume, 0, 3), Err(ControlError::Cancelled));
        let mut c = job_with(0);
        enqueue_done(&mut c, None, 0, 1);
        for cmd in [Control::Pause, Control::Resume, Control::Cancel] {
            assert_eq!(control(&mut c, cmd, 0, 2), Err(ControlError::Completed));
        }
    }

    #[test]
    fn resume_completes_a_job_that_finished_while_paused() {
        let mut j = job_with(1);
        control(&mut j, Control::Pause, 0, 1).unwrap();
        apply_outcome(&mut j, &processed(), RecordEffect::Count, 2);
        enqueue_done(&mut j, Some(1), 0, 3);
        assert_eq!(j.status, JobStatus::Paused);
        assert_eq!(control(&mut j, Control::Resume, 0, 4), Ok(true));
        assert_eq!(j.status, JobStatus::Completed);
    }

    #[test]
    fn intake_refuses_cancelled_jobs_parks_for_paused_ones_and_reopens_completed_ones() {
        assert_eq!(admit(JobStatus::Cancelled), ItemOutcome::Rejected);
        assert_eq!(admit(JobStatus::Paused), ItemOutcome::Parked);
        assert_eq!(admit(JobStatus::Running), ItemOutcome::Queued);
        assert_eq!(admit(JobStatus::Completed), ItemOutcome::Queued);
    }

    #[test]
    fn the_idle_rule_waits_for_connectors_that_promise_enqueue_done() {
        let mut j = job_with(0);
        j.awaits_enqueue_done = true;
        assert_eq!(evaluate_idle(&mut j, 200, 30, true), None);
        assert_eq!(evaluate_idle(&mut j, 200, 30, false), Some(CompletedBy::ConnectorLost));
        let mut k = job_with(0);
        assert_eq!(evaluate_idle(&mut k, 110, 30, true), None);
        assert_eq!(evaluate_idle(&mut k, 131, 30, true), Some(CompletedBy::Idle));
        let mut off = job_with(0);
        assert_eq!(evaluate_idle(&mut off, 10_000, 0, true), None);
    }
}
