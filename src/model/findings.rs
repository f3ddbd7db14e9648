//! The findings summary (`GET /scan/findings/summary`): the malicious results of the last
//! 24 hours, counted by threat, connector and job, with the most recent ones listed.
//!
//! Both stores hand over the same input — the newest malicious results of the window, at most
//! [`MAX_SCANNED`] — and this module does the counting, so the two backends answer alike.

use std::collections::HashMap;

use serde::Serialize;

use super::result::ScanResultModel;
use super::status::StatusKind;
use super::verdict::VerdictKind;

/// The window the summary covers.
pub const WINDOW_HOURS: i64 = 24;
/// Most findings one summary reads; beyond it the counts cover the newest ones (`complete: false`).
pub const MAX_SCANNED: usize = 10_000;
/// Recent findings listed by default and at most.
pub const DEFAULT_RECENT: usize = 10;
pub const MAX_RECENT: usize = 100;
/// Groups listed per dimension, largest first.
pub const MAX_GROUPS: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FindingsSummary {
    pub window_hours: i64,
    /// RFC 3339 start and end of the window.
    pub since: String,
    pub until: String,
    /// Malicious results in the window (of those read).
    pub malicious: u64,
    /// False when the window held more than [`MAX_SCANNED`] findings.
    pub complete: bool,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub by_threat: Vec<Group>,
    pub by_connector: Vec<Group>,
    pub by_job: Vec<Group>,
    /// Newest first.
    pub recent: Vec<Finding>,
}

/// One threat, connector or job: `key` identifies it (threat name, connector uuid, job id;
/// `null` when the results carry none), `label` is what to show.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub key: Option<String>,
    pub label: String,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// One malicious result, as an operator reads it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub id: i64,
    pub timestamp: String,
    pub job_id: Option<String>,
    pub connector: Option<String>,
    pub connector_uuid: Option<String>,
    pub location: String,
    pub threat: Option<String>,
    pub threat_type: Option<String>,
    pub engine: String,
    pub engine_version: Option<String>,
    pub action: String,
    pub action_status: StatusKind,
    pub action_message: String,
}

impl Finding {
    fn of(r: &ScanResultModel) -> Self {
        let v = &r.verdict;
        let connector = r.scan_request.connector.as_ref();
        Finding {
            id: r.id,
            timestamp: r.timestamp.clone(),
            job_id: job_of(r),
            connector: connector.map(|c| c.name.clone()),
            connector_uuid: connector.and_then(|c| c.uuid.clone()),
            location: r.scan_request.location.clone(),
            threat: threat_of(r),
            threat_type: v.verdict_details.threat_type.clone(),
            engine: v.scan_engine.as_str().to_string(),
            engine_version: v.scan_engine_version.clone(),
            action: r.item_action.item_action.as_str().to_string(),
            action_status: r.item_action.status,
            action_message: r.item_action.message.clone(),
        }
    }
}

fn threat_of(r: &ScanResultModel) -> Option<String> {
    r.verdict
        .verdict_details
        .event_description
        .clone()
        .filter(|t| !t.is_empty())
}

fn job_of(r: &ScanResultModel) -> Option<String> {
    r.scan_job_id.clone().or_else(|| r.scan_request.scan_job_id.clone())
}

/// Counts per key, keeping first and last seen.
#[derive(Default)]
struct Tally {
    groups: HashMap<Option<String>, Group>,
}

impl Tally {
    fn add(&mut self, key: Option<String>, label: impl FnOnce() -> String, at: &str) {
        let g = self.groups.entry(key.clone()).or_insert_with(|| Group {
            key,
            label: label(),
            count: 0,
            first_seen: at.to_string(),
            last_seen: at.to_string(),
        });
        g.count += 1;
        if at < g.first_seen.as_str() {
            g.first_seen = at.to_string();
        }
        if at > g.last_seen.as_str() {
            g.last_seen = at.to_string();
        }
    }

    /// Largest first, then most recent, at most [`MAX_GROUPS`].
    fn into_sorted(self) -> Vec<Group> {
        let mut v: Vec<Group> = self.groups.into_values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| b.last_seen.cmp(&a.last_seen)));
        v.truncate(MAX_GROUPS);
        v
    }
}

