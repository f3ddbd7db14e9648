//! A cached probe of the engine for `readyz` on roles that scan: a worker whose scanner is down
//! must not read as ready while every item it claims heads for the dead-letter queue.
//!
//! The probe is the engine's [`Scanner::probe`] (a request that scans nothing), run in the
//! background every 10 s (every 3 s while it fails), so `readyz` answers from the cache and never
//! waits on the scanner.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Scanner;
use crate::model::now_ms;

/// Between two probes of a healthy engine.
const PROBE_EVERY: Duration = Duration::from_secs(10);
/// Between two probes of an engine that failed the last one.
const PROBE_RETRY: Duration = Duration::from_secs(3);
/// Longest one probe waits for the engine.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long start-up waits for the first probe before serving without an answer yet.
const FIRST_WAIT: Duration = Duration::from_secs(3);

/// The last probe's outcome.
#[derive(Debug, Clone)]
pub struct ProbeState {
    /// `None` when the engine answered; the reason otherwise.
    pub failure: Option<String>,
    /// When it was taken (epoch milliseconds).
    pub at_ms: i64,
}

/// The engine's readiness as last probed.
#[derive(Default)]
pub struct ScannerProbe {
    last: Mutex<Option<ProbeState>>,
}

impl ScannerProbe {
    /// Probes `scanner` once (waiting at most a few seconds, so a process starts with a known
    /// state), then keeps probing in the background for as long as both live.
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

    /// Probes the engine and records the outcome; whether it answered. A change of state is
    /// logged once.
    async fn probe_once(&self, scanner: &dyn Scanner) -> bool {
        let failure = scanner.probe().await.err().map(|e| e.to_string());
        let before = self.state();
        match (&failure, before.as_ref().map(|s| s.failure.is_none())) {
            (Some(reason), None | Some(true)) => {
                tracing::warn!(engine = %scanner.engine(), %reason, "the scanner is not reachable; readiness fails until it is");
            }
            (None, Some(false)) => tracing::info!(engine = %scanner.engine(), "the scanner is reachable again"),
            _ => {}
        }
        let ok = failure.is_none();
        if let Ok(mut last) = self.last.lock() {
            *last = Some(ProbeState {
                failure,
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
