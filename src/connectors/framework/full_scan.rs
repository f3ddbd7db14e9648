//! The background full scan (CONNECTORS §7.3): lazy enumeration, batches, bounded concurrency,
//! an exact limit, stop at the first 409, and exactly one `enqueue_done` with the accepted count.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::core_client::{SendReport, scan_request};
use super::service::ConnectorService;
use super::{Item, ItemReceiver};

/// How long a partly filled batch waits for more items before it is sent anyway.
const BATCH_LINGER: Duration = Duration::from_millis(50);
/// Consecutive abandoned requests that abort a scan.
const MAX_ABANDONED_IN_A_ROW: u32 = 3;

/// Takes up to `max` items: waits for the first, then gathers more for a short while.
async fn next_batch(rx: &mut ItemReceiver, max: usize, stop: &CancellationToken) -> Option<Vec<Item>> {
    let mut batch = Vec::with_capacity(max);
    let first = tokio::select! {
        _ = stop.cancelled() => return None,
        v = rx.recv() => v?,
    };
    push(&mut batch, first);
    let deadline = tokio::time::Instant::now() + BATCH_LINGER;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(v) => push(&mut batch, v),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(v)) => push(&mut batch, v),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
    Some(batch)
}

fn push(batch: &mut Vec<Item>, v: Result<Item, String>) {
    match v {
        Ok(item) => batch.push(item),
        Err(warning) => tracing::warn!(%warning, "skipped during enumeration"),
    }
}

/// Runs a full scan of job `job_id` to its `enqueue_done`. Returns the accepted count.
pub async fn run(svc: Arc<ConnectorService>, job_id: String, limit: Option<u64>) -> u64 {
    let model = svc.model();
    let stop = svc.shutdown_token().child_token();
    let mut rx = svc.storage().enumerate(Arc::clone(svc.filter()));
    let concurrency = svc.settings().enqueue_concurrency;
    let batch_size = svc.core().batch_size().max(1);
    let mut inflight = FuturesUnordered::new();
    let (mut accepted, mut inflight_items) = (0u64, 0u64);
    let mut abandoned_in_a_row = 0u32;
    let mut enumeration_done = false;
    let mut halted = false;
    loop {
        let room = limit.map_or(batch_size as u64, |n| n.saturating_sub(accepted + inflight_items));
        let can_send = !enumeration_done && !halted && inflight.len() < concurrency && room > 0;
        if !can_send && inflight.is_empty() {
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
            batch = next_batch(&mut rx, room.min(batch_size as u64) as usize, &stop), if can_send => {
                match batch {
                    None => enumeration_done = true,
                    Some(items) if items.is_empty() => {}
                    Some(items) => {
                        let n = items.len() as u64;
                        inflight_items += n;
                        let reqs = items.iter().map(|i| scan_request(i, &model, &job_id)).collect();
                        let (svc, job) = (Arc::clone(&svc), job_id.clone());
                        inflight.push(async move { (n, svc.core().send(&job, reqs).await) });
                    }
                }
            }
            _ = stop.cancelled(), if !halted => {
                tracing::info!(job = %job_id, "connector stopping; ending the full scan");
                halted = true;
            }
        }
        if stop.is_cancelled() {
            halted = true;
        }
    }
    drop(rx);
    svc.core().enqueue_done(&job_id, accepted).await;
    accepted
}
