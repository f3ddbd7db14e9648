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
//!
//! A plain struct with a spawned task, not an actor: its state is a semaphore and two counters
//! that the item tasks update from their own threads, and its only commands (drain, figures)
//! read them; a mailbox would add a hop and own nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore};

use crate::backend::{Claimed, Receipt, StoreError};
use crate::pipeline::{Pipeline, item};
use crate::retry::{Backoff, Jitter};

/// Current figures.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub concurrency: usize,
    pub in_flight: usize,
}

/// Most entries claimed at once.
const CLAIM_BATCH: usize = 64;

/// Waits after failed claims (a store that is down): 200 ms doubling to 5 s, with jitter so
/// many workers do not retry in step.
const CLAIM_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).jitter(Jitter::Half);

pub struct WorkerPool {
    concurrency: usize,
    slots: Arc<Semaphore>,
    in_flight: AtomicUsize,
    /// Signalled when the last in-flight item ends (drain waits on it).
    idle: Notify,
    draining: AtomicBool,
}

impl WorkerPool {
    /// Starts the pool's supervised claim loop on the current arbiter.
    pub fn start(ctx: Arc<Pipeline>) -> Arc<Self> {
        let concurrency = ctx.core.settings.workers.concurrency.max(1);
        let pool = Arc::new(Self {
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            draining: AtomicBool::new(false),
        });
        tracing::info!(concurrency, "worker pool started");
        ctx.core.metrics.worker_started(concurrency);
        let me = Arc::clone(&pool);
        // Supervises the claim loop: a panic restarts it instead of silently stopping work.
        actix::spawn(async move {
            loop {
                let run = claim_loop(Arc::clone(&ctx), Arc::clone(&me));
                let crashed = std::panic::AssertUnwindSafe(run).catch_unwind().await.is_err();
                if me.draining.load(Ordering::Acquire) || !crashed {
                    break;
                }
                tracing::error!("the claim loop panicked; restarting it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        pool
    }

    /// Stops claiming and waits (up to `grace`) for in-flight items; returns how many are still
    /// running.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            // Registered before the check, so an item ending in between still wakes us.
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let left = self.in_flight.load(Ordering::Acquire);
            if left == 0 || tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight.load(Ordering::Acquire);
            }
        }
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            concurrency: self.concurrency,
            in_flight: self.in_flight.load(Ordering::Acquire),
        }
    }

    fn item_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

async fn claim_loop(ctx: Arc<Pipeline>, pool: Arc<WorkerPool>) {
    let slots = &pool.slots;
    let mut failures = 0u32;
    let health = Arc::clone(&ctx.core.backend.write_health);
    while !pool.draining.load(Ordering::Acquire) {
        if health.is_degraded() {
            // Bounded, so a drain is still noticed while the store stays full.
            let _ = tokio::time::timeout(Duration::from_secs(1), health.until_writable()).await;
            continue;
        }
        let Ok(first) = Arc::clone(slots).acquire_owned().await else {
            return;
        };
        let want = (slots.available_permits() + 1).min(CLAIM_BATCH);
        let claimed: Vec<Claimed> = match ctx.core.backend.queue.claim(want, Duration::from_millis(500)).await {
            Ok(c) => {
                failures = 0;
                c
            }
            Err(e) => {
                failures += 1;
                let wait = CLAIM_BACKOFF.delay(failures);
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
                None => match Arc::clone(slots).acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            pool.in_flight.fetch_add(1, Ordering::AcqRel);
            ctx.core.metrics.item_started();
            let (ctx, pool) = (Arc::clone(&ctx), Arc::clone(&pool));
            actix::spawn(async move {
                let task = c.item.task_id.clone();
                let job = c.item.job_id.clone();
                let run = std::panic::AssertUnwindSafe(item::process(Arc::clone(&ctx), c.clone())).catch_unwind();
                let outcome = keep_claimed(&ctx, &c.receipt, run).await;
                if outcome.is_err() {
                    tracing::error!(task = %task, job = %job, "item processing panicked; dead-lettering it");
                    item::dead_letter_panicked(&ctx, c).await;
                }
                pool.item_ended();
                ctx.core.metrics.item_ended();
                drop(slot);
            });
        }
    }
}

/// Runs `work` while renewing the claim on its queue entry every third of the claim idle time,
/// so a long item (a huge file, a slow scanner) is not reclaimed by another worker meanwhile.
async fn keep_claimed<F: std::future::Future>(ctx: &Pipeline, receipt: &Receipt, work: F) -> F::Output {
    let every = Duration::from_secs(ctx.core.settings.workers.claim_idle_secs.max(3) / 3);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => {
                if let Err(e) = ctx.core.backend.queue.renew(receipt).await {
                    tracing::warn!(error = %e, "renewing a claim failed");
                }
            }
        }
    }
}
