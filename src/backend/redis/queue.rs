//! WorkQueue on a Redis stream with the consumer group `dsx-connect-workers`: claims with
//! XREADGROUP in batches, XAUTOCLAIM for entries of consumers that died, retries in a delayed
//! sorted set (so a retry never blocks the stream), parked lists per paused job.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{self, Value};

use super::{
    GROUP, IDEMPOTENCY_TTL_SECS, RedisStore, TASK_TTL_SECS, array, int, internal, now_ms, pairs, redis_err, text,
};
use crate::backend::Cause;
use crate::backend::{
    AcceptAnswer, AcceptRequest, Accepted, Claimed, JobChange, ParkOutcome, Receipt, StoreError, StoreResult, WorkQueue,
};
use crate::model::result::{TaskRecord, TaskState};
use crate::model::{DlqQueue, JobId, JobStatus, TaskId, WorkItem, now_secs};

/// Due retries moved per promotion pass.
const PROMOTE_BATCH: usize = 500;

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(Cause::from_err(e)))
}

impl RedisStore {
    pub(super) fn dlq_key(&self, q: DlqQueue) -> String {
        self.key(&format!("dlq:{}", q.as_str()))
    }

    /// Moves due retries into the stream when one is due (known from the last pass).
    async fn promote_if_due(&self) -> StoreResult<()> {
        let now = now_ms();
        if self.inner.next_due_ms.load(Ordering::Acquire) > now {
            return Ok(());
        }
        let r = self
            .run(
                &self.inner.scripts.promote,
                vec![now.to_string(), PROMOTE_BATCH.to_string()],
            )
            .await?;
        let a = array(&r);
        let next = a.get(1).map(int).unwrap_or(-1);
        let moved = a.first().map(int).unwrap_or(0);
        // Another process may add earlier retries: look again within a second regardless.
        let next = if moved as usize >= PROMOTE_BATCH {
            now
        } else if next < 0 {
            now + 1000
        } else {
            next.min(now + 1000)
        };
        self.inner.next_due_ms.store(next, Ordering::Release);
        Ok(())
    }

