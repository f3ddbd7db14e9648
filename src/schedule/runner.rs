//! The scheduler of an API process: once a second it asks the store which schedules are due,
//! takes each due run through the store's compare-and-set (so one process of many runs it),
//! decides it (start, skip, fail) and records the outcome.
//!
//! Rules (docs/SCHEDULES.md):
//! - a due time whose following due time has passed too is *missed*; all missed due times of a
//!   schedule are decided together once (`missed_runs`: `once` runs one catch-up job, `skip`
//!   records a skip), never once each;
//! - a run is skipped while the job started by the schedule's previous run is not finished;
//! - job ids are derived from the schedule and the due time, so a run taken over after its
//!   first holder died finds the job that holder may have started instead of starting another.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::schedules::Claim;
use crate::core_state::Core;
use crate::model::schedule::{MissedRuns, RunOutcome, Schedule, ScheduleRun};
use crate::model::{JobId, now_ms};
use crate::scan_trigger::{FullScanStart, TriggerError, start_full_scan};

use super::cadence::Due;

/// How often the store is asked for due schedules (the lateness of a run at most).
const TICK: Duration = Duration::from_secs(1);
/// How long a taken run is left to its holder before another process may take it over. Longer
/// than the slowest start: the preflight, the connector call and the retries below.
const LEASE_MS: i64 = 180_000;
/// Missed due times counted at most (a cadence of 10 s over a month's downtime stays cheap).
const MISSED_CAP: u32 = 10_000;
/// Waits before the 2nd and 3rd attempt to start a job when the connector is unreachable or
/// answers 429/5xx; then the run is recorded as failed and the next due time tries again.
const START_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(20)];

/// Runs due schedules from this process until it exits.
pub struct Scheduler {
    core: Arc<Core>,
    /// Names this process in run leases.
    holder: String,
}

