//! ResultStore on Redis: results guarded by `SET NX` on the task id, the global and per-job lists
//! (newest first, trimmed to the retention), statistics as hash counters and histograms, all
//! updated by one script; the dead-letter lists of the original.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_redis::redis::{self, Value};

use super::{BY_JOB_TTL_SECS, RedisStore, TASK_TTL_SECS, int, internal, redis_err};
use crate::backend::Cause;
use crate::backend::{DlqQueueStats, RequeueReport, ResultQuery, ResultStore, StoreError, StoreResult};
use crate::model::findings;
use crate::model::result::ScanResultModel;
use crate::model::stats::{Histogram, StatsState, bucket_of};
use crate::model::verdict::VerdictKind;
use crate::model::{DlqEntry, DlqQueue, Stage, TaskId, now_ms, now_secs};

const STATS: &str = "dsxconnect:scan_stats";
/// Malicious results, newest first, at most `findings::MAX_SCANNED + 1`; expires a window after
/// the last finding.
const FINDINGS: &str = "dsxconnect:scan_findings";
const SIZE_HIST: &str = "dsxconnect:scan_stats:hist:file_size";
const TIME_HIST: &str = "dsxconnect:scan_stats:hist:scan_time";

pub(super) fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Internal(Cause::with(what.to_string(), e)))
}

fn histogram(h: &HashMap<String, String>) -> Histogram {
    let mut out = Histogram::default();
    for (k, v) in h {
        let v: u64 = v.parse().unwrap_or(0);
        match k.as_str() {
            "count" => out.count = v,
            "max" => out.max = v,
            b => {
                if let Ok(b) = b.parse() {
                    out.buckets.insert(b, v);
                }
            }
        }
    }
    out
}

/// The counter fields of one result: what `StatsState::add` adds, as hash increments.
fn increments(one: &StatsState) -> Vec<(&'static str, u64)> {
    [
        ("files_scanned", one.files_scanned),
        ("benign", one.benign),
        ("malicious", one.malicious),
        ("unknown", one.unknown),
        ("unsupported", one.unsupported),
        ("not_scanned", one.not_scanned),
        ("encrypted", one.encrypted),
        ("non_compliant", one.non_compliant),
        ("total_scan_time_us", one.total_scan_time_us),
        ("timed_count", one.timed_count),
        ("total_file_size", one.total_file_size),
        ("sized_count", one.sized_count),
    ]
    .into_iter()
    .filter(|(_, v)| *v > 0)
    .collect()
}

impl RedisStore {
    /// Drops DLQ entries older than `days`, oldest first (entries are pushed in time order).
    pub(super) async fn purge_dlq(&self, queue: DlqQueue, days: u32) -> StoreResult<u64> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        let key = self.dlq_key(queue);
        let mut purged = 0;
        loop {
            let head: Vec<String> = {
                let mut c = self.conn().await?;
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(99)
                    .query_async(&mut c)
                    .await
                    .map_err(redis_err)?
            };
            let old = head
                .iter()
                .take_while(|t| {
                    serde_json::from_str::<DlqEntry>(t)
                        .ok()
                        .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e.meta.failed_at).ok())
                        .is_some_and(|at| at < cutoff)
                })
                .count();
            let Some(first) = head.first().filter(|_| old > 0) else {
                return Ok(purged);
            };
            let r = self
                .run(
                    &self.inner.scripts.trim_head,
                    vec![key.clone(), first.clone(), old.to_string()],
                )
                .await?;
            purged += int(&r) as u64;
            if old < head.len() || int(&r) == 0 {
                return Ok(purged);
            }
        }
    }
}

