//! The instruments of a core process: HTTP, scans, stage durations, worker slots.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::http::HttpMetrics;
use crate::failure::ErrorClass;
use crate::model::{Engine, Stage, VerdictKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanLabels {
    pub verdict: &'static str,
    pub engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabel {
    pub engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub stage: &'static str,
    pub class: &'static str,
}

/// The per-process instruments of one core (held in the shared `Core` (`core_state.rs`)).
pub struct CoreMetrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
    scans: Family<ScanLabels, Counter>,
    scan_duration: Family<EngineLabel, Histogram>,
    read_duration: Histogram,
    action_duration: Family<OutcomeLabel, Histogram>,
    failures: Family<FailureLabels, Counter>,
    in_flight: Gauge,
    concurrency: Gauge,
    schedule_runs: Family<OutcomeLabel, Counter>,
    reuse: Family<OutcomeLabel, Counter>,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CoreMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        let hist = || Histogram::new(super::work_buckets());
        let m = Self {
            http,
            scans: Family::default(),
            scan_duration: Family::new_with_constructor(hist),
            read_duration: hist(),
            action_duration: Family::new_with_constructor(hist),
            failures: Family::default(),
            in_flight: Gauge::default(),
            concurrency: Gauge::default(),
            schedule_runs: Family::default(),
            reuse: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "dsx_connect_scans",
            "Scan results recorded by this process (first recording only), by verdict and engine",
            m.scans.clone(),
        );
        registry.register_with_unit(
            "dsx_connect_scan_duration",
            "Time of a scan stage that produced a verdict: fetch from the connector and engine, streamed together",
            Unit::Seconds,
            m.scan_duration.clone(),
        );
        registry.register_with_unit(
            "dsx_connect_read_duration",
            "Time until the connector answered a read_file call (response head)",
            Unit::Seconds,
            m.read_duration.clone(),
        );
        registry.register_with_unit(
            "dsx_connect_action_duration",
            "Time of an item_action call to the connector, by outcome",
            Unit::Seconds,
            m.action_duration.clone(),
        );
        registry.register(
            "dsx_connect_item_failures",
            "Failed attempts of an item's stage (retried or dead-lettered), by stage and error class",
            m.failures.clone(),
        );
        registry.register(
            "dsx_connect_worker_items_in_flight",
            "Items this process is working on right now",
            m.in_flight.clone(),
        );
        registry.register(
            "dsx_connect_worker_concurrency",
            "Items this process works on at most at once (0: no worker pool)",
            m.concurrency.clone(),
        );
        registry.register(
            "dsx_connect_schedule_runs",
            "Due times of scan schedules decided by this process, by outcome (started, skipped, failed)",
            m.schedule_runs.clone(),
        );
        registry.register(
            "dsx_connect_verdict_reuse",
            "Verdict memory lookups and writes (docs/SCAN-REUSE.md), by outcome: hit, miss, \
             lookup_failed, remembered, too_recent, remember_retried, remember_failed",
            m.reuse.clone(),
        );
        Self { registry, ..m }
    }

    /// One verdict-memory event (see `pipeline::reuse::Reuse`).
    pub fn reuse(&self, outcome: &'static str) {
        self.reuse.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A result recorded for the first time.
    pub fn scanned(&self, verdict: VerdictKind, engine: Engine) {
        self.scans
            .get_or_create(&ScanLabels {
                verdict: verdict.as_str(),
                engine: engine.as_str(),
            })
            .inc();
    }

    /// A scan stage that ended with a verdict after `seconds`, the connector having answered
    /// `read_file` after `read_seconds`.
    pub fn scan_took(&self, engine: Engine, seconds: f64, read_seconds: Option<f64>) {
        let label = EngineLabel {
            engine: engine.as_str(),
        };
        self.scan_duration.get_or_create(&label).observe(seconds);
        if let Some(r) = read_seconds {
            self.read_duration.observe(r);
        }
    }

    /// An `item_action` call ended: `outcome` is the connector's status or `failed`.
    pub fn action_took(&self, outcome: &'static str, seconds: f64) {
        self.action_duration
            .get_or_create(&OutcomeLabel { outcome })
            .observe(seconds);
    }

    /// A stage attempt failed with `class`.
    pub fn failed(&self, stage: Stage, class: ErrorClass) {
        let stage = match stage {
            Stage::Scan => "scan",
            Stage::Action => "action",
            Stage::Record => "record",
        };
        self.failures
            .get_or_create(&FailureLabels {
                stage,
                class: class.as_str(),
            })
            .inc();
    }

    pub fn worker_started(&self, concurrency: usize) {
        self.concurrency.set(concurrency as i64);
    }

    pub fn item_started(&self) {
        self.in_flight.inc();
    }

    pub fn item_ended(&self) {
        self.in_flight.dec();
    }

    /// A schedule's due time was decided: `outcome` is `started`, `skipped` or `failed`.
    pub fn schedule_run(&self, outcome: &'static str) {
        self.schedule_runs.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(t: &str, line: &str) -> bool {
        t.lines().any(|l| l == line)
    }

    #[test]
    fn the_core_s_instruments_are_named_typed_and_labelled_by_enumerations() {
        let m = CoreMetrics::new();
        m.scanned(VerdictKind::Malicious, Engine::Dsxa);
        m.scanned(VerdictKind::NotScanned, Engine::Dsxa);
        m.scan_took(Engine::Dsxa, 0.2, Some(0.01));
        m.action_took("success", 0.03);
        m.failed(Stage::Scan, ErrorClass::DsxaConnection);
        m.worker_started(4);
        m.item_started();
        m.schedule_run("skipped");
        m.http
            .observe("/dsx-connect/api/v1/scan/jobs/{job_id}".into(), "GET", 404, 0.002);
        let t = crate::metrics::encode(&[m.registry()]);
        for line in [
            "# TYPE dsx_connect_scans counter",
            "dsx_connect_schedule_runs_total{outcome=\"skipped\"} 1",
            "dsx_connect_scans_total{verdict=\"Malicious\",engine=\"dsxa\"} 1",
            "dsx_connect_scans_total{verdict=\"Not Scanned\",engine=\"dsxa\"} 1",
            "# TYPE dsx_connect_scan_duration_seconds histogram",
            "# UNIT dsx_connect_scan_duration_seconds seconds",
            "dsx_connect_scan_duration_seconds_count{engine=\"dsxa\"} 1",
            "# TYPE dsx_connect_read_duration_seconds histogram",
            "dsx_connect_read_duration_seconds_count 1",
            "dsx_connect_action_duration_seconds_count{outcome=\"success\"} 1",
            "# TYPE dsx_connect_item_failures counter",
            "dsx_connect_item_failures_total{stage=\"scan\",class=\"dsxa_connection\"} 1",
            "dsx_connect_worker_concurrency 4",
            "dsx_connect_worker_items_in_flight 1",
            "# TYPE dsx_connect_http_requests counter",
            "dsx_connect_http_requests_total{route=\"/dsx-connect/api/v1/scan/jobs/{job_id}\",method=\"GET\",status=\"404\"} 1",
            "# TYPE dsx_connect_http_request_duration_seconds histogram",
            "dsx_connect_http_request_duration_seconds_count{route=\"/dsx-connect/api/v1/scan/jobs/{job_id}\",method=\"GET\"} 1",
        ] {
            assert!(has(&t, line), "{line}\n{t}");
        }
        assert!(t.ends_with("# EOF\n"));
        let m = CoreMetrics::new();
        m.scan_took(Engine::Clamd, 0.1, None);
        let t = crate::metrics::encode(&[m.registry()]);
        assert!(has(&t, "dsx_connect_read_duration_seconds_count 0"), "{t}");
    }
}
