//! SseSession: one per open event stream. Owns the stream's bounded frame buffer, its heartbeats,
//! and the per-job throttle of `job_summary` frames (docs/reference/CORE-API.md, "Event streams").
//!
//! Frames are written as `data: <json>\n\n`; the buffer holds at most 1000 frames and, when a
//! client cannot keep up, drops the oldest `scan_result` frames (never a terminal job frame)
//! and tells the client how many with `{"type":"dropped","count":N}`. A slow client therefore
//! costs memory bounded by the buffer and never slows the scan path. The response body reads
//! from the buffer; when the client goes away, the session stops. Fed by the Broadcaster.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::backend::BusEvent;
use crate::core_state::Core;
use crate::model::now_secs;

/// Frames buffered per client.
pub const SESSION_CAPACITY: usize = 1000;
/// Minimum spacing of a job's summary frames on one stream.
const JOB_THROTTLE: Duration = Duration::from_millis(250);

/// The three streams of "Event streams".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamKind {
    ScanResults,
    JobSummary { job_id: String, interval: Duration },
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
}

/// One SSE frame and whether it may be dropped under pressure.
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
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    dropped: u64,
    dropped_total: u64,
    closed: bool,
}

/// The bounded buffer between a session and its HTTP response body.
pub struct SessionQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    last_push: Mutex<Instant>,
}

impl SessionQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
            last_push: Mutex::new(Instant::now()),
        })
    }

    /// Adds a frame, dropping the oldest droppable frame when full.
    pub fn push(&self, f: Frame) {
        if let Ok(mut st) = self.state.lock() {
            if st.closed {
                return;
            }
            if st.frames.len() >= SESSION_CAPACITY {
                if let Some(pos) = st.frames.iter().position(|x| x.droppable) {
                    st.frames.remove(pos);
                    st.dropped += 1;
                    st.dropped_total += 1;
                } else if f.droppable {
                    st.dropped += 1;
                    st.dropped_total += 1;
                    return;
                }
            }
            st.frames.push_back(f);
        }
        if let Ok(mut t) = self.last_push.lock() {
            *t = Instant::now();
        }
        self.notify.notify_one();
    }

    /// Counts frames lost before they reached the buffer (a full session mailbox).
    pub fn note_dropped(&self, n: u64) {
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
        self.last_push.lock().map(|t| t.elapsed()).unwrap_or_default()
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

/// The response body of a session.
pub fn body_stream(queue: Arc<SessionQueue>) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(Reader(queue), |r| async move {
        let b = r.0.next().await;
        Some((Ok(b), r))
    })
}

/// An event with its frames rendered once for every session.
pub struct Rendered {
    pub event: BusEvent,
    /// The frame for the scan-result stream.
    pub frame: Option<Frame>,
    /// A `job_summary` frame for the job-summary stream (also made from results).
    pub summary_frame: Option<Frame>,
    pub job_id: Option<String>,
    pub terminal: bool,
}

/// An event for this session (from the Broadcaster).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Rendered>);

struct JobThrottle {
    last_sent: Option<Instant>,
    pending: Option<Frame>,
    terminal_sent: bool,
    touched: Instant,
}

pub struct SseSession {
    kind: StreamKind,
    queue: Arc<SessionQueue>,
    core: Arc<Core>,
    throttles: HashMap<String, JobThrottle>,
}

impl SseSession {
    pub fn new(kind: StreamKind, queue: Arc<SessionQueue>, core: Arc<Core>) -> Self {
        Self {
            kind,
            queue,
            core,
            throttles: HashMap::new(),
        }
    }

    fn push(&self, f: Frame) {
        if self.core.settings.log_sse_events {
            let text = String::from_utf8_lossy(&f.bytes);
            let head: String = text.chars().take(256).collect();
            tracing::info!(event = "sse.frame", stream = self.kind.name(), frame = %head.trim_end(), "sse.frame");
        }
        self.queue.push(f);
    }

