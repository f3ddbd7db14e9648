//! Processing of one claimed work item: gate, fetch + scan, action, record, ack
//! (docs/reference/CORE-API.md, "Stages").
//!
//! Each stage either succeeds and hands over to the next, or fails with a classified
//! [`Failure`]: retriable failures are rescheduled with backoff (the item waits in the delayed
//! set, nothing else is blocked); the rest, and retries that run out, are dead-lettered and
//! counted `failed` in one atomic store step. Nothing is acknowledged before its outcome is
//! recorded, so a crash at any point only causes a redelivery, which recording absorbs.
//!
//! When the store refuses a write for lack of room (disk full, Redis out of memory), the item
//! keeps its claim and what it found, and its write is tried again once the store writes
//! again ([`when_writable`]): giving it back would fetch and scan it again, in a loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Pipeline;
use super::reuse;
use crate::actors::job::{ItemFinished, JobChanged};
use crate::backend::Cause;
use crate::backend::write_health::when_writable;
use crate::backend::{BusEvent, Claimed, Outcome, OutcomeRecord, ParkOutcome, Receipt, Recorded, StoreError};
use crate::failure::{ErrorClass, Failure, backoff};
use crate::model::result::ScanResultModel;
use crate::model::{
    DlqEntry, Engine, ItemActionStatusResponse, JobStatus, Stage, Verdict, VerdictKind, WorkItem, now_ms,
};
use crate::request_id::RequestId;
use crate::retry::Backoff;
use crate::scanner::{Meter, MeterReport, Pace, ScanInput};

/// Longest a worker waits for a pause or cancel being committed before it looks again.
const HOLD_WAIT: Duration = Duration::from_secs(2);

/// Attempts to deliver a result tag to a connector.
const RESULT_TAG_ATTEMPTS: u32 = 3;

/// Waits between result-tag attempts: 500 ms, then 1 s.
const RESULT_TAG_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));

/// Runs one item to its end (recorded, rescheduled, parked or dead-lettered), on behalf of the
/// request that accepted it (its id goes on the connector and scanner calls).
pub async fn process(ctx: Arc<Pipeline>, claimed: Claimed) {
    let id = claimed.item.request_id.as_deref().and_then(RequestId::parse);
    crate::request_id::scope(id, run(ctx, claimed)).await
}

async fn run(ctx: Arc<Pipeline>, claimed: Claimed) {
    let Claimed {
        receipt,
        mut item,
        deliveries,
    } = claimed;
    let max_deliveries = 2 * item.max_attempts.max(1);
    if deliveries > max_deliveries {
        let f = Failure::new(
            ErrorClass::Unknown,
            format!("delivered {deliveries} times without an outcome"),
        );
        dead_letter(&ctx, &receipt, &item, "max_deliveries_exceeded", &f, item.attempt).await;
        return;
    }
    if !item.requeued {
        // A pause or cancel being committed: wait for the decision rather than dispatch.
        ctx.core.held.wait_released(&item.job_id, HOLD_WAIT).await;
        match ctx.core.backend.jobs.status(&item.job_id).await {
            Ok(Some(JobStatus::Paused)) => {
                match ctx.core.backend.queue.park(&receipt, item.clone()).await {
                    Ok(ParkOutcome::Skipped(change)) => {
                        if let Ok(actor) = ctx.jobs.actor(&item.job_id).await {
                            actor.do_send(JobChanged(*change));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "parking an item failed; it will be delivered again");
                        ctx.core.backend.queue_release(&receipt).await;
                    }
                }
                return;
            }
            Ok(Some(JobStatus::Cancelled)) => {
                finish(&ctx, &receipt, &item, Outcome::Skipped, item.attempt).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "job status unavailable; retrying the item later");
                ctx.core.backend.queue_release(&receipt).await;
                return;
            }
        }
    }
    loop {
        let attempts = item.attempt + 1;
        let _ = ctx.core.backend.queue.task_started(&item.task_id, attempts).await;
        let stage_started = Instant::now();
        let step = match item.stage {
            Stage::Scan => scan_or_reuse(&ctx, &mut item, stage_started).await,
            Stage::Action => {
                let acted = action_stage(&ctx, &item).await;
                let outcome = acted.as_ref().map_or("failed", |a| status_label(a.status));
                ctx.core
                    .metrics
                    .action_took(outcome, stage_started.elapsed().as_secs_f64());
                acted.map(|a| {
                    item.item_action = Some(a);
                    Stage::Record
                })
            }
            Stage::Record => {
                record_stage(&ctx, &receipt, &item, attempts).await;
                return;
            }
        };
        match step {
            Ok(next) => {
                item.stage = next;
                item.attempt = 0;
            }
            Err(f) => {
                fail(&ctx, &receipt, item, f).await;
                return;
            }
        }
    }
}