impl Scheduler {
    pub fn new(core: Arc<Core>) -> Self {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "host".into());
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Self {
            core,
            holder: format!("{host}:{}:{}", std::process::id(), &nonce[..8]),
        }
    }

    /// Starts the once-a-second pass on the current runtime.
    pub fn spawn(self) {
        let me = Arc::new(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = Arc::clone(&me).pass().await {
                    tracing::warn!(error = %e, "schedule pass failed; retrying at the next tick");
                }
            }
        });
    }

    /// One pass: claims every due run it can and decides each on its own task.
    async fn pass(self: Arc<Self>) -> crate::backend::StoreResult<()> {
        let store = &self.core.backend.schedules;
        let now = now_ms();
        for id in store.due_schedules(now).await? {
            let Some(schedule) = store.schedule(&id).await? else {
                continue;
            };
            let Some((claim, next)) = plan(&schedule, now) else {
                continue;
            };
            if !store.claim_run(&id, claim, next, &self.holder, now, LEASE_MS).await? {
                continue;
            }
            let me = Arc::clone(&self);
            tokio::spawn(async move { me.decide(schedule, claim).await });
        }
        Ok(())
    }

    /// Decides a taken run and records it.
    async fn decide(&self, schedule: Schedule, claim: Claim) {
        let id = schedule.definition.id.clone();
        let run = self.outcome(&schedule, claim).await;
        self.core.metrics.schedule_run(run.outcome.as_str());
        tracing::info!(
            schedule = %id,
            due_ms = run.due_ms,
            outcome = run.outcome.as_str(),
            job = run.job_id.as_ref().map_or("", JobId::as_str),
            missed = run.missed,
            reason = ?run.reason.as_deref().unwrap_or(""),
            "scheduled run decided"
        );
        // A failed record leaves the lease to expire: the run is then taken over and decided
        // again, finding its job by its derived id if it had started.
        if let Err(e) = self.core.backend.schedules.finish_run(&id, &run).await {
            tracing::warn!(schedule = %id, error = %e, "recording a scheduled run failed");
        }
    }

    async fn outcome(&self, schedule: &Schedule, claim: Claim) -> ScheduleRun {
        let def = &schedule.definition;
        let mut run = ScheduleRun {
            due_ms: claim.due_ms,
            at_ms: now_ms(),
            outcome: RunOutcome::Failed,
            job_id: None,
            reason: None,
            missed: claim.missed,
        };
        if claim.missed > 0 && def.missed_runs == MissedRuns::Skip {
            run.outcome = RunOutcome::Skipped;
            run.reason = Some(format!(
                "{} due times passed while no core process ran them (missed_runs=skip)",
                u64::from(claim.missed) + 1
            ));
            return run;
        }
        let job_id = match def.id.job_id_for(claim.due_ms) {
            Ok(j) => j,
            Err(e) => return failed(run, format!("no job id for this run: {e}")),
        };
        let jobs = &self.core.backend.jobs;
        match jobs.get(&job_id).await {
            Ok(Some(_)) => {
                // Taken over after the first holder started the job and stopped.
                run.outcome = RunOutcome::Started;
                run.job_id = Some(job_id);
                run.reason = Some("recorded after the process that started it stopped".into());
                return run;
            }
            Ok(None) => {}
            Err(e) => return failed(run, format!("job store unavailable: {e}")),
        }
        if let Some(previous) = &schedule.state.last_job_id {
            match jobs.status(previous).await {
                Ok(Some(status)) if !status.is_terminal() => {
                    run.outcome = RunOutcome::Skipped;
                    run.reason = Some(format!("previous job {previous} is still {}", status.as_str()));
                    return run;
                }
                Ok(_) => {}
                Err(e) => return failed(run, format!("job store unavailable: {e}")),
            }
        }
        let Some(connector) = self.core.registry_view.get(&def.connector_uuid) else {
            return failed(run, format!("connector {} is not registered", def.connector_uuid));
        };
        let query = query_for(&job_id, def.filter.as_deref(), def.rescan_all);
        let mut delays = START_RETRY_DELAYS.iter();
        loop {
            let start = FullScanStart {
                job_id: &job_id,
                query: &query,
                job_name: Some(def.effective_job_name().to_string()),
            };
            let error = match start_full_scan(&self.core, &connector, start).await {
                Ok(answer) if answer.status != crate::model::StatusKind::Error => {
                    run.outcome = RunOutcome::Started;
                    run.job_id = Some(job_id);
                    if claim.missed > 0 {
                        run.reason = Some(format!("one catch-up run for {} missed due times", claim.missed));
                    }
                    return run;
                }
                Ok(answer) => {
                    let text = answer.description.unwrap_or(answer.message);
                    return failed(
                        run,
                        format!("connector refused: {}", crate::auth::relay::sanitize(&text)),
                    );
                }
                Err(e) => e,
            };
            let transient = match &error {
                TriggerError::Unreachable(_) => true,
                TriggerError::Refused { status, .. } => status.as_u16() == 429 || status.is_server_error(),
                TriggerError::Store(_) => true,
            };
            let reason = match &error {
                TriggerError::Refused { status, body } => {
                    format!(
                        "connector answered HTTP {}: {}",
                        status.as_u16(),
                        crate::auth::relay::error_text(body)
                    )
                }
                other => other.to_string(),
            };
            match delays.next() {
                Some(d) if transient => {
                    tracing::info!(schedule = %def.id, reason = ?reason, "starting a scheduled job failed; retrying");
                    tokio::time::sleep(*d).await;
                }
                _ => return failed(run, reason),
            }
        }
    }
}

fn failed(mut run: ScheduleRun, reason: String) -> ScheduleRun {
    run.outcome = RunOutcome::Failed;
    run.reason = Some(reason);
    run
}

/// The connector query of a scheduled run: its job id, the schedule's filter and `rescan_all`.
fn query_for(job_id: &JobId, filter: Option<&str>, rescan_all: bool) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("job_id", job_id.as_str());
    if let Some(f) = filter.filter(|f| !f.is_empty()) {
        q.append_pair("filter", f);
    }
    if rescan_all {
        q.append_pair("rescan_all", "true");
    }
    q.finish()
}

