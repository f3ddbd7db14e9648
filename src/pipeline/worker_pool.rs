//! WorkerPool: the claim loop and bounded concurrency of this process's scan workers. It lives
//! with the pipeline it feeds (the pipeline reports to the job actors, so an actor module that
//! called into the pipeline would make the two depend on each other).
//!
//! One loop claims entries in batches when slots are free and runs each item as its own task
//! (holding one slot). Items are gated per job at dispatch (paused jobs park, cancelled jobs
//! skip) inside the pipeline. A panicking item is caught and dead-lettered, so one bad item
//! never takes the pool down. While the store cannot write, nothing is claimed: the store's
//! prober backs off until a write succeeds (docs/OPERATIONS.md). Talked to by the process
//! start-up (start, drain).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::Semaphore;

use crate::backend::{Claimed, Receipt, StoreError};
use crate::pipeline::{PipelineCtx, item};

/// Stops claiming and waits (up to the timeout) for in-flight items.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain(pub Duration);

/// Current figures.
#[derive(Message)]
#[rtype(result = "PoolStats")]
pub struct GetPoolStats;

#[derive(Debug, Clone, Copy, MessageResponse)]
pub struct PoolStats {
    pub concurrency: usize,
    pub in_flight: usize,
}

/// Most entries claimed at once.
const CLAIM_BATCH: usize = 64;

pub struct WorkerPool {
    ctx: Arc<PipelineCtx>,
    concurrency: usize,
    slots: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    draining: Arc<AtomicBool>,
}

impl WorkerPool {
    pub fn new(ctx: Arc<PipelineCtx>) -> Self {
        let concurrency = ctx.settings.workers.concurrency.max(1);
        Self {
            ctx,
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }
}

async fn claim_loop(
    ctx: Arc<PipelineCtx>,
    slots: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    draining: Arc<AtomicBool>,
) {
    let mut failures = 0u32;
    let health = Arc::clone(&ctx.backend.write_health);
    while !draining.load(Ordering::Acquire) {
        if health.is_degraded() {
            // Bounded, so a drain is still noticed while the store stays full.
            let _ = tokio::time::timeout(Duration::from_secs(1), health.until_writable()).await;
            continue;
        }
        let Ok(first) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let want = (slots.available_permits() + 1).min(CLAIM_BATCH);
        let claimed: Vec<Claimed> = match ctx.backend.queue.claim(want, Duration::from_millis(500)).await {
            Ok(c) => {
                failures = 0;
                c
            }
            Err(e) => {
                failures += 1;
                let wait = Duration::from_millis((100u64 << failures.min(6)).min(5_000));
                // A store that cannot write is logged once per episode by its write health.
                if !matches!(e, StoreError::CannotWrite(_)) {
                    tracing::warn!(error = %e, ?wait, "claiming work failed; backing off");
                }
                drop(first);
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let mut permit = Some(first);
        for c in claimed {
            let slot = match permit.take() {
                Some(p) => p,
                None => match Arc::clone(&slots).acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            in_flight.fetch_add(1, Ordering::AcqRel);
            ctx.metrics.item_started();
            let (ctx, in_flight) = (Arc::clone(&ctx), Arc::clone(&in_flight));
            actix::spawn(async move {
                let task = c.item.task_id.clone();
                let job = c.item.job_id.clone();
                let run = std::panic::AssertUnwindSafe(item::process(Arc::clone(&ctx), c.clone())).catch_unwind();
                let outcome = keep_claimed(&ctx, &c.receipt, run).await;
                if outcome.is_err() {
                    tracing::error!(task = %task, job = %job, "item processing panicked; dead-lettering it");
                    item::dead_letter_panicked(&ctx, c).await;
                }
                in_flight.fetch_sub(1, Ordering::AcqRel);
                ctx.metrics.item_ended();
                drop(slot);
            });
        }
    }
}

/// Runs `work` while renewing the claim on its queue entry every third of the claim idle time,
/// so a long item (a huge file, a slow scanner) is not reclaimed by another worker meanwhile.
async fn keep_claimed<F: std::future::Future>(ctx: &PipelineCtx, receipt: &Receipt, work: F) -> F::Output {
    let every = Duration::from_secs(ctx.settings.workers.claim_idle_secs.max(3) / 3);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => {
                if let Err(e) = ctx.backend.queue.renew(receipt).await {
                    tracing::warn!(error = %e, "renewing a claim failed");
                }
            }
        }
    }
}

impl Actor for WorkerPool {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        tracing::info!(concurrency = self.concurrency, "worker pool started");
        self.ctx.metrics.worker_started(self.concurrency);
        let (ctx, slots, in_flight, draining) = (
            Arc::clone(&self.ctx),
            Arc::clone(&self.slots),
            Arc::clone(&self.in_flight),
            Arc::clone(&self.draining),
        );
        // Supervises the claim loop: a panic restarts it instead of silently stopping work.
        actix::spawn(async move {
            loop {
                let run = claim_loop(
                    Arc::clone(&ctx),
                    Arc::clone(&slots),
                    Arc::clone(&in_flight),
                    Arc::clone(&draining),
                );
                let crashed = std::panic::AssertUnwindSafe(run).catch_unwind().await.is_err();
                if draining.load(Ordering::Acquire) || !crashed {
                    break;
                }
                tracing::error!("the claim loop panicked; restarting it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

impl Handler<Drain> for WorkerPool {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Drain, _: &mut Self::Context) -> Self::Result {
        self.draining.store(true, Ordering::Release);
        let in_flight = Arc::clone(&self.in_flight);
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + msg.0;
            while in_flight.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            in_flight.load(Ordering::Acquire)
        })
    }
}

impl Handler<GetPoolStats> for WorkerPool {
    type Result = PoolStats;

    fn handle(&mut self, _: GetPoolStats, _: &mut Self::Context) -> PoolStats {
        PoolStats {
            concurrency: self.concurrency,
            in_flight: self.in_flight.load(Ordering::Acquire),
        }
    }
}
