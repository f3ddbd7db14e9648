//! JobRegistry: the supervisor of JobActors. Maps job ids to live actors (starting them on
//! demand), runs the idle/lost-connector completion sweep (rules I and L, every 5 s) and the
//! retention sweep (hourly). Talked to by HTTP handlers and the pipeline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::backend::{JobChange, StoreError};

use super::Services;
use super::job::{JobActor, JobChanged, JobStopped};

/// Returns the actor of a job, starting it if needed.
#[derive(Message)]
#[rtype(result = "Addr<JobActor>")]
pub struct GetJobActor(pub String);

const SWEEP_EVERY: Duration = Duration::from_secs(5);
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub struct JobRegistry {
    services: Arc<Services>,
    actors: HashMap<String, Addr<JobActor>>,
    sweeping: bool,
}

impl JobRegistry {
    pub fn new(services: Arc<Services>) -> Self {
        Self {
            services,
            actors: HashMap::new(),
            sweeping: false,
        }
    }

    fn actor_for(&mut self, job_id: &str, ctx: &mut Context<Self>) -> Addr<JobActor> {
        if let Some(a) = self.actors.get(job_id)
            && a.connected()
        {
            return a.clone();
        }
        let addr = JobActor::new(
            job_id.to_string(),
            Arc::clone(&self.services),
            ctx.address().recipient(),
        )
        .start();
        self.actors.insert(job_id.to_string(), addr.clone());
        addr
    }

    /// Rules I and L: completes quiet jobs and announces them through their actors.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let services = Arc::clone(&self.services);
        let fut = async move {
            // Nothing can be completed while the store cannot write (and taking the lease is a
            // write): wait for its prober instead of failing every few seconds.
            if services.backend.write_health.is_degraded() || !services.backend.maintenance.lead().await? {
                return Ok(Vec::new());
            }
            let idle = services.settings.jobs.idle_complete_secs;
            let view = Arc::clone(&services.registry_view);
            let present = move |uuid: &str| view.contains(uuid);
            services.backend.jobs.sweep_idle(idle, &present).await
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
            let m = Arc::clone(&act.services.backend.maintenance);
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
        if self.actors.get(&msg.job_id).is_some_and(|a| *a == msg.addr) {
            self.actors.remove(&msg.job_id);
        }
    }
}

/// Convenience: the actor of `job_id`.
pub async fn job_actor(registry: &Addr<JobRegistry>, job_id: &str) -> Result<Addr<JobActor>, MailboxError> {
    registry.send(GetJobActor(job_id.to_string())).await
}
