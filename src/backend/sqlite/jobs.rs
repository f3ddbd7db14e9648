//! JobStore on SQLite: every change is one writer transaction, so counter updates, outcome
//! records, DLQ entries and the completion decision are atomic and happen once.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::SqliteStore;
use super::results::record_result_tx;
use super::writer::{WriterState, sql_err};
use crate::backend::Cause;
use crate::backend::job_rules::{self, PriorOutcome, RecordEffect};
use crate::backend::{
    Control, ControlError, JobChange, JobInit, JobStore, Outcome, OutcomeRecord, Recorded, StoreError, StoreResult,
};
use crate::model::job::JobRecord;
use crate::model::{ConnectorUuid, JobId, JobStatus, now_ms, now_secs};

/// The job from the writer's cache, else from the database.
pub(super) fn load_job(c: &Connection, st: &WriterState, job_id: &JobId) -> StoreResult<Option<JobRecord>> {
    if let Some(j) = st.jobs.get(job_id) {
        return Ok(Some(j.clone()));
    }
    let text: Option<String> = c
        .prepare_cached("SELECT record FROM jobs WHERE job_id = ?1")
        .and_then(|mut s| s.query_row(params![job_id], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Internal(Cause::with(format!("job record {job_id}"), e)))
    })
    .transpose()
}

pub(super) fn save_job(c: &Connection, job: &JobRecord) -> StoreResult<()> {
    let text = serde_json::to_string(job).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
    c.prepare_cached(
        "INSERT INTO jobs (job_id, status, started_at, last_update, record) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(job_id) DO UPDATE SET status = ?2, last_update = ?4, record = ?5",
    )
    .and_then(|mut s| {
        s.execute(params![
            job.job_id,
            job.status.as_str(),
            job.started_at,
            job.last_update,
            text
        ])
    })
    .map(|_| ())
    .map_err(sql_err)
}

/// Caches a saved job (terminal jobs leave the cache: they rarely change again) and records a
/// status change for the shared status map.
fn remember(st: &mut WriterState, job: &JobRecord, previous: Option<JobStatus>) {
    if previous != Some(job.status) {
        st.status_changes.push((job.job_id.clone(), Some(job.status)));
    }
    if job.status.is_terminal() {
        st.jobs.remove(&job.job_id);
    } else {
        st.jobs.insert(job.job_id.clone(), job.clone());
    }
}

