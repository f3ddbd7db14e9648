//! The event bus: the events that cross processes ([`BusEvent`]), the [`EventBus`] trait, and its
//! in-process implementation for the embedded backend ([`LocalBus`], one broadcast channel).
//!
//! An event carries the facts its consumers decide on as typed fields — the job's [`JobId`] and
//! [`JobStatus`], whether a summary announces the job's end — next to the JSON the wire needs, so
//! routing, throttling and the drop policy never read JSON back. The JSON is rendered once, by
//! the publisher, because a summary's derived figures depend on the time it was taken.
//!
//! The broadcast channel is the one buffer between publishers and the process's Broadcaster
//! (`actors/broadcaster.rs`): publishing never waits, and a subscriber more than [`CAPACITY`]
//! events behind loses the oldest ones and is told how many. Superlog is fed where results are
//! recorded, not from the bus, so a shared bus never makes two processes report one result.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::model::job::JobRecord;
use crate::model::result::ScanResultModel;
use crate::model::{JobId, JobStatus};

/// Events buffered per subscriber before the oldest are dropped.
const CAPACITY: usize = 16_384;

/// A job summary as published: the typed facts consumers decide on, and the summary JSON
/// (docs/reference/CORE-API.md, "The scan-result stream") exactly as it goes on the wire.
#[derive(Debug, Clone)]
pub struct JobSnapshot {
    pub job_id: JobId,
    pub status: JobStatus,
    pub summary: Arc<Value>,
}

/// The keys of a summary that a received payload must carry to become a [`JobSnapshot`].
#[derive(Deserialize)]
struct SnapshotKeys {
    job_id: JobId,
    status: JobStatus,
}

impl JobSnapshot {
    /// The summary of `job` as of `now`.
    pub fn of(job: &JobRecord, now: i64) -> Self {
        Self {
            job_id: job.job_id.clone(),
            status: job.status,
            summary: Arc::new(job.summary(now)),
        }
    }

    /// A summary received from another process (the Redis bus): `None` unless it names a valid
    /// job id and a known status.
    pub fn from_wire(summary: Value) -> Option<Self> {
        let keys = SnapshotKeys::deserialize(&summary).ok()?;
        Some(Self {
            job_id: keys.job_id,
            status: keys.status,
            summary: Arc::new(summary),
        })
    }
}

/// Events crossing processes (best effort: correctness never depends on delivery).
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A recorded result and its job's summary as of the recording (a `scan_result` frame).
    ScanResult {
        result: Arc<ScanResultModel>,
        job: Option<JobSnapshot>,
    },
    /// A job change no result carries (status change, `enqueue_done`, skips, failures).
    /// `announces_end` marks the one announcement of the job's end, decided once by the store
    /// and its JobActor; later updates of a finished job carry its terminal status without it.
    JobSummary { job: JobSnapshot, announces_end: bool },
    /// A connector registry event (the connector SSE stream).
    Connector(Value),
    /// A DLQ event.
    Dlq(Value),
}

/// `{"type":"scan_result","scan_result":…,"job":…}`: the SSE frame of a result and, byte for
/// byte, its payload on the Redis channel.
pub fn scan_result_json(result: &ScanResultModel, job: Option<&JobSnapshot>) -> Value {
    let mut v = json!({"type": "scan_result", "scan_result": result});
    if let Some(j) = job {
        v["job"] = (*j.summary).clone();
    }
    v
}

/// Publish/subscribe of [`BusEvent`]s.
pub trait EventBus: Send + Sync {
    fn publish(&self, ev: BusEvent);
    fn subscribe(&self) -> broadcast::Receiver<BusEvent>;
    /// Whether the bus currently delivers (false while Redis is unreachable).
    fn healthy(&self) -> bool {
        true
    }
}

pub struct LocalBus {
    tx: broadcast::Sender<BusEvent>,
}

impl LocalBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for LocalBus {
    fn publish(&self, ev: BusEvent) {
        // No subscriber yet is fine: events are best effort (docs/reference/CORE-API.md,
        // "Redis channels").
        let _ = self.tx.send(ev);
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_from_the_wire_needs_a_valid_job_id_and_a_known_status() {
        let ok = JobSnapshot::from_wire(json!({"job_id": "j-1", "status": "cancelled", "processed_count": 3}))
            .expect("a valid summary");
        assert_eq!((ok.job_id.as_str(), ok.status), ("j-1", JobStatus::Cancelled));
        assert_eq!(ok.summary["processed_count"], 3);
        assert!(JobSnapshot::from_wire(json!({"job_id": "a:b", "status": "running"})).is_none());
        assert!(JobSnapshot::from_wire(json!({"job_id": "j", "status": "finished"})).is_none());
        assert!(JobSnapshot::from_wire(json!({"status": "running"})).is_none());
    }
}
