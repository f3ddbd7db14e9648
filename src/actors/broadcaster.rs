//! Broadcaster: fans the process's bus events out to every open event stream.
//!
//! One task reads the event bus and, for each event, decides once which streams want it, renders
//! its frame once, passes `job_summary` frames through the one throttle
//! (`actors/summary_throttle.rs`, per job for all scan-result streams and per job for its
//! job-summary streams) and pushes the frame onto each wanted stream's buffer
//! (`actors/sse.rs`, where the drop policy lives). Pushing never waits, so no client can slow
//! the others or the publishers.
//!
//! A plain struct and a spawned task, not an actor: its inputs are the bus receiver (already a
//! bounded channel) and "a stream opened" (a push onto a shared list), and its state — the open
//! streams and the throttle — has one owner, the task, except for that list. An actor would put
//! a mailbox, a second bounded buffer with its own drop rule, between the bus and the streams;
//! so would one per stream. The buffers on the way from a recorded result to an SSE frame are
//! therefore two: the bus's (publishers never wait; a lagging reader loses the oldest events and
//! the scan-result streams are told how many) and each stream's (the drop policy).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::sse::{self, Frame, SessionQueue, StreamKind};
use super::summary_throttle::{Offer, SummaryThrottle};
use crate::backend::events::scan_result_json;
use crate::backend::{BusEvent, EventBus, JobSnapshot, JobStore};
use crate::model::{JobId, now_secs};

/// Most events handled under one lock of the stream list.
const BATCH: usize = 256;

/// Which streams a throttled summary goes to: every scan-result stream, or the job-summary
/// streams of its job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Audience {
    ScanResults,
    JobSummary,
}

type Key = (Audience, JobId);

struct Stream {
    queue: Arc<SessionQueue>,
    kind: StreamKind,
}

/// The open streams, shared by the fan-out task and the HTTP handlers that open streams.
pub struct Broadcaster {
    streams: Mutex<Vec<Stream>>,
}

impl Broadcaster {
    /// Subscribes to `bus` and starts the fan-out task (it ends when the bus closes).
    pub fn start(bus: &dyn EventBus) -> Arc<Self> {
        let me = Arc::new(Self {
            streams: Mutex::new(Vec::new()),
        });
        tokio::spawn(fan_out(Arc::clone(&me), bus.subscribe()));
        me
    }

    /// Opens a stream: its buffer with the opening frames, registered before this returns (so
    /// no event published after the response starts can miss it), and its ticker.
    pub fn open(&self, kind: StreamKind, jobs: Arc<dyn JobStore>, log_frames: bool) -> Arc<SessionQueue> {
        let queue = self.attach(kind.clone(), log_frames);
        sse::spawn_ticker(Arc::clone(&queue), kind, jobs);
        queue
    }

    /// Registers a stream's buffer without its ticker.
    fn attach(&self, kind: StreamKind, log_frames: bool) -> Arc<SessionQueue> {
        let queue = sse::open_queue(&kind, log_frames);
        if let Ok(mut s) = self.streams.lock() {
            s.push(Stream {
                queue: Arc::clone(&queue),
                kind,
            });
        }
        queue
    }

    /// Delivers a batch of events to the open streams.
    fn deliver(&self, throttle: &mut SummaryThrottle<Key, Frame>, events: Vec<BusEvent>) {
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        streams.retain(|s| !s.queue.is_closed());
        if streams.is_empty() {
            return;
        }
        let routes = Routes::of(&streams);
        let now = Instant::now();
        for ev in events {
            match ev {
                BusEvent::Connector(v) if routes.connectors => {
                    let f = Frame::data(&v, false);
                    push(&streams, |k| matches!(k, StreamKind::Connectors), &f);
                }
                BusEvent::ScanResult { result, job } => {
                    if routes.scan_results {
                        let droppable = job.as_ref().is_none_or(|j| !j.status.is_terminal());
                        let f = Frame::data(&scan_result_json(&result, job.as_ref()), droppable);
                        push(&streams, |k| matches!(k, StreamKind::ScanResults), &f);
                    }
                    if let Some(job) = job
                        && routes.watched.contains(&job.job_id)
                    {
                        let key = (Audience::JobSummary, job.job_id.clone());
                        let offer = Offer {
                            status: job.status,
                            announces_end: false,
                        };
                        if let Some(f) = throttle.offer(&key, offer, summary_frame(&job), now) {
                            push_to(&streams, &key, &f);
                        }
                    }
                }
                BusEvent::JobSummary { job, announces_end } => {
                    let offer = Offer {
                        status: job.status,
                        announces_end,
                    };
                    let frame = summary_frame(&job);
                    let mut audiences = Vec::with_capacity(2);
                    if routes.scan_results {
                        audiences.push(Audience::ScanResults);
                    }
                    if routes.watched.contains(&job.job_id) {
                        audiences.push(Audience::JobSummary);
                    }
                    for a in audiences {
                        let key = (a, job.job_id.clone());
                        if let Some(f) = throttle.offer(&key, offer, frame.clone(), now) {
                            push_to(&streams, &key, &f);
                        }
                    }
                }
                BusEvent::Connector(_) | BusEvent::Dlq(_) => {}
            }
        }
    }

