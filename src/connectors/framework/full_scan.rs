//! The background full scan (docs/reference/CONNECTORS.md, "Full scan"): lazy enumeration, batches,
//! bounded concurrency, an exact limit, stop at the first 409, and exactly one `enqueue_done` with
//! the accepted count and the number of entries the enumeration could not read.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::Item;
use super::core_client::{SendReport, scan_request};
use super::service::{ConnectorService, FullScanStart};
use crate::connectors::filter::Filter;

/// How long a partly filled batch waits for more items before it is sent anyway.
const BATCH_LINGER: Duration = Duration::from_millis(50);
/// Consecutive abandoned requests that abort a scan.
const MAX_ABANDONED_IN_A_ROW: u32 = 3;

/// What one full scan covers.
pub struct ScanPlan {
    pub job_id: String,
    /// Accept at most this many items.
    pub limit: Option<u64>,
    /// Applied on top of the connector's own filter.
    pub narrow: Option<Filter>,
    /// `rescan_all`: every request asks the core to scan, never to reuse a remembered verdict.
    pub rescan: bool,
}

/// Starts a background full scan, unless one runs for this job already, or
/// `MAX_CONCURRENT_FULL_SCANS` run already.
pub fn start(svc: &Arc<ConnectorService>, plan: ScanPlan) -> FullScanStart {
    let ScanPlan {
        job_id,
        limit,
        narrow,
        rescan,
    } = plan;
    let claimed = svc.claim_full_scan(&job_id);
    if claimed != FullScanStart::Started {
        return claimed;
    }
    let scan = Arc::clone(svc);
    svc.spawn_task(async move {
        let filter = match narrow {
            Some(extra) => Arc::new(scan.filter().narrowed_by(extra)),
            None => Arc::clone(scan.filter()),
        };
        let n = run(Arc::clone(&scan), job_id.clone(), limit, filter, rescan).await;
        tracing::info!(job = %job_id, accepted = n, "full scan enumeration finished");
        scan.release_full_scan(&job_id);
    });
    FullScanStart::Started
}

/// Runs a full scan of job `job_id` over the items `filter` puts in scope, to its
/// `enqueue_done`. Returns the accepted count.
async fn run(svc: Arc<ConnectorService>, job_id: String, limit: Option<u64>, filter: Arc<Filter>, rescan: bool) -> u64 {
    let model = svc.model();
    let stop = svc.shutdown_token().child_token();
    let mut rx = svc.storage().enumerate(filter);
    let concurrency = svc.settings().enqueue_concurrency;
    let batch_size = svc.core().batch_size().max(1) as u64;
    let mut inflight = FuturesUnordered::new();
    // Items taken from the enumeration but not sent yet. It lives outside every awaited
    // future, so nothing taken from the channel can be lost when another branch wins.
    let mut buffer: Vec<Item> = Vec::new();
    let mut linger: Option<tokio::time::Instant> = None;
    let (mut accepted, mut inflight_items, mut unreadable) = (0u64, 0u64, 0u64);
    let mut abandoned_in_a_row = 0u32;
    let mut enumeration_done = false;
    let mut halted = false;
    loop {
        if halted {
            buffer.clear();
        }
        // With a limit, never hold (in flight or buffered) more than the limit still allows.
        let room = limit.map_or(u64::MAX, |n| n.saturating_sub(accepted + inflight_items));
        let want = room.min(batch_size);
        let buffered = buffer.len() as u64;
        let linger_over = linger.is_some_and(|t| t <= tokio::time::Instant::now());
        if buffered > 0 && inflight.len() < concurrency && (buffered >= want || enumeration_done || linger_over) {
            let n = (buffered.min(want.max(1))) as usize;
            let items: Vec<Item> = buffer.drain(..n).collect();
            linger = (!buffer.is_empty()).then(|| tokio::time::Instant::now() + BATCH_LINGER);
            inflight_items += n as u64;
            let reqs = items.iter().map(|i| scan_request(i, &model, &job_id, rescan)).collect();
            let (svc, job) = (Arc::clone(&svc), job_id.clone());
            inflight.push(async move {
                svc.storage().before_enqueue(&items).await;
                (n as u64, svc.core().send(&job, reqs).await)
            });
            continue;
        }
        let can_receive = !enumeration_done && !halted && buffered < want;
        if !can_receive && inflight.is_empty() && (buffer.is_empty() || halted || want == 0) {
            break;
        }
        tokio::select! {
            biased;
            Some((n, report)) = inflight.next(), if !inflight.is_empty() => {
                let report: SendReport = report;
                inflight_items -= n;
                accepted += report.accepted;
                svc.count_accepted(report.accepted);
                if report.conflict {
                    tracing::info!(job = %job_id, "the core answered 409: the job is cancelled; stopping enumeration");
                    halted = true;
                }
                if report.auth_failed {
                    tracing::error!(job = %job_id, "the core refused our requests (authentication); aborting the full scan");
                    halted = true;
                }
                if report.abandoned > 0 && report.accepted == 0 {
                    abandoned_in_a_row += 1;
                    if abandoned_in_a_row >= MAX_ABANDONED_IN_A_ROW {
                        tracing::error!(job = %job_id, "three requests in a row were abandoned; aborting the full scan");
                        halted = true;
                    }
                } else if report.accepted > 0 {
                    abandoned_in_a_row = 0;
                }
            }
            item = rx.recv(), if can_receive => match item {
                None => enumeration_done = true,
                Some(Ok(i)) => {
                    if buffer.is_empty() {
                        linger = Some(tokio::time::Instant::now() + BATCH_LINGER);
                    }
                    buffer.push(i);
                }
                Some(Err(warning)) => {
                    unreadable += 1;
                    let warning = crate::error_chain::error_chain(&warning);
                    tracing::warn!(job = %job_id, %warning, "an entry could not be read during enumeration");
                }
            },
            _ = tokio::time::sleep_until(linger.unwrap_or_else(tokio::time::Instant::now)), if linger.is_some() && !buffer.is_empty() && !linger_over => {}
            _ = stop.cancelled(), if !halted => {
                tracing::info!(job = %job_id, "connector stopping; ending the full scan");
                halted = true;
            }
        }
    }
    drop(rx);
    svc.core().enqueue_done(&job_id, accepted, unreadable).await;
    accepted
}