    /// Entries of consumers idle longer than the claim timeout, taken over by this consumer.
    async fn reclaim(&self, max: usize) -> StoreResult<Vec<(String, Vec<(String, String)>, u32)>> {
        let now = now_ms();
        let idle_ms = self.opts().claim_idle_secs as i64 * 1000;
        let last = self.inner.last_reclaim_ms.load(Ordering::Acquire);
        if now - last < (idle_ms / 4).clamp(250, 30_000) {
            return Ok(Vec::new());
        }
        self.inner.last_reclaim_ms.store(now, Ordering::Release);
        let mut c = self.conn().await?;
        let r: Value = redis::cmd("XAUTOCLAIM")
            .arg(self.stream())
            .arg(GROUP)
            .arg(&self.inner.consumer)
            .arg(idle_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let entries = parse_entries(array(&r).get(1).unwrap_or(&Value::Nil));
        let mut out = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let pending: Value = redis::cmd("XPENDING")
                .arg(self.stream())
                .arg(GROUP)
                .arg(&id)
                .arg(&id)
                .arg(1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            let deliveries = array(&pending)
                .first()
                .and_then(|p| array(p).get(3))
                .map(int)
                .unwrap_or(2);
            tracing::warn!(entry = %id, deliveries, "reclaimed a queue entry from a consumer that stopped");
            // Counted like the embedded store: handouts before this one that had no outcome.
            out.push((id, fields, (deliveries - 1).max(1) as u32));
        }
        Ok(out)
    }

    async fn to_claimed(
        &self,
        id: String,
        fields: Vec<(String, String)>,
        deliveries: u32,
    ) -> StoreResult<Option<Claimed>> {
        let receipt = Receipt(id);
        let raw = fields.iter().find(|(k, _)| k == "item").map(|(_, v)| v.clone());
        match raw.as_deref().map(serde_json::from_str::<WorkItem>) {
            Some(Ok(item)) => Ok(Some(Claimed {
                receipt,
                item,
                deliveries,
            })),
            Some(Err(e)) => {
                self.reject_unreadable(&receipt, raw.as_deref().unwrap_or(""), &e.to_string())
                    .await?;
                Ok(None)
            }
            None => {
                self.reject_unreadable(&receipt, &format!("{fields:?}"), "entry without an item field")
                    .await?;
                Ok(None)
            }
        }
    }
}

/// `[[id, [field, value, …]], …]`.
fn parse_entries(v: &Value) -> Vec<(String, Vec<(String, String)>)> {
    array(v)
        .iter()
        .filter_map(|e| {
            let e = array(e);
            let id = text(e.first()?)?;
            let fields = array(e.get(1)?)
                .chunks(2)
                .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                .collect();
            Some((id, fields))
        })
        .collect()
}

#[async_trait]
impl WorkQueue for RedisStore {
    async fn accept(&self, req: AcceptRequest) -> StoreResult<AcceptAnswer> {
        if std::time::Instant::now() >= req.deadline {
            return Err(StoreError::Timeout);
        }
        let mut args = vec![
            now_secs().to_string(),
            req.idempotency
                .as_ref()
                .map(|(scope, h)| self.key(&format!("idempotency:{}:{h}", scope.as_str())))
                .unwrap_or_default(),
            IDEMPOTENCY_TTL_SECS.to_string(),
            req.job_name.clone().unwrap_or_default(),
            self.job_ttl().to_string(),
            TASK_TTL_SECS.to_string(),
        ];
        let now = now_ms();
        for item in req.items {
            let work = WorkItem {
                task_id: item.task_id.clone(),
                job_id: item.job_id.clone(),
                stage: crate::model::Stage::Scan,
                attempt: 0,
                max_attempts: req.max_attempts,
                enqueued_at: now,
                scan_request: item.request,
                verdict: None,
                item_action: None,
                requeued: false,
                pin: Some(item.pin),
                request_id: req.request_id.clone(),
                reused_from: None,
            };
            args.push(item.task_id.into());
            args.push(item.job_id.into());
            args.push(item.connector_uuid.map(String::from).unwrap_or_default());
            args.push(if item.awaits_enqueue_done { "1" } else { "0" }.into());
            args.push(to_json(&work)?);
        }
        let r = self.run(&self.inner.scripts.accept, args).await?;
        let a = array(&r);
        let replay = a.first().map(int) == Some(1);
        let body = a.get(1).and_then(text).ok_or_else(|| internal("accept"))?;
        let items: Vec<Accepted> = if body == "{}" {
            Vec::new()
        } else {
            serde_json::from_str(&body).map_err(|e| StoreError::Internal(Cause::with("accept answer", e)))?
        };
        Ok(if replay {
            AcceptAnswer::Replay(items)
        } else {
            AcceptAnswer::Fresh(items)
        })
    }

