//! Shared test harness: real servers on loopback ports, each in its own thread and actix
//! system (so they talk over HTTP exactly like separate processes), the DSXA stub binary, a
//! scriptable fake connector, and polling helpers.

pub mod azure_proxy;
pub mod azurite;
pub mod capture;
pub mod entra;
pub mod event_grid;
pub mod events;
pub mod fake_connector;
pub mod fake_core;
pub mod gce_metadata;
pub mod gcs;
pub mod gcs_proxy;
pub mod hostile_tree;
pub mod moto;
pub mod oidc;
pub mod redis;
pub mod rsyslog;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use dsx_connect::app::start_core as start_core_server;
use dsx_connect::cli::builtin::{Builtin, start_builtin};
use dsx_connect::config::Settings;
use dsx_connect::connectors::filesystem::FilesystemStorage;
use dsx_connect::connectors::framework::server::start;
use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};

pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const API: &str = "/dsx-connect/api/v1";

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server running in its own thread with its own actix system.
pub struct Threaded {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Threaded {
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Threaded {
    fn drop(&mut self) {
        self.stop();
    }
}

fn env_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A core with its state for `data_dir` (the embedded store there, or with
/// `DSX_TEST_BACKEND=redis` a Redis database of its own), on a free port.
pub fn start_core_in(data_dir: &Path, env: &[(&str, &str)]) -> Threaded {
    start_core_on(data_dir, env, TcpListener::bind("127.0.0.1:0").unwrap())
}

/// [`start_core_in`] on a listener the caller bound (a URL known before the core starts).
pub fn start_core_on(data_dir: &Path, env: &[(&str, &str)], listener: TcpListener) -> Threaded {
    init_logs();
    let mut env = env_map(env);
    env.insert("DSXCONNECT_DATA_DIR".into(), data_dir.display().to_string());
    if redis::backend_is_redis() {
        env.entry("DSXCONNECT_REDIS_URL".into())
            .or_insert_with(|| redis::url_for(data_dir));
    }
    env.entry("DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS".into())
        .or_insert("0.05".into());
    let settings = Arc::new(Settings::from_map(&env, None).expect("valid core settings").settings);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let core = start_core_server(settings, listener, true).await.expect("core starts");
            ready_tx.send(core.base_url()).unwrap();
            let _ = stop_rx.await;
            core.shutdown(Duration::from_secs(2)).await;
        });
    });
    let url = ready_rx.recv_timeout(Duration::from_secs(20)).expect("core ready");
    Threaded {
        url,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// A core with its own temporary data dir.
pub fn start_core(env: &[(&str, &str)]) -> (Threaded, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (start_core_in(dir.path(), env), dir)
}

/// A filesystem connector for `asset` registering with `core_url`; returns it and its uuid.
pub fn start_fs_connector(core_url: &str, asset: &Path, data_dir: &Path, env: &[(&str, &str)]) -> (Threaded, String) {
    init_logs();
    let mut env = env_map(env);
    env.insert("DSXCONNECTOR_ASSET".into(), asset.display().to_string());
    env.insert("DSXCONNECTOR_DSX_CONNECT_URL".into(), core_url.to_string());
    env.insert("DSXCONNECTOR_DATA_DIR".into(), data_dir.display().to_string());
    env.entry("DSXCONNECTOR_CONNECTOR_URL".into())
        .or_insert("http://127.0.0.1:0".into());
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    let (settings, _) =
        ConnectorSettings::load(ConnectorKind::Filesystem, &env, None, &overrides).expect("valid connector settings");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let storage = Arc::new(FilesystemStorage::new(&settings).expect("storage"));
            let listener = TcpListener::bind(settings.listen_addr).unwrap();
            let running = start(settings, storage, listener).await.expect("connector starts");
            let url = running.service.settings().callback_url();
            ready_tx.send((url, running.service.uuid().to_string())).unwrap();
            let _ = stop_rx.await;
            running.stop().await;
        });
    });
    let (url, uuid) = ready_rx.recv_timeout(Duration::from_secs(20)).expect("connector ready");
    (
        Threaded {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        uuid,
    )
}

