//! The running connector: its status ("Connector status"), registration and heartbeat
//! ("Registration and retry", "Heartbeat"), full scans, estimates, previews, webhook jobs, and
//! graceful shutdown ("Graceful shutdown").

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::core_client::{CoreClient, scan_request};
use super::delivery::DeliveryId;
use super::keyring::Keyring;
use super::settings::ConnectorSettings;
use super::{EventOutcome, Item, ItemSink, RepoCheck, RepoFailure, Storage, WebhookItem};
use crate::connectors::filter::Filter;
use crate::model::{ConnectorInstanceModel, ConnectorStatus, ConnectorUuid, Estimate};
use crate::retry::{Backoff, Jitter};

/// Longest a repository check may take before it counts as failed.
const REPO_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Live {
    registered_once: bool,
    checked: Option<(f64, Result<Vec<String>, RepoFailure>)>,
    stopping: bool,
    /// A monitor was started for this connector.
    monitoring: bool,
    /// Why the monitor does not watch right now (watcher error, folder gone).
    monitor_error: Option<String>,
}

/// What a started monitor does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorStatus {
    Watching,
    /// Why not (watcher error, folder gone).
    NotWatching(String),
}

/// What a full-scan trigger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullScanStart {
    Started,
    /// A scan of the same job runs already (docs/reference/CONNECTORS.md, "Full-scan endpoint",
    /// item 3): nothing new started.
    AlreadyRunning,
    /// `MAX_CONCURRENT_FULL_SCANS` scans run: nothing started.
    Busy {
        running: usize,
    },
}

pub struct ConnectorService {
    settings: ConnectorSettings,
    uuid: ConnectorUuid,
    filter: Arc<Filter>,
    storage: Arc<dyn Storage>,
    core: CoreClient,
    live: Mutex<Live>,
    accepted_total: AtomicU64,
    running_scans: Mutex<HashSet<String>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Nonces of verified inbound signatures (each accepted once).
    replay: crate::auth::replay::ReplayCache,
    keyring: Arc<Keyring>,
    /// The core revoked us: registration stops (no unsigned fallback).
    stop_registering: AtomicBool,
    /// Prometheus instruments (`GET /<name>/metrics`).
    metrics: crate::metrics::connector::ConnectorMetrics,
}

/// Live replay-cache entries a connector keeps before it refuses signed calls (503).
const REPLAY_CACHE_MAX: usize = 100_000;

