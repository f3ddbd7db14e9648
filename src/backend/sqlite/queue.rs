//! WorkQueue on SQLite: `queue` (ready, FIFO by seq), `delayed` (retries by due time) and
//! `parked` (items of paused jobs).
//!
//! Claims read above an in-memory cursor: the single writer assigns increasing sequence numbers
//! in commit order, so everything at or below the cursor has been handed out in this process.
//! After a restart the cursor is 0 again and un-acked entries are delivered again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::jobs::{load_job, record_outcome_tx, save_job};
use super::writer::{WriterState, sql_err};
use super::{LiveTask, SqliteStore};
use crate::backend::{
    AcceptAnswer, AcceptRequest, Accepted, Claimed, ItemOutcome, Outcome, OutcomeRecord, ParkOutcome, Receipt,
    StoreError, StoreResult, WorkQueue,
};
use crate::backend::{Cause, job_rules};
use crate::model::job::JobRecord;
use crate::model::result::{TaskRecord, TaskState};
use crate::model::{DlqQueue, JobId, JobStatus, Stage, TaskId, WorkItem, now_ms, now_secs};

const IDEMPOTENCY_TTL_MS: i64 = 86_400_000;

fn seq_of(r: &Receipt) -> StoreResult<i64> {
    r.0.parse()
        .map_err(|_| StoreError::Internal(Cause::msg(format!("bad receipt {}", r.0))))
}

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(Cause::from_err(e)))
}

