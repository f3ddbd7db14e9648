//! Broadcaster: fans events from the process's event bus out to every SSE session.
//!
//! Each event is rendered to frame bytes once, then offered to every session with `try_send`:
//! a session whose mailbox is full loses the frame (counted in its buffer, reported to its
//! client), so no client can slow the others or the publishers. Talked to by the bus relay
//! (events) and by new sessions (`Connect`).

use std::sync::Arc;

use actix::prelude::*;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::sse::{Deliver, Frame, Rendered, SessionQueue, SseSession, StreamKind};
use crate::backend::{BusEvent, EventBus};
use crate::core_state::Core;
use crate::model::now_secs;

/// A new session wants events.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub addr: Addr<SseSession>,
    pub queue: Arc<SessionQueue>,
    pub kind: StreamKind,
}

/// Events from the bus (batched: one mailbox hop for everything that arrived together).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Vec<BusEvent>);

/// Most events relayed in one message.
const RELAY_BATCH: usize = 256;

/// Number of open sessions (for readiness details and tests).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct SessionCount;

fn render(event: BusEvent) -> Rendered {
    let ts = now_secs();
    match &event {
        BusEvent::ScanResult { result, job } => {
            let status = job.as_ref().and_then(|j| j.get("status")).and_then(|s| s.as_str());
            let terminal = matches!(status, Some("completed" | "cancelled"));
            let mut v = json!({"type": "scan_result", "scan_result": &**result});
            if let Some(j) = job {
                v["job"] = (**j).clone();
            }
            let job_id = job
                .as_ref()
                .and_then(|j| j.get("job_id"))
                .and_then(|s| s.as_str())
                .map(str::to_string);
            let summary_frame = job
                .as_ref()
                .map(|j| Frame::data(&json!({"type": "job_summary", "ts": ts, "job": &**j}), !terminal));
            Rendered {
                frame: Some(Frame::data(&v, !terminal)),
                summary_frame,
                job_id,
                terminal,
                event,
            }
        }
        BusEvent::JobSummary { job, terminal } => {
            let f = Frame::data(&json!({"type": "job_summary", "ts": ts, "job": &**job}), !*terminal);
            Rendered {
                frame: Some(f.clone()),
                summary_frame: Some(f),
                job_id: job.get("job_id").and_then(|s| s.as_str()).map(str::to_string),
                terminal: *terminal,
                event,
            }
        }
        _ => Rendered {
            frame: None,
            summary_frame: None,
            job_id: None,
            terminal: false,
            event,
        },
    }
}

struct Session {
    addr: Addr<SseSession>,
    queue: Arc<SessionQueue>,
    kind: StreamKind,
}

pub struct Broadcaster {
    bus: Arc<dyn EventBus>,
    sessions: Vec<Session>,
}

impl Broadcaster {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            bus,
            sessions: Vec::new(),
        }
    }

    /// Starts a session and connects it to the broadcaster before returning, so no event
    /// published after the stream is answered can miss it.
    pub async fn open_session(me: &Addr<Self>, kind: StreamKind, core: Arc<Core>) -> Arc<SessionQueue> {
        let queue = SessionQueue::new();
        let addr = SseSession::new(kind.clone(), Arc::clone(&queue), core).start();
        let connect = Connect {
            addr,
            queue: Arc::clone(&queue),
            kind,
        };
        if me.send(connect).await.is_err() {
            tracing::error!("the SSE broadcaster is gone; the stream will only carry heartbeats");
        }
        queue
    }
}

impl Actor for Broadcaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16_384);
        let mut rx = self.bus.subscribe();
        let me = ctx.address();
        // The relay: waits on the bus; backpressure from this actor only makes *this*
        // subscriber lag (the bus drops its oldest events for it), never the publishers.
        actix::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let mut batch = vec![ev];
                        while batch.len() < RELAY_BATCH {
                            match rx.try_recv() {
                                Ok(ev) => batch.push(ev),
                                Err(_) => break,
                            }
                        }
                        if me.send(Publish(batch)).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(dropped = n, "SSE broadcaster fell behind the event bus; events dropped");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

impl Handler<Connect> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Self::Context) {
        self.sessions.push(Session {
            addr: msg.addr,
            queue: msg.queue,
            kind: msg.kind,
        });
    }
}

impl Handler<Publish> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: Publish, _: &mut Self::Context) {
        self.sessions.retain(|s| s.addr.connected() && !s.queue.is_closed());
        if self.sessions.is_empty() {
            return;
        }
        for ev in msg.0 {
            self.deliver(Arc::new(render(ev)));
        }
    }
}

impl Broadcaster {
    fn deliver(&self, rendered: Arc<Rendered>) {
        for s in &self.sessions {
            let wanted = match (&s.kind, &rendered.event) {
                (StreamKind::Connectors, BusEvent::Connector(_)) => true,
                (StreamKind::ScanResults, BusEvent::ScanResult { .. } | BusEvent::JobSummary { .. }) => true,
                (StreamKind::JobSummary { job_id, .. }, _) => rendered.job_id.as_deref() == Some(job_id.as_str()),
                _ => false,
            };
            if wanted && s.addr.try_send(Deliver(Arc::clone(&rendered))).is_err() {
                s.queue.note_dropped(1);
            }
        }
    }
}

impl Handler<SessionCount> for Broadcaster {
    type Result = usize;

    fn handle(&mut self, _: SessionCount, _: &mut Self::Context) -> usize {
        self.sessions.retain(|s| s.addr.connected() && !s.queue.is_closed());
        self.sessions.len()
    }
}
