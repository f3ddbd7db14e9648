//! The destination task against a scripted sink: buffering, batching, retries, accounting.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use super::*;
use crate::superlog::event::audit::fixtures as audit;
use crate::superlog::event::{EventType, fixtures};
use crate::superlog::fit::Fitted;
use crate::superlog::format::json::to_json;

/// Answers from a script (then success) and records every batch it was given.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<VecDeque<Result<Report, SendError>>>>,
    batches: Arc<Mutex<Vec<Vec<String>>>>,
    /// While false, sends wait (a receiver that never answers).
    open: Option<watch::Receiver<bool>>,
    flush: Option<Duration>,
    max_events: usize,
}

#[async_trait]
impl Sink for Scripted {
    fn limits(&self) -> Limits {
        Limits {
            max_events: self.max_events,
            max_bytes: usize::MAX,
            overhead: 0,
            flush_interval: self.flush,
            one_type_per_batch: false,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        Some(Fitted {
            text: to_json(event),
            reduced: false,
        })
    }

    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        if let Some(open) = &mut self.open {
            let _ = open.wait_for(|o| *o).await;
        }
        self.batches
            .lock()
            .unwrap()
            .push(batch.iter().map(|u| u.event.event_id().to_string()).collect());
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Report::default()))
    }
}

fn shared(capacity: usize) -> Arc<Shared> {
    shared_taking(capacity, EventTypes::ALL)
}

fn shared_taking(capacity: usize, event_types: EventTypes) -> Arc<Shared> {
    Arc::new(Shared {
        name: "test",
        event_types,
        buffer: Buffer::new(capacity),
        metrics: Metrics::default(),
        warn: WarnLimiter::new("test", Duration::from_secs(10)),
    })
}

fn policy(max_attempts: u32) -> Policy {
    Policy {
        verdicts: None,
        redaction: Chain::default(),
        max_attempts,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    }
}

fn event(n: usize) -> Arc<Event> {
    let mut e = fixtures::benign();
    e.event_id = n.to_string();
    Arc::new(e.into())
}

fn audit_event(n: usize) -> Arc<Event> {
    let mut e = audit::revoke();
    e.event_id = format!("a{n}");
    Arc::new(e.into())
}

fn accounted(s: &Shared) -> u64 {
    let m = &s.metrics;
    m.sent.load(Relaxed) + m.dropped_total() + m.failed_total() + m.filtered.load(Relaxed) + s.buffer.len() as u64
}

async fn settle(s: &Shared) {
    for _ in 0..500 {
        if s.buffer.is_empty() && s.metrics.in_flight.load(Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the destination did not settle");
}

#[tokio::test]
async fn drop_oldest_counts_every_lost_event_and_delivers_the_newest_after_recovery() {
    let (open_tx, open_rx) = watch::channel(false);
    let sink = Scripted {
        open: Some(open_rx),
        max_events: 10,
        ..Default::default()
    };
    let batches = Arc::clone(&sink.batches);
    let s = shared(100);
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(8), Box::new(sink), stop_rx));
    s.push(event(0));
    // Let the task take the first batch (it then hangs in send).
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 1..1000 {
        s.push(event(i));
    }
    let in_flight = 1;
    assert_eq!(s.metrics.dropped_total(), 1000 - 100 - in_flight);
    open_tx.send_replace(true);
    settle(&s).await;
    let delivered: Vec<String> = batches.lock().unwrap().concat();
    let want: Vec<String> = std::iter::once(0).chain(900..1000).map(|i| i.to_string()).collect();
    assert_eq!(delivered, want);
    assert_eq!(s.metrics.sent.load(Relaxed), 101);
    assert_eq!(accounted(&s), s.metrics.emitted.load(Relaxed));
}

