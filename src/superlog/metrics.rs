//! Per-destination counters and state (docs/reference/SUPERLOG.md, "Status and metrics") and the
//! rate-limited drop/failure warnings ("Warnings with context").
//!
//! Counters are atomics so the emitting side and the status endpoint never wait on a
//! destination's task.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::event::Event;

/// Why events were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    BufferFull,
    Shutdown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Why events were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    Permanent,
    Exhausted,
    Rejected,
    Oversize,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Permanent => "permanent",
            FailReason::Exhausted => "exhausted",
            FailReason::Rejected => "rejected",
            FailReason::Oversize => "oversize",
        }
    }
}

/// Destination state for status and readiness ("Retries and backoff").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Retrying,
    Failing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Retrying => "retrying",
            State::Failing => "failing",
        }
    }
}

/// Consecutive failed batches after which a destination is `failing`.
const FAILING_AFTER: u32 = 3;

#[derive(Debug, Default)]
pub struct Metrics {
    pub emitted: AtomicU64,
    pub sent: AtomicU64,
    dropped_full: AtomicU64,
    dropped_shutdown: AtomicU64,
    pub retried: AtomicU64,
    failed: [AtomicU64; 4],
    pub truncated: AtomicU64,
    pub filtered: AtomicU64,
    /// Events taken from the buffer and not yet accounted (the batch being sent).
    pub in_flight: AtomicU64,
    retrying: AtomicBool,
    failed_batches: AtomicU32,
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
struct Last {
    success_at: Option<String>,
    error: Option<(String, String)>,
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Metrics {
    pub fn dropped(&self, reason: DropReason, n: u64) {
        match reason {
            DropReason::BufferFull => &self.dropped_full,
            DropReason::Shutdown => &self.dropped_shutdown,
        }
        .fetch_add(n, Relaxed);
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_full.load(Relaxed) + self.dropped_shutdown.load(Relaxed)
    }

    pub fn failed(&self, reason: FailReason, n: u64) {
        self.failed[reason as usize].fetch_add(n, Relaxed);
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// A batch was delivered (wholly or partly).
    pub fn succeeded(&self) {
        self.retrying.store(false, Relaxed);
        self.failed_batches.store(0, Relaxed);
        self.lock().success_at = Some(now_text());
    }

    /// A batch ended `failed`.
    pub fn batch_failed(&self) {
        self.retrying.store(false, Relaxed);
        self.failed_batches.fetch_add(1, Relaxed);
    }

    pub fn set_retrying(&self, on: bool) {
        self.retrying.store(on, Relaxed);
    }

    /// Records the last error (a short text that never contains secrets).
    pub fn error(&self, text: &str) {
        self.lock().error = Some((text.to_string(), now_text()));
    }

    pub fn state(&self) -> State {
        if self.failed_batches.load(Relaxed) >= FAILING_AFTER {
            State::Failing
        } else if self.retrying.load(Relaxed) {
            State::Retrying
        } else {
            State::Ok
        }
    }

    /// The counters by reason, for the Prometheus exposition (docs/reference/SUPERLOG.md,
    /// "Prometheus names").
    pub fn figures(&self) -> Figures {
        let failed_by = |r: FailReason| self.failed[r as usize].load(Relaxed);
        Figures {
            sent: self.sent.load(Relaxed),
            retried: self.retried.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            dropped: [
                (DropReason::BufferFull, self.dropped_full.load(Relaxed)),
                (DropReason::Shutdown, self.dropped_shutdown.load(Relaxed)),
            ],
            failed: [
                FailReason::Permanent,
                FailReason::Exhausted,
                FailReason::Rejected,
                FailReason::Oversize,
            ]
            .map(|r| (r, failed_by(r))),
            state: self.state(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The destination's entry of `GET /superlog/status` ("Status endpoint"), without name and
    /// transport.
    pub fn snapshot(&self, buffered: usize, capacity: usize) -> Value {
        let last = self.lock();
        let (last_error, last_error_at) = match &last.error {
            Some((e, at)) => (json!(e), json!(at)),
            None => (Value::Null, Value::Null),
        };
        let failed_by = |r: FailReason| self.failed[r as usize].load(Relaxed);
        json!({
            "state": self.state().as_str(),
            "buffered": buffered + self.in_flight.load(Relaxed) as usize,
            "capacity": capacity,
            "emitted": self.emitted.load(Relaxed),
            "sent": self.sent.load(Relaxed),
            "dropped": self.dropped_total(),
            "retried": self.retried.load(Relaxed),
            "failed": self.failed_total(),
            "truncated": self.truncated.load(Relaxed),
            "filtered": self.filtered.load(Relaxed),
            "dropped_by_reason": {
                "buffer_full": self.dropped_full.load(Relaxed),
                "shutdown": self.dropped_shutdown.load(Relaxed),
            },
            "failed_by_reason": {
                "permanent": failed_by(FailReason::Permanent),
                "exhausted": failed_by(FailReason::Exhausted),
                "rejected": failed_by(FailReason::Rejected),
                "oversize": failed_by(FailReason::Oversize),
            },
            "last_success_at": last.success_at,
            "last_error": last_error,
            "last_error_at": last_error_at,
        })
    }
}

/// One destination's counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub sent: u64,
    pub retried: u64,
    pub truncated: u64,
    pub filtered: u64,
    pub dropped: [(DropReason, u64); 2],
    pub failed: [(FailReason, u64); 4],
    pub state: State,
}

/// Rate-limits drop and failure warnings: the first in a window is logged at once, the rest are
/// summarised in one line when the window ends ("Warnings with context").
#[derive(Debug)]
pub struct WarnLimiter {
    destination: &'static str,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    suppressed: u64,
    last_reason: &'static str,
    last_job: Option<String>,
    last_task: String,
}

impl WarnLimiter {
    pub fn new(destination: &'static str, window: Duration) -> Self {
        Self {
            destination,
            window,
            state: Mutex::default(),
        }
    }

    /// Notes `n` events lost for `reason`, the last of them being `ev`.
    pub fn note(&self, reason: &'static str, ev: &Event, n: u64, total: u64) {
        let (job, task) = ev.scan_context();
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let open = w.started.is_some_and(|s| s.elapsed() < self.window);
        if open {
            w.suppressed += n;
            w.last_reason = reason;
            w.last_job = job.map(str::to_string);
            w.last_task = task.to_string();
            return;
        }
        self.summarise(&mut w);
        w.started = Some(Instant::now());
        tracing::warn!(
            target: "superlog",
            destination = self.destination,
            reason,
            count = n,
            event_type = ev.kind().as_str(),
            event_id = %ev.event_id(),
            job_id = job.unwrap_or(""),
            scan_request_task_id = %task,
            total,
            "superlog events lost"
        );
    }

    /// Logs the summary of a finished window (called periodically by the destination task).
    pub fn tick(&self) {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.started.is_some_and(|s| s.elapsed() >= self.window) {
            self.summarise(&mut w);
            w.started = None;
        }
    }

    fn summarise(&self, w: &mut Window) {
        if w.suppressed > 0 {
            tracing::warn!(
                target: "superlog",
                destination = self.destination,
                reason = w.last_reason,
                count = w.suppressed,
                job_id = w.last_job.as_deref().unwrap_or(""),
                scan_request_task_id = %w.last_task,
                "superlog events lost in the last window"
            );
            w.suppressed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log lines written while `f` runs.
    fn captured_logs(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(sub, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn drop_warnings_name_the_event_and_are_limited_to_one_plus_a_summary_per_window() {
        let limiter = WarnLimiter::new("splunk", Duration::from_millis(200));
        let ev = |i: usize| {
            let mut e = crate::superlog::event::fixtures::benign();
            e.job_id = Some(format!("job-{i}"));
            e.scan_request_task_id = format!("task-{i}");
            Event::from(e)
        };
        let logs = captured_logs(|| {
            for i in 0..900 {
                limiter.note("buffer_full", &ev(i), 1, i as u64 + 1);
            }
            std::thread::sleep(Duration::from_millis(250));
            limiter.tick();
        });
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 2, "{logs}");
        assert!(
            lines[0].contains(" WARN superlog: superlog events lost "),
            "{}",
            lines[0]
        );
        for field in [
            "destination=\"splunk\"",
            "reason=\"buffer_full\"",
            "job_id=\"job-0\"",
            "scan_request_task_id=task-0",
        ] {
            assert!(lines[0].contains(field), "{field}: {}", lines[0]);
        }
        for field in ["count=899", "job_id=\"job-899\"", "scan_request_task_id=task-899"] {
            assert!(lines[1].contains(field), "{field}: {}", lines[1]);
        }
    }

    #[test]
    fn three_failed_batches_make_a_destination_failing_and_a_success_clears_it() {
        let m = Metrics::default();
        assert_eq!(m.state(), State::Ok);
        m.set_retrying(true);
        assert_eq!(m.state(), State::Retrying);
        for _ in 0..3 {
            m.batch_failed();
        }
        assert_eq!(m.state(), State::Failing);
        m.succeeded();
        assert_eq!(m.state(), State::Ok);
        m.failed(FailReason::Oversize, 2);
        m.failed(FailReason::Permanent, 1);
        assert_eq!(m.failed_total(), 3);
        assert_eq!(m.snapshot(0, 10)["failed_by_reason"]["oversize"], 2);
    }
}
