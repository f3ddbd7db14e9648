//! A scriptable connector for core tests: serves `read_file` from an in-memory map, answers
//! `item_action` and `full_scan`, records every request, and can be told to answer with any
//! status for a given location.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::Threaded;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A `Location` header (redirect answers).
    pub location: Option<String>,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: br#"{"status":"error","message":"scripted"}"#.to_vec(),
            location: None,
        }
    }

    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            body,
            location: None,
        }
    }

    pub fn redirect(to: &str) -> Self {
        Self {
            location: Some(to.to_string()),
            ..Self::raw(302, "text/plain", Vec::new())
        }
    }

    pub fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
            location: None,
        }
    }
}

/// A request the fake connector received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
pub struct State {
    pub files: HashMap<String, Vec<u8>>,
    pub read_script: HashMap<String, VecDeque<Answer>>,
    pub action_answer: Option<Answer>,
    /// Answers for other routes, by path suffix (`/config`, `/repo_check`, …).
    pub route_answers: HashMap<String, Answer>,
    /// Locations whose `read_file` body trickles one byte per interval, without end.
    pub trickle: HashMap<String, Duration>,
    pub requests: Vec<Recorded>,
}

pub struct FakeConnector {
    /// The callback base (`http://127.0.0.1:<port>/fake`).
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _server: Threaded,
}

impl FakeConnector {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
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
                tx.send(addr).unwrap();
                let _ = stop_rx.await;
                h.stop(false).await;
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            url: format!("http://{addr}/fake"),
            state,
            _server: Threaded {
                url: format!("http://{addr}"),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    pub fn put_file(&self, location: &str, bytes: &[u8]) {
        self.state.lock().unwrap().files.insert(location.into(), bytes.to_vec());
    }

    /// Makes `read_file` of `location` answer 200 and then send one byte per `every`, forever.
    pub fn trickle(&self, location: &str, every: Duration) {
        self.state.lock().unwrap().trickle.insert(location.to_string(), every);
    }

    pub fn script_read(&self, location: &str, answers: Vec<Answer>) {
        self.state
            .lock()
            .unwrap()
            .read_script
            .insert(location.into(), answers.into());
    }

    /// Answers every later call of the route ending in `suffix` with `a`.
    pub fn script_route(&self, suffix: &str, a: Answer) {
        self.state.lock().unwrap().route_answers.insert(suffix.into(), a);
    }

    pub fn requests(&self, path_suffix: &str) -> Vec<Recorded> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .cloned()
            .collect()
    }
}

async fn handle(state: web::Data<Arc<Mutex<State>>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rec = Recorded {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body_json.clone(),
    };
    let mut st = state.lock().unwrap();
    st.requests.push(rec);
    let path = req.path().to_string();
    let respond = |a: Answer| {
        let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(a.status).unwrap());
        if let Some(l) = a.location {
            r.insert_header(("Location", l));
        }
        r.content_type(a.content_type).body(a.body)
    };
    if let Some(a) = st
        .route_answers
        .iter()
        .find(|(suffix, _)| path.ends_with(suffix.as_str()))
        .map(|(_, a)| a.clone())
    {
        return respond(a);
    }
    if path.ends_with("/read_file") {
        let loc = body_json["location"].as_str().unwrap_or("").to_string();
        if let Some(a) = st.read_script.get_mut(&loc).and_then(VecDeque::pop_front) {
            return respond(a);
        }
        if let Some(every) = st.trickle.get(&loc).copied() {
            let drip = futures_util::stream::unfold((), move |()| async move {
                tokio::time::sleep(every).await;
                Some((Ok::<_, actix_web::Error>(web::Bytes::from_static(b"x")), ()))
            });
            return HttpResponse::Ok()
                .content_type("application/octet-stream")
                .streaming(drip);
        }
        return match st.files.get(&loc) {
            Some(b) => HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(b.clone()),
            None => respond(Answer::json(
                404,
                json!({"status":"error","message":"not found","description":null,"id":null,"preview":null}),
            )),
        };
    }
    if path.ends_with("/item_action") {
        if let Some(a) = st.action_answer.clone() {
            return respond(a);
        }
        return HttpResponse::Ok().json(json!({
            "status": "success", "message": "moved", "description": "moved_to=/q/x", "id": null, "preview": null, "item_action": "move"
        }));
    }
    if path.ends_with("/full_scan") {
        return HttpResponse::Ok().json(json!({
            "status": "success", "message": "Full scan initiated", "description": "Full scan running", "id": null, "preview": null
        }));
    }
    if path.ends_with("/estimate") {
        return HttpResponse::Ok().json(json!({"count": 3, "confidence": "exact"}));
    }
    if path.ends_with("/readyz") {
        return HttpResponse::ServiceUnavailable().body("not ready yet");
    }
    HttpResponse::Ok().json(json!({"ok": true}))
}