#[tokio::test]
async fn retriable_failures_resend_the_same_batch_and_count_retries() {
    let sink = Scripted {
        max_events: 5,
        ..Default::default()
    };
    sink.answers
        .lock()
        .unwrap()
        .extend([Err(SendError::retriable("503")), Err(SendError::retriable("503"))]);
    let batches = Arc::clone(&sink.batches);
    let s = shared(100);
    for i in 0..5 {
        s.push(event(i));
    }
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(8), Box::new(sink), stop_rx));
    settle(&s).await;
    let b = batches.lock().unwrap().clone();
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|x| *x == b[0]));
    assert_eq!(s.metrics.retried.load(Relaxed), 10);
    assert_eq!(s.metrics.sent.load(Relaxed), 5);
    assert_eq!(s.metrics.state(), crate::superlog::metrics::State::Ok);
}

#[tokio::test]
async fn permanent_failures_and_exhausted_attempts_count_failed_without_more_sends() {
    let sink = Scripted {
        max_events: 2,
        ..Default::default()
    };
    sink.answers.lock().unwrap().extend([
        Err(SendError::permanent("403")),
        Err(SendError::retriable("down")),
        Err(SendError::retriable("down")),
        Err(SendError::retriable("down")),
    ]);
    let batches = Arc::clone(&sink.batches);
    let s = shared(100);
    for i in 0..5 {
        s.push(event(i));
    }
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    settle(&s).await;
    // [0,1] permanent once; [2,3] three attempts then exhausted; [4] sent.
    assert_eq!(batches.lock().unwrap().len(), 5);
    assert_eq!(s.metrics.failed_total(), 4);
    assert_eq!(s.metrics.retried.load(Relaxed), 4);
    assert_eq!(s.metrics.sent.load(Relaxed), 1);
    assert_eq!(accounted(&s), 5);
}

#[tokio::test]
async fn a_partial_report_fails_only_the_named_events() {
    let sink = Scripted {
        max_events: 3,
        ..Default::default()
    };
    sink.answers.lock().unwrap().push_back(Ok(Report {
        failed: vec![(1, FailReason::Rejected)],
    }));
    let s = shared(10);
    for i in 0..3 {
        s.push(event(i));
    }
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    settle(&s).await;
    assert_eq!(s.metrics.sent.load(Relaxed), 2);
    assert_eq!(s.metrics.failed_total(), 1);
}

#[tokio::test]
async fn the_verdict_filter_counts_filtered_events() {
    let sink = Scripted {
        max_events: 10,
        ..Default::default()
    };
    let batches = Arc::clone(&sink.batches);
    let s = shared(10);
    let mut p = policy(3);
    p.verdicts = Some(vec!["Malicious".into()]);
    s.push(Arc::new(fixtures::malicious_moved().into()));
    s.push(event(1));
    s.push(audit_event(2));
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), p, Box::new(sink), stop_rx));
    settle(&s).await;
    assert_eq!(s.metrics.filtered.load(Relaxed), 1);
    let delivered = batches.lock().unwrap().concat();
    assert_eq!(
        delivered,
        ["01936f4e-7b2a-7c3d-9e4f-5a6b7c8d9e0f", "a2"],
        "VERDICTS applies to scan results only"
    );
}

#[tokio::test]
async fn events_of_a_type_the_destination_does_not_take_are_filtered_before_the_buffer() {
    let sink = Scripted {
        max_events: 10,
        ..Default::default()
    };
    let batches = Arc::clone(&sink.batches);
    let s = shared_taking(2, EventTypes::ALL.without(EventType::Audit));
    s.push(event(0));
    for i in 1..=5 {
        s.push(audit_event(i));
    }
    s.push(event(6));
    assert_eq!(s.buffer.len(), 2, "audit events took no buffer space");
    assert_eq!(s.metrics.dropped_total(), 0);
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    settle(&s).await;
    assert_eq!(batches.lock().unwrap().concat(), ["0", "6"]);
    assert_eq!(s.metrics.filtered.load(Relaxed), 5);
    assert_eq!(s.metrics.emitted.load(Relaxed), 7);
    assert_eq!(accounted(&s), 7);
}

