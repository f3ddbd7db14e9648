//! A cached probe of the engine for `readyz` on roles that scan: a worker whose scanner is down
//! must not read as ready while every item it claims heads for the dead-letter queue.
//!
//! The probe is the engine's own connection test, run in the background (every 30 s, every 5 s
//! while it fails), so `readyz` answers from the cache and never waits on the scanner.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Scanner;
use crate::model::{StatusKind, now_ms};

/// Between two probes of a healthy engine.
const PROBE_EVERY: Duration = Duration::from_secs(30);
/// Between two probes of an engine that failed the last one.
const PROBE_RETRY: Duration = Duration::from_secs(5);

/// The last probe's outcome.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub ok: bool,
    /// The connection test's message (the reason when it failed).
    pub detail: String,
    /// When it was taken (epoch milliseconds).
    pub at_ms: i64,
}

/// The engine's readiness as last probed.
#[derive(Default)]
pub struct ScannerProbe {
    last: Mutex<Option<ProbeState>>,
}

/// How long start-up waits for the first probe before serving without an answer yet.
const FIRST_WAIT: Duration = Duration::from_secs(3);

impl ScannerProbe {
    /// Probes `scanner` once (waiting at most a few seconds, so a process starts with a known
    /// state), then keeps probing in the background for as long as it lives.
    pub async fn start(scanner: &Arc<dyn Scanner>) -> Arc<Self> {
        let probe = Arc::new(Self::default());
        let first = tokio::time::timeout(FIRST_WAIT, probe.probe_once(scanner.as_ref())).await;
        let (weak_scanner, weak_probe) = (Arc::downgrade(scanner), Arc::downgrade(&probe));
        actix_rt::spawn(async move {
            let mut ok = first.unwrap_or(false);
            loop {
                tokio::time::sleep(if ok { PROBE_EVERY } else { PROBE_RETRY }).await;
                let (Some(scanner), Some(probe)) = (weak_scanner.upgrade(), weak_probe.upgrade()) else {
                    return;
                };
                ok = probe.probe_once(scanner.as_ref()).await;
            }
        });
        probe
    }

    /// Runs the engine's connection test and records it; whether it passed.
    async fn probe_once(&self, scanner: &dyn Scanner) -> bool {
        let answer = scanner.test_connection().await;
        let ok = answer.status == StatusKind::Success;
        let before = self.state();
        if !ok && before.as_ref().is_none_or(|s| s.ok) {
            tracing::warn!(engine = %scanner.engine(), reason = %answer.message, "the scanner is not reachable; readiness fails until it is");
        } else if ok && before.is_some_and(|s| !s.ok) {
            tracing::info!(engine = %scanner.engine(), "the scanner is reachable again");
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(ProbeState {
                ok,
                detail: answer.message,
                at_ms: now_ms(),
            });
        }
        ok
    }

    /// The last outcome (`None` until the first probe has answered).
    pub fn state(&self) -> Option<ProbeState> {
        self.last.lock().ok().and_then(|l| l.clone())
    }
}