impl RedisStore {
    /// The arguments of `store_result.lua` for `result` (the results side of a processed outcome).
    pub(super) fn result_args(&self, result: &ScanResultModel) -> StoreResult<Vec<String>> {
        let mut result = result.clone();
        result.id = 0;
        let body = serde_json::to_string(&result).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        if !body.starts_with("{\"id\":0,") {
            return Err(internal("a result must serialise with `id` first"));
        }
        let mut one = StatsState::default();
        one.add(&result);
        let v = &result.verdict;
        let size = v.file_size().and_then(|s| u64::try_from(s).ok());
        let scan_us = u64::try_from(v.scan_duration_in_microseconds).ok();
        let mut args = vec![
            result.scan_request_task_id.clone(),
            result.scan_job_id.clone().unwrap_or_default(),
            body,
            TASK_TTL_SECS.to_string(),
            BY_JOB_TTL_SECS.to_string(),
            self.opts().results_retain.to_string(),
            scan_us.map(|u| u.to_string()).unwrap_or_default(),
            result.scan_request.location.clone(),
            size.map_or(-1, |s| s as i64).to_string(),
            size.map(|s| s.to_string()).unwrap_or_default(),
            scan_us.map(|u| bucket_of(u).to_string()).unwrap_or_default(),
            size.map(|s| bucket_of(s).to_string()).unwrap_or_default(),
            // A finding also goes to the findings list, trimmed to one more than a summary reads
            // (so a summary can tell whether it read them all).
            if v.verdict == VerdictKind::Malicious {
                (findings::MAX_SCANNED + 1).to_string()
            } else {
                String::new()
            },
        ];
        for (field, inc) in increments(&one) {
            args.push(field.into());
            args.push(inc.to_string());
        }
        Ok(args)
    }
}

