//! ScheduleStore on Redis. Keys below `{env}:dsx-connect:`: `schedule:{id}` (definition JSON),
//! `schedule:{id}:state` (run state hash), `schedule:{id}:runs` (history list, newest first),
//! and three sorted sets of ids: `schedules` (by creation), `schedules:due` (by next due time)
//! and `schedules:leases` (held runs, by lease end). Every change is one script.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_redis::redis;

use super::{RedisStore, int, redis_err};
use crate::backend::Cause;
use crate::backend::schedules::{Claim, RUNS_KEPT, ScheduleStore};
use crate::backend::{StoreError, StoreResult};
use crate::model::JobId;
use crate::model::schedule::{PendingRun, Schedule, ScheduleDefinition, ScheduleId, ScheduleRun, ScheduleState};

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(Cause::with("encoding a schedule", e)))
}

fn opt(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// The run state from its hash (absent fields are absent state).
fn state_of(h: &HashMap<String, String>) -> ScheduleState {
    let n = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok());
    let pending = match (n("pending_due"), h.get("pending_holder"), n("pending_until")) {
        (Some(due_ms), Some(holder), Some(lease_until_ms)) => Some(PendingRun {
            due_ms,
            holder: holder.clone(),
            lease_until_ms,
            missed: n("pending_missed").unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        }),
        _ => None,
    };
    ScheduleState {
        next_run_ms: n("next_run_ms"),
        pending,
        last_run: h.get("last_run").and_then(|r| serde_json::from_str(r).ok()),
        last_job_id: h.get("last_job_id").and_then(|j| JobId::parse(j).ok()),
    }
}

impl RedisStore {
    fn schedule_key(&self, id: &str) -> String {
        self.key(&format!("schedule:{id}"))
    }

    /// Definitions and states of `ids`, in order, in two round trips; ids whose definition is
    /// gone (deleted meanwhile) are left out.
    async fn load_schedules(&self, ids: &[String]) -> StoreResult<Vec<Schedule>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.schedule_key(id)).collect();
        let mut p = redis::pipe();
        for key in &keys {
            p.cmd("HGETALL").arg(format!("{key}:state"));
        }
        let mut c = self.conn().await?;
        let defs: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let states: Vec<HashMap<String, String>> = p.query_async(&mut c).await.map_err(redis_err)?;
        let answers = defs.into_iter().zip(states);
        let mut out = Vec::with_capacity(answers.len());
        for (def, state) in answers {
            let Some(def) = def else { continue };
            let definition: ScheduleDefinition = serde_json::from_str(&def)
                .map_err(|e| StoreError::Internal(Cause::with("unreadable schedule record", e)))?;
            out.push(Schedule {
                definition,
                state: state_of(&state),
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl ScheduleStore for RedisStore {
    async fn create_schedule(
        &self,
        def: &ScheduleDefinition,
        next_run_ms: Option<i64>,
        max: usize,
    ) -> StoreResult<bool> {
        let r = self
            .run(
                &self.inner.scripts.schedule_create,
                vec![
                    def.id.to_string(),
                    to_json(def)?,
                    def.created_at_ms.to_string(),
                    opt(next_run_ms),
                    max.to_string(),
                ],
            )
            .await?;
        Ok(int(&r) == 1)
    }

    async fn update_schedule(&self, def: &ScheduleDefinition, next_run_ms: Option<i64>) -> StoreResult<bool> {
        let r = self
            .run(
                &self.inner.scripts.schedule_update,
                vec![def.id.to_string(), to_json(def)?, opt(next_run_ms)],
            )
            .await?;
        Ok(int(&r) == 1)
    }

    async fn delete_schedule(&self, id: &ScheduleId) -> StoreResult<bool> {
        let r = self
            .run(&self.inner.scripts.schedule_delete, vec![id.to_string()])
            .await?;
        Ok(int(&r) == 1)
    }

    async fn schedule(&self, id: &ScheduleId) -> StoreResult<Option<Schedule>> {
        Ok(self.load_schedules(&[id.to_string()]).await?.pop())
    }

    async fn schedules(&self) -> StoreResult<Vec<Schedule>> {
        let ids: Vec<String> = {
            let mut c = self.conn().await?;
            redis::cmd("ZRANGE")
                .arg(self.key("schedules"))
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?
        };
        self.load_schedules(&ids).await
    }

    async fn schedule_runs(&self, id: &ScheduleId) -> StoreResult<Vec<ScheduleRun>> {
        let mut c = self.conn().await?;
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{}:runs", self.schedule_key(id.as_str())))
            .arg(0)
            .arg(RUNS_KEPT as i64 - 1)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(raw.iter().filter_map(|r| serde_json::from_str(r).ok()).collect())
    }

    async fn due_schedules(&self, now_ms: i64) -> StoreResult<Vec<ScheduleId>> {
        let mut c = self.conn().await?;
        let (due, leases): (Vec<String>, Vec<String>) = redis::pipe()
            .cmd("ZRANGEBYSCORE")
            .arg(self.key("schedules:due"))
            .arg("-inf")
            .arg(now_ms)
            .cmd("ZRANGEBYSCORE")
            .arg(self.key("schedules:leases"))
            .arg("-inf")
            .arg(now_ms)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut ids: Vec<ScheduleId> = Vec::with_capacity(due.len() + leases.len());
        for id in due.iter().chain(leases.iter()).filter_map(|s| ScheduleId::parse(s)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    async fn claim_run(
        &self,
        id: &ScheduleId,
        claim: Claim,
        next_run_ms: Option<i64>,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<bool> {
        let r = self
            .run(
                &self.inner.scripts.schedule_claim,
                vec![
                    id.to_string(),
                    claim.due_ms.to_string(),
                    claim.missed.to_string(),
                    opt(next_run_ms),
                    holder.to_string(),
                    now_ms.to_string(),
                    lease_ms.to_string(),
                ],
            )
            .await?;
        Ok(int(&r) == 1)
    }

    async fn finish_run(&self, id: &ScheduleId, run: &ScheduleRun) -> StoreResult<()> {
        let started = run.outcome == crate::model::schedule::RunOutcome::Started;
        let job = run
            .job_id
            .as_ref()
            .filter(|_| started)
            .map(JobId::to_string)
            .unwrap_or_default();
        self.run(
            &self.inner.scripts.schedule_finish,
            vec![
                id.to_string(),
                run.due_ms.to_string(),
                to_json(run)?,
                job,
                RUNS_KEPT.to_string(),
            ],
        )
        .await
        .map(|_| ())
    }
}