/// The scan stage: the remembered verdict of an unchanged item, or else a real scan, whose
/// verdict is then remembered (docs/SCAN-REUSE.md). A malicious verdict, reused or not, goes on
/// to the action stage.
async fn scan_or_reuse(ctx: &Pipeline, item: &mut WorkItem, started: Instant) -> Result<Stage, Failure> {
    let v = match reuse::recall(ctx, item).await {
        Some(remembered) => {
            item.reused_from = Some(remembered.from);
            stamp(remembered.verdict, ctx, item, None)
        }
        None => {
            let read_at_ns = reuse::now_ns();
            let v = scan_stage(ctx, item).await?;
            let read = v.dsxconnect_read_elapsed_ms.map(|ms| ms / 1e3);
            ctx.core
                .metrics
                .scan_took(v.scan_engine, started.elapsed().as_secs_f64(), read);
            reuse::remember(ctx, item, &v, read_at_ns).await;
            v
        }
    };
    let next = if v.verdict == VerdictKind::Malicious {
        Stage::Action
    } else {
        Stage::Record
    };
    item.verdict = Some(v);
    Ok(next)
}

/// Dead-letters an item whose processing panicked (`unknown_error`).
pub async fn dead_letter_panicked(ctx: &Pipeline, c: Claimed) {
    let f = Failure::new(ErrorClass::Unknown, "processing the item panicked");
    dead_letter(ctx, &c.receipt, &c.item, "unknown_error", &f, c.item.attempt + 1).await;
}

/// Retry or dead-letter after a failed stage.
async fn fail(ctx: &Pipeline, receipt: &Receipt, mut item: WorkItem, f: Failure) {
    ctx.core.metrics.failed(item.stage, f.class);
    let w = &ctx.core.settings.workers;
    let attempts = item.attempt + 1;
    let retriable = f.class.is_retriable(w);
    if retriable && attempts < item.max_attempts {
        let delay = backoff(f.class, attempts, f.retry_after, w);
        item.attempt = attempts;
        let due = now_ms() + delay.as_millis() as i64;
        tracing::debug!(task = %item.task_id, class = f.class.as_str(), attempts, ?delay, "retrying item");
        let error = f.message();
        let retried = when_writable(&ctx.core.backend.write_health, || {
            ctx.core.backend.queue.retry_later(receipt, item.clone(), due, &error)
        })
        .await;
        if let Err(e) = retried {
            tracing::error!(error = %e, "scheduling a retry failed; the item will be delivered again");
            ctx.core.backend.queue_release(receipt).await;
        }
        return;
    }
    let reason = if retriable {
        "max_retries_exceeded".to_string()
    } else {
        f.class.no_retry_reason()
    };
    dead_letter(ctx, receipt, &item, &reason, &f, attempts).await;
}

async fn dead_letter(ctx: &Pipeline, receipt: &Receipt, item: &WorkItem, reason: &str, f: &Failure, attempts: u32) {
    let entry = DlqEntry::for_item(
        item,
        reason,
        f.class.as_str(),
        &f.message(),
        attempts,
        chrono::Utc::now(),
    );
    tracing::warn!(
        event = "item.dead_lettered",
        location = %item.scan_request.location,
        verdict = item.verdict.as_ref().map_or("none", |v| v.verdict.as_str()),
        engine = ctx.core.scanner.engine().as_str(),
        job = %item.job_id,
        task = %item.task_id,
        request_id = item.request_id.as_deref().unwrap_or(""),
        stage = ?item.stage,
        action = "none",
        reason,
        attempts,
        error = %f.message(),
        "item failed and was dead-lettered"
    );
    let dlq_event = serde_json::json!({
        "type": "dead_lettered",
        "queue_type": entry.queue.as_str(),
        "queue_name": entry.queue.queue_name(ctx.core.settings.app_env.as_str()),
        "timestamp": entry.meta.failed_at,
        "task_id": item.task_id,
        "job_id": item.job_id,
        "reason": reason,
    });
    if finish(ctx, receipt, item, Outcome::Failed(Box::new(entry)), attempts)
        .await
        .is_some()
    {
        ctx.core.backend.events.publish(BusEvent::Dlq(dlq_event));
        tag_result(ctx, item, "error", Some(reason.to_string()));
    }
}

