//! JobStore on Redis: job hashes (`dsxconnect:job:{id}`, the original's layout) changed only by
//! Lua scripts, so counters and the completion decision are atomic and happen exactly once
//! across any number of workers.

use async_trait::async_trait;
use deadpool_redis::redis::{self, Value};
use serde_json::{Map, Value as Json};

use super::results::parse;
use super::{RedisStore, TASK_TTL_SECS, array, int, internal, job_from_hash, pairs, redis_err, text};
use crate::backend::Cause;
use crate::backend::{
    Control, ControlError, JobChange, JobInit, JobStore, Outcome, OutcomeRecord, Recorded, StoreError, StoreResult,
    StoredResult,
};
use crate::model::job::{JobRecord, JobStatus};
use crate::model::{ConnectorUuid, JobId, StatusKind, VerdictKind, now_secs};

/// The job hash field a verdict counts in.
fn verdict_field(v: VerdictKind) -> &'static str {
    match v {
        VerdictKind::Benign => "verdict_benign",
        VerdictKind::Malicious => "verdict_malicious",
        VerdictKind::Unknown => "verdict_unknown",
        VerdictKind::UnsupportedFileType => "verdict_unsupported",
        VerdictKind::NotScanned => "verdict_not_scanned",
        VerdictKind::NonCompliant => "verdict_non_compliant",
    }
}

fn change(job: &Value, previous: Option<&Value>, became_terminal: bool, changed: bool) -> StoreResult<JobChange> {
    Ok(JobChange {
        job: job_from_hash(&pairs(job))?,
        previous: previous.and_then(text).as_deref().and_then(JobStatus::parse),
        became_terminal,
        changed,
    })
}

#[async_trait]
impl JobStore for RedisStore {
    async fn create(&self, job_id: &JobId, init: JobInit) -> StoreResult<JobRecord> {
        let r = self
            .run(
                &self.inner.scripts.create,
                vec![
                    job_id.to_string(),
                    now_secs().to_string(),
                    init.connector_uuid.map(String::from).unwrap_or_default(),
                    init.expected_total.map(|t| t.to_string()).unwrap_or_default(),
                    init.job_name.unwrap_or_default(),
                    if init.awaits_enqueue_done { "1" } else { "0" }.into(),
                    self.job_ttl().to_string(),
                ],
            )
            .await?;
        job_from_hash(&pairs(&r))
    }

    async fn get(&self, job_id: &JobId) -> StoreResult<Option<JobRecord>> {
        let mut c = self.conn().await?;
        let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("dsxconnect:job:{job_id}"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        if h.is_empty() {
            return Ok(None);
        }
        job_from_hash(&h).map(Some)
    }

    async fn list(&self, status: Option<JobStatus>, limit: usize, offset: usize) -> StoreResult<Vec<JobRecord>> {
        // Newest first from the index; records that expired are skipped (and purged later).
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        let mut skipped = 0usize;
        let mut start = 0isize;
        const PAGE: isize = 500;
        loop {
            let ids: Vec<String> = redis::cmd("ZREVRANGE")
                .arg("dsxconnect:jobs")
                .arg(start)
                .arg(start + PAGE - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            if ids.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGETALL").arg(format!("dsxconnect:job:{id}"));
            }
            let hashes: Vec<std::collections::HashMap<String, String>> =
                pipe.query_async(&mut c).await.map_err(redis_err)?;
            for h in hashes.iter().filter(|h| !h.is_empty()) {
                let job = job_from_hash(h)?;
                if status.is_some_and(|s| s != job.status) {
                    continue;
                }
                if skipped < offset {
                    skipped += 1;
                    continue;
                }
                out.push(job);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            start += PAGE;
        }
        Ok(out)
    }

    async fn raw(&self, job_id: &JobId) -> StoreResult<(i64, Map<String, Json>)> {
        let key = format!("dsxconnect:job:{job_id}");
        let mut c = self.conn().await?;
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        drop(c);
        Ok(match self.get(job_id).await? {
            None => (-2, Map::new()),
            Some(j) => (ttl, j.hash_fields()),
        })
    }

    /// Jobs by state for `/metrics`, read at scrape time (every process reports the same
    /// figures; aggregate with `max()`).
    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, u64)>> {
        // One status field per indexed job, a page at a time; ids whose record expired are
        // skipped.
        let mut c = self.conn().await?;
        let mut counts: Vec<(JobStatus, u64)> = Vec::new();
        let mut start = 0isize;
        const PAGE: isize = 1000;
        loop {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg("dsxconnect:jobs")
                .arg(start)
                .arg(start + PAGE - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            if ids.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGET").arg(format!("dsxconnect:job:{id}")).arg("status");
            }
            let statuses: Vec<Option<String>> = pipe.query_async(&mut c).await.map_err(redis_err)?;
            for st in statuses.iter().flatten().filter_map(|s| JobStatus::parse(s)) {
                match counts.iter_mut().find(|(s, _)| *s == st) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((st, 1)),
                }
            }
            start += PAGE;
        }
        Ok(counts)
    }

    /// Read from Redis on every call: a pause or cancel made through any API process is seen
    /// by every worker at its next dispatch.
    async fn status(&self, job_id: &JobId) -> StoreResult<Option<JobStatus>> {
        let mut c = self.conn().await?;
        let s: Option<String> = redis::cmd("HGET")
            .arg(format!("dsxconnect:job:{job_id}"))
            .arg("status")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(s.as_deref().and_then(JobStatus::parse))
    }

