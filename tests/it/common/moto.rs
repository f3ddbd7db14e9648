//! A real S3 (and SQS, IAM) API on loopback: `moto_server` from PyPI, one per test binary, shared
//! by its tests through unique bucket and queue names; plus the admin client the tests use to
//! seed and inspect buckets, and an in-process S3 connector.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use dsx_connect::connectors::framework::server::start;
use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
use dsx_connect::connectors::s3::S3Storage;

use super::{Threaded, init_logs};

pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// Starts `moto_server` on a free port with `env`; it dies with the test process.
pub fn start_moto(env: &[(&str, &str)]) -> String {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    // The child gets SIGKILL when the thread that spawned it ends: that thread lives as long as
    // the test process.
    std::thread::spawn(move || {
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|_| ()).map_err(|e| e.to_string())).unwrap();
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv()
        .unwrap()
        .expect("moto_server runs (scripts/setup.sh installs it: pip install 'moto[server]')");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    url
}

/// The test binary's shared server.
pub fn moto() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| start_moto(&[]))
}

/// A bucket (or queue) name no other test of this binary uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn sdk_conf(endpoint: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new(key, secret, None, None, "tests"),
        ))
        .build()
}

/// The tests' own S3 client (seeding and inspecting buckets).
pub fn admin(endpoint: &str) -> aws_sdk_s3::Client {
    admin_as(endpoint, ACCESS_KEY, SECRET_KEY)
}

pub fn admin_as(endpoint: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_conf(endpoint, key, secret))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn sqs_admin(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_conf(endpoint, ACCESS_KEY, SECRET_KEY))
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.expect("create bucket");
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

pub async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

pub async fn tags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("tags of {key}: {e:?}"));
    let mut t: Vec<(String, String)> = out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    t.sort();
    t
}

pub async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(p) = pages.next().await {
        out.extend(p.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    out
}

/// Connector settings pointing at `endpoint` with the test credentials.
pub fn s3_env(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("DSXCONNECTOR_S3_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("DSXCONNECTOR_S3_REGION".into(), "us-east-1".into()),
    ]
}

/// An in-process S3 connector for `asset` (`bucket[/prefix]`) registering with `core_url`.
pub fn start_s3_connector(
    core_url: &str,
    endpoint: &str,
    asset: &str,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> (Threaded, String) {
    init_logs();
    let mut map: std::collections::BTreeMap<String, String> = s3_env(endpoint).into_iter().collect();
    for (k, v) in env {
        map.insert(k.to_string(), v.to_string());
    }
    map.insert("DSXCONNECTOR_ASSET".into(), asset.into());
    map.insert("DSXCONNECTOR_DSX_CONNECT_URL".into(), core_url.into());
    map.insert("DSXCONNECTOR_DATA_DIR".into(), data_dir.display().to_string());
    map.entry("DSXCONNECTOR_CONNECTOR_URL".into())
        .or_insert("http://127.0.0.1:0".into());
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    let (settings, _) = ConnectorSettings::load(ConnectorKind::S3, &map, None, &overrides).expect("valid S3 settings");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let storage = Arc::new(S3Storage::new(&settings).await.expect("S3 storage"));
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
        .expect("S3 connector ready");
    (
        Threaded {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        uuid,
    )
}
