//! An HTTP capture server (docs/reference/SUPERLOG.md, "Tests"): records method, path, query,
//! headers, decoded body and arrival time of every request, and answers from a per-path script
//! (status, headers, body, delay), falling back to a per-path default answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use super::Threaded;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    /// Decoded when the request said `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Captured>>,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    defaults: Mutex<HashMap<String, Reply>>,
}

pub struct Capture {
    pub url: String,
    state: Arc<State>,
    _server: Threaded,
}

impl Capture {
    pub fn start() -> Self {
        let state = Arc::new(State::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                let data = web::Data::from(st);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(200 << 20))
                        .default_service(web::to(handle))
                })
                .workers(2)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                let handle = server.handle();
                actix_rt::spawn(server);
                ready_tx.send(format!("http://127.0.0.1:{port}")).unwrap();
                let _ = stop_rx.await;
                handle.stop(false).await;
            });
        });
        let url = ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Capture {
            url,
            state,
            _server: Threaded {
                url: String::new(),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    /// Queues answers for `path` (used in order, then the default).
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// The answer for `path` once its script is used up.
    pub fn set_default(&self, path: &str, reply: Reply) {
        self.state.defaults.lock().unwrap().insert(path.to_string(), reply);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Captured> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits until `f` accepts the requests to `path`.
    pub fn wait(&self, path: &str, timeout: Duration, f: impl Fn(&[Captured]) -> bool) -> Vec<Captured> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.requests_to(path);
            if f(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "capture: {} requests to {path}", r.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
        .collect();
    // actix-web decodes `Content-Encoding: gzip` itself (it answers 400 to a body that is not
    // gzip); decode here only what arrives still compressed.
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    } else {
        body.to_vec()
    };
    let path = req.path().to_string();
    state.requests.lock().unwrap().push(Captured {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.query_string().to_string(),
        headers,
        body,
        at: Instant::now(),
    });
    let scripted = state.scripts.lock().unwrap().get_mut(&path).and_then(|q| q.pop_front());
    let reply = scripted
        .or_else(|| state.defaults.lock().unwrap().get(&path).cloned())
        .unwrap_or_else(|| Reply::new(404, "{}"));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        r.insert_header((k.as_str(), v.as_str()));
    }
    r.content_type("application/json").body(reply.body)
}
