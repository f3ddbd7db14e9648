//! One open event stream (docs/reference/CORE-API.md, "Event streams"): its frames, its bounded
//! buffer with the drop policy, and its ticker (heartbeats, the job-summary stream's periodic
//! frames).
//!
//! Frames are written as `data: <json>\n\n`. The [`SessionQueue`] is the one buffer a stream
//! has, between the Broadcaster (which pushes every frame for the stream, never waiting) and the
//! HTTP response body (which drains it at the client's pace). It holds [`SESSION_CAPACITY`]
//! frames; when a frame arrives at a full buffer the oldest droppable frame goes — a
//! `scan_result` or `job_summary` frame whose job is not in a terminal status, or a heartbeat —
//! and the client is told how many went with `{"type":"dropped","count":N}` before its next
//! frame. A frame with a terminal job status, and the stream's control frames, are never
//! dropped. A slow client therefore costs memory bounded by the buffer and never slows the scan
//! path or the other clients.
//!
//! Not an actor: nothing sends a session messages. The buffer is a mutex-guarded deque the
//! Broadcaster pushes to directly, and the timed work is one spawned task per stream that ends
//! when the client goes away (the body is dropped and closes the buffer).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::backend::JobStore;
use crate::model::{JobId, now_secs};

/// Frames buffered per client.
pub const SESSION_CAPACITY: usize = 1000;
/// How often a stream checks for its client and its heartbeat.
const TICK: Duration = Duration::from_secs(1);

/// The three streams of "Event streams".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamKind {
    ScanResults,
    JobSummary { job_id: JobId, interval: Duration },
    Connectors,
}

impl StreamKind {
    fn name(&self) -> &'static str {
        match self {
            StreamKind::ScanResults => "scan-result",
            StreamKind::JobSummary { .. } => "job-summary",
            StreamKind::Connectors => "connector-registered",
        }
    }

    fn heartbeat_after(&self) -> Duration {
        match self {
            StreamKind::Connectors => Duration::from_secs(10),
            _ => Duration::from_secs(15),
        }
    }

    /// The frames a stream opens with.
    fn opening(&self) -> Vec<Frame> {
        match self {
            StreamKind::ScanResults => vec![Frame::data(&json!({"type": "connected"}), false), Frame::retry()],
            StreamKind::JobSummary { job_id, .. } => vec![
                Frame::retry(),
                Frame::data(&json!({"type": "connected", "job_id": job_id}), false),
            ],
            StreamKind::Connectors => vec![
                Frame::retry(),
                Frame::data(
                    &json!({"type": "connected", "message": "Connector SSE stream started"}),
                    false,
                ),
            ],
        }
    }
}

/// One SSE frame and whether the drop policy may drop it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub bytes: Bytes,
    pub droppable: bool,
}

impl Frame {
    /// `data: <compact json>\n\n`.
    pub fn data(v: &Value, droppable: bool) -> Self {
        let mut s = String::with_capacity(128);
        s.push_str("data: ");
        s.push_str(&v.to_string());
        s.push_str("\n\n");
        Self {
            bytes: Bytes::from(s),
            droppable,
        }
    }

    pub fn retry() -> Self {
        Self {
            bytes: Bytes::from_static(b"retry: 5000\n\n"),
            droppable: false,
        }
    }

    fn heartbeat() -> Self {
        Self::data(&json!({"type": "heartbeat"}), true)
    }
}

struct QueueState {
    frames: VecDeque<Frame>,
    /// Dropped since the client was last told.
    dropped: u64,
    dropped_total: u64,
    closed: bool,
    last_push: Instant,
}

/// The bounded buffer between a stream's producers and its HTTP response body.
pub struct SessionQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    stream: &'static str,
    /// Log every frame (`DSXCONNECT_LOG_SSE_EVENTS`).
    log_frames: bool,
}

