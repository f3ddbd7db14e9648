//! Results, statistics (docs/reference/CORE-API.md, "Results and statistics") and the findings
//! summary.

use actix_web::{HttpRequest, HttpResponse, web};

use super::HttpState;
use super::errors::{ApiError, query_get, query_int, query_int_in, query_pairs};
use crate::backend::ResultQuery;
use crate::model::findings::{self, FindingsSummary};
use crate::model::{ScanResultModel, TaskId};

fn clamp_limit(v: Option<i64>, default: i64) -> usize {
    v.unwrap_or(default).clamp(1, 10_000) as usize
}

/// `GET /scan/results?limit=&job_id=&verdict=&before_id=`: newest first.
pub async fn list(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = query_pairs(&req);
    let query = ResultQuery {
        limit: clamp_limit(query_int(&q, "limit")?, 200),
        job_id: query_get(&q, "job_id").filter(|s| !s.is_empty()).map(str::to_string),
        verdict: query_get(&q, "verdict").filter(|s| !s.is_empty()).map(str::to_string),
        before_id: query_int(&q, "before_id")?,
    };
    let results = state
        .core
        .backend
        .results
        .list(query)
        .await
        .map_err(super::errors::job_store)?;
    Ok(HttpResponse::Ok().json(results))
}

/// `GET /scan/results/job/{job_id}`: that job's results, newest first (`[]` when unknown).
pub async fn by_job(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = query_pairs(&req);
    let retain = state.core.settings.results_retain;
    let default = if retain > 0 { retain } else { 10_000 };
    let query = ResultQuery {
        limit: clamp_limit(query_int(&q, "limit")?, default),
        job_id: Some(path.into_inner()),
        verdict: None,
        before_id: None,
    };
    let results = state
        .core
        .backend
        .results
        .list(query)
        .await
        .map_err(super::errors::job_store)?;
    Ok(HttpResponse::Ok().json(results))
}

/// `GET /scan/results/{task_id}`: a 0- or 1-element array, never 404.
/// A path that is not a task id names no task: the answer is the empty array.
pub async fn by_task(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Ok(task_id) = TaskId::parse(&path) else {
        return Ok(HttpResponse::Ok().json(Vec::<ScanResultModel>::new()));
    };
    let r = state
        .core
        .backend
        .results
        .by_task(&task_id)
        .await
        .map_err(super::errors::job_store)?;
    Ok(HttpResponse::Ok().json(r.into_iter().collect::<Vec<_>>()))
}

/// `GET /scan/stats`.
pub async fn stats(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let s = state
        .core
        .backend
        .results
        .stats()
        .await
        .map_err(super::errors::job_store)?;
    Ok(HttpResponse::Ok().json(s.view()))
}

/// `GET /scan/findings/summary?recent=N`: the malicious results of the last 24 hours by threat,
/// connector and job, and the `N` most recent (default 10, at most 100). Reads at most
/// `findings::MAX_SCANNED` findings; `complete` says whether that was all of them.
pub async fn findings_summary(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = query_pairs(&req);
    let recent = query_int_in(
        &q,
        "recent",
        findings::DEFAULT_RECENT as i64,
        0,
        findings::MAX_RECENT as i64,
    )? as usize;
    let until = chrono::Utc::now();
    let since = until - chrono::Duration::hours(findings::WINDOW_HOURS);
    let found = state
        .core
        .backend
        .results
        .findings(since.timestamp_millis(), findings::MAX_SCANNED + 1)
        .await
        .map_err(super::errors::job_store)?;
    let complete = found.len() <= findings::MAX_SCANNED;
    let read = &found[..found.len().min(findings::MAX_SCANNED)];
    Ok(HttpResponse::Ok().json(FindingsSummary::build(read, since, until, recent, complete)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_are_clamped() {
        assert_eq!(super::clamp_limit(Some(0), 200), 1);
        assert_eq!(super::clamp_limit(Some(50_000), 200), 10_000);
        assert_eq!(super::clamp_limit(None, 200), 200);
    }
}