    /// Sends the throttled summaries that came due.
    fn flush(&self, throttle: &mut SummaryThrottle<Key, Frame>) {
        let due = throttle.take_due(Instant::now());
        if due.is_empty() {
            return;
        }
        if let Ok(streams) = self.streams.lock() {
            for (key, f) in &due {
                push_to(&streams, key, f);
            }
        }
    }

    /// The bus dropped `n` events this process had not read: the scan-result streams, which
    /// want nearly all of them, are told.
    fn lost(&self, n: u64) {
        tracing::warn!(dropped = n, "SSE fan-out fell behind the event bus; events dropped");
        if let Ok(streams) = self.streams.lock() {
            for s in streams.iter().filter(|s| s.kind == StreamKind::ScanResults) {
                s.queue.note_lost(n);
            }
        }
    }
}

/// Which streams are open, computed once per batch.
struct Routes {
    scan_results: bool,
    connectors: bool,
    /// Jobs with an open job-summary stream.
    watched: HashSet<JobId>,
}

impl Routes {
    fn of(streams: &[Stream]) -> Self {
        let mut r = Routes {
            scan_results: false,
            connectors: false,
            watched: HashSet::new(),
        };
        for s in streams {
            match &s.kind {
                StreamKind::ScanResults => r.scan_results = true,
                StreamKind::Connectors => r.connectors = true,
                StreamKind::JobSummary { job_id, .. } => {
                    r.watched.insert(job_id.clone());
                }
            }
        }
        r
    }
}

/// `{"type":"job_summary","ts","job"}`; droppable unless the job's status is terminal.
fn summary_frame(job: &JobSnapshot) -> Frame {
    Frame::data(
        &json!({"type": "job_summary", "ts": now_secs(), "job": &*job.summary}),
        !job.status.is_terminal(),
    )
}

fn push(streams: &[Stream], wants: impl Fn(&StreamKind) -> bool, f: &Frame) {
    for s in streams.iter().filter(|s| wants(&s.kind)) {
        s.queue.push(f.clone());
    }
}

/// A throttled summary to the streams of its key.
fn push_to(streams: &[Stream], key: &Key, f: &Frame) {
    match key {
        (Audience::ScanResults, _) => push(streams, |k| matches!(k, StreamKind::ScanResults), f),
        (Audience::JobSummary, id) => push(
            streams,
            |k| matches!(k, StreamKind::JobSummary { job_id, .. } if job_id == id),
            f,
        ),
    }
}

