//! Starting a full scan on a registered connector: the optional estimate preflight, the
//! connector's `full_scan` call, and the job record once the connector accepted. One path for
//! the operator's `POST /connectors/full_scan/{uuid}` and for scheduled runs, so both start jobs
//! the same way.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;

use crate::backend::{JobInit, StoreError};
use crate::connector_client::{Target, Unreachable};
use crate::core_state::Core;
use crate::model::connector::CAP_ENQUEUE_DONE;
use crate::model::{ConnectorInstanceModel, Estimate, JobId, StatusKind, StatusResponse};

/// How long the estimate preflight may take before the trigger goes on without it.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a full scan did not start.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("connector unreachable: {}", .0.as_str())]
    Unreachable(Unreachable),
    /// The connector answered with a non-2xx status (its body is relayed, sanitised, by callers).
    #[error("connector answered HTTP {status}")]
    Refused { status: reqwest::StatusCode, body: Bytes },
    #[error("recording the job failed")]
    Store(#[source] StoreError),
}

/// What a full scan start needs besides the connector.
pub struct FullScanStart<'a> {
    pub job_id: &'a JobId,
    /// Forwarded to the connector as it is (it carries `job_id`).
    pub query: &'a str,
    pub job_name: Option<String>,
}

/// The connector's base URL as a proxy target.
pub fn target<'a>(m: &'a ConnectorInstanceModel, url: &'a str) -> Target<'a> {
    Target {
        base: url,
        uuid: m.connector_uuid(),
        name: Some(&m.name),
    }
}

/// Asks connector `m` to start a full scan and records the job when it accepted. Returns the
/// connector's answer (a well-formed `StatusResponse`; an `error` status means no job).
pub async fn start_full_scan(
    core: &Core,
    m: &ConnectorInstanceModel,
    start: FullScanStart<'_>,
) -> Result<StatusResponse, TriggerError> {
    let url = m.url.clone().unwrap_or_default();
    let preflight = async {
        if !core.settings.enable_estimate_preflight {
            return None;
        }
        let answer = core
            .clients
            .proxy(Method::GET, target(m, &url), "estimate", "", Some(PREFLIGHT_TIMEOUT))
            .await;
        match answer {
            Ok((s, body)) if s.is_success() => serde_json::from_slice::<Estimate>(&body)
                .ok()
                .filter(|e| e.confidence == crate::model::Confidence::Exact)
                .and_then(|e| e.count),
            _ => None,
        }
    };
    let call = core
        .clients
        .proxy(Method::POST, target(m, &url), "full_scan", start.query, None);
    let (expected, answer) = futures_util::join!(preflight, call);
    let (status, body) = answer.map_err(TriggerError::Unreachable)?;
    if !status.is_success() {
        return Err(TriggerError::Refused { status, body });
    }
    // Only a well-formed StatusResponse is relayed (docs/AUTH.md, "Relaying connector answers").
    let parsed = serde_json::from_slice::<StatusResponse>(&body)
        .map_err(|_| TriggerError::Unreachable(Unreachable::InvalidResponse))?;
    if parsed.status != StatusKind::Error {
        let jobs = &core.backend.jobs;
        let init = JobInit {
            connector_uuid: m.connector_uuid(),
            expected_total: expected,
            job_name: start.job_name,
            awaits_enqueue_done: m.has_capability(CAP_ENQUEUE_DONE),
        };
        let job = jobs.create(start.job_id, init).await.map_err(TriggerError::Store)?;
        if let (Some(n), None) = (expected, job.expected_total) {
            jobs.set_expected_total(start.job_id, n)
                .await
                .map_err(TriggerError::Store)?;
        }
    }
    Ok(parsed)
}