impl FindingsSummary {
    /// Summarises `results` (a store's newest malicious results since `since`, newest first;
    /// `complete` when the store had no more). Timestamps are the stores' RFC 3339 UTC text with
    /// milliseconds, so they order as text.
    pub fn build(
        results: &[ScanResultModel],
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        recent: usize,
        complete: bool,
    ) -> Self {
        let text = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let since_text = text(since);
        let mut summary = FindingsSummary {
            window_hours: WINDOW_HOURS,
            since: since_text.clone(),
            until: text(until),
            malicious: 0,
            complete,
            first_seen: None,
            last_seen: None,
            by_threat: Vec::new(),
            by_connector: Vec::new(),
            by_job: Vec::new(),
            recent: Vec::new(),
        };
        let (mut threats, mut connectors, mut jobs) = (Tally::default(), Tally::default(), Tally::default());
        let found = results
            .iter()
            .filter(|r| r.verdict.verdict == VerdictKind::Malicious && r.timestamp >= since_text);
        for r in found {
            let at = r.timestamp.as_str();
            summary.malicious += 1;
            if summary.first_seen.as_deref().is_none_or(|f| at < f) {
                summary.first_seen = Some(at.to_string());
            }
            if summary.last_seen.as_deref().is_none_or(|l| at > l) {
                summary.last_seen = Some(at.to_string());
            }
            let threat = threat_of(r);
            threats.add(threat.clone(), || threat.unwrap_or_else(|| "unnamed".into()), at);
            let c = r.scan_request.connector.as_ref();
            let key = c.map(|c| c.uuid.clone().unwrap_or_else(|| c.name.clone()));
            connectors.add(key, || c.map_or_else(|| "no connector".into(), |c| c.name.clone()), at);
            let job = job_of(r);
            jobs.add(job.clone(), || job.unwrap_or_else(|| "no job".into()), at);
            if summary.recent.len() < recent {
                summary.recent.push(Finding::of(r));
            }
        }
        summary.by_threat = threats.into_sorted();
        summary.by_connector = connectors.into_sorted();
        summary.by_job = jobs.into_sorted();
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scan_request::ScanRequestModel;
    use crate::model::status::{ItemAction, ItemActionStatusResponse};
    use crate::model::verdict::Verdict;
    use crate::model::{ConnectorInstanceModel, Engine};

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn finding(
        id: i64,
        when: &str,
        threat: Option<&str>,
        connector: Option<&str>,
        job: Option<&str>,
    ) -> ScanResultModel {
        let mut v = Verdict::bare(VerdictKind::Malicious, Engine::Clamd);
        v.verdict_details.event_description = threat.map(str::to_string);
        v.scan_engine_version = Some("ClamAV 1.0".into());
        let mut req = ScanRequestModel::new(format!("/f{id}"), "m");
        req.scan_job_id = job.map(str::to_string);
        req.connector = connector.map(|n| ConnectorInstanceModel {
            name: n.into(),
            uuid: Some(format!("uuid-{n}")),
            ..Default::default()
        });
        let action = ItemActionStatusResponse::new(StatusKind::Success, "moved", ItemAction::Move);
        let mut r = ScanResultModel::new(&format!("t{id}"), req, v, action, at(when));
        r.id = id;
        r
    }

    #[test]
    fn findings_are_counted_by_threat_connector_and_job_within_the_window() {
        let mut benign = finding(5, "2026-11-26T11:00:00Z", Some("x"), Some("a"), Some("j1"));
        benign.verdict.verdict = VerdictKind::Benign;
        let results = vec![
            benign,
            finding(4, "2026-11-26T10:00:00Z", Some("EICAR"), Some("a"), Some("j1")),
            finding(3, "2026-11-26T09:00:00Z", Some("Trojan.X"), Some("b"), Some("j2")),
            finding(2, "2026-11-26T08:00:00Z", Some("EICAR"), None, None),
            // Older than the window.
            finding(1, "2026-11-25T07:59:59Z", Some("EICAR"), Some("a"), Some("j1")),
        ];
        let s = FindingsSummary::build(
            &results,
            at("2026-11-25T12:00:00Z"),
            at("2026-11-26T12:00:00Z"),
            2,
            true,
        );
        assert_eq!(s.malicious, 3);
        assert_eq!(s.first_seen.as_deref(), Some("2026-11-26T08:00:00.000Z"));
        assert_eq!(s.last_seen.as_deref(), Some("2026-11-26T10:00:00.000Z"));
        assert_eq!(s.since, "2026-11-25T12:00:00.000Z");
        let threats: Vec<(&str, u64)> = s.by_threat.iter().map(|g| (g.label.as_str(), g.count)).collect();
        assert_eq!(threats, [("EICAR", 2), ("Trojan.X", 1)]);
        assert_eq!(s.by_threat[0].first_seen, "2026-11-26T08:00:00.000Z");
        assert_eq!(s.by_threat[0].last_seen, "2026-11-26T10:00:00.000Z");
        let connectors: Vec<(Option<&str>, &str)> = s
            .by_connector
            .iter()
            .map(|g| (g.key.as_deref(), g.label.as_str()))
            .collect();
        assert_eq!(
            connectors,
            [(Some("uuid-a"), "a"), (Some("uuid-b"), "b"), (None, "no connector")]
        );
        assert_eq!(s.by_job.len(), 3);
        let recent: Vec<i64> = s.recent.iter().map(|f| f.id).collect();
        assert_eq!(recent, [4, 3]);
        let f = &s.recent[0];
        assert_eq!(
            (
                f.location.as_str(),
                f.threat.as_deref(),
                f.engine.as_str(),
                f.action.as_str()
            ),
            ("/f4", Some("EICAR"), "clamd", "move")
        );
        assert_eq!(
            (f.action_status, f.engine_version.as_deref()),
            (StatusKind::Success, Some("ClamAV 1.0"))
        );
    }

    #[test]
    fn groups_are_capped_largest_first() {
        let results: Vec<ScanResultModel> = (0..(MAX_GROUPS as i64 + 10))
            .map(|i| finding(i, "2026-11-26T10:00:00Z", Some(&format!("T{i}")), Some("a"), None))
            .chain(std::iter::once(finding(
                999,
                "2026-11-26T10:00:00Z",
                Some("T7"),
                Some("a"),
                None,
            )))
            .collect();
        let s = FindingsSummary::build(
            &results,
            at("2026-11-25T12:00:00Z"),
            at("2026-11-26T12:00:00Z"),
            0,
            false,
        );
        assert_eq!(s.by_threat.len(), MAX_GROUPS);
        assert_eq!((s.by_threat[0].label.as_str(), s.by_threat[0].count), ("T7", 2));
        assert!(s.recent.is_empty() && !s.complete);
    }
}