/// The fan-out task: bus events in batches, and the throttle's held frames when they come due.
async fn fan_out(me: Arc<Broadcaster>, mut rx: broadcast::Receiver<BusEvent>) {
    let mut throttle = SummaryThrottle::default();
    loop {
        let due = throttle.next_due();
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    let mut batch = vec![ev];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(ev) => batch.push(ev),
                            Err(_) => break,
                        }
                    }
                    me.deliver(&mut throttle, batch);
                }
                Err(RecvError::Lagged(n)) => me.lost(n),
                Err(RecvError::Closed) => break,
            },
            _ = sleep_until(due) => me.flush(&mut throttle),
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::backend::events::LocalBus;
    use crate::model::result::ScanResultModel;
    use crate::model::{
        Engine, ItemAction, ItemActionStatusResponse, ScanRequestModel, StatusKind, Verdict, VerdictKind,
    };

    fn snapshot(job: &str, status: &str, processed: u64) -> JobSnapshot {
        JobSnapshot::from_wire(json!({"job_id": job, "status": status, "processed_count": processed}))
            .expect("a valid summary")
    }

    fn result(i: u64) -> Arc<ScanResultModel> {
        let verdict = Verdict::bare(VerdictKind::Benign, Engine::Clamd);
        let action = ItemActionStatusResponse::new(StatusKind::Nothing, "", ItemAction::Nothing);
        let req = ScanRequestModel::new(format!("/f{i}"), "m");
        let mut r = ScanResultModel::new(&format!("t{i}"), req, verdict, action, chrono::Utc::now());
        r.id = i as i64;
        Arc::new(r)
    }

    /// Reads the stream's frames until `pred` holds for one (with a generous deadline).
    async fn read_until(q: Arc<SessionQueue>, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        use futures_util::StreamExt;
        let mut body = Box::pin(sse::body_stream(q));
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let next = tokio::time::timeout_at(deadline, body.next()).await;
            let Ok(Some(Ok(bytes))) = next else {
                panic!("no frame matched; got {out:?}")
            };
            let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
            let Some(data) = text.strip_prefix("data: ") else {
                continue;
            };
            let v: Value = serde_json::from_str(data.trim_end()).expect("JSON");
            let done = pred(&v);
            out.push(v);
            if done {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn a_client_that_reads_late_gets_the_newest_results_the_end_and_the_count_of_the_rest() {
        let bus = LocalBus::new();
        let b = Broadcaster::start(&bus);
        let q = b.attach(StreamKind::ScanResults, false);
        let n = sse::SESSION_CAPACITY as u64 + 500;
        for i in 0..n {
            bus.publish(BusEvent::ScanResult {
                result: result(i),
                job: Some(snapshot("j", "running", i + 1)),
            });
        }
        bus.publish(BusEvent::JobSummary {
            job: snapshot("j", "completed", n),
            announces_end: true,
        });
        let frames = read_until(q, |v| v["type"] == "job_summary").await;
        let dropped: u64 = frames
            .iter()
            .filter(|f| f["type"] == "dropped")
            .map(|f| f["count"].as_u64().unwrap_or(0))
            .sum();
        let results: Vec<u64> = frames
            .iter()
            .filter(|f| f["type"] == "scan_result")
            .map(|f| f["scan_result"]["id"].as_u64().unwrap_or(0))
            .collect();
        assert!(dropped > 0, "a client that did not read lost frames");
        assert_eq!(
            results.len() as u64 + dropped,
            n,
            "every result is delivered or counted"
        );
        assert_eq!(results.last(), Some(&(n - 1)), "the newest results stayed");
        assert!(results.windows(2).all(|w| w[0] < w[1]), "in publication order");
        let end = frames.last().expect("the end");
        assert_eq!(end["job"]["status"], "completed");
        assert!(end["ts"].is_i64());
    }

    #[tokio::test]
    async fn summaries_are_throttled_once_and_reach_each_stream_that_wants_them() {
        let bus = LocalBus::new();
        let b = Broadcaster::start(&bus);
        let all = b.attach(StreamKind::ScanResults, false);
        let watch = |job: &str| StreamKind::JobSummary {
            job_id: JobId::parse(job).expect("id"),
            interval: Duration::from_secs(60),
        };
        let mine = b.attach(watch("j"), false);
        let other = b.attach(watch("k"), false);
        b.attach(StreamKind::Connectors, false);
        for i in 0..200 {
            bus.publish(BusEvent::JobSummary {
                job: snapshot("j", "running", i),
                announces_end: false,
            });
        }
        bus.publish(BusEvent::Connector(json!({"type": "registered"})));
        bus.publish(BusEvent::JobSummary {
            job: snapshot("j", "cancelled", 200),
            announces_end: true,
        });
        bus.publish(BusEvent::JobSummary {
            job: snapshot("j", "cancelled", 200),
            announces_end: true,
        });
        bus.publish(BusEvent::JobSummary {
            job: snapshot("k", "paused", 0),
            announces_end: false,
        });
        let ended = |v: &Value| v["type"] == "job_summary" && v["job"]["status"] == "cancelled";
        for q in [all, mine] {
            let frames = read_until(q, ended).await;
            let summaries: Vec<&Value> = frames.iter().filter(|f| f["type"] == "job_summary").collect();
            assert!(summaries.len() <= 3, "{} summaries of a burst", summaries.len());
            assert_eq!(summaries[0]["job"]["processed_count"], 0, "the first at once");
            assert!(frames.iter().all(|f| f["type"] != "registered"));
        }
        let k = read_until(other, |v| v["type"] == "job_summary").await;
        assert_eq!(k.last().map(|f| &f["job"]["job_id"]), Some(&json!("k")));
        assert!(k.iter().all(|f| f["job"]["job_id"] != "j"), "only its job");
    }
}