    /// A job summary frame through the per-job throttle (terminal: at once, exactly once).
    fn push_job_frame(&mut self, job_id: &str, frame: Frame, terminal: bool, ctx: &mut Context<Self>) {
        let t = self.throttles.entry(job_id.to_string()).or_insert(JobThrottle {
            last_sent: None,
            pending: None,
            terminal_sent: false,
            touched: Instant::now(),
        });
        t.touched = Instant::now();
        if terminal {
            if t.terminal_sent {
                return;
            }
            t.terminal_sent = true;
            t.pending = None;
            t.last_sent = Some(Instant::now());
            self.push(Frame {
                droppable: false,
                ..frame
            });
            return;
        }
        let due = t.last_sent.is_none_or(|s| s.elapsed() >= JOB_THROTTLE);
        if due {
            t.last_sent = Some(Instant::now());
            self.push(frame);
            return;
        }
        let schedule = t.pending.is_none();
        let wait = JOB_THROTTLE.saturating_sub(t.last_sent.map_or(JOB_THROTTLE, |s| s.elapsed()));
        t.pending = Some(frame);
        if schedule {
            let job = job_id.to_string();
            ctx.run_later(wait, move |act, _| {
                if let Some(t) = act.throttles.get_mut(&job)
                    && let Some(f) = t.pending.take()
                {
                    t.last_sent = Some(Instant::now());
                    act.push(f);
                }
            });
        }
    }

    fn periodic_job_frame(&mut self, ctx: &mut Context<Self>) {
        let StreamKind::JobSummary { job_id, .. } = &self.kind else {
            return;
        };
        let job_id = job_id.clone();
        let jobs = Arc::clone(&self.core.backend.jobs);
        let id = job_id.clone();
        ctx.spawn(
            async move { jobs.get(&id).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let v = match res {
                        Ok(Some(job)) => {
                            json!({"type": "job_summary", "ts": now_secs(), "job": job.summary(now_secs())})
                        }
                        Ok(None) => json!({"type": "job_summary", "job_id": job_id, "status": "not_found"}),
                        Err(_) => json!({"type": "heartbeat", "status": "redis_unavailable"}),
                    };
                    act.push(Frame::data(&v, false));
                }),
        );
    }
}

impl Actor for SseSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        match self.kind.clone() {
            StreamKind::ScanResults => {
                self.push(Frame::data(&json!({"type": "connected"}), false));
                self.push(Frame::retry());
            }
            StreamKind::JobSummary { job_id, interval } => {
                self.push(Frame::retry());
                self.push(Frame::data(&json!({"type": "connected", "job_id": job_id}), false));
                self.periodic_job_frame(ctx);
                ctx.run_interval(interval, |act, ctx| act.periodic_job_frame(ctx));
            }
            StreamKind::Connectors => {
                self.push(Frame::retry());
                self.push(Frame::data(
                    &json!({"type": "connected", "message": "Connector SSE stream started"}),
                    false,
                ));
            }
        }
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            if act.queue.is_closed() {
                ctx.stop();
                return;
            }
            if act.queue.idle_for() >= act.kind.heartbeat_after() {
                act.push(Frame::data(&json!({"type": "heartbeat"}), true));
            }
            act.throttles
                .retain(|_, t| t.pending.is_some() || t.touched.elapsed() < Duration::from_secs(600));
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        let dropped = self.queue.dropped_total();
        if dropped > 0 {
            tracing::warn!(
                stream = self.kind.name(),
                dropped,
                "SSE client could not keep up; frames were dropped"
            );
        }
    }
}

impl Handler<Deliver> for SseSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        let r = &msg.0;
        match (&self.kind, &r.event) {
            (StreamKind::ScanResults, BusEvent::ScanResult { .. }) => {
                if let Some(f) = &r.frame {
                    self.push(f.clone());
                }
            }
            (StreamKind::ScanResults, BusEvent::JobSummary { terminal, .. }) => {
                if let (Some(f), Some(id)) = (&r.frame, &r.job_id) {
                    let (f, id, terminal) = (f.clone(), id.clone(), *terminal);
                    self.push_job_frame(&id, f, terminal, ctx);
                }
            }
            (StreamKind::JobSummary { job_id, .. }, BusEvent::ScanResult { .. } | BusEvent::JobSummary { .. }) => {
                if r.job_id.as_deref() == Some(job_id.as_str())
                    && let Some(f) = &r.summary_frame
                {
                    let (f, id, terminal) = (f.clone(), job_id.clone(), r.terminal);
                    self.push_job_frame(&id, f, terminal, ctx);
                }
            }
            (StreamKind::Connectors, BusEvent::Connector(v)) => self.push(Frame::data(v, false)),
            _ => {}
        }
    }
}