/// A core with a built-in filesystem connector for `asset` in the same process, as `serve --fs`
/// and `scan DIR` run it (its items are opened by the core itself), reporting only; returns the
/// core, the connector's uuid and its callback URL.
pub fn start_core_with_builtin_fs(data_dir: &Path, asset: &Path, env: &[(&str, &str)]) -> (Threaded, String, String) {
    init_logs();
    let mut env = env_map(env);
    env.insert("DSXCONNECT_DATA_DIR".into(), data_dir.display().to_string());
    if redis::backend_is_redis() {
        env.entry("DSXCONNECT_REDIS_URL".into())
            .or_insert_with(|| redis::url_for(data_dir));
    }
    env.entry("DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS".into())
        .or_insert("0.05".into());
    let settings = Arc::new(Settings::from_map(&env, None).expect("valid core settings").settings);
    let (asset, data_dir) = (asset.display().to_string(), data_dir.to_path_buf());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let core = start_core_server(settings, listener, true).await.expect("core starts");
            let builtin = Builtin {
                kind: ConnectorKind::Filesystem,
                asset: &asset,
                name: "filesystem-connector".into(),
                action: Some("nothing"),
                quarantine: None,
                filter: None,
            };
            let conn = start_builtin(builtin, &core.base_url(), &data_dir, &core.state.core)
                .await
                .expect("built-in connector starts");
            let ids = (conn.service.uuid().to_string(), conn.service.settings().callback_url());
            ready_tx.send((core.base_url(), ids)).unwrap();
            let _ = stop_rx.await;
            conn.stop().await;
            core.shutdown(Duration::from_secs(2)).await;
        });
    });
    let (url, (uuid, conn_url)) = ready_rx.recv_timeout(Duration::from_secs(20)).expect("core ready");
    let core = Threaded {
        url,
        stop: Some(stop_tx),
        thread: Some(thread),
    };
    (core, uuid, conn_url)
}

/// The DSXA stub process.
pub struct Dsxa {
    pub url: String,
    child: Child,
}