/// The result tag of a verdict: `clean`, `malicious`, `not_scanned` (with its reason) or `error`.
/// A `Benign` of the built-in test engine is `not_scanned`: it only means "not EICAR and not on
/// the hash list", and a bucket policy must not unlock an item on it.
fn result_of(v: &Verdict) -> (&'static str, Option<String>) {
    match v.verdict {
        VerdictKind::Benign if v.scan_engine.is_test_engine() => (
            "not_scanned",
            Some(crate::scanner::embedded::TEST_ENGINE_TAG_REASON.to_string()),
        ),
        VerdictKind::Benign => ("clean", None),
        VerdictKind::Malicious => ("malicious", None),
        VerdictKind::NotScanned | VerdictKind::UnsupportedFileType | VerdictKind::NonCompliant => (
            "not_scanned",
            Some(
                v.verdict_details
                    .reason
                    .clone()
                    .unwrap_or_else(|| v.verdict.as_str().to_string()),
            ),
        ),
        VerdictKind::Unknown => ("error", v.verdict_details.reason.clone()),
    }
}

/// Tells the item's connector its result when it records results on items (capability
/// `result_tags`). Off the item's critical path, with a few retries: a tag that never arrives
/// leaves the item `pending`, which a bucket policy treats as not clean — it fails closed.
fn tag_result(ctx: &Pipeline, item: &WorkItem, result: &'static str, reason: Option<String>) {
    let Ok(pin) = destination(item) else { return };
    // Only a pinned connector is asked to tag: the tag call carries its credentials.
    let wants = pin
        .connector_uuid
        .as_ref()
        .and_then(|u| ctx.core.registry_view.get(u))
        .and_then(|m| m.capabilities)
        .is_some_and(|c| c.iter().any(|x| x == crate::model::connector::CAP_RESULT_TAGS));
    if !wants {
        return;
    }
    let (clients, req) = (Arc::clone(&ctx.core.clients), item.scan_request.clone());
    actix::spawn(async move {
        for attempt in 0..RESULT_TAG_ATTEMPTS {
            match clients.result_tag(&pin, &req, result, reason.as_deref()).await {
                Ok(()) => return,
                Err(f) if attempt + 1 < RESULT_TAG_ATTEMPTS => {
                    tracing::debug!(location = %req.location, error = %f.message(), "result tag failed; retrying");
                    tokio::time::sleep(RESULT_TAG_BACKOFF.delay(attempt + 1)).await;
                }
                Err(f) => {
                    tracing::warn!(location = %req.location, result, error = %f.message(), "the connector did not take the result tag; the item stays pending there");
                }
            }
        }
    });
}

/// Records an outcome (with its result, for a processed item) through the job's actor and acks
/// the entry. Returns what was recorded (`None`: the store was unavailable and the entry was
/// released for a later retry).
async fn finish(
    ctx: &Pipeline,
    receipt: &Receipt,
    item: &WorkItem,
    outcome: Outcome,
    attempts: u32,
) -> Option<Recorded> {
    let record = OutcomeRecord {
        task_id: item.task_id.clone(),
        job_id: item.job_id.clone(),
        outcome,
        attempts,
        requeued: item.requeued,
    };
    let change = when_writable(&ctx.core.backend.write_health, || async {
        let actor = ctx.jobs.actor(&item.job_id).await.map_err(actor_gone)?;
        actor.send(ItemFinished(record.clone())).await.map_err(actor_gone)?
    })
    .await;
    let recorded = match change {
        Ok(recorded) => recorded,
        Err(e) => {
            tracing::error!(error = %e, task = %item.task_id, "recording the outcome failed; retrying later");
            tokio::time::sleep(Duration::from_secs(1)).await;
            ctx.core.backend.queue_release(receipt).await;
            return None;
        }
    };
    // The outcome is recorded, so the ack is off the item's critical path: if it is lost (crash,
    // store failure) the entry is delivered again and idempotent recording absorbs it.
    let (queue, health) = (
        Arc::clone(&ctx.core.backend.queue),
        Arc::clone(&ctx.core.backend.write_health),
    );
    let (receipt, task) = (receipt.clone(), item.task_id.clone());
    actix::spawn(async move {
        if let Err(e) = when_writable(&health, || queue.ack(&receipt)).await {
            tracing::warn!(error = %e, task = %task, "ack failed; the item may be delivered again");
        }
    });
    Some(recorded)
}

fn actor_gone(e: actix::MailboxError) -> StoreError {
    StoreError::Unavailable(Cause::with("the job actor is unavailable", e))
}

