//! ScheduleStore on SQLite: one row per schedule (definition JSON beside the run-state columns)
//! and the run history in `schedule_runs`. Each change is one transaction; the claim is a
//! conditional `UPDATE`, the same compare-and-set as the Redis script.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::sql::Sql;
use crate::backend::Cause;
use crate::backend::schedules::{Claim, RUNS_KEPT, ScheduleStore};
use crate::backend::{StoreError, StoreResult};
use crate::model::schedule::{
    PendingRun, RunOutcome, Schedule, ScheduleDefinition, ScheduleId, ScheduleRun, ScheduleState,
};

const COLUMNS: &str = "definition, next_run_ms, pending_due, pending_holder, pending_until, pending_missed, \
                       last_run, last_job_id";

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(Cause::with("encoding a schedule", e)))
}

/// A row of [`COLUMNS`]; `None` when its definition cannot be read.
fn from_row(r: &Row<'_>) -> rusqlite::Result<Option<Schedule>> {
    let def: String = r.get(0)?;
    let Ok(definition) = serde_json::from_str::<ScheduleDefinition>(&def) else {
        return Ok(None);
    };
    let pending = match (
        r.get::<_, Option<i64>>(2)?,
        r.get::<_, Option<String>>(3)?,
        r.get::<_, Option<i64>>(4)?,
    ) {
        (Some(due_ms), Some(holder), Some(lease_until_ms)) => Some(PendingRun {
            due_ms,
            holder,
            lease_until_ms,
            missed: r.get::<_, Option<i64>>(5)?.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        }),
        _ => None,
    };
    let last_run: Option<String> = r.get(6)?;
    Ok(Some(Schedule {
        definition,
        state: ScheduleState {
            next_run_ms: r.get(1)?,
            pending,
            last_run: last_run.and_then(|t| serde_json::from_str(&t).ok()),
            last_job_id: r.get(7)?,
        },
    }))
}

fn one(c: &Connection, id: &str) -> rusqlite::Result<Option<Schedule>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"),
        params![id],
        from_row,
    )
    .optional()
    .map(Option::flatten)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn create_schedule(
        &self,
        def: &ScheduleDefinition,
        next_run_ms: Option<i64>,
        max: usize,
    ) -> StoreResult<bool> {
        let (id, created, json) = (def.id.to_string(), def.created_at_ms, to_json(def)?);
        self.change(move |c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM schedules", [], |r| r.get(0))?;
            if n as usize >= max {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO schedules (id, created_at_ms, definition, next_run_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, created, json, next_run_ms],
            )?;
            Ok(true)
        })
        .await
    }

    async fn update_schedule(&self, def: &ScheduleDefinition, next_run_ms: Option<i64>) -> StoreResult<bool> {
        let (id, json) = (def.id.to_string(), to_json(def)?);
        self.change(move |c| {
            c.execute(
                "UPDATE schedules SET definition = ?2, next_run_ms = ?3 WHERE id = ?1",
                params![id, json, next_run_ms],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn delete_schedule(&self, id: &ScheduleId) -> StoreResult<bool> {
        let id = id.to_string();
        self.change(move |c| {
            c.execute("DELETE FROM schedule_runs WHERE schedule_id = ?1", params![id])?;
            c.execute("DELETE FROM schedules WHERE id = ?1", params![id])
                .map(|n| n > 0)
        })
        .await
    }

    async fn schedule(&self, id: &ScheduleId) -> StoreResult<Option<Schedule>> {
        let id = id.to_string();
        self.query(move |c| one(c, &id)).await
    }

    async fn schedules(&self) -> StoreResult<Vec<Schedule>> {
        self.query(|c| {
            let mut s = c.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY created_at_ms, id"))?;
            let rows = s.query_map([], from_row)?;
            rows.filter_map(|r| r.transpose()).collect()
        })
        .await
    }

    async fn schedule_runs(&self, id: &ScheduleId) -> StoreResult<Vec<ScheduleRun>> {
        let id = id.to_string();
        self.query(move |c| {
            let mut s =
                c.prepare_cached("SELECT run FROM schedule_runs WHERE schedule_id = ?1 ORDER BY seq DESC LIMIT ?2")?;
            let rows = s.query_map(params![id, RUNS_KEPT as i64], |r| r.get::<_, String>(0))?;
            Ok(rows
                .filter_map(Result::ok)
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect())
        })
        .await
    }

    async fn due_schedules(&self, now_ms: i64) -> StoreResult<Vec<ScheduleId>> {
        self.query(move |c| {
            let mut s = c.prepare_cached(
                "SELECT id FROM schedules WHERE (pending_due IS NULL AND next_run_ms <= ?1) \
                 OR (pending_due IS NOT NULL AND pending_until <= ?1) ORDER BY created_at_ms, id",
            )?;
            let rows = s.query_map(params![now_ms], |r| r.get::<_, String>(0))?;
            Ok(rows
                .filter_map(Result::ok)
                .filter_map(|s| ScheduleId::parse(&s))
                .collect())
        })
        .await
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
        let (id, holder) = (id.to_string(), holder.to_string());
        let until = now_ms + lease_ms;
        self.change(move |c| {
            let takeover = c.execute(
                "UPDATE schedules SET pending_holder = ?3, pending_until = ?4 \
                 WHERE id = ?1 AND pending_due = ?2 AND pending_until <= ?5",
                params![id, claim.due_ms, holder, until, now_ms],
            )?;
            if takeover > 0 {
                return Ok(true);
            }
            let fresh = c.execute(
                "UPDATE schedules SET next_run_ms = ?3, pending_due = ?2, pending_holder = ?4, \
                 pending_until = ?5, pending_missed = ?6 \
                 WHERE id = ?1 AND pending_due IS NULL AND next_run_ms = ?2",
                params![id, claim.due_ms, next_run_ms, holder, until, claim.missed],
            )?;
            Ok(fresh > 0)
        })
        .await
    }

    async fn finish_run(&self, id: &ScheduleId, run: &ScheduleRun) -> StoreResult<()> {
        let (id, json, due) = (id.to_string(), to_json(run)?, run.due_ms);
        let job = run.job_id.clone().filter(|_| run.outcome == RunOutcome::Started);
        self.change(move |c| {
            let exists = c.execute(
                "UPDATE schedules SET last_run = ?2, last_job_id = COALESCE(?3, last_job_id) WHERE id = ?1",
                params![id, json, job],
            )?;
            if exists == 0 {
                return Ok(());
            }
            c.execute(
                "UPDATE schedules SET pending_due = NULL, pending_holder = NULL, pending_until = NULL, \
                 pending_missed = NULL WHERE id = ?1 AND pending_due = ?2",
                params![id, due],
            )?;
            c.execute(
                "INSERT INTO schedule_runs (schedule_id, run) VALUES (?1, ?2)",
                params![id, json],
            )?;
            c.execute(
                "DELETE FROM schedule_runs WHERE schedule_id = ?1 AND seq NOT IN \
                 (SELECT seq FROM schedule_runs WHERE schedule_id = ?1 ORDER BY seq DESC LIMIT ?2)",
                params![id, RUNS_KEPT as i64],
            )?;
            Ok(())
        })
        .await
    }
}
