//! JobActor: one per live job in this process. Owns the job's commands (pause, resume, cancel,
//! enqueue_done, outcomes), the job's announcements on the event bus, and its local subscribers
//! (the CLI progress bar).
//!
//! The store decides every transition atomically; the actor orders this process's commands for
//! the job and turns store changes into events: a `scan_result` event per recorded result, a
//! `job_summary` event for every change no result carries, and the announcement of the job's end
//! exactly once, held until no outcome of the job is being recorded so that it follows every
//! result frame. It does not limit their rate: the one `job_summary` throttle is applied where
//! frames are fanned out to streams (`actors/summary_throttle.rs`), the only place that sees every
//! process's summaries of a job. Talked to by the JobRegistry (which starts it), HTTP handlers and
//! the pipeline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::backend::{
    BusEvent, Control, ControlError, JobChange, JobSnapshot, Outcome, OutcomeRecord, Recorded, StoreError,
};
use crate::model::job::JobRecord;
use crate::model::result::ScanResultModel;
use crate::model::{JobId, now_secs};

use crate::core_state::Core;

// ---- messages -------------------------------------------------------------------------------

/// Records a task's final outcome (from the pipeline), with its result for processed items in
/// the same store step: the actor publishes the result's frame before any terminal summary of
/// the job.
#[derive(Message)]
#[rtype(result = "Result<Recorded, StoreError>")]
pub struct ItemFinished(pub OutcomeRecord);

/// Pause, resume or cancel (from the HTTP API).
#[derive(Message)]
#[rtype(result = "Result<Result<JobChange, ControlError>, StoreError>")]
pub struct ControlJob(pub Control);

/// The connector finished enumerating (from the HTTP API): its total, if it gave one, and how
/// many entries it could not read.
#[derive(Message)]
#[rtype(result = "Result<JobChange, StoreError>")]
pub struct EnqueueDone(pub Option<u64>, pub u64);

/// A change decided elsewhere (the idle sweep) to announce.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JobChanged(pub JobChange);

/// This actor stopped (idle), sent to the JobRegistry that started it, which forgets it unless
/// it was already replaced. A recipient, so the registry's type stays the registry's own.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JobStopped {
    pub job_id: JobId,
    pub addr: Addr<JobActor>,
}

/// Subscribes to this job's updates.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<JobUpdate>);

/// A job update sent to subscribers (every change; the CLI keeps the latest).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct JobUpdate(pub Arc<JobRecord>);

// ---- actor ----------------------------------------------------------------------------------

/// An actor with no activity for this long stops (it is restarted on demand).
const IDLE_STOP: Duration = Duration::from_secs(300);

pub struct JobActor {
    job_id: JobId,
    core: Arc<Core>,
    registry: Recipient<JobStopped>,
    subscribers: Vec<Recipient<JobUpdate>>,
    terminal_announced: bool,
    /// Outcomes being recorded right now; a terminal summary waits for them so that every
    /// result frame of the job precedes it.
    recording: usize,
    held_terminal: Option<JobRecord>,
    /// The most advanced figures seen: changes recorded concurrently (by other processes, or
    /// answered out of order) may arrive older than one already published.
    newest: Option<JobRecord>,
    last_activity: Instant,
}

impl JobActor {
    pub fn new(job_id: JobId, core: Arc<Core>, registry: Recipient<JobStopped>) -> Self {
        Self {
            job_id,
            core,
            registry,
            subscribers: Vec::new(),
            terminal_announced: false,
            recording: 0,
            held_terminal: None,
            newest: None,
            last_activity: Instant::now(),
        }
    }

    /// Publishes a summary on the bus and to subscribers.
    /// `announces_end` marks the one announcement of the job's end (never dropped, once per
    /// stream); later updates of a finished job (skips after a cancel, a requeued item) are
    /// ordinary.
    fn publish(&mut self, job: &JobRecord, to_bus: bool, announces_end: bool) {
        if to_bus {
            let job = JobSnapshot::of(job, now_secs());
            self.core
                .backend
                .events
                .publish(BusEvent::JobSummary { job, announces_end });
        }
        self.subscribers.retain(|s| s.connected());
        if !self.subscribers.is_empty() {
            let update = JobUpdate(Arc::new(job.clone()));
            for s in &self.subscribers {
                s.do_send(update.clone());
            }
        }
    }

    /// Announces a held terminal summary once no outcome of this job is being recorded.
    fn release_terminal(&mut self) {
        if self.recording == 0
            && let Some(job) = self.held_terminal.take()
        {
            log_terminal(&job);
            self.publish(&job, true, true);
        }
    }

