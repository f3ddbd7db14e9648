//! Dead-letter administration (docs/reference/CORE-API.md, "Dead-letter administration").

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::errors::{ApiError, query_get, query_int_in, query_pairs};
use crate::backend::{BusEvent, DlqQueueStats, StoreError};
use crate::model::{DlqQueue, now_ms};

fn queue_type(raw: &str) -> Result<DlqQueue, ApiError> {
    DlqQueue::parse(raw).ok_or_else(|| {
        ApiError::bad_path(
            "queue_type",
            "enum",
            "Input should be 'scan_request', 'verdict_action' or 'scan_result'",
            raw,
        )
    })
}

fn store_err(e: StoreError) -> ApiError {
    tracing::warn!(error = %super::errors::store_detail(&e), "DLQ store failure");
    ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, "dlq_store_unavailable")
}

fn iso_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn queue_view(state: &HttpState, q: DlqQueue, s: &DlqQueueStats) -> Value {
    let expire_ms = i64::from(state.core.settings.workers.dlq_expire_after_days) * 86_400_000;
    let ttl = match s.newest_failed_at_ms {
        Some(t) if s.length > 0 => ((t + expire_ms - now_ms()) / 1000).max(0),
        _ => -2,
    };
    json!({
        "queue_name": q.queue_name(state.core.settings.app_env.as_str()),
        "queue_type": q.as_str(),
        "length": s.length,
        "ttl_seconds": ttl,
        "exists": s.length > 0,
        "sample_items": if s.length > 0 { Some(&s.samples) } else { None },
    })
}

/// `GET /admin/dead-letter/stats`.
pub async fn stats(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let mut queues = serde_json::Map::new();
    let (mut total, mut active) = (0u64, 0u64);
    for q in DlqQueue::ALL {
        let s = state.core.backend.results.dlq_stats(q, 3).await.map_err(store_err)?;
        total += s.length;
        active += u64::from(s.length > 0);
        queues.insert(q.as_str().into(), queue_view(&state, q, &s));
    }
    Ok(HttpResponse::Ok().json(json!({"total_items": total, "active_queues": active, "queues": queues})))
}

/// `GET /admin/dead-letter/stats/{queue_type}`.
pub async fn stats_one(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let q = queue_type(&path)?;
    let s = state.core.backend.results.dlq_stats(q, 5).await.map_err(store_err)?;
    Ok(HttpResponse::Ok().json(queue_view(&state, q, &s)))
}

/// `GET /admin/dead-letter/items/{queue_type}?start=&end=` (inclusive, oldest = 0).
pub async fn items(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = queue_type(&path)?;
    let pairs = query_pairs(&req);
    let start = query_int_in(&pairs, "start", 0, 0, i64::MAX)? as u64;
    let end = query_int_in(&pairs, "end", 10, 0, 100)? as u64;
    if end < start {
        return Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            "End index must be >= start index",
        ));
    }
    let results = &state.core.backend.results;
    let total = results.dlq_stats(q, 0).await.map_err(store_err)?.length;
    let items = results.dlq_items(q, start, end).await.map_err(store_err)?;
    Ok(HttpResponse::Ok().json(json!({
        "queue_type": q.as_str(),
        "queue_name": q.queue_name(state.core.settings.app_env.as_str()),
        "total_length": total,
        "returned_count": items.len(),
        "start_index": start,
        "end_index": end,
        "items": items,
    })))
}

async fn requeue_queue(
    state: &HttpState,
    q: DlqQueue,
    max: usize,
    stage: crate::model::Stage,
) -> Result<Value, ApiError> {
    let report = state
        .core
        .backend
        .results
        .dlq_requeue(q, max, stage, state.core.settings.workers.max_attempts)
        .await
        .map_err(store_err)?;
    let name = q.queue_name(state.core.settings.app_env.as_str());
    state.core.backend.events.publish(BusEvent::Dlq(json!({
        "type": "requeue",
        "queue_type": q.as_str(),
        "queue_name": name,
        "timestamp": iso_now(),
        "requeued_count": report.requeued,
    })));
    Ok(json!({
        "success": true,
        "queue_type": q.as_str(),
        "queue_name": name,
        "requeued_count": report.requeued,
        "remaining_count": report.remaining,
        "failed_count": report.failed,
    }))
}

