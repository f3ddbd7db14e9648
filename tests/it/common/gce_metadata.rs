//! A GCE metadata server on loopback (the "TK" of docs/reference/CONNECTORS.md, "GCS connector"
//! tests), reached through `GCE_METADATA_HOST`: like Google's, it answers only requests that
//! carry `Metadata-Flavor: Google` (403 otherwise), serves the default service account's access
//! token and the universe domain, and records every request.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use super::Threaded;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct MdsRequest {
    pub path: String,
    pub query: String,
    /// The `Metadata-Flavor` header, if any.
    pub flavor: Option<String>,
}

struct State {
    token: String,
    seen: Mutex<Vec<MdsRequest>>,
}

pub struct MetadataServer {
    /// `host:port`, what `GCE_METADATA_HOST` takes.
    pub host: String,
    state: Arc<State>,
    _server: Threaded,
}

const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

async fn handle(req: HttpRequest, st: web::Data<State>) -> HttpResponse {
    let flavor = req
        .headers()
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    st.seen.lock().unwrap().push(MdsRequest {
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        flavor: flavor.clone(),
    });
    if flavor.as_deref() != Some("Google") {
        return HttpResponse::Forbidden().body("Missing required header: Metadata-Flavor");
    }
    let ok = |body: String, ct: &str| {
        HttpResponse::Ok()
            .insert_header(("metadata-flavor", "Google"))
            .content_type(ct.to_string())
            .body(body)
    };
    match req.path() {
        TOKEN_PATH => ok(
            json!({"access_token": st.token, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
            "application/json",
        ),
        "/computeMetadata/v1/universe/universe-domain" => ok("googleapis.com".into(), "text/plain"),
        "/computeMetadata/v1/project/project-id" => ok("dsx-test".into(), "text/plain"),
        "/computeMetadata/v1/instance/service-accounts/default/email" => {
            ok("scanner@dsx-test.iam.gserviceaccount.com".into(), "text/plain")
        }
        _ => HttpResponse::NotFound().body("not found"),
    }
}

impl MetadataServer {
    /// Starts a server handing out `token` as the default service account's access token.
    pub fn start(token: &str) -> Self {
        let state = Arc::new(State {
            token: token.to_string(),
            seen: Mutex::new(Vec::new()),
        });
        let shared = Arc::clone(&state);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                        .workers(1)
                        .disable_signals()
                        .listen(listener)
                        .unwrap()
                        .run();
                let h = server.handle();
                actix_rt::spawn(server);
                ready_tx.send(()).unwrap();
                let _ = stop_rx.await;
                h.stop(false).await;
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            host: addr.to_string(),
            state,
            _server: Threaded {
                url: format!("http://{addr}"),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    pub fn seen(&self) -> Vec<MdsRequest> {
        self.state.seen.lock().unwrap().clone()
    }
}
