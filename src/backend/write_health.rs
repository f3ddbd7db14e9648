//! Whether the store can write: a disk full under the embedded store, Redis at `maxmemory`
//! with `noeviction`.
//!
//! Such a store still answers reads, so a read-only probe calls it ready while every outcome a
//! worker tries to record is refused, and each refusal used to send the item back to be
//! fetched and scanned again, in a loop. Instead the stores report every write refused for lack
//! of room here; while the state lasts, readiness answers 503, intake answers 503 with
//! `Retry-After`, workers stop claiming, and items already worked on keep their claim and wait
//! to record what they found. One prober per process ([`spawn_prober`]) tries a small write
//! with exponential backoff and ends the state when it succeeds. Transitions are logged once
//! each; single refusals only count.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{Maintenance, StoreError, StoreResult};
use crate::model::now_ms;
use crate::retry::Backoff;

/// First wait of the prober after writes started failing.
const PROBE_FIRST: Duration = Duration::from_millis(250);
/// Longest wait between two probes.
const PROBE_MAX: Duration = Duration::from_secs(30);

/// The state while writes fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    /// The store's message for the latest refused write.
    pub reason: String,
    /// Epoch ms of the first refusal of this episode.
    pub since_ms: i64,
}

/// Shared by the store (which reports refusals) and everything that must react to them.
#[derive(Debug)]
pub struct WriteHealth {
    state: Mutex<Option<Degraded>>,
    /// Refused writes since the process started.
    failures: AtomicU64,
    /// `true` while the store writes; waiters and the prober watch it.
    writable: watch::Sender<bool>,
    /// Epoch ms of the prober's next attempt (0 when none is planned).
    next_probe_ms: AtomicI64,
}

impl Default for WriteHealth {
    fn default() -> Self {
        Self {
            state: Mutex::new(None),
            failures: AtomicU64::new(0),
            writable: watch::Sender::new(true),
            next_probe_ms: AtomicI64::new(0),
        }
    }
}

impl WriteHealth {
    /// Counts a refused write; the first one of an episode is logged and stops the workers.
    pub fn write_refused(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let Ok(mut state) = self.state.lock() else { return };
        match state.as_mut() {
            Some(d) => d.reason = reason.to_string(),
            None => {
                tracing::error!(
                    event = "store.write_failed",
                    reason,
                    "the store cannot write: readiness fails, intake answers 503, workers stop claiming until it can"
                );
                *state = Some(Degraded {
                    reason: reason.to_string(),
                    since_ms: now_ms(),
                });
                self.writable.send_replace(false);
            }
        }
    }

    /// Ends an episode (a write went through); logged once.
    pub fn write_succeeded(&self) {
        let Ok(mut state) = self.state.lock() else { return };
        if let Some(d) = state.take() {
            tracing::info!(
                event = "store.write_recovered",
                after_ms = now_ms() - d.since_ms,
                failures = self.failures(),
                "the store writes again: workers resume"
            );
            self.writable.send_replace(true);
        }
    }

    /// The current episode, if writes fail.
    pub fn degraded(&self) -> Option<Degraded> {
        self.state.lock().ok().and_then(|s| s.clone())
    }

    pub fn is_degraded(&self) -> bool {
        !*self.writable.borrow()
    }

    /// Refused writes since the process started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Returns once the store writes (at once when it does).
    pub async fn until_writable(&self) {
        let mut rx = self.writable.subscribe();
        // The sender lives as long as `self`: the wait cannot end with an error while it runs.
        let _ = rx.wait_for(|w| *w).await;
    }

    /// How long a client should wait before retrying: until the next probe, at least 1 s.
    pub fn retry_after(&self) -> Duration {
        let wait = self.next_probe_ms.load(Ordering::Relaxed) - now_ms();
        Duration::from_millis(wait.clamp(1_000, PROBE_MAX.as_millis() as i64) as u64)
    }

    /// Reports the outcome of a store call: a refused write starts (or extends) an episode.
    pub fn observe<T>(&self, r: StoreResult<T>) -> StoreResult<T> {
        if let Err(StoreError::CannotWrite(reason)) = &r {
            self.write_refused(&reason.to_string());
        }
        r
    }
}

/// Runs `op` until it is not refused for lack of room, waiting for the store to write again
/// between tries. Used for the writes of an item already worked on: its result must be
/// recorded, not fetched and scanned again. Other errors are returned as they are.
pub async fn when_writable<T, F, Fut>(health: &WriteHealth, mut op: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    loop {
        health.until_writable().await;
        match op().await {
            Err(StoreError::CannotWrite(reason)) => {
                // Stores report their refusals; one that did not (or a recovery that came in
                // between) must not turn this into a busy loop.
                if !health.is_degraded() {
                    health.write_refused(&reason.to_string());
                }
            }
            other => return other,
        }
    }
}

/// Starts this process's prober: while writes fail, a small write is tried after 250 ms, then
/// after doubling waits up to 30 s, until one succeeds.
pub fn spawn_prober(health: Arc<WriteHealth>, store: Arc<dyn Maintenance>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = health.writable.subscribe();
        loop {
            if rx.wait_for(|w| !*w).await.is_err() {
                return;
            }
            let probes = Backoff::new(PROBE_FIRST, PROBE_MAX);
            let mut failures = 0u32;
            let mut wait = probes.delay(1);
            while health.is_degraded() {
                health
                    .next_probe_ms
                    .store(now_ms() + wait.as_millis() as i64, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                // The store counts a refused probe like any refused write.
                match store.probe_write().await {
                    Ok(()) => health.write_succeeded(),
                    // Unreachable or refusing for another reason: readiness reports that itself;
                    // keep probing at the same pace.
                    Err(e) => {
                        tracing::debug!(error = %e, ?wait, "store write probe failed");
                        failures = failures.saturating_add(1);
                        wait = probes.delay(failures + 1);
                    }
                }
            }
            health.next_probe_ms.store(0, Ordering::Relaxed);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_episode_starts_once_counts_every_refusal_and_ends_on_success() {
        let h = Arc::new(WriteHealth::default());
        assert!(!h.is_degraded());
        h.write_refused("disk full");
        h.write_refused("still full");
        assert_eq!(h.failures(), 2);
        let d = h.degraded().expect("degraded");
        assert_eq!(d.reason, "still full");
        let waiter = tokio::spawn({
            let h = Arc::clone(&h);
            async move { h.until_writable().await }
        });
        assert!(!waiter.is_finished());
        h.write_succeeded();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter wakes")
            .unwrap();
        assert_eq!(h.degraded(), None);
        assert_eq!(h.failures(), 2);
    }

    #[tokio::test]
    async fn when_writable_retries_a_refused_write_after_recovery_only() {
        let h = Arc::new(WriteHealth::default());
        let tries = Arc::new(AtomicU64::new(0));
        let run = tokio::spawn({
            let (h, tries) = (Arc::clone(&h), Arc::clone(&tries));
            async move {
                when_writable(&h, || {
                    let n = tries.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n == 0 {
                            Err(StoreError::CannotWrite(crate::backend::Cause::msg("full")))
                        } else {
                            Ok(n)
                        }
                    }
                })
                .await
            }
        });
        // The first try is refused and nothing is tried again while the store cannot write.
        while !h.is_degraded() {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        h.write_succeeded();
        let got = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.unwrap(), 1);
    }
}