#[tokio::test]
async fn http_batches_wait_for_the_flush_interval_unless_full() {
    let sink = Scripted {
        max_events: 3,
        flush: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let batches = Arc::clone(&sink.batches);
    let s = shared(100);
    let (_stop, stop_rx) = watch::channel(None);
    tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    for i in 0..4 {
        s.push(event(i));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(batches.lock().unwrap().clone(), vec![vec!["0", "1", "2"]]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(batches.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn shutdown_flushes_a_reachable_receiver_and_drops_what_an_unreachable_one_holds() {
    let sink = Scripted {
        max_events: 10,
        flush: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let batches = Arc::clone(&sink.batches);
    let s = shared(100);
    for i in 0..50 {
        s.push(event(i));
    }
    let (stop, stop_rx) = watch::channel(None);
    let task = tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    stop.send_replace(Some(Instant::now() + Duration::from_secs(2)));
    task.await.unwrap();
    assert_eq!(batches.lock().unwrap().concat().len(), 50);

    let (_open, open_rx) = watch::channel(false);
    let sink = Scripted {
        max_events: 10,
        open: Some(open_rx),
        ..Default::default()
    };
    let s = shared(100);
    for i in 0..50 {
        s.push(event(i));
    }
    let (stop, stop_rx) = watch::channel(None);
    let task = tokio::spawn(run(Arc::clone(&s), policy(3), Box::new(sink), stop_rx));
    let started = Instant::now();
    stop.send_replace(Some(Instant::now() + Duration::from_millis(300)));
    task.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(s.metrics.dropped_total(), 50);
    assert_eq!(accounted(&s), 50);
}

#[test]
fn batches_respect_the_byte_limit_but_always_carry_one_unit() {
    let unit = |n: usize| Unit {
        text: "x".repeat(n),
        event: event(n),
    };
    let limits = Limits {
        max_events: 10,
        max_bytes: 100,
        overhead: 26,
        flush_interval: None,
        one_type_per_batch: false,
    };
    let mut pending: VecDeque<Unit> = [unit(24), unit(24), unit(1000), unit(1)].into_iter().collect();
    assert_eq!(next_batch(&mut pending, &limits).len(), 2);
    assert_eq!(next_batch(&mut pending, &limits).len(), 1);
    assert_eq!(next_batch(&mut pending, &limits).len(), 1);
}

#[test]
fn cloudwatch_batches_split_exactly_at_the_service_byte_limit() {
    use crate::superlog::destination::cloudwatch::{EVENT_OVERHEAD, MAX_BYTES};
    let limits = Limits {
        max_events: 10_000,
        max_bytes: MAX_BYTES,
        overhead: EVENT_OVERHEAD,
        flush_interval: None,
        one_type_per_batch: false,
    };
    // Four units whose Σ(size + 26) is exactly 1,048,576, then one more byte's worth.
    let size = MAX_BYTES / 4 - EVENT_OVERHEAD;
    let unit = |n: usize| Unit {
        text: "x".repeat(n),
        event: event(n),
    };
    let mut pending: VecDeque<Unit> = (0..4).map(|_| unit(size)).chain([unit(1)]).collect();
    assert_eq!(next_batch(&mut pending, &limits).len(), 4);
    assert_eq!(next_batch(&mut pending, &limits).len(), 1);
    let mut many: VecDeque<Unit> = (0..10_001).map(|_| unit(10)).collect();
    assert_eq!(next_batch(&mut many, &limits).len(), 10_000);
    assert_eq!(next_batch(&mut many, &limits).len(), 1);
}

#[test]
fn a_sink_that_asks_gets_batches_of_one_event_type() {
    let unit = |ev: Arc<Event>| Unit {
        text: "x".into(),
        event: ev,
    };
    let mut limits = Limits {
        max_events: 10,
        max_bytes: usize::MAX,
        overhead: 0,
        flush_interval: None,
        one_type_per_batch: true,
    };
    let queue = || -> VecDeque<Unit> {
        [event(0), event(1), audit_event(2), audit_event(3), event(4)]
            .into_iter()
            .map(unit)
            .collect()
    };
    let mut pending = queue();
    let sizes: Vec<usize> = std::iter::from_fn(|| Some(next_batch(&mut pending, &limits).len()))
        .take_while(|n| *n > 0)
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    limits.one_type_per_batch = false;
    assert_eq!(next_batch(&mut queue(), &limits).len(), 5);
}