/// `POST /admin/dead-letter/requeue/{queue_type}?max_items=&target_task=`.
pub async fn requeue(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = queue_type(&path)?;
    let pairs = query_pairs(&req);
    let max = query_int_in(&pairs, "max_items", 100, 1, 1000)? as usize;
    let stage = match query_get(&pairs, "target_task").filter(|t| !t.is_empty()) {
        None => q.stage(),
        Some(t) => DlqQueue::from_target_task(t)
            .ok_or_else(|| {
                ApiError::bad_query(
                    "target_task",
                    "enum",
                    "Input should be dsx_connect.tasks.scan.request, .verdict or .result",
                    t,
                )
            })?
            .stage(),
    };
    Ok(HttpResponse::Ok().json(requeue_queue(&state, q, max, stage).await?))
}

/// `POST /admin/dead-letter/requeue`: drains all three queues.
pub async fn requeue_all(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let mut results = Vec::new();
    let mut success = true;
    for q in DlqQueue::ALL {
        let mut total = 0u64;
        let mut last = json!({});
        loop {
            match requeue_queue(&state, q, 1000, q.stage()).await {
                Ok(v) => {
                    let n = v["requeued_count"].as_u64().unwrap_or(0);
                    total += n;
                    last = v;
                    if n == 0 || last["remaining_count"].as_u64().unwrap_or(0) == 0 {
                        break;
                    }
                }
                Err(_) => {
                    success = false;
                    break;
                }
            }
        }
        results.push(json!({
            "queue_type": q.as_str(),
            "queue_name": q.queue_name(state.core.settings.app_env.as_str()),
            "requeued_count": total,
            "remaining_count": last["remaining_count"],
        }));
    }
    Ok(HttpResponse::Ok().json(json!({"success": success, "results": results})))
}

async fn clear_queue(state: &HttpState, q: DlqQueue) -> Result<Value, StoreError> {
    let n = state.core.backend.results.dlq_clear(q).await?;
    let name = q.queue_name(state.core.settings.app_env.as_str());
    state.core.backend.events.publish(BusEvent::Dlq(json!({
        "type": "clear",
        "queue_type": q.as_str(),
        "queue_name": name,
        "timestamp": iso_now(),
        "cleared_count": n,
    })));
    Ok(json!({"success": true, "queue_type": q.as_str(), "queue_name": name, "cleared_count": n}))
}

/// `DELETE /admin/dead-letter/clear/{queue_type}`.
pub async fn clear(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let q = queue_type(&path)?;
    Ok(HttpResponse::Ok().json(clear_queue(&state, q).await.map_err(store_err)?))
}

/// `DELETE /admin/dead-letter/clear`.
pub async fn clear_all(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for q in DlqQueue::ALL {
        if let Ok(v) = clear_queue(&state, q).await {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(ApiError::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "dlq_store_unavailable",
        ));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /admin/dead-letter/health`: always 200.
pub async fn health(state: web::Data<HttpState>) -> HttpResponse {
    let queues: Vec<&str> = DlqQueue::ALL.iter().map(|q| q.as_str()).collect();
    let mut total = 0u64;
    for q in DlqQueue::ALL {
        match state.core.backend.results.dlq_stats(q, 0).await {
            Ok(s) => total += s.length,
            Err(e) => {
                return HttpResponse::Ok().json(json!({
                    "status": "unhealthy",
                    "redis_connected": false,
                    "error": e.to_string(),
                    "total_dead_letter_items": null,
                    "available_queues": queues,
                }));
            }
        }
    }
    HttpResponse::Ok().json(json!({
        "status": "healthy",
        "redis_connected": true,
        "total_dead_letter_items": total,
        "available_queues": queues,
    }))
}
