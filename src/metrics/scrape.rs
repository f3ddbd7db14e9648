//! Figures read when Prometheus scrapes: the gauges that mirror stored state (from the store,
//! so every process of a Redis deployment reports the same) and the superlog's counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::backend::{Backend, StoreResult};
use crate::model::{ConnectorStatus, DlqQueue, Engine, JobStatus};
use crate::superlog::metrics::State;
use crate::superlog::{DestinationFigures, Superlog};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabel {
    engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    destination: &'static str,
    reason: &'static str,
}

/// The work queue's name in the `queue` label (the DLQ queues use their own names).
const WORK_QUEUE: &str = "scan_request";

pub fn connector_status(s: ConnectorStatus) -> &'static str {
    match s {
        ConnectorStatus::Ready => "ready",
        ConnectorStatus::Starting => "starting",
        ConnectorStatus::Stopped => "stopped",
        ConnectorStatus::Failed => "failed",
    }
}

/// Everything the store holds that `/metrics` shows.
struct Stored {
    queue_depth: u64,
    dlq: Vec<(DlqQueue, u64)>,
    jobs: Vec<(JobStatus, u64)>,
    connectors: Vec<(ConnectorStatus, u64)>,
}

async fn read_store(backend: &Backend) -> StoreResult<Stored> {
    let queue_depth = backend.queue.depth().await?;
    let mut dlq = Vec::new();
    for q in DlqQueue::ALL {
        dlq.push((q, backend.results.dlq_stats(q, 0).await?.length));
    }
    let jobs = backend.jobs.count_by_status().await?;
    let now = crate::model::now_ms();
    let mut connectors: Vec<(ConnectorStatus, u64)> = Vec::new();
    // Expired presences stay in the store until the sweeper removes them: not counted.
    for (model, expires_ms) in backend.registry.all().await? {
        if expires_ms <= now {
            continue;
        }
        match connectors.iter_mut().find(|(s, _)| *s == model.status) {
            Some((_, n)) => *n += 1,
            None => connectors.push((model.status, 1)),
        }
    }
    Ok(Stored {
        queue_depth,
        dlq,
        jobs,
        connectors,
    })
}

/// A registry of the stored state's gauges, read now. Every state and status is present (0
/// when none), so a series does not vanish when its count drops to nothing. If the store does
/// not answer, only `dsx_connect_store_up 0` is reported.
pub async fn stored_state(backend: &Backend) -> Registry {
    let mut r = Registry::default();
    let up = Gauge::<i64>::default();
    r.register(
        "dsx_connect_store_up",
        "1 when the store answered this scrape's reads, else 0 (the stored-state gauges are then left out)",
        up.clone(),
    );
    let stored = match read_store(backend).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "metrics: the store did not answer");
            return r;
        }
    };
    up.set(1);
    let depth = Family::<QueueLabel, Gauge>::default();
    depth
        .get_or_create(&QueueLabel { queue: WORK_QUEUE })
        .set(stored.queue_depth as i64);
    r.register(
        "dsx_connect_queue_depth",
        "Items waiting in the work queue (ready and waiting for a retry)",
        depth,
    );
    let dlq = Family::<QueueLabel, Gauge>::default();
    for (q, n) in stored.dlq {
        dlq.get_or_create(&QueueLabel { queue: q.as_str() }).set(n as i64);
    }
    r.register("dsx_connect_dlq_depth", "Entries in each dead-letter queue", dlq);
    let jobs = Family::<StateLabel, Gauge>::default();
    for s in [
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Cancelled,
        JobStatus::Completed,
    ] {
        let n = stored.jobs.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
        jobs.get_or_create(&StateLabel { state: s.as_str() }).set(n as i64);
    }
    r.register("dsx_connect_jobs", "Stored jobs by state", jobs);
    let connectors = Family::<StatusLabel, Gauge>::default();
    for s in [
        ConnectorStatus::Ready,
        ConnectorStatus::Starting,
        ConnectorStatus::Stopped,
        ConnectorStatus::Failed,
    ] {
        let n = stored.connectors.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
        connectors
            .get_or_create(&StatusLabel {
                status: connector_status(s),
            })
            .set(n as i64);
    }
    r.register(
        "dsx_connect_connectors",
        "Registered connectors (live presence) by status",
        connectors,
    );
    r
}