async fn record_stage(ctx: &Pipeline, receipt: &Receipt, item: &WorkItem, attempts: u32) {
    let Some(verdict) = item.verdict.clone() else {
        let f = Failure::new(ErrorClass::BadPayload, "record stage without a verdict");
        dead_letter(ctx, receipt, item, "bad_payload", &f, attempts).await;
        return;
    };
    let action = item
        .item_action
        .clone()
        .unwrap_or_else(ItemActionStatusResponse::no_action);
    let result = ScanResultModel::new(
        item.task_id.as_str(),
        item.scan_request.clone(),
        verdict.clone(),
        action.clone(),
        chrono::Utc::now(),
    )
    .reusing(item.reused_from.clone());
    let outcome = Outcome::Processed(Box::new(result));
    let Some(stored) = finish(ctx, receipt, item, outcome, attempts)
        .await
        .and_then(|r| r.result)
    else {
        return;
    };
    let (result, reason) = result_of(&verdict);
    log_verdict(item, &verdict, &action, stored.inserted);
    if stored.inserted {
        ctx.core.metrics.scanned(verdict.verdict, verdict.scan_engine);
        // Only the first recording of a result becomes a superlog event
        // (docs/reference/SUPERLOG.md, "When events are produced"): a redelivered item is
        // recorded again but must not be reported twice.
        if ctx.core.superlog.is_enabled() {
            ctx.core.superlog.emit_result(&stored.result);
        }
    }
    tag_result(ctx, item, result, reason);
}

/// The `outcome` label of an `item_action` answer.
fn status_label(s: crate::model::StatusKind) -> &'static str {
    match s {
        crate::model::StatusKind::Success => "success",
        crate::model::StatusKind::Error => "error",
        crate::model::StatusKind::Nothing => "nothing",
    }
}

/// The service log's line for a verdict (first recording only): one WARN line per detection with
/// everything an operator needs to find the file and what was done to it; clean items at DEBUG.
fn log_verdict(item: &WorkItem, verdict: &Verdict, action: &ItemActionStatusResponse, first: bool) {
    if !first {
        return;
    }
    let engine = verdict.scan_engine.as_str();
    let engine_version = verdict.scan_engine_version.as_deref().unwrap_or("");
    if verdict.verdict == VerdictKind::Malicious {
        tracing::warn!(
            event = "item.malicious",
            location = %item.scan_request.location,
            verdict = verdict.verdict.as_str(),
            threat = verdict.verdict_details.event_description.as_deref().unwrap_or(""),
            engine,
            engine_version,
            job = %item.job_id,
            task = %item.task_id,
            request_id = item.request_id.as_deref().unwrap_or(""),
            action = action.item_action.as_str(),
            action_status = ?action.status,
            action_detail = action.description.as_deref().unwrap_or(""),
            "malicious item"
        );
    } else {
        tracing::debug!(
            event = "item.scanned",
            location = %item.scan_request.location,
            verdict = verdict.verdict.as_str(),
            engine,
            engine_version,
            job = %item.job_id,
            task = %item.task_id,
            "item scanned"
        );
    }
}

async fn action_stage(ctx: &Pipeline, item: &WorkItem) -> Result<ItemActionStatusResponse, Failure> {
    ctx.core
        .clients
        .item_action(&destination(item)?, &item.scan_request)
        .await
}

/// Where to call the item's connector: the pin fixed at acceptance (docs/AUTH.md, "Pinning");
/// never re-resolved from the registry, so re-pointing a connector affects new items only.
fn destination(item: &WorkItem) -> Result<crate::model::Pin, Failure> {
    item.destination()
        .ok_or_else(|| Failure::new(ErrorClass::BadPayload, "work item has no connector_url"))
}