impl SessionQueue {
    fn new(stream: &'static str, log_frames: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(QueueState {
                frames: VecDeque::new(),
                dropped: 0,
                dropped_total: 0,
                closed: false,
                last_push: Instant::now(),
            }),
            notify: Notify::new(),
            stream,
            log_frames,
        })
    }

    /// Adds a frame; at capacity, drops the oldest droppable frame, or this one if it is
    /// droppable and nothing older is.
    pub fn push(&self, f: Frame) {
        if self.log_frames {
            let text = String::from_utf8_lossy(&f.bytes);
            let head: String = text.chars().take(256).collect();
            tracing::info!(event = "sse.frame", stream = self.stream, frame = %head.trim_end(), "sse.frame");
        }
        if let Ok(mut st) = self.state.lock() {
            if st.closed {
                return;
            }
            st.last_push = Instant::now();
            let mut keep = true;
            if st.frames.len() >= SESSION_CAPACITY {
                if let Some(pos) = st.frames.iter().position(|x| x.droppable) {
                    st.frames.remove(pos);
                    st.dropped += 1;
                    st.dropped_total += 1;
                } else if f.droppable {
                    st.dropped += 1;
                    st.dropped_total += 1;
                    keep = false;
                }
                // Otherwise a frame that must stay meets only frames that must stay: it is kept
                // beyond the bound (such frames are few: the streams' control frames and at
                // most one end announcement per job, besides throttled summaries).
            }
            if keep {
                st.frames.push_back(f);
            }
        }
        self.notify.notify_one();
    }

    /// Counts frames this stream lost before they reached its buffer (the Broadcaster fell
    /// behind the event bus); the client is told like for any drop.
    pub fn note_lost(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.dropped += n;
            st.dropped_total += n;
        }
        self.notify.notify_one();
    }

    pub fn dropped_total(&self) -> u64 {
        self.state.lock().map(|s| s.dropped_total).unwrap_or(0)
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().map(|s| s.closed).unwrap_or(true)
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
            st.frames.clear();
        }
    }

    fn idle_for(&self) -> Duration {
        self.state.lock().map(|s| s.last_push.elapsed()).unwrap_or_default()
    }

    /// The next bytes to write: a `dropped` notice first if frames were lost.
    async fn next(&self) -> Bytes {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut st) = self.state.lock() {
                if st.dropped > 0 {
                    let n = std::mem::take(&mut st.dropped);
                    return Frame::data(&json!({"type": "dropped", "count": n}), false).bytes;
                }
                if let Some(f) = st.frames.pop_front() {
                    return f.bytes;
                }
            }
            notified.await;
        }
    }
}

/// Closes the queue when the HTTP response body is dropped (client gone).
struct Reader(Arc<SessionQueue>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The response body of a stream.
pub fn body_stream(queue: Arc<SessionQueue>) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(Reader(queue), |r| async move {
        let b = r.0.next().await;
        Some((Ok(b), r))
    })
}

/// A stream's buffer holding its opening frames, before anything else can be pushed to it.
pub fn open_queue(kind: &StreamKind, log_frames: bool) -> Arc<SessionQueue> {
    let queue = SessionQueue::new(kind.name(), log_frames);
    for f in kind.opening() {
        queue.push(f);
    }
    queue
}

/// Starts the stream's timed work: a heartbeat when it has been quiet, and for the job-summary
/// stream the job's summary from the store at once and every interval. Ends when the client
/// has gone.
pub fn spawn_ticker(queue: Arc<SessionQueue>, kind: StreamKind, jobs: Arc<dyn JobStore>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut periodic = match &kind {
            StreamKind::JobSummary { interval, .. } => Some(tokio::time::interval(*interval)),
            _ => None,
        };
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if queue.is_closed() {
                        break;
                    }
                    if queue.idle_for() >= kind.heartbeat_after() {
                        queue.push(Frame::heartbeat());
                    }
                }
                _ = next_tick(periodic.as_mut()) => {
                    if let StreamKind::JobSummary { job_id, .. } = &kind {
                        queue.push(periodic_summary(&*jobs, job_id).await);
                    }
                }
            }
        }
        let dropped = queue.dropped_total();
        if dropped > 0 {
            tracing::warn!(
                stream = kind.name(),
                dropped,
                "SSE client could not keep up; frames were dropped"
            );
        }
    });
}

