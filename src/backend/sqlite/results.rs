//! ResultStore on SQLite: results (guarded by task id), statistics and the dead-letter queues.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::writer::{WriterState, load_stats, sql_err};
use crate::backend::Cause;
use crate::backend::{DlqQueueStats, RequeueReport, ResultQuery, ResultStore, StoreError, StoreResult, StoredResult};
use crate::model::result::ScanResultModel;
use crate::model::stats::StatsState;
use crate::model::{DlqEntry, DlqQueue, Stage, TaskId, VerdictKind, now_ms, now_secs};

pub(crate) fn next_result_id(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM results", [], |r| r.get(0))
}

fn parse_result(text: &str) -> rusqlite::Result<ScanResultModel> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn parse_entry(text: &str) -> rusqlite::Result<DlqEntry> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// Records a result once per task id (the guard), assigning `id` and updating statistics; a
/// repeat returns the stored result with `inserted == false`. Runs inside the transaction that
/// records the task's outcome. `keep_body`: whether the result's JSON is kept (findings always
/// are; clean results only with `keep_clean_results`).
pub(super) fn record_result_tx(
    c: &Connection,
    st: &mut WriterState,
    mut result: ScanResultModel,
    keep_body: bool,
) -> StoreResult<StoredResult> {
    let existing: Option<String> = c
        .prepare_cached("SELECT body FROM results WHERE task_id = ?1")
        .and_then(|mut s| {
            s.query_row(params![result.scan_request_task_id], |r| r.get(0))
                .optional()
        })
        .map_err(sql_err)?;
    match existing {
        // A guard row without its body (`keep_clean_results` off): the result as given.
        Some(body) if body.is_empty() => {
            return Ok(StoredResult {
                result,
                inserted: false,
            });
        }
        Some(body) => {
            return Ok(StoredResult {
                result: parse_result(&body).map_err(sql_err)?,
                inserted: false,
            });
        }
        None => {}
    }
    let id = st.next_result_id;
    result.id = id;
    let keep_body = keep_body || result.verdict.verdict == VerdictKind::Malicious;
    let body = if keep_body {
        serde_json::to_string(&result).map_err(|e| StoreError::Internal(Cause::from_err(e)))?
    } else {
        String::new()
    };
    c.prepare_cached(
        "INSERT INTO results (id, task_id, job_id, verdict, created_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            result.scan_request_task_id,
            result.scan_job_id,
            result.verdict.verdict.as_str(),
            now_ms(),
            body
        ])
    })
    .map_err(sql_err)?;
    st.next_result_id = id + 1;
    st.stats.add(&result);
    st.stats_dirty = true;
    Ok(StoredResult { result, inserted: true })
}

/// Only results younger than this answer the by-task lookup (the guard's TTL,
/// docs/reference/CORE-API.md, "Retention").
const BY_TASK_TTL_MS: i64 = 7 * 86_400_000;

