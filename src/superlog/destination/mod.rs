//! The destination actor (docs/reference/SUPERLOG.md, "Common destination behaviour";
//! docs/ARCHITECTURE.md, "7a. Superlog"): one task per
//! destination owning its batcher, retry state and [`Sink`].
//!
//! The task pulls events from the destination's drop-oldest [`Buffer`], runs them through the
//! acceptance filter, the redaction chain and the sink's formatter, forms batches and delivers
//! them with capped, jittered backoff. Everything a destination does happens here, so a slow or
//! failing receiver only ever fills its own buffer. The one check on the emitting side is the
//! event-type filter ([`Shared::push`]), a bit test.

pub mod cloudwatch;
pub mod http;
pub mod sentinel;
pub mod splunk;
pub mod syslog;
pub mod tls;
pub mod webhook;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::buffer::Buffer;
use super::event::{Event, EventTypes};
use super::fit::Fitted;
use super::metrics::{DropReason, FailReason, Metrics, WarnLimiter};
use super::redact::Chain;
use crate::retry::{Backoff, Jitter};

/// Longest wait before a retry, even when a receiver asks for more (docs/reference/SUPERLOG.md,
/// "Retries and backoff").
const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// One formatted event, ready to travel.
#[derive(Debug, Clone)]
pub struct Unit {
    pub text: String,
    pub event: Arc<Event>,
}

/// What a send achieved when it did not fail as a whole: the events (by index in the batch)
/// the receiver refused for good; all others were delivered.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub failed: Vec<(usize, FailReason)>,
}

/// A failed send of a whole batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    /// Retry the same batch later ("Retries and backoff"); otherwise its events are `failed`.
    pub retriable: bool,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The reason counted for a permanent failure.
    pub reason: FailReason,
    /// Short, secret-free text for logs and status.
    pub message: String,
}

impl SendError {
    pub fn retriable(message: impl Into<String>) -> Self {
        Self {
            retriable: true,
            retry_after: None,
            reason: FailReason::Exhausted,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retriable: false,
            retry_after: None,
            reason: FailReason::Permanent,
            message: message.into(),
        }
    }
}

/// How a destination batches.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_events: usize,
    /// Sum of unit sizes (plus `overhead` each) in one batch.
    pub max_bytes: usize,
    pub overhead: usize,
    /// HTTP destinations wait this long for a batch to fill; stream transports send at once.
    pub flush_interval: Option<Duration>,
    /// A batch holds events of one type only (for receivers that take each type at its own
    /// address, like Sentinel's streams).
    pub one_type_per_batch: bool,
}

/// A destination's protocol: formatting and delivery of one batch.
#[async_trait]
pub trait Sink: Send {
    fn limits(&self) -> Limits;
    /// Formats one redacted event, fitted to the destination's size limit; `None` when it
    /// cannot fit ("Size fitting" R6).
    fn encode(&self, event: &mut Value) -> Option<Fitted>;
    /// Delivers one batch (each call is bounded by the sink's own timeouts).
    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError>;
    /// Closes connections cleanly (TLS `close_notify`).
    async fn close(&mut self) {}
}

/// Settings every destination shares ("Global and per-destination settings").
#[derive(Debug)]
pub struct Policy {
    /// Canonical verdict strings accepted for scan results; `None` accepts all.
    pub verdicts: Option<Vec<String>>,
    pub redaction: Chain,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// The state a destination shares with the emitting side and the status endpoint.
pub struct Shared {
    pub name: &'static str,
    /// The event types this destination takes (`EVENT_TYPES`).
    pub event_types: EventTypes,
    pub buffer: Buffer,
    pub metrics: Metrics,
    pub warn: WarnLimiter,
}

impl Shared {
    /// Hands an event over (non-blocking); a full buffer drops its oldest event. An event of a
    /// type this destination does not take is counted `filtered` at once: it never occupies
    /// the buffer, where it could push out an event the destination does take.
    pub fn push(&self, ev: Arc<Event>) {
        self.metrics.emitted.fetch_add(1, Relaxed);
        if !self.event_types.contains(ev.kind()) {
            self.metrics.filtered.fetch_add(1, Relaxed);
            return;
        }
        if let Some(old) = self.buffer.push(ev) {
            self.metrics.dropped(DropReason::BufferFull, 1);
            self.warn
                .note(DropReason::BufferFull.as_str(), &old, 1, self.metrics.dropped_total());
        }
    }
}

/// `Some(deadline)` once shutdown started: flush until then, then stop.
pub type ShutdownRx = watch::Receiver<Option<Instant>>;

/// The destination task. Returns when shut down and flushed (or out of time).
pub async fn run(shared: Arc<Shared>, policy: Policy, mut sink: Box<dyn Sink>, mut shutdown: ShutdownRx) {
    let limits = sink.limits();
    let mut pending: VecDeque<Unit> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let deadline = *shutdown.borrow();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if pending.is_empty() {
            if shared.buffer.is_empty() {
                if deadline.is_some() {
                    break;
                }
                tokio::select! {
                    _ = shared.buffer.wait() => {}
                    r = shutdown.changed() => if r.is_err() { break },
                    _ = tick.tick() => shared.warn.tick(),
                }
                continue;
            }
            if let (Some(flush), None) = (limits.flush_interval, deadline)
                && shared.buffer.len() < limits.max_events
                && let Some(oldest) = shared.buffer.oldest_at()
            {
                let due = Instant::from_std(oldest) + flush;
                if Instant::now() < due {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = shared.buffer.wait() => {}
                        r = shutdown.changed() => if r.is_err() { break },
                    }
                    continue;
                }
            }
            let events = shared.buffer.take(limits.max_events);
            shared.metrics.in_flight.fetch_add(events.len() as u64, Relaxed);
            for ev in events {
                if let Some(u) = prepare(&shared, &policy, sink.as_ref(), ev) {
                    pending.push_back(u);
                }
            }
            continue;
        }
        let batch = next_batch(&mut pending, &limits);
        let n = batch.len() as u64;
        let delivered = deliver(&shared, &policy, sink.as_mut(), &batch, &mut shutdown).await;
        shared.metrics.in_flight.fetch_sub(n, Relaxed);
        if !delivered {
            pending.extend(batch);
            break;
        }
    }
    let mut left: Vec<Arc<Event>> = pending.into_iter().map(|u| u.event).collect();
    shared.metrics.in_flight.store(0, Relaxed);
    left.extend(shared.buffer.drain_all());
    if let Some(last) = left.last() {
        shared.metrics.dropped(DropReason::Shutdown, left.len() as u64);
        let (job, task) = last.scan_context();
        tracing::warn!(
            target: "superlog",
            destination = shared.name,
            reason = "shutdown",
            count = left.len(),
            event_type = last.kind().as_str(),
            event_id = %last.event_id(),
            job_id = job.unwrap_or(""),
            scan_request_task_id = %task,
            "superlog events not delivered before shutdown"
        );
    }
    sink.close().await;
}

