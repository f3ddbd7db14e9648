//! A recording proxy in front of Azurite, for what the emulator cannot do: it records method,
//! path, query and headers of every request and forwards it, or applies a scripted rule —
//! answer itself (status, headers, body), add response headers (e.g. `x-ms-version-id`), or cut
//! the forwarded body after N bytes while announcing the full length.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;

use super::Threaded;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
}

impl Seen {
    pub fn query_has(&self, part: &str) -> bool {
        self.query
            .split('&')
            .any(|p| p == part || p.starts_with(&format!("{part}=")))
    }
}

/// What a rule does to a matching request.
#[derive(Debug, Clone)]
pub enum Act {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Forward, then add these response headers.
    AddHeaders(Vec<(String, String)>),
    /// Forward, announce the full length, send only this many body bytes.
    CutAfter(usize),
}

/// A scripted rule: matches a method, a path ending and query parts; applies `times` times.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub path_ends: String,
    pub query_has: Vec<&'static str>,
    pub query_lacks: Vec<&'static str>,
    pub times: usize,
    pub act: Act,
}

impl Rule {
    pub fn new(method: &'static str, path_ends: &str, act: Act) -> Self {
        Self {
            method,
            path_ends: path_ends.to_string(),
            query_has: Vec::new(),
            query_lacks: Vec::new(),
            times: usize::MAX,
            act,
        }
    }

    pub fn has(mut self, q: &'static str) -> Self {
        self.query_has.push(q);
        self
    }

    pub fn lacks(mut self, q: &'static str) -> Self {
        self.query_lacks.push(q);
        self
    }

    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    rules: Vec<Rule>,
}

pub struct Proxy {
    /// The proxied blob service URL (path-style, with the account).
    pub url: String,
    state: Arc<Mutex<State>>,
    _server: Threaded,
}

impl Proxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:<port>/<account>`).
    pub fn start(upstream: &str) -> Self {
        let parsed = url::Url::parse(upstream).unwrap();
        let origin = format!("http://{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
        let account_path = parsed.path().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::new((shared, origin, reqwest::Client::new()));
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                        .workers(2)
                        .listen(listener)
                        .unwrap()
                        .run();
                let handle = server.handle();
                tx.send(()).unwrap();
                tokio::select! {
                    _ = server => {}
                    _ = stop_rx => handle.stop(false).await,
                }
            });
        });
        rx.recv().unwrap();
        Self {
            url: format!("http://127.0.0.1:{port}{account_path}"),
            state,
            _server: Threaded {
                url: String::new(),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    pub fn rule(&self, r: Rule) {
        self.state.lock().unwrap().rules.push(r);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

type Shared = (Arc<Mutex<State>>, String, reqwest::Client);

async fn handle(req: HttpRequest, body: Bytes, data: web::Data<Shared>) -> HttpResponse {
    let (state, origin, http) = (&data.0, &data.1, &data.2);
    let seen = Seen {
        method: req.method().to_string(),
        path: percent_encoding::percent_decode_str(req.path())
            .decode_utf8_lossy()
            .into_owned(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    };
    let act = {
        let mut g = state.lock().unwrap();
        g.seen.push(seen.clone());
        let found = g.rules.iter_mut().find(|r| {
            r.times > 0
                && r.method == seen.method
                && seen.path.ends_with(&r.path_ends)
                && r.query_has.iter().all(|q| seen.query_has(q))
                && !r.query_lacks.iter().any(|q| seen.query_has(q))
        });
        found.map(|r| {
            r.times -= 1;
            r.act.clone()
        })
    };
    if let Some(Act::Reply { status, headers, body }) = &act {
        let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).unwrap());
        for (k, v) in headers {
            b.insert_header((k.as_str(), v.as_str()));
        }
        return b.body(body.clone());
    }
    let target = match req.query_string() {
        "" => format!("{origin}{}", req.path()),
        q => format!("{origin}{}?{q}", req.path()),
    };
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut fwd = http.request(method, target);
    for (k, v) in req.headers() {
        if k != "host" && k != "content-length" {
            fwd = fwd.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = match fwd.body(body).send().await {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(resp.status().as_u16()).unwrap());
    let mut length = None;
    for (k, v) in resp.headers() {
        if k == "content-length" {
            length = v.to_str().ok().and_then(|s| s.parse::<u64>().ok());
            continue;
        }
        if k != "transfer-encoding" && k != "connection" {
            b.append_header((k.as_str(), v.as_bytes()));
        }
    }
    if let Some(Act::AddHeaders(extra)) = &act {
        for (k, v) in extra {
            b.insert_header((k.as_str(), v.as_str()));
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    if let Some(Act::CutAfter(n)) = act {
        let full = bytes.len() as u64;
        let part = bytes.slice(..n.min(bytes.len()));
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(part)]);
        return b.no_chunking(full).streaming(stream);
    }
    if req.method() == actix_web::http::Method::HEAD {
        if let Some(n) = length {
            b.insert_header(("content-length", n.to_string()));
        }
        return b.finish();
    }
    b.body(bytes)
}