async fn next_tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The job-summary stream's periodic frame: the stored job, `not_found`, or the store is down.
async fn periodic_summary(jobs: &dyn JobStore, job_id: &JobId) -> Frame {
    let v = match jobs.get(job_id).await {
        Ok(Some(job)) => json!({"type": "job_summary", "ts": now_secs(), "job": job.summary(now_secs())}),
        Ok(None) => json!({"type": "job_summary", "job_id": job_id, "status": "not_found"}),
        Err(_) => json!({"type": "heartbeat", "status": "redis_unavailable"}),
    };
    Frame::data(&v, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_frame(i: usize, droppable: bool) -> Frame {
        Frame::data(&json!({"type": "scan_result", "i": i}), droppable)
    }

    /// Everything the client would read now, as JSON.
    async fn drain(q: &SessionQueue) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let pending = {
                let st = q.state.lock().expect("lock");
                st.dropped > 0 || !st.frames.is_empty()
            };
            if !pending {
                return out;
            }
            let b = q.next().await;
            let text = String::from_utf8(b.to_vec()).expect("utf-8");
            let data = text.strip_prefix("data: ").expect("a data frame").trim_end();
            out.push(serde_json::from_str(data).expect("JSON"));
        }
    }

    #[tokio::test]
    async fn a_slow_client_loses_the_oldest_results_and_is_told_how_many() {
        let q = SessionQueue::new("scan-result", false);
        for i in 0..SESSION_CAPACITY + 250 {
            q.push(result_frame(i, true));
        }
        let frames = drain(&q).await;
        assert_eq!(frames[0], json!({"type": "dropped", "count": 250}));
        assert_eq!(frames.len(), 1 + SESSION_CAPACITY);
        assert_eq!(frames[1]["i"], 250, "the oldest went first");
        assert_eq!(frames[SESSION_CAPACITY]["i"], SESSION_CAPACITY + 249);
        assert_eq!(q.dropped_total(), 250);
        // Told once: the count starts again.
        q.push(result_frame(0, true));
        assert_eq!(drain(&q).await, vec![json!({"type": "scan_result", "i": 0})]);
    }

    #[tokio::test]
    async fn a_terminal_frame_is_never_dropped_and_droppable_ones_go_around_it() {
        let q = SessionQueue::new("scan-result", false);
        q.push(Frame::data(&json!({"type": "job_summary", "end": true}), false));
        for i in 0..SESSION_CAPACITY + 10 {
            q.push(result_frame(i, true));
        }
        let frames = drain(&q).await;
        assert_eq!(frames[0], json!({"type": "dropped", "count": 11}));
        assert_eq!(
            frames[1],
            json!({"type": "job_summary", "end": true}),
            "kept, in its place"
        );
        assert_eq!(frames[2]["i"], 11);
        assert_eq!(frames.len(), 1 + SESSION_CAPACITY);
    }

    #[tokio::test]
    async fn a_full_buffer_of_frames_that_must_stay_drops_the_new_droppable_one_and_keeps_the_rest() {
        let q = SessionQueue::new("scan-result", false);
        for i in 0..SESSION_CAPACITY {
            q.push(result_frame(i, false));
        }
        q.push(result_frame(9999, true));
        q.push(Frame::data(&json!({"type": "job_summary", "end": true}), false));
        let frames = drain(&q).await;
        assert_eq!(frames[0], json!({"type": "dropped", "count": 1}));
        assert_eq!(
            frames.len(),
            2 + SESSION_CAPACITY,
            "a frame that must stay is kept beyond the bound"
        );
        assert!(frames.iter().all(|f| f["i"] != 9999));
        assert_eq!(frames.last(), Some(&json!({"type": "job_summary", "end": true})));
    }

    #[tokio::test]
    async fn frames_lost_before_the_buffer_are_counted_in_the_notice() {
        let q = SessionQueue::new("scan-result", false);
        q.note_lost(7);
        q.push(result_frame(1, true));
        assert_eq!(
            drain(&q).await,
            vec![
                json!({"type": "dropped", "count": 7}),
                json!({"type": "scan_result", "i": 1})
            ]
        );
    }

    #[tokio::test]
    async fn a_closed_buffer_takes_nothing() {
        let q = SessionQueue::new("scan-result", false);
        q.close();
        q.push(result_frame(1, true));
        assert!(q.is_closed());
        assert!(drain(&q).await.is_empty());
    }
}
