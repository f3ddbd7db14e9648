//! A fake core (docs/reference/CONNECTORS.md, "Test fakes"): records every request and answers like
//! the core — register 201 then 200, scan requests 202 with task ids, batches with per-item
//! entries, `enqueue_done` 200, unregister 204, healthz 200. Answers can be overridden per path.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::Threaded;

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub at: std::time::Instant,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Req>,
    registered: bool,
    /// Path suffix → status to answer instead of the normal one.
    pub overrides: HashMap<String, u16>,
    /// Path suffix → (status, how many more times): answers that status that many times, then
    /// behaves normally again (transient failures).
    pub fail_first: HashMap<String, (u16, usize)>,
    /// Scan requests (single or batch items) after which the job answers 409.
    pub conflict_after: Option<usize>,
    accepted: usize,
    pub delay: Duration,
    pub in_flight: usize,
    pub max_in_flight: usize,
}

pub struct FakeCore {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    server: Threaded,
}

impl FakeCore {
    pub fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn start_on(listener: TcpListener) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                        .workers(1)
                        .disable_signals()
                        .listen(listener)
                        .unwrap()
                        .run();
                let h = server.handle();
                actix_rt::spawn(server);
                tx.send(()).unwrap();
                let _ = stop_rx.await;
                h.stop(false).await;
            });
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            url: format!("http://{addr}"),
            state,
            server: Threaded {
                url: format!("http://{addr}"),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    pub fn requests(&self, suffix: &str) -> Vec<Req> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    /// Every scan request item received (single and batch), in arrival order.
    pub fn scan_items(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        let mut out = Vec::new();
        for r in &st.requests {
            if r.path.ends_with("/scan/request") {
                out.push(r.body.clone());
            } else if r.path.ends_with("/scan/request/batch") {
                out.extend(r.body.as_array().cloned().unwrap_or_default());
            }
        }
        out
    }

    /// Stops the server: its port refuses connections (a core that is down). A core that comes
    /// back is a new `start_on` with a listener bound to the same address.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    pub fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
    }
}

async fn handle(state: web::Data<Arc<Mutex<State>>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = req.path().to_string();
    let delay = {
        let mut st = state.lock().unwrap();
        st.requests.push(Req {
            method: req.method().to_string(),
            path: path.clone(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            at: std::time::Instant::now(),
        });
        if path.contains("/scan/request") {
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
        }
        st.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut st = state.lock().unwrap();
    if path.contains("/scan/request") {
        st.in_flight -= 1;
    }
    if let Some((_, (code, left))) = st
        .fail_first
        .iter_mut()
        .find(|(k, (_, left))| path.ends_with(k.as_str()) && *left > 0)
    {
        *left -= 1;
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(*code).unwrap())
            .json(json!({"detail": "transient"}));
    }
    if let Some((_, code)) = st.overrides.iter().find(|(k, _)| path.ends_with(k.as_str())) {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(*code).unwrap())
            .json(json!({"detail": "overridden"}));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if path.ends_with("/connectors/register") {
        let first = !std::mem::replace(&mut st.registered, true);
        let code = if first { 201 } else { 200 };
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
            .json(json!({"status": "success", "message": if first { "registered" } else { "refreshed" }, "description": null, "id": null, "preview": null}));
    }
    if path.contains("/connectors/unregister/") {
        return HttpResponse::NoContent().finish();
    }
    if path.ends_with("/scan/request/batch") {
        let items: Vec<Value> = body
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, _)| {
                st.accepted += 1;
                let conflict = st.conflict_after.is_some_and(|n| st.accepted > n);
                if conflict {
                    json!({"index": i, "id": null, "status": "error", "http_status": 409, "message": "Job cancelled"})
                } else {
                    json!({"index": i, "id": uuid::Uuid::new_v4().to_string(), "status": "success", "http_status": 202})
                }
            })
            .collect();
        return HttpResponse::Accepted().json(json!({"status": "success", "items": items}));
    }
    if path.ends_with("/scan/request") {
        st.accepted += 1;
        if st.conflict_after.is_some_and(|n| st.accepted > n) {
            return HttpResponse::Conflict().json(json!({"status": "error", "message": "Job cancelled"}));
        }
        return HttpResponse::Accepted()
            .json(json!({"status": "success", "message": "queued", "id": uuid::Uuid::new_v4().to_string()}));
    }
    if path.ends_with("/enqueue_done") {
        return HttpResponse::Ok().json(json!({"ok": true}));
    }
    HttpResponse::Ok().json(json!({"status": "alive"}))
}