/// Filter, redaction, formatting and fitting of one event ("Processing steps"); `None` when it is
/// not sent.
fn prepare(shared: &Shared, policy: &Policy, sink: &dyn Sink, ev: Arc<Event>) -> Option<Unit> {
    let m = &shared.metrics;
    if let (Some(accepted), Some(verdict)) = (&policy.verdicts, ev.verdict())
        && !accepted.iter().any(|a| a == verdict)
    {
        m.filtered.fetch_add(1, Relaxed);
        m.in_flight.fetch_sub(1, Relaxed);
        return None;
    }
    let mut value = ev.to_value();
    policy.redaction.apply(ev.kind(), &mut value);
    match sink.encode(&mut value) {
        Some(f) => {
            if f.reduced {
                m.truncated.fetch_add(1, Relaxed);
            }
            Some(Unit {
                text: f.text,
                event: ev,
            })
        }
        None => {
            m.failed(FailReason::Oversize, 1);
            m.in_flight.fetch_sub(1, Relaxed);
            shared
                .warn
                .note(FailReason::Oversize.as_str(), &ev, 1, m.failed_total());
            None
        }
    }
}

/// The next batch from the head of `pending`, within the count and byte limits (at least one
/// unit, so an event at the byte limit still travels alone) and, when the sink asks, of the
/// head's event type only.
fn next_batch(pending: &mut VecDeque<Unit>, limits: &Limits) -> Vec<Unit> {
    let Some(kind) = pending.front().map(|u| u.event.kind()) else {
        return Vec::new();
    };
    let mut bytes = 0;
    let mut n = 0;
    for u in pending.iter() {
        let size = u.text.len() + limits.overhead;
        let other_type = limits.one_type_per_batch && u.event.kind() != kind;
        if n > 0 && (n >= limits.max_events || bytes + size > limits.max_bytes || other_type) {
            break;
        }
        bytes += size;
        n += 1;
    }
    pending.drain(..n).collect()
}

/// Sends one batch until it is delivered, refused for good or out of attempts. Returns false
/// when shutdown's deadline passed with the batch undelivered.
async fn deliver(
    shared: &Shared,
    policy: &Policy,
    sink: &mut dyn Sink,
    batch: &[Unit],
    shutdown: &mut ShutdownRx,
) -> bool {
    let m = &shared.metrics;
    let n = batch.len() as u64;
    let mut attempt = 1u32;
    loop {
        let deadline = *shutdown.borrow();
        let outcome = match deadline {
            Some(d) => match tokio::time::timeout_at(d, sink.send(batch)).await {
                Ok(o) => o,
                Err(_) => return false,
            },
            None => sink.send(batch).await,
        };
        let e = match outcome {
            Ok(report) => {
                let failed = report.failed.len() as u64;
                for (i, reason) in &report.failed {
                    m.failed(*reason, 1);
                    shared.warn.note(reason.as_str(), &batch[*i].event, 1, m.failed_total());
                }
                m.sent.fetch_add(n - failed, Relaxed);
                if failed < n {
                    m.succeeded();
                } else {
                    m.batch_failed();
                }
                return true;
            }
            Err(e) => e,
        };
        m.error(&e.message);
        let reason = if !e.retriable {
            Some(e.reason)
        } else if attempt >= policy.max_attempts {
            Some(FailReason::Exhausted)
        } else {
            None
        };
        if let Some(reason) = reason {
            m.failed(reason, n);
            m.batch_failed();
            if let Some(last) = batch.last() {
                shared.warn.note(reason.as_str(), &last.event, n, m.failed_total());
            }
            tracing::debug!(target: "superlog", destination = shared.name, error = %e.message, "batch given up");
            return true;
        }
        m.set_retrying(true);
        let wait = Backoff::new(policy.backoff_base, policy.backoff_max)
            .jitter(Jitter::Half)
            .delay_honouring(attempt, e.retry_after, RETRY_AFTER_CAP);
        let until = Instant::now() + wait;
        loop {
            let deadline = *shutdown.borrow();
            let stop_at = deadline.map_or(until, |d| d.min(until));
            tokio::select! {
                _ = tokio::time::sleep_until(stop_at) => {}
                r = shutdown.changed() => match r {
                    Ok(()) => continue,
                    // The superlog is gone without a shutdown: nobody will flush.
                    Err(_) => return false,
                },
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            break;
        }
        m.retried.fetch_add(n, Relaxed);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests;