impl ConnectorService {
    pub fn new(settings: ConnectorSettings, uuid: uuid::Uuid, storage: Arc<dyn Storage>) -> anyhow::Result<Arc<Self>> {
        let file = (settings.auth.persist_credentials && settings.auth.key.is_none())
            .then(|| settings.data_dir.join(&settings.name).join("credentials.json"));
        let keyring = Arc::new(Keyring::new(
            settings.auth.key.clone(),
            std::time::Duration::from_secs(settings.auth.rotation_grace_secs),
            file,
            &ConnectorUuid::from(uuid),
            &settings.core_api,
        ));
        let core = CoreClient::new(&settings, Arc::clone(&keyring))?;
        let settings_skew = settings.auth.clock_skew_secs;
        Ok(Arc::new(Self {
            filter: Arc::new(settings.filter.clone()),
            settings,
            uuid: ConnectorUuid::from(uuid),
            storage,
            core,
            live: Mutex::new(Live::default()),
            accepted_total: AtomicU64::new(0),
            running_scans: Mutex::new(HashSet::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            replay: crate::auth::replay::ReplayCache::new(settings_skew, REPLAY_CACHE_MAX),
            keyring,
            stop_registering: AtomicBool::new(false),
            metrics: Default::default(),
        }))
    }

    pub fn settings(&self) -> &ConnectorSettings {
        &self.settings
    }

    pub fn metrics(&self) -> &crate::metrics::connector::ConnectorMetrics {
        &self.metrics
    }

    /// This connector's figures for `/metrics`.
    pub fn metric_figures(&self) -> crate::metrics::connector::ConnectorFigures {
        crate::metrics::connector::ConnectorFigures {
            status: self.status(),
            submitted: self.accepted_total(),
            full_scans_running: self.running_scans.lock().map_or(0, |s| s.len()),
        }
    }

    pub fn uuid(&self) -> &ConnectorUuid {
        &self.uuid
    }

    pub fn replay_cache(&self) -> &crate::auth::replay::ReplayCache {
        &self.replay
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Holding a key implies requiring it: a connector never fails open.
    pub fn enforces_signatures(&self) -> bool {
        self.settings.auth.enabled || self.keyring.has_key()
    }

    pub fn filter(&self) -> &Arc<Filter> {
        &self.filter
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn core(&self) -> &CoreClient {
        &self.core
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub fn count_accepted(&self, n: u64) {
        self.accepted_total.fetch_add(n, Ordering::Relaxed);
    }

    pub fn accepted_total(&self) -> u64 {
        self.accepted_total.load(Ordering::Relaxed)
    }

    fn with_live<T>(&self, f: impl FnOnce(&mut Live) -> T) -> T {
        let mut g = match self.live.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// Derived status ("Connector status"): stopped > failed > starting > ready.
    pub fn status(&self) -> ConnectorStatus {
        self.with_live(|l| {
            if l.stopping {
                ConnectorStatus::Stopped
            } else {
                match &l.checked {
                    Some((_, Err(_))) => ConnectorStatus::Failed,
                    Some((_, Ok(_))) if l.registered_once => ConnectorStatus::Ready,
                    _ => ConnectorStatus::Starting,
                }
            }
        })
    }

    pub fn is_stopping(&self) -> bool {
        self.with_live(|l| l.stopping)
    }

    /// `None` without a monitor; else whether it watches and why not.
    pub fn monitor_status(&self) -> Option<MonitorStatus> {
        self.with_live(|l| {
            l.monitoring.then(|| {
                l.monitor_error
                    .clone()
                    .map_or(MonitorStatus::Watching, MonitorStatus::NotWatching)
            })
        })
    }

    /// The current model (registration body, readyz body, base of config).
    pub fn model(&self) -> ConnectorInstanceModel {
        let (ts, reason, message) = self.with_live(|l| match &l.checked {
            None => (None, None, None),
            Some((ts, Ok(w))) => (Some(*ts), None, (!w.is_empty()).then(|| w.join(" "))),
            Some((ts, Err(f))) => (Some(*ts), Some(f.reason.to_string()), Some(f.message.clone())),
        });
        let s = &self.settings;
        ConnectorInstanceModel {
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            display_icon: s.display_icon.clone(),
            uuid: Some(self.uuid.to_string()),
            meta_info: Some(self.storage.meta_info()),
            url: Some(s.callback_url()),
            status: self.status(),
            item_action_move_metainfo: s.move_metainfo.clone(),
            asset: s.asset.clone(),
            asset_display_name: s.asset_display_name.clone(),
            filter: s.filter.raw().to_string(),
            last_repo_check_ts: ts,
            last_repo_check_reason: reason,
            last_repo_check_message: message,
            capabilities: Some({
                let mut caps = s.capabilities();
                caps.extend(self.storage.capabilities());
                caps
            }),
        }
    }

    /// Runs the repository check (bounded) and records its outcome.
    pub async fn check_repo(&self, bound: Duration) -> RepoCheck {
        let outcome = match tokio::time::timeout(bound, self.storage.repo_check()).await {
            Ok(r) => r,
            Err(_) => Err(RepoFailure {
                reason: "unreachable",
                message: format!("repository check did not finish within {bound:?}"),
            }),
        };
        let outcome = outcome.map(|mut warnings| {
            if let Some(MonitorStatus::NotWatching(_)) = self.monitor_status() {
                warnings.push("warning=monitor_error".into());
            }
            warnings
        });
        let ts = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let before = self.with_live(|l| {
            l.checked
                .replace((ts, outcome.clone()))
                .map(|(_, o)| o.err().map(|f| f.reason))
        });
        // Logged when the outcome changes (not on every heartbeat); the message may quote the
        // storage's answer, hence escaped.
        match (&outcome, before) {
            (Err(f), b) if b != Some(Some(f.reason)) => {
                tracing::warn!(reason = f.reason, message = ?f.message, "the repository check failed");
            }
            (Ok(_), Some(Some(_))) => tracing::info!("the repository check passes again"),
            _ => {}
        }
        outcome
    }

    /// One "repository check, then register" round; true when both passed.
    async fn register_round(&self) -> bool {
        let check_ok = self.check_repo(REPO_CHECK_TIMEOUT).await.is_ok();
        let mut model = self.model();
        // The body carries the status the connector will have if this registration succeeds.
        if model.status == ConnectorStatus::Starting && check_ok {
            model.status = ConnectorStatus::Ready;
        }
        if self.stop_registering.load(Ordering::Acquire) {
            tracing::error!(uuid = %self.uuid, "this connector was revoked by the core; an admin must forget it before it can enroll again");
            return false;
        }
        let signed = self.keyring.has_key();
        match self.core.register(&model).await {
            Ok((code, answer)) if code.is_success() => {
                self.take_credentials(&answer);
                let earlier = self.with_live(|l| std::mem::replace(&mut l.registered_once, true));
                if earlier && code.as_u16() == 201 {
                    tracing::info!("the core registered us anew (it lost its state); retrying its batch endpoint");
                    self.core.reset_batch_support();
                }
                tracing::debug!(status = code.as_u16(), "registered with the core");
                check_ok
            }
            Ok((code, answer)) => {
                let detail = answer.get("detail").and_then(|d| d.as_str()).unwrap_or("");
                match (code.as_u16(), detail) {
                    (401, "unknown_key_id") if signed => {
                        tracing::warn!("the core does not know our key; enrolling again");
                        self.keyring.forget();
                    }
                    (401, "key_revoked") | (403, "connector_revoked") => {
                        self.stop_registering.store(true, Ordering::Release);
                        tracing::error!(uuid = %self.uuid, "the core revoked this connector");
                    }
                    (400..=499, _) => {
                        tracing::error!(status = code.as_u16(), detail = %crate::auth::relay::sanitize(detail), core = %self.core.api(), "registration refused: check the configuration");
                    }
                    _ => {
                        tracing::warn!(status = code.as_u16(), core = %self.core.api(), "registration failed; retrying")
                    }
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %crate::error_chain::error_chain(&e), core = %self.core.api(), "registration failed; retrying");
                false
            }
        }
    }

    /// Installs credentials from a registration answer (a first enrollment, a rotation).
    fn take_credentials(&self, answer: &serde_json::Value) {
        let field = |k: &str| answer.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match (field("hmac_key_id"), field("hmac_secret")) {
            (Some(id), Some(secret)) => {
                tracing::info!(key_id = %id, "the core issued connector credentials");
                self.keyring.install(crate::auth::hmac::HmacKey::new(id, secret));
            }
            _ if answer.get("connector_uuid").is_some() && !self.keyring.has_key() => {
                tracing::warn!(uuid = %self.uuid, "core issued no credentials; an admin must reset connector {}", self.uuid);
            }
            _ if self.settings.auth.enabled && !self.keyring.has_key() => {
                tracing::warn!("core did not issue credentials; all core calls will be rejected");
            }
            _ => {}
        }
    }

    /// Registration with capped backoff until it works, then heartbeats (never gives up).
    async fn registration_loop(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let ok = self.register_round().await;
            let wait = if ok {
                failures = 0;
                self.settings.heartbeat_interval
            } else {
                failures += 1;
                register_backoff(self.settings.register_retry_max).delay(failures)
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims a full-scan slot for `job_id`: refused when a scan of the same job runs already,
    /// or `MAX_CONCURRENT_FULL_SCANS` run already (the full scan module runs the scan).
    pub(super) fn claim_full_scan(&self, job_id: &str) -> FullScanStart {
        let mut running = match self.running_scans.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if running.contains(job_id) {
            return FullScanStart::AlreadyRunning;
        }
        if running.len() >= self.settings.max_full_scans {
            return FullScanStart::Busy { running: running.len() };
        }
        running.insert(job_id.to_string());
        FullScanStart::Started
    }

    /// Frees the slot a finished full scan held.
    pub(super) fn release_full_scan(&self, job_id: &str) {
        if let Ok(mut running) = self.running_scans.lock() {
            running.remove(job_id);
        }
    }

    /// Runs `task` in the background; [`ConnectorService::stop`] waits for it.
    pub(super) fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Starts what runs beside the HTTP server: registration then heartbeats (docs/reference/CONNECTORS.md,
    /// "Startup"), and the storage's monitor when it has one.
    pub(super) fn launch(self: &Arc<Self>) {
        let reg = Arc::clone(self);
        self.tasks.spawn(reg.registration_loop());
        // The storage decides whether it watches (the folder monitor, an event queue).
        let sink: Arc<dyn ItemSink> = Arc::clone(self) as Arc<dyn ItemSink>;
        let started =
            Arc::clone(&self.storage).start_monitor(sink, Arc::clone(&self.filter), self.shutdown.child_token());
        self.with_live(|l| l.monitoring = started);
        if self.settings.monitor.enabled && !started {
            tracing::warn!("DSXCONNECTOR_MONITOR is set, but this connector has no folder monitor");
        }
    }

    /// Counts what a full scan would enqueue now, within the estimate budget ("Estimate").
    pub async fn estimate(&self, limit: Option<u64>) -> Estimate {
        let budget = self.settings.estimate_timeout;
        if budget.is_zero() || self.check_repo(budget).await.is_err() {
            return Estimate::UNKNOWN;
        }
        let mut rx = self.storage.enumerate(Arc::clone(&self.filter));
        let count = async {
            let mut n = 0u64;
            while let Some(item) = rx.recv().await {
                if item.is_ok() {
                    n += 1;
                    if limit.is_some_and(|l| n >= l) {
                        break;
                    }
                }
            }
            n
        };
        match tokio::time::timeout(budget, count).await {
            Ok(n) => Estimate::exact(n),
            Err(_) => Estimate::UNKNOWN,
        }
    }

    /// The first `n` items a full scan would enqueue (preview).
    pub async fn preview(&self, n: usize) -> Option<Vec<String>> {
        let mut rx = self.storage.enumerate(Arc::clone(&self.filter));
        let take = async {
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                match rx.recv().await {
                    Some(Ok(item)) => out.push(preview_label(&item)),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
            out
        };
        tokio::time::timeout(REPO_CHECK_TIMEOUT, take).await.ok()
    }

    /// Enqueues the in-scope items of a webhook as one job ("Webhook endpoint") and reports the
    /// counts. The job id is derived from `delivery` when the source named its events, so a
    /// re-delivery replays at the core instead of enqueuing again; otherwise it is new.
    pub async fn webhook_job(&self, items: Vec<WebhookItem>, delivery: Option<DeliveryId>) -> WebhookOutcome {
        let mut out = WebhookOutcome::default();
        let mut to_send: Vec<Item> = Vec::new();
        for it in items {
            match it {
                WebhookItem::Enqueue(item) => to_send.push(item),
                WebhookItem::Ignored(r) => {
                    out.ignored += 1;
                    out.reasons.push(r);
                }
                WebhookItem::Rejected(r) => {
                    out.rejected += 1;
                    out.reasons.push(r);
                }
            }
        }
        if to_send.is_empty() {
            return out;
        }
        let job_id = match &delivery {
            Some(d) => d.job_id(&self.uuid),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let model = self.model();
        self.storage.before_enqueue(&to_send).await;
        let mut pending: &[Item] = &to_send;
        while !pending.is_empty() {
            let n = pending.len().min(self.core.batch_size().max(1));
            let reqs = pending[..n]
                .iter()
                .map(|i| scan_request(i, &model, &job_id, false))
                .collect();
            let r = self.core.send(&job_id, reqs).await;
            out.enqueued += r.accepted;
            out.failed += n as u64 - r.accepted;
            out.core_unavailable |= r.abandoned > 0;
            if r.rejected > 0 || r.conflict {
                out.reasons.push("core_rejected");
            }
            if r.abandoned > 0 {
                out.reasons.push("core_unavailable");
            }
            pending = &pending[n..];
        }
        self.count_accepted(out.enqueued);
        if out.enqueued > 0 {
            self.core.enqueue_done(&job_id, out.enqueued, 0).await;
            out.job_id = Some(job_id);
        }
        out
    }

    /// Graceful shutdown ("Graceful shutdown"): stop, let scans send `enqueue_done`, unregister.
    pub async fn stop(&self) {
        self.with_live(|l| l.stopping = true);
        self.shutdown.cancel();
        self.tasks.close();
        let bound = self.settings.shutdown_timeout;
        if tokio::time::timeout(bound, self.tasks.wait()).await.is_err() {
            tracing::warn!("background work did not finish within the shutdown timeout");
        }
        match self.core.unregister(&self.uuid).await {
            Ok(()) => tracing::info!(uuid = %self.uuid, "unregistered from the core"),
            Err(e) => tracing::warn!(error = %crate::error_chain::error_chain(&e), "unregistering failed"),
        }
    }
}

#[async_trait::async_trait]
impl ItemSink for ConnectorService {
    async fn submit(&self, items: Vec<Item>) {
        if self.is_stopping() || items.is_empty() {
            return;
        }
        let n = items.len();
        let o = self
            .webhook_job(items.into_iter().map(WebhookItem::Enqueue).collect(), None)
            .await;
        tracing::info!(items = n, enqueued = o.enqueued, failed = o.failed, job = ?o.job_id, "monitor group sent");
    }

    async fn submit_event(&self, items: Vec<WebhookItem>, delivery: Option<DeliveryId>) -> EventOutcome {
        let o = self.webhook_job(items, delivery).await;
        EventOutcome {
            enqueued: o.enqueued,
            failed: o.failed,
            core_unavailable: o.core_unavailable,
        }
    }

    fn monitor_state(&self, error: Option<String>) {
        let changed = self.with_live(|l| std::mem::replace(&mut l.monitor_error, error.clone()) != error);
        if changed {
            match &error {
                Some(e) => tracing::error!(error = %e, "the folder monitor is not watching"),
                None => tracing::info!("the folder monitor is watching"),
            }
        }
    }
}

/// Counts of one webhook request ("Webhook endpoint").
#[derive(Debug, Default)]
pub struct WebhookOutcome {
    pub job_id: Option<String>,
    pub enqueued: u64,
    pub ignored: u64,
    pub rejected: u64,
    pub failed: u64,
    pub core_unavailable: bool,
    pub reasons: Vec<&'static str>,
}

fn preview_label(item: &Item) -> String {
    item.location.clone()
}

/// The waits after failed registration rounds: 2 s doubling per failure, capped at `cap`, ±20 %
/// (so many connectors restarted together spread out), never under 1 s
/// (docs/reference/CONNECTORS.md, "Startup").
fn register_backoff(cap: Duration) -> Backoff {
    Backoff::new(Duration::from_secs(2), cap)
        .jitter(Jitter::Spread(0.2))
        .at_least(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_backoff_grows_from_2_s_to_its_cap_plus_jitter() {
        let cap = Duration::from_secs(60);
        let waits: Vec<_> = (1..=10)
            .map(|n| register_backoff(cap).delay_with(n, 0.5).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
        for n in [1, 5, 6, 100, u32::MAX] {
            for unit in [0.0, 0.5, 1.0] {
                let w = register_backoff(cap).delay_with(n, unit);
                assert!(
                    w >= Duration::from_secs(1) && w <= Duration::from_secs(72),
                    "{n} {unit}: {w:?}"
                );
            }
        }
        assert_eq!(
            register_backoff(Duration::from_secs(1)).delay_with(1, 0.0),
            Duration::from_secs(1)
        );
    }
}