/// Which run of `s` is due at `now_ms`, with the schedule's next due time after it; `None` when
/// nothing is due or another process holds the run.
fn plan(s: &Schedule, now_ms: i64) -> Option<(Claim, Option<i64>)> {
    if let Some(p) = &s.state.pending {
        // A held run is taken over only when its lease expired (the next due time stays).
        return (p.lease_until_ms <= now_ms).then_some((
            Claim {
                due_ms: p.due_ms,
                missed: p.missed,
            },
            s.state.next_run_ms,
        ));
    }
    let def = &s.definition;
    let due_ms = s.state.next_run_ms.filter(|d| *d <= now_ms && !def.paused)?;
    let due = match Due::new(&def.cadence, def.anchor_ms) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(schedule = %def.id, error = %e, "a stored schedule has an unusable cadence");
            return None;
        }
    };
    let following = due.next_after(due_ms);
    let (missed, next) = match following {
        Some(f) if f <= now_ms => (due.count_between(due_ms, now_ms, MISSED_CAP), due.next_after(now_ms)),
        other => (0, other),
    };
    Some((Claim { due_ms, missed }, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schedule::{Cadence, PendingRun, ScheduleDefinition, ScheduleId, ScheduleState};

    fn schedule(secs: u64, next: Option<i64>, missed_runs: MissedRuns) -> Schedule {
        Schedule {
            definition: ScheduleDefinition {
                id: ScheduleId::generate(),
                connector_uuid: crate::model::ConnectorUuid::from(uuid::Uuid::new_v4()),
                name: "nightly".into(),
                cadence: Cadence::Interval { secs },
                filter: None,
                job_name: None,
                missed_runs,
                paused: false,
                rescan_all: false,
                anchor_ms: 0,
                created_at_ms: 0,
                updated_at_ms: 0,
                created_by: None,
            },
            state: ScheduleState {
                next_run_ms: next,
                ..ScheduleState::default()
            },
        }
    }

    #[test]
    fn nothing_is_planned_before_the_due_time_or_while_paused() {
        assert_eq!(plan(&schedule(60, Some(60_000), MissedRuns::Once), 59_999), None);
        let mut s = schedule(60, Some(60_000), MissedRuns::Once);
        s.definition.paused = true;
        assert_eq!(plan(&s, 60_000), None);
        assert_eq!(plan(&schedule(60, None, MissedRuns::Once), 60_000), None);
    }

    #[test]
    fn a_late_run_is_one_run_and_the_cadence_continues() {
        let (claim, next) = plan(&schedule(60, Some(60_000), MissedRuns::Once), 61_500).unwrap();
        assert_eq!(
            claim,
            Claim {
                due_ms: 60_000,
                missed: 0
            }
        );
        assert_eq!(next, Some(120_000));
    }

    #[test]
    fn downtime_is_one_catch_up_with_the_missed_count_and_the_next_due_after_now() {
        // Due at 60 s, back at 305 s: 120, 180, 240 and 300 s were missed as well.
        let (claim, next) = plan(&schedule(60, Some(60_000), MissedRuns::Once), 305_000).unwrap();
        assert_eq!(
            claim,
            Claim {
                due_ms: 60_000,
                missed: 4
            }
        );
        assert_eq!(next, Some(360_000));
    }

    #[test]
    fn a_held_run_is_taken_over_only_after_its_lease() {
        let mut s = schedule(60, Some(120_000), MissedRuns::Once);
        s.state.pending = Some(PendingRun {
            due_ms: 60_000,
            holder: "other".into(),
            lease_until_ms: 100_000,
            missed: 2,
        });
        assert_eq!(plan(&s, 99_999), None);
        let (claim, next) = plan(&s, 100_000).unwrap();
        assert_eq!(
            claim,
            Claim {
                due_ms: 60_000,
                missed: 2
            }
        );
        assert_eq!(next, Some(120_000));
    }

    #[test]
    fn the_connector_query_carries_the_job_id_and_an_encoded_filter() {
        let job = JobId::parse("sched-a-1").unwrap();
        assert_eq!(query_for(&job, None, false), "job_id=sched-a-1");
        assert_eq!(
            query_for(&job, Some("--exclude *.tmp"), false),
            "job_id=sched-a-1&filter=--exclude+*.tmp"
        );
    }
}
