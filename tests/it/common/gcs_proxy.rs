//! A recording proxy in front of fake-gcs-server or the Pub/Sub emulator (the "RP" of
//! docs/reference/CONNECTORS.md, "GCS connector" tests): records method, raw path, query,
//! headers, body, the status answered and a JSON answer of every request; answers from a
//! per-(method, path) script when one is queued, cuts a forwarded body short when told to, and
//! forwards everything else unchanged. It covers what the emulator does not enforce
//! (preconditions, rewrite tokens, throttling, a generation that is gone, truncated bodies) and
//! shows what went over the wire (page tokens, PATCH bodies, Pub/Sub acknowledgements).

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use super::Threaded;
use super::capture::Reply;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// As sent (percent-encoded).
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    /// The status answered (scripted or forwarded; 502 when the upstream was unreachable).
    pub status: u16,
    /// The request's number in the proxy's life (not reset by `clear`).
    pub seq: u64,
    /// The request body.
    pub body: Vec<u8>,
    /// The answer's body when it is JSON (a list page, a pull), else `Null`.
    pub answer: serde_json::Value,
}

impl Seen {
    /// The decoded value of one query parameter.
    pub fn query_value(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The request body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    next: u64,
    script: HashMap<(String, String), VecDeque<Reply>>,
    /// Forwarded answers to send only this many body bytes of (announcing the full length).
    cuts: HashMap<(String, String), VecDeque<usize>>,
}

pub struct Proxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    _server: Threaded,
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<Arc<Mutex<State>>>,
    up: web::Data<(String, reqwest::Client)>,
) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let (seq, scripted, cut) = {
        let mut s = st.lock().unwrap();
        let seq = s.next;
        s.next += 1;
        s.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers,
            status: 0,
            seq,
            body: body.to_vec(),
            answer: serde_json::Value::Null,
        });
        let key = (method.clone(), path.clone());
        let scripted = s.script.get_mut(&key).and_then(VecDeque::pop_front);
        let cut = s.cuts.get_mut(&key).and_then(VecDeque::pop_front);
        (seq, scripted, cut)
    };
    // `clear` may have emptied the record meanwhile: then the answer has nowhere to go.
    let answered = |status: u16, body: &[u8]| {
        if let Some(s) = st.lock().unwrap().seen.iter_mut().find(|s| s.seq == seq) {
            s.status = status;
            s.answer = serde_json::from_slice(body).unwrap_or_default();
        }
    };
    if let Some(r) = scripted {
        answered(r.status, r.body.as_bytes());
        let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status).unwrap());
        for (k, v) in &r.headers {
            b.insert_header((k.as_str(), v.as_str()));
        }
        return b.content_type("application/json").body(r.body);
    }
    let (base, http) = up.get_ref();
    let url = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    };
    let mut fwd = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (k, v) in req.headers() {
        if k != "host" && k != "content-length" {
            fwd = fwd.header(k.as_str(), v.as_bytes());
        }
    }
    let answer = match fwd.body(body.to_vec()).send().await {
        Ok(a) => a,
        Err(e) => {
            answered(502, b"");
            return HttpResponse::BadGateway().body(e.to_string());
        }
    };
    let status = answer.status().as_u16();
    let is_json = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status().as_u16()).unwrap());
    for (k, v) in answer.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            b.insert_header((k.as_str(), v.as_bytes()));
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    answered(status, if is_json { &bytes } else { b"" });
    if let Some(n) = cut {
        let part = bytes.slice(..n.min(bytes.len()));
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(part)]);
        return b.no_chunking(bytes.len() as u64).streaming(stream);
    }
    b.body(bytes)
}

impl Proxy {
    /// Starts a proxy forwarding to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let upstream = upstream.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let st = web::Data::new(shared);
                let up = web::Data::new((upstream, reqwest::Client::new()));
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(st.clone())
                        .app_data(up.clone())
                        .app_data(web::PayloadConfig::new(64 << 20))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
                let handle = server.handle();
                actix_rt::spawn(async move {
                    let _ = stop_rx.await;
                    handle.stop(false).await;
                });
                let _ = server.await;
            });
        });
        Self {
            url: format!("http://{addr}"),
            state,
            _server: Threaded {
                url: format!("http://{addr}"),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    /// Queues answers for `method` on exactly `path` (percent-encoded as sent).
    pub fn script(&self, method: &str, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut s = self.state.lock().unwrap();
        s.script
            .entry((method.to_string(), path.to_string()))
            .or_default()
            .extend(replies);
    }

    /// Cuts the next forwarded answer to `method` on exactly `path` after `after` body bytes,
    /// while announcing the full `Content-Length`.
    pub fn cut(&self, method: &str, path: &str, after: usize) {
        let mut s = self.state.lock().unwrap();
        s.cuts
            .entry((method.to_string(), path.to_string()))
            .or_default()
            .push_back(after);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}