/// Fetch from the connector (or open the file of a built-in one) and scan, streaming
/// ("read_file answers", "Size limit and transfer deadlines").
async fn scan_stage(ctx: &Pipeline, item: &WorkItem) -> Result<Verdict, Failure> {
    let started = Instant::now();
    let engine = ctx.core.scanner.engine();
    let limit = ctx.core.scanner.max_file_size();
    let hint = item.scan_request.size_in_bytes.and_then(|s| u64::try_from(s).ok());
    if limit > 0 && hint.is_some_and(|s| s > limit) {
        return Ok(stamp(Verdict::too_large(hint, engine), ctx, item, None));
    }
    let source = super::source::open(&ctx.core, &destination(item)?, &item.scan_request).await?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let length = source.length;
    if limit > 0 && length.is_some_and(|l| l > limit) {
        return Ok(stamp(Verdict::too_large(length, engine), ctx, item, Some(read_ms)));
    }
    let meter = Meter::expecting(length);
    let transfer = ctx.core.settings.workers.transfer;
    let pace = Pace {
        first_byte: transfer.first_byte,
        window: transfer.rate_window,
        min_rate: transfer.min_rate,
    };
    let input = ScanInput {
        body: meter.wrap(source.body, limit, Some(pace)),
        size: length,
        local: source.local,
        metainfo: item.scan_request.metainfo.clone(),
        task_id: item.task_id.clone(),
    };
    let total_cap = transfer.total_cap(length.or(hint), limit);
    let answer_timeout = ctx.core.settings.scanner.timeout;
    let late = |what: String| {
        let class = match engine {
            Engine::Dsxa => ErrorClass::DsxaTimeout,
            Engine::Clamd => ErrorClass::ClamdConnection,
            Engine::Embedded => ErrorClass::Unknown,
        };
        Failure::new(class, what)
    };
    // The engine gets the stream; the pace check bounds the source, and these two bound the
    // rest: the verdict must follow the last byte within the scanner timeout, and the whole
    // attempt must end within the cap derived from the size.
    let scanned = tokio::select! {
        r = ctx.core.scanner.scan(input) => r,
        () = async {
            meter.ended().await;
            tokio::time::sleep(answer_timeout).await;
        } => Err(late(format!("no verdict within {answer_timeout:?} after the last byte"))),
        () = tokio::time::sleep(total_cap) => Err(Failure::new(
            ErrorClass::ConnectorConnection,
            format!("the transfer took longer than its cap of {total_cap:?} ({} bytes read)", meter.bytes()),
        )),
    };
    match (scanned, meter.report()) {
        (_, Some(MeterReport::LimitExceeded { .. })) => {
            Ok(stamp(Verdict::too_large(length, engine), ctx, item, Some(read_ms)))
        }
        (Ok(v), None) => Ok(stamp(v, ctx, item, Some(read_ms))),
        (_, Some(MeterReport::SourceFailed(msg))) => Err(Failure::new(
            ErrorClass::ConnectorConnection,
            format!("connector stream broke after {} bytes: {msg}", meter.bytes()),
        )),
        (_, Some(MeterReport::Stalled(msg))) => Err(Failure::new(
            ErrorClass::ConnectorConnection,
            format!("connector stream timed out after {} bytes: {msg}", meter.bytes()),
        )),
        (Err(f), None) => Err(f),
    }
}

/// Adds the core's measurements (a reused verdict has no read), and the engine's version to
/// verdicts the core made itself (too large) so every result names the engine version.
fn stamp(mut v: Verdict, ctx: &Pipeline, item: &WorkItem, read_ms: Option<f64>) -> Verdict {
    if v.scan_engine_version.is_none() {
        v.scan_engine_version = ctx.core.scanner.version();
    }
    v.dsxconnect_read_elapsed_ms = read_ms;
    v.dsxconnect_request_elapsed_ms = Some((now_ms() - item.enqueued_at).max(0) as f64);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Engine;

    fn verdict(kind: VerdictKind, engine: Engine, reason: Option<&str>) -> Verdict {
        let mut v = Verdict::bare(kind, engine);
        v.verdict_details.reason = reason.map(str::to_string);
        v
    }

    #[test]
    fn a_real_engine_s_benign_is_clean() {
        for engine in [Engine::Dsxa, Engine::Clamd] {
            assert_eq!(result_of(&verdict(VerdictKind::Benign, engine, None)), ("clean", None));
        }
    }

    #[test]
    fn the_test_engine_s_benign_is_never_clean() {
        let (tag, reason) = result_of(&verdict(VerdictKind::Benign, Engine::Embedded, None));
        assert_eq!(tag, "not_scanned");
        assert_eq!(
            reason.as_deref(),
            Some("builtin-test engine: only EICAR and the hash list are detected")
        );
        // What it does detect is still reported as such.
        assert_eq!(
            result_of(&verdict(VerdictKind::Malicious, Engine::Embedded, None)),
            ("malicious", None)
        );
    }

    #[test]
    fn other_verdicts_map_to_not_scanned_or_error_with_their_reason() {
        assert_eq!(
            result_of(&verdict(VerdictKind::NotScanned, Engine::Dsxa, Some("file too large"))),
            ("not_scanned", Some("file too large".into()))
        );
        assert_eq!(
            result_of(&verdict(VerdictKind::UnsupportedFileType, Engine::Dsxa, None)),
            ("not_scanned", Some("Unsupported File Type".into()))
        );
        assert_eq!(
            result_of(&verdict(VerdictKind::Unknown, Engine::Clamd, Some("x"))),
            ("error", Some("x".into()))
        );
    }
}
