//! Reuse of remembered verdicts (docs/SCAN-REUSE.md): an item whose identity and engine identity
//! match an earlier scan's gets that scan's verdict without being read or scanned; every real
//! scan's benign or malicious verdict is remembered for the next time.
//!
//! The memory is an optimisation, so its failures never fail an item: a lookup that fails scans
//! the item, a write that fails only costs a scan later. Neither is silent: both are logged and
//! counted (`dsx_connect_verdict_reuse`), as is every write left out on purpose. A write that
//! fails for a transient reason is tried again a few times first.

use std::time::Duration;

use super::Pipeline;
use crate::backend::StoreError;
use crate::backend::reuse::{MemoryKey, Remembered};
use crate::model::{ReusedFrom, Verdict, VerdictKind, WorkItem};
use crate::retry::Backoff;

/// How long a file must have been unchanged when it was read for its verdict to be remembered.
/// File timestamps are coarse on some file systems (and a write may land in the same tick as the
/// listing): a file written again within that tick could keep its identity with new content.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Tries of a memory write that failed for a transient reason.
const REMEMBER_ATTEMPTS: u32 = 3;

/// Waits between those tries: 200 ms, then 400 ms.
const REMEMBER_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));

/// The memory key of an item, when its verdict may be reused at all: reuse is on, the item
/// came with an identity from a pinned connector, and the engine can name its signatures.
fn key_of(ctx: &Pipeline, item: &WorkItem) -> Option<MemoryKey> {
    if ctx.core.settings.workers.reuse_max_entries == 0 {
        return None;
    }
    let identity = item.scan_request.identity.as_ref()?;
    let connector = item.pin.as_ref()?.connector_uuid.as_ref()?;
    let engine = ctx.core.scanner.reuse_identity()?;
    Some(MemoryKey::new(
        connector,
        &item.scan_request.location,
        identity,
        &engine,
    ))
}

/// The remembered verdict of an unchanged item, unless its scan asked for a rescan.
pub async fn recall(ctx: &Pipeline, item: &WorkItem) -> Option<Remembered> {
    if item.scan_request.rescan {
        return None;
    }
    let key = key_of(ctx, item)?;
    match ctx.core.backend.memory.recall(&key).await {
        Ok(Some(r)) => {
            ctx.core.metrics.reuse("hit");
            Some(r)
        }
        Ok(None) => {
            ctx.core.metrics.reuse("miss");
            None
        }
        Err(e) => {
            ctx.core.metrics.reuse("lookup_failed");
            let error = crate::error_chain::error_chain(&e);
            tracing::warn!(task = %item.task_id, %error, "verdict memory lookup failed; scanning the item");
            None
        }
    }
}

/// Remembers the verdict of a real scan of `item` whose read started at `read_at_ns` (epoch ns).
/// Only verdicts about the content are remembered (benign, malicious), never errors or items not
/// scanned, and only for files unchanged for [`SETTLE`] before the read.
pub async fn remember(ctx: &Pipeline, item: &WorkItem, verdict: &Verdict, read_at_ns: i64) {
    if !matches!(verdict.verdict, VerdictKind::Benign | VerdictKind::Malicious) {
        return;
    }
    let Some(key) = key_of(ctx, item) else { return };
    if let Some(changed) = item.scan_request.identity.as_ref().and_then(|i| i.changed_at_ns())
        && !settled(changed, read_at_ns)
    {
        ctx.core.metrics.reuse("too_recent");
        tracing::debug!(task = %item.task_id, location = %item.scan_request.location, "changed just before its read; its verdict is not remembered");
        return;
    }
    let entry = Remembered {
        verdict: verdict.clone(),
        from: ReusedFrom {
            task_id: item.task_id.clone(),
            scanned_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
    };
    let bound = ctx.core.settings.workers.reuse_max_entries;
    let mut attempt = 1;
    loop {
        match ctx.core.backend.memory.remember(&key, &entry, bound).await {
            Ok(()) => return ctx.core.metrics.reuse("remembered"),
            // The embedded store refuses a whole group commit now and then while a checkpoint
            // holds the database ("database is locked"): such a write succeeds when tried again.
            Err(StoreError::Unavailable(_) | StoreError::Timeout) if attempt < REMEMBER_ATTEMPTS => {
                ctx.core.metrics.reuse("remember_retried");
                tokio::time::sleep(REMEMBER_BACKOFF.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => {
                ctx.core.metrics.reuse("remember_failed");
                let error = crate::error_chain::error_chain(&e);
                tracing::warn!(task = %item.task_id, %error, attempt, "remembering the verdict failed; the item will be scanned again next time");
                return;
            }
        }
    }
}

/// Whether a file changed at `changed_ns` had been left alone for [`SETTLE`] when its read
/// started at `read_at_ns` (a change time after the read, a clock step, is not settled).
fn settled(changed_ns: i64, read_at_ns: i64) -> bool {
    read_at_ns.saturating_sub(changed_ns) >= SETTLE.as_nanos() as i64
}

/// Now, in epoch nanoseconds (the clock file times are on).
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_left_alone_for_the_settle_time_are_remembered() {
        let s = SETTLE.as_nanos() as i64;
        assert!(settled(0, s));
        assert!(!settled(0, s - 1));
        assert!(!settled(10, 5), "a change after the read");
    }
}