impl Dsxa {
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dsxa-stub"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("dsxa-stub starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("stub address")
            .to_string();
        Self {
            url: format!("http://{addr}"),
            child,
        }
    }

    /// Env for a core that scans with this stub.
    pub fn scan_url(&self) -> String {
        format!("{}/scan/binary/v2", self.url)
    }

    pub async fn script(&self, answers: Value) {
        reqwest::Client::new()
            .post(format!("{}/__script", self.url))
            .json(&answers)
            .send()
            .await
            .unwrap();
    }

    pub async fn configure(&self, cfg: Value) {
        reqwest::Client::new()
            .post(format!("{}/__config", self.url))
            .json(&cfg)
            .send()
            .await
            .unwrap();
    }

    pub async fn captured(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/__captured", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["requests"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Dsxa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small async HTTP client for the core's API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(core_url: &str) -> Self {
        Self {
            base: format!("{core_url}{API}"),
            http: reqwest::Client::new(),
        }
    }

    /// A client that sends `Authorization: Bearer <token>` (an operator's API token).
    pub fn with_token(core_url: &str, token: &str) -> Self {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        Self {
            base: format!("{core_url}{API}"),
            http: reqwest::Client::builder().default_headers(h).build().unwrap(),
        }
    }

    /// `(status, body)`; status 0 when the server cannot be reached (yet).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let Ok(r) = self.http.get(format!("{}{path}", self.base)).send().await else {
            return (0, Value::Null);
        };
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    /// `(status, body)` of a JSON request.
    async fn send_json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> u16 {
        let r = self.http.delete(format!("{}{path}", self.base)).send().await.unwrap();
        r.status().as_u16()
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn job(&self, id: &str) -> Value {
        self.get(&format!("/scan/jobs/{id}")).await.1
    }

    /// Waits until the job reaches `status`.
    pub async fn wait_job(&self, id: &str, status: &str, timeout: Duration) -> Value {
        wait_for(&format!("job {id} {status}"), timeout, || async {
            let j = self.job(id).await;
            (j["status"] == status).then_some(j)
        })
        .await
    }

    /// Waits until `uuid` is registered.
    pub async fn wait_registered(&self, uuid: &str) {
        wait_for("connector registration", Duration::from_secs(20), || async {
            let (_, list) = self.get("/connectors/list").await;
            list.as_array()?.iter().any(|c| c["uuid"] == uuid).then_some(())
        })
        .await
    }

    /// Triggers a full scan once the connector answers (a restarted core's connector may still be
    /// coming up: 502/503 until then) and returns the job id.
    pub async fn full_scan_when_reachable(&self, uuid: &str) -> String {
        wait_for("the connector takes a full scan", Duration::from_secs(60), || async {
            let r = self
                .http
                .post(format!("{}/connectors/full_scan/{uuid}", self.base))
                .send()
                .await
                .ok()?;
            let s = r.status().as_u16();
            assert!(matches!(s, 202 | 502 | 503), "full scan trigger: {s}");
            Some(r.headers().get("x-job-id")?.to_str().ok()?.to_string())
        })
        .await
    }

    /// Triggers a full scan and returns the job id.
    pub async fn full_scan(&self, uuid: &str) -> String {
        let r = self
            .http
            .post(format!("{}/connectors/full_scan/{uuid}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "full scan trigger");
        r.headers()["x-job-id"].to_str().unwrap().to_string()
    }
}

/// Reads a counter of a job view (all values are strings).
pub fn count(job: &Value, field: &str) -> u64 {
    job[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {job}"))
}

/// Writes `contents` at `root/rel`, creating folders.
pub fn write(root: &Path, rel: &str, contents: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, contents).unwrap();
    p
}

/// A minimal request body for the core.
pub fn scan_request(location: &str, connector_url: &str, job: Option<&str>) -> Value {
    json!({"location": location, "metainfo": location, "connector_url": connector_url, "scan_job_id": job})
}

/// Reads an SSE response frame by frame (`data: …` blocks and `retry:` blocks).
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    pub async fn open(url: &str) -> Self {
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "SSE {url}");
        assert_eq!(resp.headers()["content-type"], "text/event-stream; charset=utf-8");
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        assert_eq!(resp.headers()["x-accel-buffering"], "no");
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next raw block (without the blank line), or `None` after `timeout`.
    pub async fn next_block(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block = self.buf[..i].to_string();
                self.buf.drain(..i + 2);
                return Some(block);
            }
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(c))) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                _ => return None,
            }
        }
    }

    /// The next `data:` frame as JSON.
    pub async fn next_json(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            let b = self.next_block(timeout).await?;
            if let Some(d) = b.strip_prefix("data: ") {
                return Some(serde_json::from_str(d).expect("frame is JSON"));
            }
        }
    }

    /// Frames until `pred` holds for one (returned with everything seen before it).
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
            match self.next_json(left).await {
                Some(v) => {
                    let done = pred(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                None => break,
            }
        }
        panic!("condition not met within {timeout:?}; frames: {seen:?}");
    }
}

/// Runs `dsx-connect <args>` against the store of `data` (its Redis database when the suite
/// runs on Redis), with `stdin` as its standard input.
pub fn dsx_cli(data: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
    cmd.args(args).env("DSXCONNECT_DATA_DIR", data);
    if redis::backend_is_redis() {
        cmd.env("DSXCONNECT_REDIS_URL", redis::url_for(data));
    }
    run_with_input(&mut cmd, stdin.unwrap_or(""), 60)
}

/// Runs a command to completion, killing it (and failing the test) after `secs` seconds.
pub fn run_for(cmd: &mut Command, secs: u64) -> std::process::Output {
    run_with_input(cmd, "", secs)
}

/// [`run_for`] with `input` written to the command's standard input.
pub fn run_with_input(cmd: &mut Command, input: &str, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "command did not finish within {secs} s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free TCP port on loopback (for processes that bind it themselves).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}