    async fn enqueue_done(&self, job_id: &JobId, total: Option<u64>, unreadable: u64) -> StoreResult<JobChange> {
        let r = self
            .run(
                &self.inner.scripts.enqueue_done,
                vec![
                    job_id.to_string(),
                    now_secs().to_string(),
                    total.map(|t| t.to_string()).unwrap_or_default(),
                    self.job_ttl().to_string(),
                    unreadable.to_string(),
                ],
            )
            .await?;
        let a = array(&r);
        change(
            a.get(2).unwrap_or(&Value::Nil),
            a.get(1),
            a.first().map(int) == Some(1),
            true,
        )
    }

    async fn control(&self, job_id: &JobId, cmd: Control) -> StoreResult<Result<JobChange, ControlError>> {
        let r = self
            .run(
                &self.inner.scripts.control,
                vec![
                    job_id.to_string(),
                    cmd.as_str().to_string(),
                    now_secs().to_string(),
                    self.job_ttl().to_string(),
                ],
            )
            .await?;
        let a = array(&r);
        let err = a.first().and_then(text).unwrap_or_default();
        let refused = match err.as_str() {
            "" => None,
            "job_not_found" => Some(ControlError::NotFound),
            "job_not_paused" => Some(ControlError::NotPaused),
            "job_cancelled" => Some(ControlError::Cancelled),
            "job_completed" => Some(ControlError::Completed),
            other => return Err(internal(other)),
        };
        if let Some(e) = refused {
            return Ok(Err(e));
        }
        Ok(Ok(change(
            a.get(4).unwrap_or(&Value::Nil),
            a.get(3),
            a.get(1).map(int) == Some(1),
            a.get(2).map(int) == Some(1),
        )?))
    }

    async fn record_outcome(&self, rec: OutcomeRecord) -> StoreResult<Recorded> {
        let state = rec.outcome.task_state().as_str().to_string();
        let (outcome, vfield, encrypted, action, dlq_key, dlq_body, error, verdict) = match &rec.outcome {
            Outcome::Processed(result) => (
                "processed",
                verdict_field(result.verdict.verdict),
                result.verdict.is_encrypted(),
                match result.item_action.status {
                    StatusKind::Success => "taken",
                    StatusKind::Error => "failed",
                    StatusKind::Nothing => "",
                },
                String::new(),
                String::new(),
                String::new(),
                result.verdict.verdict.as_str().to_string(),
            ),
            Outcome::Failed(entry) => (
                "failed",
                "",
                false,
                "",
                self.dlq_key(entry.queue),
                serde_json::to_string(entry).map_err(|e| StoreError::Internal(Cause::from_err(e)))?,
                format!("{}: {}", entry.reason, entry.error_details),
                String::new(),
            ),
            Outcome::Skipped => (
                "skipped",
                "",
                false,
                "",
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let result_args = match &rec.outcome {
            Outcome::Processed(result) => self.result_args(result)?,
            _ => Vec::new(),
        };
        let mut args = vec![
            rec.task_id.into(),
            rec.job_id.into(),
            outcome.into(),
            if rec.requeued { "1" } else { "0" }.into(),
            now_secs().to_string(),
            rec.attempts.to_string(),
            vfield.into(),
            if encrypted { "1" } else { "0" }.into(),
            action.into(),
            dlq_key,
            dlq_body,
            error,
            verdict,
            state,
            TASK_TTL_SECS.to_string(),
            self.job_ttl().to_string(),
        ];
        args.extend(result_args);
        let r = self.run(&self.inner.scripts.outcome, args).await?;
        let a = array(&r);
        let change = change(
            a.get(3).unwrap_or(&Value::Nil),
            a.get(2),
            a.get(1).map(int) == Some(1),
            a.first().map(int) != Some(0),
        )?;
        let result = match a.get(4).map(int) {
            Some(inserted @ (0 | 1)) => {
                let stored = a
                    .get(5)
                    .and_then(text)
                    .ok_or_else(|| internal("outcome: stored result"))?;
                Some(StoredResult {
                    result: parse("stored result", &stored)?,
                    inserted: inserted == 1,
                })
            }
            _ => None,
        };
        Ok(Recorded { change, result })
    }

    async fn sweep_idle(
        &self,
        idle_secs: u64,
        connector_present: &(dyn for<'a> Fn(&'a ConnectorUuid) -> bool + Send + Sync),
    ) -> StoreResult<Vec<JobRecord>> {
        if idle_secs == 0 {
            return Ok(Vec::new());
        }
        let active: Vec<String> = {
            let mut c = self.conn().await?;
            redis::cmd("SMEMBERS")
                .arg("dsxconnect:jobs:active")
                .query_async(&mut c)
                .await
                .map_err(redis_err)?
        };
        let mut done = Vec::new();
        for id in active {
            // The set holds only ids the core created; anything else names no job.
            let Ok(job_id) = JobId::parse(&id) else { continue };
            let Some(job) = self.get(&job_id).await? else { continue };
            if job.status != JobStatus::Running {
                continue;
            }
            let present = job.connector_uuid.as_ref().is_none_or(connector_present);
            let r = self
                .run(
                    &self.inner.scripts.idle,
                    vec![
                        id,
                        now_secs().to_string(),
                        idle_secs.to_string(),
                        if present { "1" } else { "0" }.into(),
                    ],
                )
                .await?;
            if !array(&r).is_empty() {
                done.push(job_from_hash(&pairs(&r))?);
            }
        }
        Ok(done)
    }

    async fn set_expected_total(&self, job_id: &JobId, total: u64) -> StoreResult<()> {
        self.run(
            &self.inner.scripts.set_expected,
            vec![job_id.to_string(), total.to_string(), now_secs().to_string()],
        )
        .await
        .map(|_| ())
    }
}
