//! Event stream endpoints (CORE-API §3.8): each starts an SseSession whose buffer feeds the body.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use super::CoreState;
use super::errors::{ApiError, query_get, query_pairs};
use super::jobs::job_path;
use crate::actors::sse::{SseSession, StreamKind, body_stream};

async fn open(state: &CoreState, kind: StreamKind) -> HttpResponse {
    let keep_alive = matches!(kind, StreamKind::Connectors);
    let queue = SseSession::open(kind, Arc::clone(&state.services), &state.broadcaster).await;
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/event-stream; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"));
    if keep_alive {
        resp.insert_header(("Connection", "keep-alive"));
    }
    resp.streaming(body_stream(queue))
}

pub async fn scan_results(state: web::Data<CoreState>) -> HttpResponse {
    open(&state, StreamKind::ScanResults).await
}

pub async fn connectors(state: web::Data<CoreState>) -> HttpResponse {
    open(&state, StreamKind::Connectors).await
}

/// `GET /subscribe/job-summary/{job_id}?interval=5` (2 ≤ interval ≤ 60 seconds).
pub async fn job_summary(
    state: web::Data<CoreState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job_id = job_path(&path)?;
    let q = query_pairs(&req);
    let interval = match query_get(&q, "interval") {
        None => 5.0,
        Some(raw) => {
            let v: f64 = raw
                .trim()
                .parse()
                .map_err(|_| ApiError::bad_query("interval", "float_parsing", "Input should be a valid number", raw))?;
            if !(2.0..=60.0).contains(&v) {
                let kind = if v < 2.0 {
                    "greater_than_equal"
                } else {
                    "less_than_equal"
                };
                return Err(ApiError::bad_query(
                    "interval",
                    kind,
                    "interval must be between 2 and 60 seconds",
                    raw,
                ));
            }
            v
        }
    };
    Ok(open(
        &state,
        StreamKind::JobSummary {
            job_id,
            interval: Duration::from_secs_f64(interval),
        },
    )
    .await)
}
