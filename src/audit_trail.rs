//! Writing the audit trail (docs/AUTH.md, "Audit"): every record goes to the store before the
//! answer is sent, and to the SIEMs as an `audit` event. Repeated refusals are coalesced so a
//! flood of bad requests cannot flood the trail: within a window the first refusal of an
//! (actor, action, detail) is written at once, the rest as one record with their `count` when
//! the window ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::audit::{ActorKind, AuditRecord, Outcome};
use crate::backend::identity::AuditStore;
use crate::superlog::Superlog;

/// Open coalescing windows kept at most (the oldest are flushed early beyond this).
const WINDOWS_MAX: usize = 10_000;

type Key = (String, String, String);

struct Window {
    opened: Instant,
    /// Refusals after the first, and the latest of them.
    more: u32,
    last: Option<AuditRecord>,
}

pub struct Auditor {
    store: Arc<dyn AuditStore>,
    superlog: Superlog,
    retain: usize,
    window: Duration,
    open: Mutex<HashMap<Key, Window>>,
}

impl Auditor {
    pub fn new(store: Arc<dyn AuditStore>, superlog: Superlog, retain: usize, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            superlog,
            retain,
            window,
            open: Mutex::default(),
        })
    }

    /// Flushes ended windows every second, and purges records older than `retain_days` hourly
    /// (when `lead` says this process runs the sweeps).
    pub fn spawn_upkeep(self: &Arc<Self>, retain_days: u32) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last_purge: Option<Instant> = None;
            loop {
                tick.tick().await;
                me.flush(false).await;
                if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                    last_purge = Some(Instant::now());
                    let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(retain_days) * 86_400_000;
                    if let Err(e) = me.store.purge_audit(cutoff).await {
                        tracing::warn!(error = %e, "purging old audit records failed");
                    }
                }
            }
        });
    }

    fn key(rec: &AuditRecord) -> Key {
        let who = match rec.actor.kind {
            ActorKind::Anonymous => rec.source_ip.clone().unwrap_or_default(),
            _ => rec
                .actor
                .id
                .clone()
                .or_else(|| rec.actor.name.clone())
                .unwrap_or_default(),
        };
        (who, rec.action.clone(), rec.detail.clone().unwrap_or_default())
    }

    /// Records one action (coalescing repeated refusals).
    pub async fn record(&self, rec: AuditRecord) {
        if rec.result != Outcome::Success {
            let key = Self::key(&rec);
            let mut full = false;
            let coalesced = self.open.lock().is_ok_and(|mut open| match open.get_mut(&key) {
                Some(w) if w.opened.elapsed() < self.window => {
                    w.more += 1;
                    w.last = Some(rec.clone());
                    true
                }
                _ => {
                    full = open.len() >= WINDOWS_MAX;
                    open.insert(
                        key,
                        Window {
                            opened: Instant::now(),
                            more: 0,
                            last: None,
                        },
                    );
                    false
                }
            });
            if coalesced {
                return;
            }
            if full {
                self.flush(true).await;
            }
        }
        self.write(rec).await;
    }

    /// Writes the coalesced records of ended windows (all windows when `all`).
    pub async fn flush(&self, all: bool) {
        let due: Vec<AuditRecord> = match self.open.lock() {
            Ok(mut open) => {
                let ended: Vec<Key> = open
                    .iter()
                    .filter(|(_, w)| all || w.opened.elapsed() >= self.window)
                    .map(|(k, _)| k.clone())
                    .collect();
                ended
                    .into_iter()
                    .filter_map(|k| open.remove(&k))
                    .filter_map(|w| {
                        let mut r = w.last?;
                        r.count = w.more;
                        Some(r)
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for r in due {
            self.write(r).await;
        }
    }

    async fn write(&self, mut rec: AuditRecord) {
        let id = match self.store.append_audit(&rec, self.retain).await {
            Ok(id) => Some(id),
            // Counted and logged once per episode by the store's write health; the record still
            // reaches the SIEMs.
            Err(crate::backend::StoreError::CannotWrite(_)) => None,
            Err(e) => {
                tracing::warn!(error = %e, action = %rec.action, "writing an audit record failed");
                None
            }
        };
        rec.id = id.unwrap_or(0);
        self.superlog.emit_audit(&rec, id);
    }
}