#[async_trait]
impl ResultStore for RedisStore {
    async fn by_task(&self, task_id: &TaskId) -> StoreResult<Option<ScanResultModel>> {
        let mut c = self.conn().await?;
        let s: Option<String> = redis::cmd("GET")
            .arg(format!("dsxconnect:scan_result_by_task:{task_id}"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        s.map(|s| parse("stored result", &s)).transpose()
    }

    async fn list(&self, q: ResultQuery) -> StoreResult<Vec<ScanResultModel>> {
        if self.opts().results_retain == 0 {
            return Ok(Vec::new());
        }
        let key = match &q.job_id {
            Some(j) => format!("dsxconnect:scan_results_by_job:{j}"),
            None => "dsxconnect:scan_results".into(),
        };
        // Newest first; filters apply while paging through the list.
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        let mut start = 0isize;
        const PAGE: isize = 500;
        while out.len() < q.limit {
            let page: Vec<String> = redis::cmd("LRANGE")
                .arg(&key)
                .arg(start)
                .arg(start + PAGE - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            if page.is_empty() {
                break;
            }
            for t in &page {
                let r: ScanResultModel = parse("stored result", t)?;
                if q.before_id.is_some_and(|b| r.id >= b) {
                    continue;
                }
                if q.verdict.as_deref().is_some_and(|v| r.verdict.verdict.as_str() != v) {
                    continue;
                }
                out.push(r);
                if out.len() >= q.limit {
                    break;
                }
            }
            start += PAGE;
        }
        Ok(out)
    }

    async fn findings(&self, since_ms: i64, max: usize) -> StoreResult<Vec<ScanResultModel>> {
        if self.opts().results_retain == 0 || max == 0 {
            return Ok(Vec::new());
        }
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        const PAGE: usize = 500;
        let mut start = 0;
        while out.len() < max {
            let page: Vec<String> = redis::cmd("LRANGE")
                .arg(FINDINGS)
                .arg(start)
                .arg(start + PAGE - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            for t in &page {
                let r: ScanResultModel = parse("stored finding", t)?;
                let at = chrono::DateTime::parse_from_rfc3339(&r.timestamp).map(|t| t.timestamp_millis());
                // Newest first: the first one older than the window ends the walk.
                if at.is_ok_and(|ms| ms < since_ms) {
                    return Ok(out);
                }
                out.push(r);
                if out.len() >= max {
                    break;
                }
            }
            if page.len() < PAGE {
                break;
            }
            start += PAGE;
        }
        Ok(out)
    }

    async fn stats(&self) -> StoreResult<StatsState> {
        let mut c = self.conn().await?;
        let (s, size, time): (
            HashMap<String, String>,
            HashMap<String, String>,
            HashMap<String, String>,
        ) = redis::pipe()
            .hgetall(STATS)
            .hgetall(SIZE_HIST)
            .hgetall(TIME_HIST)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let n = |k: &str| s.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(StatsState {
            files_scanned: n("files_scanned"),
            benign: n("benign"),
            malicious: n("malicious"),
            unknown: n("unknown"),
            unsupported: n("unsupported"),
            not_scanned: n("not_scanned"),
            encrypted: n("encrypted"),
            non_compliant: n("non_compliant"),
            total_scan_time_us: n("total_scan_time_us"),
            timed_count: n("timed_count"),
            total_file_size: n("total_file_size"),
            sized_count: n("sized_count"),
            longest_file: s.get("longest_file").cloned(),
            longest_file_size: s.get("longest_file_size").and_then(|v| v.parse().ok()).unwrap_or(-1),
            longest_us: s.get("longest_us").and_then(|v| v.parse().ok()),
            size_hist: histogram(&size),
            time_hist: histogram(&time),
        })
    }

    async fn dlq_stats(&self, queue: DlqQueue, samples: usize) -> StoreResult<DlqQueueStats> {
        let key = self.dlq_key(queue);
        let mut c = self.conn().await?;
        let (length, head, last): (u64, Vec<String>, Option<String>) = redis::pipe()
            .llen(&key)
            .lrange(&key, 0, samples as isize - 1)
            .lindex(&key, -1)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let samples = if samples == 0 {
            Vec::new()
        } else {
            head.iter().map(|t| parse("DLQ entry", t)).collect::<StoreResult<_>>()?
        };
        let newest_failed_at_ms = last
            .and_then(|t| serde_json::from_str::<DlqEntry>(&t).ok())
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e.meta.failed_at).ok())
            .map(|t| t.timestamp_millis());
        Ok(DlqQueueStats {
            length,
            newest_failed_at_ms,
            samples,
        })
    }

    async fn dlq_items(&self, queue: DlqQueue, start: u64, end: u64) -> StoreResult<Vec<DlqEntry>> {
        let mut c = self.conn().await?;
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(self.dlq_key(queue))
            .arg(start)
            .arg(end)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        items.iter().map(|t| parse("DLQ entry", t)).collect()
    }

    async fn dlq_requeue(
        &self,
        queue: DlqQueue,
        max: usize,
        stage: Stage,
        max_attempts: u32,
    ) -> StoreResult<RequeueReport> {
        let key = self.dlq_key(queue);
        let mut report = RequeueReport::default();
        // Entries that cannot become work stay where they are and are stepped over.
        let mut index = 0isize;
        let mut attempts = 0;
        while (report.requeued + report.failed) < max as u64 && attempts < 4 * max + 8 {
            attempts += 1;
            let entry: Option<String> = {
                let mut c = self.conn().await?;
                redis::cmd("LINDEX")
                    .arg(&key)
                    .arg(index)
                    .query_async(&mut c)
                    .await
                    .map_err(redis_err)?
            };
            let Some(body) = entry else { break };
            let item = serde_json::from_str::<DlqEntry>(&body)
                .ok()
                .and_then(|e| e.to_work_item(stage, max_attempts, now_ms()));
            let Some(item) = item else {
                report.failed += 1;
                index += 1;
                continue;
            };
            let json = serde_json::to_string(&item).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            let r = self
                .run(
                    &self.inner.scripts.requeue,
                    vec![
                        key.clone(),
                        body,
                        index.to_string(),
                        json,
                        item.task_id.to_string(),
                        item.job_id.to_string(),
                        now_secs().to_string(),
                    ],
                )
                .await?;
            // 0: the list changed under us (another process); read the same index again.
            report.requeued += int(&r) as u64;
        }
        let mut c = self.conn().await?;
        report.remaining = redis::cmd("LLEN")
            .arg(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(report)
    }

    async fn dlq_clear(&self, queue: DlqQueue) -> StoreResult<u64> {
        let key = self.dlq_key(queue);
        let mut c = self.conn().await?;
        let (n, _): (u64, Value) = redis::pipe()
            .llen(&key)
            .del(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(n)
    }

    async fn dlq_purge(&self, days: u32) -> StoreResult<u64> {
        let mut total = 0;
        for q in DlqQueue::ALL {
            total += self.purge_dlq(q, days).await?;
        }
        Ok(total)
    }
}