#[async_trait]
impl ResultStore for SqliteStore {
    async fn by_task(&self, task_id: &TaskId) -> StoreResult<Option<ScanResultModel>> {
        let id = task_id.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT body FROM results WHERE task_id = ?1 AND created_ms > ?2 AND body != ''")?
                .query_row(params![id, now_ms() - BY_TASK_TTL_MS], |r| r.get::<_, String>(0))
                .optional()?
                .map(|t| parse_result(&t))
                .transpose()
        })
        .await
    }

    async fn list(&self, q: ResultQuery) -> StoreResult<Vec<ScanResultModel>> {
        let retain = self.opts().results_retain;
        if retain == 0 {
            return Ok(Vec::new());
        }
        self.read(move |c| {
            // The global list holds the newest RETAIN results; a job's list its newest RETAIN.
            let floor = if retain > 0 && q.job_id.is_none() {
                c.query_row("SELECT COALESCE(MAX(id), 0) FROM results", [], |r| r.get::<_, i64>(0))? - retain
            } else {
                0
            };
            let limit = if retain > 0 {
                (q.limit as i64).min(retain)
            } else {
                q.limit as i64
            };
            let mut s = c.prepare_cached(
                "SELECT body FROM results WHERE id > ?1 AND (?2 IS NULL OR job_id = ?2) \
                 AND (?3 IS NULL OR verdict = ?3) AND (?4 IS NULL OR id < ?4) AND body != '' ORDER BY id DESC LIMIT ?5",
            )?;
            let rows = s.query_map(params![floor, q.job_id, q.verdict, q.before_id, limit], |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|t| t.and_then(|t| parse_result(&t))).collect()
        })
        .await
    }

    async fn stats(&self) -> StoreResult<StatsState> {
        self.read(load_stats).await
    }

    async fn findings(&self, since_ms: i64, max: usize) -> StoreResult<Vec<ScanResultModel>> {
        if self.opts().results_retain == 0 {
            return Ok(Vec::new());
        }
        self.read(move |c| {
            // Ids grow with recording time: the first id of the window (`results_by_time`) bounds
            // the walk of `results_by_verdict`, so older findings are never read.
            let mut s = c.prepare_cached(
                "SELECT body FROM results WHERE verdict = 'Malicious' AND created_ms >= ?1 \
                 AND id >= (SELECT id FROM results WHERE created_ms >= ?1 ORDER BY created_ms, id LIMIT 1) \
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = s.query_map(params![since_ms, max as i64], |r| r.get::<_, String>(0))?;
            rows.map(|t| t.and_then(|t| parse_result(&t))).collect()
        })
        .await
    }

    async fn dlq_stats(&self, queue: DlqQueue, samples: usize) -> StoreResult<DlqQueueStats> {
        self.read(move |c| {
            let (length, newest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MAX(failed_at_ms) FROM dlq WHERE queue = ?1",
                params![queue.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut s = c.prepare_cached("SELECT body FROM dlq WHERE queue = ?1 ORDER BY id LIMIT ?2")?;
            let samples = s
                .query_map(params![queue.as_str(), samples as i64], |r| r.get::<_, String>(0))?
                .map(|t| t.and_then(|t| parse_entry(&t)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(DlqQueueStats {
                length: length as u64,
                newest_failed_at_ms: newest,
                samples,
            })
        })
        .await
    }

    async fn dlq_items(&self, queue: DlqQueue, start: u64, end: u64) -> StoreResult<Vec<DlqEntry>> {
        self.read(move |c| {
            let mut s = c.prepare_cached("SELECT body FROM dlq WHERE queue = ?1 ORDER BY id LIMIT ?2 OFFSET ?3")?;
            let rows = s.query_map(params![queue.as_str(), (end - start + 1) as i64, start as i64], |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|t| t.and_then(|t| parse_entry(&t))).collect()
        })
        .await
    }

    async fn dlq_requeue(
        &self,
        queue: DlqQueue,
        max: usize,
        stage: Stage,
        max_attempts: u32,
    ) -> StoreResult<RequeueReport> {
        self.writer()
            .exec(None, move |c, st| {
                let rows: Vec<(i64, String)> = {
                    let mut s = c
                        .prepare_cached("SELECT id, body FROM dlq WHERE queue = ?1 ORDER BY id LIMIT ?2")
                        .map_err(sql_err)?;
                    let rows = s
                        .query_map(params![queue.as_str(), max as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(sql_err)?;
                    rows.collect::<Result<_, _>>().map_err(sql_err)?
                };
                let mut report = RequeueReport::default();
                let now = now_ms();
                for (id, body) in rows {
                    let item = serde_json::from_str::<DlqEntry>(&body)
                        .ok()
                        .and_then(|e| e.to_work_item(stage, max_attempts, now));
                    let Some(item) = item else {
                        report.failed += 1;
                        continue;
                    };
                    let json = serde_json::to_string(&item).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
                    c.execute(
                        "INSERT INTO queue (job_id, task_id, item) VALUES (?1, ?2, ?3)",
                        params![item.job_id, item.task_id, json],
                    )
                    .map_err(sql_err)?;
                    c.execute("DELETE FROM dlq WHERE id = ?1", params![id])
                        .map_err(sql_err)?;
                    c.execute(
                        "UPDATE tasks SET state = 'queued', updated_at = ?2 WHERE task_id = ?1",
                        params![item.task_id, now_secs()],
                    )
                    .map_err(sql_err)?;
                    report.requeued += 1;
                }
                report.remaining = c
                    .query_row(
                        "SELECT COUNT(*) FROM dlq WHERE queue = ?1",
                        params![queue.as_str()],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(sql_err)? as u64;
                st.queue_grew |= report.requeued > 0;
                Ok(report)
            })
            .await
    }

    async fn dlq_clear(&self, queue: DlqQueue) -> StoreResult<u64> {
        self.writer()
            .exec(None, move |c, _| {
                c.execute("DELETE FROM dlq WHERE queue = ?1", params![queue.as_str()])
                    .map(|n| n as u64)
                    .map_err(sql_err)
            })
            .await
    }

    async fn dlq_purge(&self, days: u32) -> StoreResult<u64> {
        let cutoff = now_ms() - i64::from(days) * 86_400_000;
        self.writer()
            .exec(None, move |c, _| {
                c.execute("DELETE FROM dlq WHERE failed_at_ms < ?1", params![cutoff])
                    .map(|n| n as u64)
                    .map_err(sql_err)
            })
            .await
    }
}