    /// The `scan_result` frame of a recorded result, with the job as it is now.
    fn publish_result(&self, change: &JobChange, result: ScanResultModel) {
        let now = now_secs();
        let d = change.job.derived(now);
        tracing::debug!(
            event = "notify.scan_result",
            job = %change.job.job_id,
            status = change.job.status.as_str(),
            processed = change.job.processed_count,
            total = d.total,
            duration = d.duration_secs,
            "notify.scan_result"
        );
        self.core.backend.events.publish(BusEvent::ScanResult {
            result: Arc::new(result),
            job: Some(JobSnapshot::of(&change.job, now)),
        });
    }

    /// Turns a store change into events. `by_result` changes are carried by their
    /// `scan_result` frame, so they reach only local subscribers.
    fn on_change(&mut self, change: &JobChange, by_result: bool) {
        if !change.changed {
            return;
        }
        let job = match &self.newest {
            Some(n) if n.status == change.job.status && n.finished() > change.job.finished() => n.clone(),
            _ => change.job.clone(),
        };
        self.newest = Some(job.clone());
        let job = &job;
        if change.became_terminal || (job.status.is_terminal() && change.previous != Some(job.status)) {
            if !self.terminal_announced {
                self.terminal_announced = true;
                self.held_terminal = Some(job.clone());
                self.release_terminal();
            }
            return;
        }
        let status_changed = change.previous != Some(job.status);
        self.publish(job, status_changed || !by_result, false);
    }
}

fn log_terminal(job: &JobRecord) {
    let total = job.derived(now_secs()).total;
    if job.status == crate::model::JobStatus::Completed {
        tracing::info!(
            event = "job.complete",
            job = %job.job_id,
            processed = job.processed_count,
            failed = job.failed_count,
            skipped = job.skipped_count,
            total,
            finished_at = job.finished_at,
            completed_by = job.completed_by.map(|c| c.as_str()),
            "job.complete"
        );
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(Duration::from_secs(30), |act, ctx| {
            let idle = act.last_activity.elapsed() >= IDLE_STOP;
            act.subscribers.retain(|s| s.connected());
            if idle && act.subscribers.is_empty() {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry.do_send(JobStopped {
            job_id: self.job_id.clone(),
            addr: ctx.address(),
        });
    }
}

impl Handler<ItemFinished> for JobActor {
    type Result = ResponseActFuture<Self, Result<Recorded, StoreError>>;

    fn handle(&mut self, msg: ItemFinished, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let jobs = Arc::clone(&self.core.backend.jobs);
        let ItemFinished(record) = msg;
        let by_result = matches!(record.outcome, Outcome::Processed(_));
        self.recording += 1;
        Box::pin(
            async move { jobs.record_outcome(record).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    act.recording -= 1;
                    if let Ok(Recorded {
                        change,
                        result: Some(stored),
                    }) = &res
                    {
                        act.publish_result(change, stored.result.clone());
                    }
                    if let Ok(recorded) = &res {
                        act.on_change(&recorded.change, by_result);
                    }
                    act.release_terminal();
                    res
                }),
        )
    }
}

impl Handler<ControlJob> for JobActor {
    type Result = AtomicResponse<Self, Result<Result<JobChange, ControlError>, StoreError>>;

    fn handle(&mut self, msg: ControlJob, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let jobs = Arc::clone(&self.core.backend.jobs);
        let job_id = self.job_id.clone();
        let cmd = msg.0;
        if cmd != Control::Resume {
            self.core.held.hold(&job_id);
        }
        AtomicResponse::new(Box::pin(
            async move { jobs.control(&job_id, cmd).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    act.core.held.release(&act.job_id);
                    if let Ok(Ok(change)) = &res {
                        if change.changed {
                            tracing::info!(
                                event = "job.state",
                                job = %act.job_id,
                                from = change.previous.map(|s| s.as_str()),
                                to = change.job.status.as_str(),
                                "job.state"
                            );
                        }
                        act.on_change(change, false);
                    }
                    res
                }),
        ))
    }
}

impl Handler<EnqueueDone> for JobActor {
    type Result = AtomicResponse<Self, Result<JobChange, StoreError>>;

    fn handle(&mut self, msg: EnqueueDone, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let jobs = Arc::clone(&self.core.backend.jobs);
        let job_id = self.job_id.clone();
        AtomicResponse::new(Box::pin(
            async move { jobs.enqueue_done(&job_id, msg.0, msg.1).await }
                .into_actor(self)
                .map(|res, act, _| {
                    if let Ok(change) = &res {
                        act.on_change(change, false);
                    }
                    res
                }),
        ))
    }
}

impl Handler<JobChanged> for JobActor {
    type Result = ();

    fn handle(&mut self, msg: JobChanged, _: &mut Self::Context) {
        self.last_activity = Instant::now();
        self.on_change(&msg.0, false);
    }
}

impl Handler<Subscribe> for JobActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.last_activity = Instant::now();
        self.subscribers.push(msg.0);
    }
}
