//! Prometheus metrics of every role (docs/OPERATIONS.md, "Metrics").
//!
//! Each core and each connector owns its own [`Registry`] (several cores run inside one test
//! process, so nothing here is process-global). Counters and histograms are per process; gauges
//! that mirror stored state (queue, dead letters, jobs, connectors) are read from the store when
//! Prometheus scrapes, so every API process of a Redis deployment reports the same figures.
//!
//! Every label value is a `&'static str` or a number: a bounded enumeration chosen by the code
//! (route template, verdict, engine, queue, state, status, destination name), never a path, an id
//! or text from a peer.

pub mod connector;
pub mod core;
pub mod http;
pub mod scrape;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

/// What `/metrics` answers with: the OpenMetrics text format, which Prometheus prefers.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Names of the core's and connectors' own metrics start with this (the superlog's follow the
/// superlog contract: `dsxconnect_superlog_…`).
pub const PREFIX: &str = "dsx_connect";

/// Buckets of scan, read and action durations: 5 ms to about 3 minutes.
pub fn work_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.005, 2.0, 16)
}

/// Buckets of HTTP latencies (time to the response head): 1 ms to about 16 s.
pub fn http_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 15)
}

/// The exposition of `registries`, in order, as one document.
pub fn encode(registries: &[&Registry]) -> String {
    let mut out = String::new();
    for r in registries {
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, r);
    }
    let _ = encode_eof(&mut out);
    out
}
