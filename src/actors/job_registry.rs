//! JobRegistry: the supervisor of JobActors. Maps job ids to live actors (starting them on
//! demand), runs the idle/lost-connector completion sweep (rules I and L, every 5 s) and the
//! retention sweep (hourly). Talked to by HTTP handlers and the pipeline through [`Jobs`].
//!
//! The map of live actors has one owner, the registry, which alone writes it; [`Jobs`] reads it
//! without a mailbox round trip (one per item would queue behind the sweeps) and asks the
//! registry only to start an actor that is not running.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;

use crate::backend::{JobChange, StoreError};

use super::job::{JobActor, JobChanged, JobStopped};
use crate::core_state::Core;
use crate::model::{ConnectorUuid, JobId};

/// Returns the actor of a job, starting it if needed.
#[derive(Message)]
#[rtype(result = "Addr<JobActor>")]
struct GetJobActor(JobId);

const SWEEP_EVERY: Duration = Duration::from_secs(5);
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Live job actors by job id: written by the registry only.
type LiveActors = Arc<RwLock<HashMap<JobId, Addr<JobActor>>>>;

pub struct JobRegistry {
    core: Arc<Core>,
    actors: LiveActors,
    sweeping: bool,
}

/// The way to a job's actor: a cheap clone for handlers and workers.
#[derive(Clone)]
pub struct Jobs {
    registry: Addr<JobRegistry>,
    live: LiveActors,
}

impl Jobs {
    /// The actor of `job_id`: the running one, else one the registry starts.
    pub async fn actor(&self, job_id: &JobId) -> Result<Addr<JobActor>, MailboxError> {
        let running = self
            .live
            .read()
            .ok()
            .and_then(|m| m.get(job_id).filter(|a| a.connected()).cloned());
        match running {
            Some(a) => Ok(a),
            None => self.registry.send(GetJobActor(job_id.clone())).await,
        }
    }
}

impl JobRegistry {
    /// Starts the registry in the current arbiter.
    pub fn start(core: Arc<Core>) -> Jobs {
        let live = LiveActors::default();
        let registry = Self {
            core,
            actors: Arc::clone(&live),
            sweeping: false,
        }
        .start();
        Jobs { registry, live }
    }

    fn actor_for(&mut self, job_id: &JobId, ctx: &mut Context<Self>) -> Addr<JobActor> {
        let Ok(mut actors) = self.actors.write() else {
            // Only a panic while writing poisons the lock; an actor outside the map still works.
            return JobActor::new(job_id.clone(), Arc::clone(&self.core), ctx.address().recipient()).start();
        };
        if let Some(a) = actors.get(job_id)
            && a.connected()
        {
            return a.clone();
        }
        let addr = JobActor::new(job_id.clone(), Arc::clone(&self.core), ctx.address().recipient()).start();
        actors.insert(job_id.clone(), addr.clone());
        addr
    }

    /// Rules I and L: completes quiet jobs and announces them through their actors.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let core = Arc::clone(&self.core);
        let fut = async move {
            // Nothing can be completed while the store cannot write (and taking the lease is a
            // write): wait for its prober instead of failing every few seconds.
            if core.backend.write_health.is_degraded() || !core.backend.maintenance.lead().await? {
                return Ok(Vec::new());
            }
            let idle = core.settings.jobs.idle_complete_secs;
            let view = Arc::clone(&core.registry_view);
            let present = move |uuid: &ConnectorUuid| view.contains(uuid);
            core.backend.jobs.sweep_idle(idle, &present).await
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.sweeping = false;
            match res {
                Ok(done) => {
                    for job in done {
                        let addr = act.actor_for(&job.job_id, ctx);
                        addr.do_send(JobChanged(JobChange {
                            job,
                            previous: Some(crate::model::JobStatus::Running),
                            became_terminal: true,
                            changed: true,
                        }));
                    }
                }
                Err(StoreError::CannotWrite(_)) => {}
                Err(e) => tracing::warn!(error = %e, "idle-completion sweep failed"),
            }
        }));
    }
}

impl Actor for JobRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(8192);
        ctx.run_interval(SWEEP_EVERY, |act, ctx| act.sweep(ctx));
        let purge = |act: &mut Self, ctx: &mut Context<Self>| {
            let m = Arc::clone(&act.core.backend.maintenance);
            ctx.spawn(
                async move {
                    let r = match m.lead().await {
                        Ok(true) => m.purge_expired().await,
                        Ok(false) => Ok(()),
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(()) | Err(StoreError::CannotWrite(_)) => {}
                        Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
                    }
                }
                .into_actor(act),
            );
        };
        purge(self, ctx);
        ctx.run_interval(PURGE_EVERY, purge);
    }
}

impl Handler<GetJobActor> for JobRegistry {
    type Result = Addr<JobActor>;

    fn handle(&mut self, msg: GetJobActor, ctx: &mut Self::Context) -> Self::Result {
        self.actor_for(&msg.0, ctx)
    }
}

impl Handler<JobStopped> for JobRegistry {
    type Result = ();

    fn handle(&mut self, msg: JobStopped, _: &mut Self::Context) {
        if let Ok(mut actors) = self.actors.write()
            && actors.get(&msg.job_id).is_some_and(|a| *a == msg.addr)
        {
            actors.remove(&msg.job_id);
        }
    }
}