/// `dsx_connect_scanner_up{engine}` from the process's scanner probe (`up`: `None` on a role that
/// does not scan, or before the first probe, and then left out).
pub fn scanner(engine: Engine, up: Option<bool>) -> Registry {
    let mut r = Registry::default();
    if let Some(up) = up {
        let g = Family::<EngineLabel, Gauge>::default();
        g.get_or_create(&EngineLabel {
            engine: engine.as_str(),
        })
        .set(i64::from(up));
        r.register(
            "dsx_connect_scanner_up",
            "1 when the last probe of the engine (every 10 s, every 3 s while failing) was answered",
            g,
        );
    }
    r
}

/// The superlog's counters under the names of the superlog contract (`dsxconnect_superlog_…`);
/// empty when superlog is off.
pub fn superlog(superlog: &Superlog) -> Registry {
    match superlog.figures() {
        Some((emitted, dests)) => superlog_figures(emitted, dests),
        None => Registry::default(),
    }
}

fn superlog_figures(emitted: u64, dests: Vec<DestinationFigures>) -> Registry {
    let mut r = Registry::default();
    let emitted_total = Counter::<u64>::default();
    emitted_total.inc_by(emitted);
    r.register(
        "dsxconnect_superlog_events_emitted",
        "Events handed to superlog",
        emitted_total,
    );
    let per_dest = || Family::<DestinationLabel, Counter>::default();
    let per_reason = || Family::<ReasonLabels, Counter>::default();
    let (sent, retried, truncated, filtered) = (per_dest(), per_dest(), per_dest(), per_dest());
    let (dropped, failed) = (per_reason(), per_reason());
    let buffered = Family::<DestinationLabel, Gauge>::default();
    let up = Family::<DestinationLabel, Gauge>::default();
    for (destination, f, in_buffer) in dests {
        let d = DestinationLabel { destination };
        sent.get_or_create(&d).inc_by(f.sent);
        retried.get_or_create(&d).inc_by(f.retried);
        truncated.get_or_create(&d).inc_by(f.truncated);
        filtered.get_or_create(&d).inc_by(f.filtered);
        for (reason, n) in f.dropped {
            dropped
                .get_or_create(&ReasonLabels {
                    destination,
                    reason: reason.as_str(),
                })
                .inc_by(n);
        }
        for (reason, n) in f.failed {
            failed
                .get_or_create(&ReasonLabels {
                    destination,
                    reason: reason.as_str(),
                })
                .inc_by(n);
        }
        buffered.get_or_create(&d).set(in_buffer as i64);
        up.get_or_create(&d).set(i64::from(f.state == State::Ok));
    }
    r.register(
        "dsxconnect_superlog_events_sent",
        "Events delivered, by destination",
        sent,
    );
    r.register(
        "dsxconnect_superlog_events_dropped",
        "Events dropped (buffer_full, shutdown), by destination",
        dropped,
    );
    r.register(
        "dsxconnect_superlog_events_retried",
        "Event re-sends, by destination",
        retried,
    );
    r.register(
        "dsxconnect_superlog_events_failed",
        "Events given up (permanent, exhausted, rejected, oversize), by destination",
        failed,
    );
    r.register(
        "dsxconnect_superlog_events_truncated",
        "Events changed by size fitting, by destination",
        truncated,
    );
    r.register(
        "dsxconnect_superlog_events_filtered",
        "Events this destination does not take, by destination",
        filtered,
    );
    r.register(
        "dsxconnect_superlog_buffer_events",
        "Events waiting in the destination's buffer (or in the batch being sent)",
        buffered,
    );
    r.register(
        "dsxconnect_superlog_destination_up",
        "1 when the destination's state is ok",
        up,
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superlog::metrics::{DropReason, FailReason, Figures};

    fn text(r: &Registry) -> String {
        crate::metrics::encode(&[r])
    }

    #[test]
    fn superlog_counters_use_the_contract_s_names_and_labels() {
        let f = Figures {
            sent: 7,
            retried: 2,
            truncated: 1,
            filtered: 0,
            dropped: [(DropReason::BufferFull, 3), (DropReason::Shutdown, 0)],
            failed: [
                (FailReason::Permanent, 0),
                (FailReason::Exhausted, 4),
                (FailReason::Rejected, 0),
                (FailReason::Oversize, 0),
            ],
            state: State::Retrying,
        };
        let t = text(&superlog_figures(15, vec![("syslog", f, 5)]));
        for line in [
            "# TYPE dsxconnect_superlog_events_emitted counter",
            "dsxconnect_superlog_events_emitted_total 15",
            "# TYPE dsxconnect_superlog_events_sent counter",
            "dsxconnect_superlog_events_sent_total{destination=\"syslog\"} 7",
            "dsxconnect_superlog_events_dropped_total{destination=\"syslog\",reason=\"buffer_full\"} 3",
            "dsxconnect_superlog_events_dropped_total{destination=\"syslog\",reason=\"shutdown\"} 0",
            "dsxconnect_superlog_events_failed_total{destination=\"syslog\",reason=\"exhausted\"} 4",
            "dsxconnect_superlog_events_retried_total{destination=\"syslog\"} 2",
            "dsxconnect_superlog_events_truncated_total{destination=\"syslog\"} 1",
            "dsxconnect_superlog_events_filtered_total{destination=\"syslog\"} 0",
            "# TYPE dsxconnect_superlog_buffer_events gauge",
            "dsxconnect_superlog_buffer_events{destination=\"syslog\"} 5",
            "dsxconnect_superlog_destination_up{destination=\"syslog\"} 0",
        ] {
            assert!(t.lines().any(|l| l == line), "{line}\n{t}");
        }
        assert_eq!(text(&superlog(&Superlog::disabled())), "# EOF\n");
    }

    #[test]
    fn the_scanner_is_up_as_its_probe_says_and_absent_without_one() {
        let t = text(&scanner(Engine::Clamd, Some(false)));
        assert!(
            t.lines().any(|l| l == "dsx_connect_scanner_up{engine=\"clamd\"} 0"),
            "{t}"
        );
        let t = text(&scanner(Engine::Dsxa, Some(true)));
        assert!(
            t.lines().any(|l| l == "dsx_connect_scanner_up{engine=\"dsxa\"} 1"),
            "{t}"
        );
        assert_eq!(text(&scanner(Engine::Dsxa, None)), "# EOF\n");
    }

    #[tokio::test]
    async fn stored_state_reports_every_queue_state_and_status_from_the_store() {
        use crate::backend::sqlite::{SqliteStore, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            dir.path(),
            StoreOptions {
                app_env: "dev".into(),
                results_retain: 100,
                job_ttl_days: 1,
                jobs_retain_finished: 100,
                dlq_expire_days: 1,
                keep_clean_results: true,
            },
        )
        .unwrap();
        let backend = store.backend();
        for id in ["job-a", "job-b"] {
            let id = crate::model::JobId::parse(id).unwrap();
            backend.jobs.create(&id, Default::default()).await.unwrap();
        }
        let t = text(&stored_state(&backend).await);
        for line in [
            "dsx_connect_store_up 1",
            "# TYPE dsx_connect_queue_depth gauge",
            "dsx_connect_queue_depth{queue=\"scan_request\"} 0",
            "dsx_connect_dlq_depth{queue=\"scan_request\"} 0",
            "dsx_connect_dlq_depth{queue=\"verdict_action\"} 0",
            "dsx_connect_dlq_depth{queue=\"scan_result\"} 0",
            "# TYPE dsx_connect_jobs gauge",
            "dsx_connect_jobs{state=\"running\"} 2",
            "dsx_connect_jobs{state=\"paused\"} 0",
            "dsx_connect_jobs{state=\"cancelled\"} 0",
            "dsx_connect_jobs{state=\"completed\"} 0",
            "dsx_connect_connectors{status=\"ready\"} 0",
            "dsx_connect_connectors{status=\"starting\"} 0",
            "dsx_connect_connectors{status=\"stopped\"} 0",
            "dsx_connect_connectors{status=\"failed\"} 0",
        ] {
            assert!(t.lines().any(|l| l == line), "{line}\n{t}");
        }
    }
}