fn accept_tx(c: &Connection, st: &mut WriterState, req: AcceptRequest) -> StoreResult<AcceptAnswer> {
    let now_s = now_secs();
    let now = now_ms();
    let idem_key = req
        .idempotency
        .as_ref()
        .map(|(scope, h)| format!("{}:{h}", scope.as_str()));
    if let Some(key) = &idem_key {
        let prior: Option<String> = c
            .prepare_cached("SELECT answer FROM idempotency WHERE key = ?1 AND created_ms > ?2")
            .and_then(|mut s| {
                s.query_row(params![key, now - IDEMPOTENCY_TTL_MS], |r| r.get(0))
                    .optional()
            })
            .map_err(sql_err)?;
        if let Some(answer) = prior {
            let items = serde_json::from_str(&answer).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            return Ok(AcceptAnswer::Replay(items));
        }
    }
    let mut touched: HashMap<JobId, JobRecord> = HashMap::new();
    let mut created: Vec<JobId> = Vec::new();
    let mut out = Vec::with_capacity(req.items.len());
    let mut queued_any = false;
    for item in req.items {
        if !touched.contains_key(&item.job_id) {
            let job = match load_job(c, st, &item.job_id)? {
                Some(j) => j,
                None => {
                    created.push(item.job_id.clone());
                    JobRecord::new(&item.job_id, now_s)
                }
            };
            touched.insert(item.job_id.clone(), job);
        }
        let Some(job) = touched.get_mut(&item.job_id) else {
            continue;
        };
        let outcome = job_rules::admit(job.status);
        if outcome != ItemOutcome::Rejected {
            let work = WorkItem {
                task_id: item.task_id.clone(),
                job_id: item.job_id.clone(),
                stage: Stage::Scan,
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
            let json = to_json(&work)?;
            let table_sql = if outcome == ItemOutcome::Parked {
                "INSERT INTO parked (job_id, task_id, item) VALUES (?1, ?2, ?3)"
            } else {
                "INSERT INTO queue (job_id, task_id, item) VALUES (?1, ?2, ?3)"
            };
            c.prepare_cached(table_sql)
                .and_then(|mut s| s.execute(params![item.job_id, item.task_id, json]))
                .map_err(sql_err)?;
            c.prepare_cached(
                "INSERT INTO tasks (task_id, job_id, state, attempts, created_at, updated_at) \
                 VALUES (?1, ?2, 'queued', 0, ?3, ?3)",
            )
            .and_then(|mut s| s.execute(params![item.task_id, item.job_id, now_s]))
            .map_err(sql_err)?;
            queued_any |= outcome == ItemOutcome::Queued;
            job.enqueued_count += 1;
            job.last_enqueued_at = Some(now_s);
            job.last_update = now_s;
            if job.connector_uuid.is_none() {
                job.connector_uuid = item.connector_uuid;
            }
            job.awaits_enqueue_done |= item.awaits_enqueue_done;
            if let Some(name) = &req.job_name {
                job.job_name = Some(name.clone());
            }
        }
        out.push(Accepted {
            task_id: item.task_id,
            job_id: item.job_id,
            outcome,
            job_status: job.status,
        });
    }
    for a in &mut out {
        if let Some(j) = touched.get(&a.job_id) {
            a.job_status = j.status;
        }
    }
    let accepted_any = out.iter().any(|a| a.outcome != ItemOutcome::Rejected);
    if accepted_any {
        for job in touched.values() {
            save_job(c, job)?;
        }
        if let Some(key) = &idem_key {
            let answer = to_json(&out)?;
            c.prepare_cached("INSERT OR REPLACE INTO idempotency (key, created_ms, answer) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![key, now, answer]))
                .map_err(sql_err)?;
        }
        for (id, job) in touched {
            if created.contains(&id) {
                st.status_changes.push((id.clone(), Some(job.status)));
            }
            st.jobs.insert(id, job);
        }
        st.queue_grew |= queued_any;
    }
    Ok(AcceptAnswer::Fresh(out))
}

fn promote_due(c: &Connection, st: &mut WriterState, now: i64) -> StoreResult<Option<i64>> {
    let moved = c
        .prepare_cached(
            "INSERT INTO queue (job_id, task_id, item) \
             SELECT job_id, task_id, item FROM delayed WHERE due_ms <= ?1 ORDER BY due_ms, seq",
        )
        .and_then(|mut s| s.execute(params![now]))
        .map_err(sql_err)?;
    if moved > 0 {
        c.execute("DELETE FROM delayed WHERE due_ms <= ?1", params![now])
            .map_err(sql_err)?;
        st.queue_grew = true;
    }
    c.query_row("SELECT MIN(due_ms) FROM delayed", [], |r| r.get::<_, Option<i64>>(0))
        .map_err(sql_err)
}

impl SqliteStore {
    async fn promote_if_due(&self) -> StoreResult<()> {
        let now = now_ms();
        if self.inner.next_due_ms.load(Ordering::Acquire) > now {
            return Ok(());
        }
        let next = self.writer().exec(None, move |c, st| promote_due(c, st, now)).await?;
        self.inner
            .next_due_ms
            .store(next.unwrap_or(i64::MAX), Ordering::Release);
        Ok(())
    }

    fn set_live(&self, task_id: &TaskId, live: Option<LiveTask>) {
        if let Ok(mut m) = self.inner.live.lock() {
            match live {
                Some(l) => m.insert(task_id.clone(), l),
                None => m.remove(task_id),
            };
        }
    }

    pub(crate) fn forget_live(&self, task_id: &TaskId) {
        self.set_live(task_id, None);
    }
}

#[async_trait]
impl WorkQueue for SqliteStore {
    async fn accept(&self, req: AcceptRequest) -> StoreResult<AcceptAnswer> {
        let deadline = req.deadline;
        self.writer()
            .exec(Some(deadline), move |c, st| accept_tx(c, st, req))
            .await
    }

    async fn claim(&self, max: usize, wait: Duration) -> StoreResult<Vec<Claimed>> {
        let started = tokio::time::Instant::now();
        loop {
            self.promote_if_due().await?;
            let notified = self.inner.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let cursor = self.inner.claim_cursor.load(Ordering::Acquire);
            let released: Vec<i64> = self
                .inner
                .released
                .lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default();
            let rows: Vec<(i64, u32, String)> = self
                .read(move |c| {
                    let mut out = Vec::new();
                    let mut one = c.prepare_cached("SELECT seq, deliveries, item FROM queue WHERE seq = ?1")?;
                    for seq in released {
                        if let Some(row) = one
                            .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                            .optional()?
                        {
                            out.push(row);
                        }
                    }
                    let room = max.saturating_sub(out.len()).max(1);
                    let mut s = c.prepare_cached(
                        "SELECT seq, deliveries, item FROM queue WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )?;
                    let rows = s.query_map(params![cursor, room as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    for row in rows {
                        out.push(row?);
                    }
                    Ok(out)
                })
                .await?;
            if !rows.is_empty() {
                if let Some(top) = rows.iter().map(|r| r.0).max() {
                    self.inner.claim_cursor.fetch_max(top, Ordering::AcqRel);
                }
                let mut out = Vec::with_capacity(rows.len());
                for (seq, deliveries, text) in rows {
                    let receipt = Receipt(seq.to_string());
                    match serde_json::from_str::<WorkItem>(&text) {
                        Ok(item) => out.push(Claimed {
                            receipt,
                            item,
                            deliveries,
                        }),
                        Err(e) => self.reject_unreadable(&receipt, &text, &e.to_string()).await?,
                    }
                }
                return Ok(out);
            }
            let elapsed = started.elapsed();
            if elapsed >= wait {
                return Ok(Vec::new());
            }
            let due_in = self.inner.next_due_ms.load(Ordering::Acquire).saturating_sub(now_ms());
            let nap = (wait - elapsed).min(Duration::from_millis(due_in.clamp(1, 60_000) as u64));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn ack(&self, receipt: &Receipt) -> StoreResult<()> {
        let seq = seq_of(receipt)?;
        self.writer()
            .exec(None, move |c, _| {
                c.prepare_cached("DELETE FROM queue WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq]))
                    .map(|_| ())
                    .map_err(sql_err)
            })
            .await
    }

    async fn retry_later(&self, receipt: &Receipt, item: WorkItem, due_ms: i64, error: &str) -> StoreResult<()> {
        let seq = seq_of(receipt)?;
        let task_id = item.task_id.clone();
        let attempts = item.attempt;
        let json = to_json(&item)?;
        let error = error.to_string();
        self.writer()
            .exec(None, move |c, _| {
                c.execute("DELETE FROM queue WHERE seq = ?1", params![seq])
                    .map_err(sql_err)?;
                c.prepare_cached("INSERT INTO delayed (due_ms, task_id, job_id, item) VALUES (?1, ?2, ?3, ?4)")
                    .and_then(|mut s| s.execute(params![due_ms, item.task_id, item.job_id, json]))
                    .map_err(sql_err)?;
                c.prepare_cached(
                    "UPDATE tasks SET state = 'retrying', attempts = ?2, error = ?3, updated_at = ?4 \
                     WHERE task_id = ?1 AND outcome IS NULL",
                )
                .and_then(|mut s| s.execute(params![item.task_id, attempts, error, now_secs()]))
                .map_err(sql_err)?;
                Ok(())
            })
            .await?;
        self.inner.next_due_ms.fetch_min(due_ms, Ordering::AcqRel);
        self.set_live(
            &task_id,
            Some(LiveTask {
                state: TaskState::Retrying,
                attempts,
            }),
        );
        self.inner.work.notify_waiters();
        Ok(())
    }

    async fn park(&self, receipt: &Receipt, item: WorkItem) -> StoreResult<ParkOutcome> {
        let seq = seq_of(receipt)?;
        let task_id = item.task_id.clone();
        let json = to_json(&item)?;
        let outcome = self
            .writer()
            .exec(None, move |c, st| {
                // Decided on the job's status now, not the status the worker saw: a resume or
                // cancel may have committed in between.
                let status = load_job(c, st, &item.job_id)?.map(|j| j.status);
                c.execute("DELETE FROM queue WHERE seq = ?1", params![seq])
                    .map_err(sql_err)?;
                match status {
                    Some(JobStatus::Paused) => {
                        c.prepare_cached("INSERT INTO parked (job_id, task_id, item) VALUES (?1, ?2, ?3)")
                            .and_then(|mut s| s.execute(params![item.job_id, item.task_id, json]))
                            .map_err(sql_err)?;
                        c.prepare_cached("UPDATE tasks SET state = 'queued' WHERE task_id = ?1 AND outcome IS NULL")
                            .and_then(|mut s| s.execute(params![item.task_id]))
                            .map_err(sql_err)?;
                        Ok(ParkOutcome::Parked)
                    }
                    Some(JobStatus::Cancelled) => {
                        let rec = OutcomeRecord {
                            task_id: item.task_id.clone(),
                            job_id: item.job_id.clone(),
                            outcome: Outcome::Skipped,
                            attempts: item.attempt,
                            requeued: false,
                        };
                        Ok(ParkOutcome::Skipped(Box::new(
                            record_outcome_tx(c, st, rec, false)?.change,
                        )))
                    }
                    _ => {
                        c.prepare_cached("INSERT INTO queue (job_id, task_id, item) VALUES (?1, ?2, ?3)")
                            .and_then(|mut s| s.execute(params![item.job_id, item.task_id, json]))
                            .map_err(sql_err)?;
                        st.queue_grew = true;
                        Ok(ParkOutcome::Requeued)
                    }
                }
            })
            .await?;
        self.forget_live(&task_id);
        Ok(outcome)
    }

    async fn release(&self, receipt: &Receipt) -> StoreResult<()> {
        let seq = seq_of(receipt)?;
        if let Ok(mut v) = self.inner.released.lock() {
            v.push(seq);
        }
        self.inner.work.notify_waiters();
        Ok(())
    }

    async fn reject_unreadable(&self, receipt: &Receipt, raw: &str, error: &str) -> StoreResult<()> {
        let seq = seq_of(receipt)?;
        let body = serde_json::json!({
            "queue": DlqQueue::ScanRequest.as_str(),
            "reason": "bad_payload",
            "error_details": error,
            "retry_count": 0,
            "payload": {"raw": raw},
        })
        .to_string();
        tracing::error!(seq, error, "queue entry is unreadable; dead-lettered as bad_payload");
        self.writer()
            .exec(None, move |c, _| {
                c.execute("DELETE FROM queue WHERE seq = ?1", params![seq]).map_err(sql_err)?;
                c.execute(
                    "INSERT INTO dlq (queue, failed_at_ms, task_id, job_id, body) VALUES ('scan_request', ?1, '', '', ?2)",
                    params![now_ms(), body],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn task(&self, task_id: &TaskId) -> StoreResult<Option<TaskRecord>> {
        let live = self.inner.live.lock().ok().and_then(|m| m.get(task_id).cloned());
        let id = task_id.clone();
        let stored: Option<TaskRecord> = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT task_id, job_id, state, attempts, error, verdict FROM tasks WHERE task_id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok(TaskRecord {
                        task_id: r.get(0)?,
                        job_id: r.get(1)?,
                        state: TaskState::parse(&r.get::<_, String>(2)?).unwrap_or(TaskState::Queued),
                        attempts: r.get(3)?,
                        error: r.get(4)?,
                        verdict: r.get(5)?,
                    })
                })
                .optional()
            })
            .await?;
        Ok(stored.map(|mut t| {
            if let Some(l) = live
                && t.state.is_pending()
            {
                t.state = l.state;
                t.attempts = t.attempts.max(l.attempts);
            }
            t
        }))
    }

    async fn task_started(&self, task_id: &TaskId, attempts: u32) -> StoreResult<()> {
        self.set_live(
            task_id,
            Some(LiveTask {
                state: TaskState::Running,
                attempts,
            }),
        );
        Ok(())
    }

    async fn depth(&self) -> StoreResult<u64> {
        self.read(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM queue) + (SELECT COUNT(*) FROM delayed)",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
        .map(|n| n as u64)
    }
}
