//! `dsxa-stub`: a stand-in for Deep Instinct DSXA (which cannot run here) that speaks its
//! `POST /scan/binary/v2` protocol, answers EICAR as Malicious and everything else as Benign,
//! and records what it received, for tests and benchmarks.
//!
//! Control endpoints (not part of DSXA):
//! - `GET /__captured[?since_ms=T]`: the recorded requests (method, path, headers, body length
//!   and SHA-256, arrival time `at_ms`);
//! - `DELETE /__captured`: forget them;
//! - `POST /__script`: a JSON array of answers `{"status", "body"?, "delay_ms"?}` used, in
//!   order, for the next scans before the normal behaviour resumes;
//! - `POST /__config`: `{"delay_ms", "nested", "capture"}`.
//!
//! Usage: `dsxa-stub [--port N] [--delay-ms N] [--no-capture]`; prints `listening on <addr>`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use memchr::memmem;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The signature, from the library that keeps it masked: the stub's binary must not hold it in
/// the clear either (a scan of the build folder would flag it).
fn eicar() -> &'static [u8] {
    dsx_connect::scanner::embedded::eicar()
}

#[derive(Debug, Clone, Deserialize)]
struct Scripted {
    status: u16,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    delay_ms: u64,
}

#[derive(Debug, Deserialize)]
struct Config {
    delay_ms: Option<u64>,
    nested: Option<bool>,
    capture: Option<bool>,
}

struct State {
    captured: Vec<Value>,
    script: VecDeque<Scripted>,
    delay: Duration,
    nested: bool,
    capture: bool,
    scans: u64,
}

type Shared = web::Data<Mutex<State>>;

fn verdict_body(malicious: bool, size: u64, sha: &str, metadata: &str, nested: bool) -> Value {
    let (verdict, details) = if malicious {
        (
            "Malicious",
            json!({"event_description": "EICAR Test File", "reason": "Signature match", "threat_type": "VIRUS"}),
        )
    } else {
        (
            "Benign",
            json!({"event_description": "File identified as benign", "reason": null, "threat_type": null}),
        )
    };
    let info = json!({"file_type": "Unknown", "file_size_in_bytes": size, "file_hash": sha, "container_hash": null});
    let guid = uuid::Uuid::new_v4().simple().to_string();
    if nested {
        json!({
            "scan_guid": guid, "verdict": verdict, "scan_duration_in_microseconds": 42, "protected_entity": 1,
            "details": {"verdictDetails": details, "fileInfo": info, "xCustomMetadata": metadata}
        })
    } else {
        json!({
            "scan_guid": guid, "verdict": verdict, "verdict_details": details, "file_info": info,
            "protected_entity": 1, "scan_duration_in_microseconds": 42, "X-Custom-Metadata": metadata,
            "container_files_scanned": 0, "container_files_scanned_size": 0
        })
    }
}

async fn scan(state: Shared, req: HttpRequest, mut body: web::Payload) -> HttpResponse {
    let arrived_ms = chrono::Utc::now().timestamp_millis();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    let mut malicious = false;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().body("body could not be read");
        };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        if !malicious {
            tail.extend_from_slice(&chunk);
            malicious = memmem::find(&tail, eicar()).is_some();
            let keep = tail.len().saturating_sub(eicar().len() - 1);
            tail.drain(..keep);
        }
    }
    let sha = hex::encode(hasher.finalize());
    let metadata = req
        .headers()
        .get("X-Custom-Metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (scripted, delay, nested) = {
        let Ok(mut st) = state.lock() else {
            return HttpResponse::InternalServerError().finish();
        };
        st.scans += 1;
        if st.capture {
            let headers: serde_json::Map<String, Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or(""))))
                .collect();
            st.captured.push(json!({
                "method": req.method().as_str(), "path": req.path(), "headers": headers,
                "body_len": size, "body_sha256": sha,
                "at_ms": arrived_ms,
            }));
        }
        (st.script.pop_front(), st.delay, st.nested)
    };
    match scripted {
        Some(s) => {
            tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
            let code = actix_web::http::StatusCode::from_u16(s.status).unwrap_or(actix_web::http::StatusCode::OK);
            let body = s
                .body
                .unwrap_or_else(|| verdict_body(malicious, size, &sha, &metadata, nested));
            match body {
                Value::String(text) => HttpResponse::build(code).body(text),
                other => HttpResponse::build(code).json(other),
            }
        }
        None => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            HttpResponse::Ok().json(verdict_body(malicious, size, &sha, &metadata, nested))
        }
    }
}

/// The recorded requests; `?since_ms=T` keeps those that arrived at or after T (epoch ms).
async fn captured(state: Shared, req: HttpRequest) -> HttpResponse {
    let since: i64 = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("since_ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (reqs, scans) = state
        .lock()
        .map(|s| {
            let r: Vec<Value> = s
                .captured
                .iter()
                .filter(|c| c["at_ms"].as_i64().unwrap_or(0) >= since)
                .cloned()
                .collect();
            (r, s.scans)
        })
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({"scans": scans, "requests": reqs}))
}

async fn reset(state: Shared) -> HttpResponse {
    if let Ok(mut s) = state.lock() {
        s.captured.clear();
        s.scans = 0;
    }
    HttpResponse::NoContent().finish()
}

async fn script(state: Shared, body: web::Json<Vec<Scripted>>) -> HttpResponse {
    if let Ok(mut s) = state.lock() {
        s.script.extend(body.into_inner());
    }
    HttpResponse::NoContent().finish()
}

async fn config(state: Shared, body: web::Json<Config>) -> HttpResponse {
    if let Ok(mut s) = state.lock() {
        if let Some(d) = body.delay_ms {
            s.delay = Duration::from_millis(d);
        }
        if let Some(n) = body.nested {
            s.nested = n;
        }
        if let Some(c) = body.capture {
            s.capture = c;
        }
    }
    HttpResponse::NoContent().finish()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> std::io::Result<()> {
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let delay = Duration::from_millis(arg("--delay-ms").and_then(|d| d.parse().ok()).unwrap_or(0));
    let capture = !std::env::args().any(|a| a == "--no-capture");
    let workers: usize = arg("--workers").and_then(|w| w.parse().ok()).unwrap_or(1);
    let state = web::Data::new(Mutex::new(State {
        captured: Vec::new(),
        script: VecDeque::new(),
        delay,
        nested: false,
        capture,
        scans: 0,
    }));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    let shared = Arc::new(());
    actix_rt::System::new().block_on(async move {
        let _keep = shared;
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(usize::MAX))
                .route("/scan/binary/v2", web::post().to(scan))
                .route("/__captured", web::get().to(captured))
                .route("/__captured", web::delete().to(reset))
                .route("/__script", web::post().to(script))
                .route("/__config", web::post().to(config))
        })
        .on_connect(|conn, _| {
            if let Some(s) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = s.set_nodelay(true);
            }
        })
        .workers(workers)
        .listen(listener)?
        .run()
        .await
    })
}
