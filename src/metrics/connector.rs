//! The metrics of a connector process (standalone or built into `serve`): its HTTP routes, what
//! it handed to the core, and its status; and who may read them.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::http::HttpMetrics;
use crate::model::ConnectorStatus;

/// The instruments of one connector.
pub struct ConnectorMetrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
}

impl Default for ConnectorMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        Self { registry, http }
    }
}

/// What a connector knows about itself at scrape time.
pub struct ConnectorFigures {
    pub status: ConnectorStatus,
    pub submitted: u64,
    pub full_scans_running: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

impl ConnectorMetrics {
    /// The exposition: the HTTP instruments, then `figures`.
    pub fn document(&self, figures: &ConnectorFigures) -> String {
        let mut now = Registry::default();
        let submitted = Counter::<u64>::default();
        submitted.inc_by(figures.submitted);
        now.register(
            "dsx_connect_connector_items_submitted",
            "Items this connector handed to the core as scan requests (accepted) since it started",
            submitted,
        );
        let status = Family::<StatusLabel, Gauge>::default();
        for s in [
            ConnectorStatus::Ready,
            ConnectorStatus::Starting,
            ConnectorStatus::Stopped,
            ConnectorStatus::Failed,
        ] {
            let label = StatusLabel {
                status: super::scrape::connector_status(s),
            };
            status.get_or_create(&label).set(i64::from(s == figures.status));
        }
        now.register(
            "dsx_connect_connector_status",
            "1 for this connector's current status (ready: registered with the core, repository reachable)",
            status,
        );
        let running = Gauge::<i64>::default();
        running.set(figures.full_scans_running as i64);
        now.register(
            "dsx_connect_connector_full_scans_running",
            "Full scans this connector is enumerating right now",
            running,
        );
        super::encode(&[&self.registry, &now])
    }
}

/// Who may read a connector's `/metrics` (docs/AUTH.md, "Connector metrics").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// The connector protects nothing (no API key, no signatures): like its other routes.
    Open,
    /// `Authorization: Bearer <DSXCONNECTOR_METRICS_TOKEN>`.
    Token,
    /// The connector is protected and no metrics token is set: nobody.
    Closed,
}

impl MetricsAccess {
    /// Prometheus can send a bearer token but neither an `x-api-key` header nor a DSX-HMAC
    /// signature, so a protected connector serves metrics only to a token of their own, which
    /// reveals nothing else and opens nothing else.
    pub fn of(token_set: bool, protected: bool) -> Self {
        match (token_set, protected) {
            (true, _) => MetricsAccess::Token,
            (false, false) => MetricsAccess::Open,
            (false, true) => MetricsAccess::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_s_page_names_its_status_and_what_it_submitted() {
        let m = ConnectorMetrics::default();
        let t = m.document(&ConnectorFigures {
            status: ConnectorStatus::Ready,
            submitted: 12,
            full_scans_running: 1,
        });
        for line in [
            "# TYPE dsx_connect_connector_items_submitted counter",
            "dsx_connect_connector_items_submitted_total 12",
            "dsx_connect_connector_status{status=\"ready\"} 1",
            "dsx_connect_connector_status{status=\"failed\"} 0",
            "dsx_connect_connector_full_scans_running 1",
        ] {
            assert!(t.lines().any(|l| l == line), "{line}\n{t}");
        }
    }

    #[test]
    fn a_protected_connector_without_a_metrics_token_serves_metrics_to_nobody() {
        assert_eq!(MetricsAccess::of(true, true), MetricsAccess::Token);
        assert_eq!(MetricsAccess::of(true, false), MetricsAccess::Token);
        assert_eq!(MetricsAccess::of(false, false), MetricsAccess::Open);
        assert_eq!(MetricsAccess::of(false, true), MetricsAccess::Closed);
    }
}