/// Records a task's outcome, with its result when processed, in the caller's transaction.
/// `keep_clean`: whether clean results keep their JSON (`keep_clean_results`).
pub(super) fn record_outcome_tx(
    c: &Connection,
    st: &mut WriterState,
    rec: OutcomeRecord,
    keep_clean: bool,
) -> StoreResult<Recorded> {
    let now = now_secs();
    let result = match &rec.outcome {
        Outcome::Processed(result) => Some(record_result_tx(c, st, (**result).clone(), keep_clean)?),
        _ => None,
    };
    let prior: Option<Option<String>> = c
        .prepare_cached("SELECT outcome FROM tasks WHERE task_id = ?1")
        .and_then(|mut s| s.query_row(params![rec.task_id], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    let prior = prior.flatten().as_deref().and_then(PriorOutcome::parse);
    let new = PriorOutcome::of(&rec.outcome);
    let effect = job_rules::record_effect(prior, new, rec.requeued);
    let existing = load_job(c, st, &rec.job_id)?;
    let previous = existing.as_ref().map(|j| j.status);
    let mut job = existing.unwrap_or_else(|| JobRecord::new(&rec.job_id, now));
    if effect == RecordEffect::Repeat {
        let change = JobChange {
            job,
            previous,
            became_terminal: false,
            changed: false,
        };
        return Ok(Recorded { change, result });
    }
    job_rules::apply_outcome(&mut job, &rec.outcome, effect, now);
    let became_terminal = effect == RecordEffect::Count && job_rules::evaluate_completion(&mut job, now);
    let (error, verdict) = match &rec.outcome {
        Outcome::Failed(entry) => {
            let body = serde_json::to_string(entry).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            c.prepare_cached(
                "INSERT INTO dlq (queue, failed_at_ms, task_id, job_id, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![entry.queue.as_str(), now_ms(), rec.task_id, rec.job_id, body]))
            .map_err(sql_err)?;
            (Some(format!("{}: {}", entry.reason, entry.error_details)), None)
        }
        Outcome::Processed(result) => (None, Some(result.verdict.verdict.as_str().to_string())),
        Outcome::Skipped => (None, None),
    };
    c.prepare_cached(
        "INSERT INTO tasks (task_id, job_id, state, outcome, attempts, created_at, updated_at, error, verdict) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8) \
         ON CONFLICT(task_id) DO UPDATE SET state = ?3, outcome = ?4, attempts = MAX(attempts, ?5), \
         updated_at = ?6, error = ?7, verdict = ?8",
    )
    .and_then(|mut s| {
        s.execute(params![
            rec.task_id,
            rec.job_id,
            rec.outcome.task_state().as_str(),
            new.as_str(),
            rec.attempts,
            now,
            error,
            verdict
        ])
    })
    .map_err(sql_err)?;
    save_job(c, &job)?;
    remember(st, &job, previous);
    let change = JobChange {
        job,
        previous,
        became_terminal,
        changed: true,
    };
    Ok(Recorded { change, result })
}

fn control_tx(
    c: &Connection,
    st: &mut WriterState,
    job_id: &JobId,
    cmd: Control,
) -> StoreResult<Result<JobChange, ControlError>> {
    let now = now_secs();
    let Some(mut job) = load_job(c, st, job_id)? else {
        return Ok(Err(ControlError::NotFound));
    };
    let previous = Some(job.status);
    let parked: Vec<String> = if cmd == Control::Cancel && job.status.is_active() {
        let mut s = c
            .prepare_cached("SELECT task_id FROM parked WHERE job_id = ?1 ORDER BY seq")
            .map_err(sql_err)?;
        let rows = s.query_map(params![job_id], |r| r.get(0)).map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)?
    } else {
        Vec::new()
    };
    let became_terminal = match job_rules::control(&mut job, cmd, parked.len() as u64, now) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let changed = previous != Some(job.status);
    if changed {
        match cmd {
            Control::Cancel => {
                for task in &parked {
                    c.prepare_cached(
                        "UPDATE tasks SET state = 'skipped', outcome = 'skipped', updated_at = ?2 WHERE task_id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![task, now]))
                    .map_err(sql_err)?;
                }
                c.execute("DELETE FROM parked WHERE job_id = ?1", params![job_id])
                    .map_err(sql_err)?;
            }
            Control::Resume => {
                let moved = c
                    .prepare_cached(
                        "INSERT INTO queue (job_id, task_id, item) \
                         SELECT job_id, task_id, item FROM parked WHERE job_id = ?1 ORDER BY seq",
                    )
                    .and_then(|mut s| s.execute(params![job_id]))
                    .map_err(sql_err)?;
                c.execute("DELETE FROM parked WHERE job_id = ?1", params![job_id])
                    .map_err(sql_err)?;
                st.queue_grew |= moved > 0;
            }
            Control::Pause => {}
        }
        save_job(c, &job)?;
        remember(st, &job, previous);
    }
    Ok(Ok(JobChange {
        job,
        previous,
        became_terminal,
        changed,
    }))
}

fn enqueue_done_tx(
    c: &Connection,
    st: &mut WriterState,
    job_id: &JobId,
    total: Option<u64>,
    unreadable: u64,
) -> StoreResult<JobChange> {
    let now = now_secs();
    let existing = load_job(c, st, job_id)?;
    let previous = existing.as_ref().map(|j| j.status);
    let mut job = existing.unwrap_or_else(|| JobRecord::new(job_id, now));
    let became_terminal = job_rules::enqueue_done(&mut job, total, unreadable, now);
    save_job(c, &job)?;
    remember(st, &job, previous);
    Ok(JobChange {
        job,
        previous,
        became_terminal,
        changed: true,
    })
}

fn parse_record(text: &str) -> rusqlite::Result<JobRecord> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn create(&self, job_id: &JobId, init: JobInit) -> StoreResult<JobRecord> {
        let id = job_id.clone();
        self.writer()
            .exec(None, move |c, st| {
                if let Some(mut job) = load_job(c, st, &id)? {
                    // An early scan request of this job created the record (the connector may
                    // enqueue before the trigger records its job): fill in what it lacks.
                    let before = job.clone();
                    job.connector_uuid = job.connector_uuid.or(init.connector_uuid);
                    job.expected_total = job.expected_total.or(init.expected_total);
                    job.job_name = job.job_name.or(init.job_name);
                    job.awaits_enqueue_done |= init.awaits_enqueue_done;
                    if job != before {
                        save_job(c, &job)?;
                        remember(st, &job, Some(before.status));
                    }
                    return Ok(job);
                }
                let mut job = JobRecord::new(&id, now_secs());
                job.connector_uuid = init.connector_uuid;
                job.expected_total = init.expected_total;
                job.job_name = init.job_name;
                job.awaits_enqueue_done = init.awaits_enqueue_done;
                save_job(c, &job)?;
                remember(st, &job, None);
                Ok(job)
            })
            .await
    }

    async fn get(&self, job_id: &JobId) -> StoreResult<Option<JobRecord>> {
        let id = job_id.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT record FROM jobs WHERE job_id = ?1")?
                .query_row(params![id], |r| r.get::<_, String>(0))
                .optional()?
                .map(|t| parse_record(&t))
                .transpose()
        })
        .await
    }

    async fn list(&self, status: Option<JobStatus>, limit: usize, offset: usize) -> StoreResult<Vec<JobRecord>> {
        self.read(move |c| {
            let mut s = c.prepare_cached(
                "SELECT record FROM jobs WHERE (?1 IS NULL OR status = ?1) \
                 ORDER BY started_at DESC, job_id LIMIT ?2 OFFSET ?3",
            )?;
            let rows = s.query_map(params![status.map(|s| s.as_str()), limit as i64, offset as i64], |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|t| t.and_then(|t| parse_record(&t))).collect()
        })
        .await
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, u64)>> {
        self.read(|c| {
            let mut s = c.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
            let rows = s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (status, n) = row?;
                if let Some(st) = JobStatus::parse(&status) {
                    out.push((st, n.max(0) as u64));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn raw(&self, job_id: &JobId) -> StoreResult<(i64, Map<String, Value>)> {
        let ttl_secs = i64::from(self.opts().job_ttl_days) * 86_400;
        Ok(match self.get(job_id).await? {
            None => (-2, Map::new()),
            Some(j) => ((j.last_update + ttl_secs - now_secs()).max(0), j.hash_fields()),
        })
    }

    async fn status(&self, job_id: &JobId) -> StoreResult<Option<JobStatus>> {
        let cached = self.inner.statuses.read().ok().and_then(|m| m.get(job_id).copied());
        match cached {
            Some(s) => Ok(Some(s)),
            None => Ok(self.get(job_id).await?.map(|j| j.status)),
        }
    }

    async fn enqueue_done(&self, job_id: &JobId, total: Option<u64>, unreadable: u64) -> StoreResult<JobChange> {
        let id = job_id.clone();
        self.writer()
            .exec(None, move |c, st| enqueue_done_tx(c, st, &id, total, unreadable))
            .await
    }

    async fn control(&self, job_id: &JobId, cmd: Control) -> StoreResult<Result<JobChange, ControlError>> {
        let id = job_id.clone();
        self.writer().exec(None, move |c, st| control_tx(c, st, &id, cmd)).await
    }

    async fn record_outcome(&self, rec: OutcomeRecord) -> StoreResult<Recorded> {
        let task = rec.task_id.clone();
        let keep_clean = self.opts().keep_clean_results;
        let recorded = self
            .writer()
            .exec(None, move |c, st| record_outcome_tx(c, st, rec, keep_clean))
            .await?;
        self.forget_live(&task);
        Ok(recorded)
    }

    async fn sweep_idle(
        &self,
        idle_secs: u64,
        connector_present: &(dyn for<'a> Fn(&'a ConnectorUuid) -> bool + Send + Sync),
    ) -> StoreResult<Vec<JobRecord>> {
        if idle_secs == 0 {
            return Ok(Vec::new());
        }
        // Decide presence outside the writer (the closure is not 'static).
        let running = self.list(Some(JobStatus::Running), 100_000, 0).await?;
        let lost: Vec<ConnectorUuid> = running
            .iter()
            .filter_map(|j| j.connector_uuid.clone())
            .filter(|u| !connector_present(u))
            .collect();
        let ids: Vec<JobId> = running.into_iter().map(|j| j.job_id).collect();
        self.writer()
            .exec(None, move |c, st| {
                let now = now_secs();
                let mut done = Vec::new();
                for id in ids {
                    let Some(mut job) = load_job(c, st, &id)? else { continue };
                    let present = job.connector_uuid.as_ref().is_none_or(|u| !lost.contains(u));
                    let previous = Some(job.status);
                    if job_rules::evaluate_idle(&mut job, now, idle_secs, present).is_some() {
                        save_job(c, &job)?;
                        remember(st, &job, previous);
                        done.push(job);
                    }
                }
                Ok(done)
            })
            .await
    }

    async fn set_expected_total(&self, job_id: &JobId, total: u64) -> StoreResult<()> {
        let id = job_id.clone();
        self.writer()
            .exec(None, move |c, st| {
                let Some(mut job) = load_job(c, st, &id)? else {
                    return Ok(());
                };
                if job.expected_total.is_none() {
                    job.expected_total = Some(total);
                    job.last_update = now_secs();
                    save_job(c, &job)?;
                    remember(st, &job, Some(job.status));
                }
                Ok(())
            })
            .await
    }
}
