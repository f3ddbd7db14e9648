//! Event stream endpoints (docs/reference/CORE-API.md, "Event streams"): each opens a stream
//! through the Broadcaster; the stream's buffer (`actors/sse.rs`) feeds the body.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use super::HttpState;
use super::errors::{ApiError, query_get, query_pairs};
use super::jobs::job_id_path;
use crate::actors::sse::{StreamKind, body_stream};

/// How often an open stream re-checks the session it was opened with.
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// Resolves when the session a stream was opened with has ended (logout, expiry, password or
/// role change), so the stream closes within [`SESSION_RECHECK`]; never for other principals.
async fn session_end(state: web::Data<HttpState>, sha: Option<String>) {
    let Some(sha) = sha else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(SESSION_RECHECK);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !state.core.identity.session_alive(&sha).await {
            return;
        }
    }
}

async fn open(state: &web::Data<HttpState>, req: &HttpRequest, kind: StreamKind) -> HttpResponse {
    let sha = req
        .extensions()
        .get::<super::auth_session::SessionContext>()
        .map(|c| c.session.sha256.clone());
    let keep_alive = matches!(kind, StreamKind::Connectors);
    let core = &state.core;
    let queue = state
        .broadcaster
        .open(kind, Arc::clone(&core.backend.jobs), core.settings.log_sse_events);
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/event-stream; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"));
    if keep_alive {
        resp.insert_header(("Connection", "keep-alive"));
    }
    let ended = Box::pin(session_end(state.clone(), sha));
    resp.streaming(body_stream(queue).take_until(ended))
}

pub async fn scan_results(state: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    open(&state, &req, StreamKind::ScanResults).await
}

pub async fn connectors(state: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    open(&state, &req, StreamKind::Connectors).await
}

/// `GET /subscribe/job-summary/{job_id}?interval=5` (2 ≤ interval ≤ 60 seconds).
pub async fn job_summary(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job_id = job_id_path(&path)?;
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
        &req,
        StreamKind::JobSummary {
            job_id,
            interval: Duration::from_secs_f64(interval),
        },
    )
    .await)
}