    async fn claim(&self, max: usize, wait: Duration) -> StoreResult<Vec<Claimed>> {
        self.ensure_group().await?;
        self.promote_if_due().await?;
        let mut out = Vec::new();
        for (id, fields, deliveries) in self.reclaim(max).await? {
            if let Some(c) = self.to_claimed(id, fields, deliveries).await? {
                out.push(c);
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        // Block at most until the next retry is due, so retries are not held back by the wait.
        let due_in = self.inner.next_due_ms.load(Ordering::Acquire) - now_ms();
        let block = wait
            .min(super::MAX_CLAIM_BLOCK)
            .min(Duration::from_millis(due_in.clamp(1, 60_000) as u64));
        let mut c = self.conn().await?;
        let r: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.inner.consumer)
            .arg("COUNT")
            .arg(max.max(1))
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(self.stream())
            .arg(">")
            .query_async(&mut c)
            .await
            .map_err(|e| {
                if e.code() == Some("NOGROUP") {
                    self.inner.group_ready.store(false, Ordering::Release);
                }
                redis_err(e)
            })?;
        drop(c);
        // [[stream, [[id, fields], …]]]
        let entries = array(&r)
            .first()
            .map(|s| parse_entries(array(s).get(1).unwrap_or(&Value::Nil)))
            .unwrap_or_default();
        for (id, fields) in entries {
            if let Some(c) = self.to_claimed(id, fields, 0).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &Receipt) -> StoreResult<()> {
        self.run(&self.inner.scripts.ack, vec![GROUP.into(), receipt.0.clone()])
            .await
            .map(|_| ())
    }

    async fn retry_later(&self, receipt: &Receipt, item: WorkItem, due_ms: i64, error: &str) -> StoreResult<()> {
        let args = vec![
            GROUP.into(),
            receipt.0.clone(),
            due_ms.to_string(),
            to_json(&item)?,
            item.task_id.to_string(),
            item.attempt.to_string(),
            error.to_string(),
            now_secs().to_string(),
        ];
        self.run(&self.inner.scripts.retry, args).await?;
        self.inner.next_due_ms.fetch_min(due_ms, Ordering::AcqRel);
        Ok(())
    }

    async fn park(&self, receipt: &Receipt, item: WorkItem) -> StoreResult<ParkOutcome> {
        let args = vec![
            GROUP.into(),
            receipt.0.clone(),
            to_json(&item)?,
            item.task_id.to_string(),
            item.job_id.to_string(),
            now_secs().to_string(),
            item.attempt.to_string(),
            TASK_TTL_SECS.to_string(),
            self.job_ttl().to_string(),
        ];
        let r = self.run(&self.inner.scripts.park, args).await?;
        let a = array(&r);
        match a.first().and_then(text).as_deref() {
            Some("parked") => Ok(ParkOutcome::Parked),
            Some("requeued") => Ok(ParkOutcome::Requeued),
            Some("skipped") => {
                let job = super::job_from_hash(&pairs(a.get(4).unwrap_or(&Value::Nil)))?;
                Ok(ParkOutcome::Skipped(Box::new(JobChange {
                    previous: a.get(3).and_then(text).as_deref().and_then(JobStatus::parse),
                    became_terminal: a.get(2).map(int) == Some(1),
                    changed: a.get(1).map(int) != Some(0),
                    job,
                })))
            }
            _ => Err(internal("park")),
        }
    }

    async fn release(&self, receipt: &Receipt) -> StoreResult<()> {
        self.run(&self.inner.scripts.release, vec![GROUP.into(), receipt.0.clone()])
            .await
            .map(|_| ())
    }

    async fn reject_unreadable(&self, receipt: &Receipt, raw: &str, error: &str) -> StoreResult<()> {
        let body = serde_json::json!({
            "queue": DlqQueue::ScanRequest.as_str(),
            "reason": "bad_payload",
            "error_details": error,
            "retry_count": 0,
            "payload": {"raw": raw},
        })
        .to_string();
        tracing::error!(entry = %receipt.0, error, "queue entry is unreadable; dead-lettered as bad_payload");
        self.run(
            &self.inner.scripts.reject,
            vec![
                GROUP.into(),
                receipt.0.clone(),
                self.dlq_key(DlqQueue::ScanRequest),
                body,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn task(&self, task_id: &TaskId) -> StoreResult<Option<TaskRecord>> {
        let mut c = self.conn().await?;
        let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key(&format!("task:{task_id}")))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        if h.is_empty() {
            return Ok(None);
        }
        let job_id = JobId::parse(h.get("job_id").map_or("", String::as_str))
            .map_err(|e| StoreError::Internal(Cause::with("task hash with an invalid job_id", e)))?;
        Ok(Some(TaskRecord {
            task_id: task_id.clone(),
            job_id,
            state: h
                .get("state")
                .and_then(|s| TaskState::parse(s))
                .unwrap_or(TaskState::Queued),
            attempts: h.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
            error: h.get("error").cloned(),
            verdict: h.get("verdict").cloned(),
        }))
    }

    /// Written to the task hash (not kept in memory as the embedded store does), so every API
    /// process reports it.
    async fn task_started(&self, task_id: &TaskId, attempts: u32) -> StoreResult<()> {
        self.run(
            &self.inner.scripts.task_started,
            vec![task_id.to_string(), attempts.to_string()],
        )
        .await
        .map(|_| ())
    }

    /// XCLAIM to this consumer with no minimum idle time resets the entry's idle counter.
    async fn renew(&self, receipt: &Receipt) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let _: Value = redis::cmd("XCLAIM")
            .arg(self.stream())
            .arg(GROUP)
            .arg(&self.inner.consumer)
            .arg(0)
            .arg(&receipt.0)
            .arg("JUSTID")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    /// Entries not yet acknowledged (ready, claimed, or waiting for a retry).
    async fn depth(&self) -> StoreResult<u64> {
        let mut c = self.conn().await?;
        let (stream, delayed): (u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(self.stream())
            .cmd("ZCARD")
            .arg(format!("{}:delayed", self.stream()))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(stream + delayed)
    }
}
