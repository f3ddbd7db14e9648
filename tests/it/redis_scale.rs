//! Scale-out on Redis with real processes: two `dsx-connect api` and three `dsx-connect worker`
//! processes on a private `redis-server`, a standalone filesystem connector registered through
//! API A and triggered through API B, the DSXA stub as scanner. A worker killed with SIGKILL
//! mid-job, and Redis itself restarted mid-job (AOF on): the job completes with exact counts,
//! nothing lost, nothing counted twice; the SSE stream of API A carries every result whichever
//! worker produced it.

use crate::common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const ITEMS: u64 = 20_000;

/// Items processed so far, 0 while the job is not readable (not created yet, store restarting).
async fn processed(api: &Api, job: &str) -> u64 {
    api.job(job).await["processed_count"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Kills its child when dropped (a failing test leaves nothing behind).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM, then waits (generously) for the process to finish its shutdown.
async fn stop_gracefully(mut p: Proc) {
    unsafe {
        libc::kill(p.0.id() as i32, libc::SIGTERM);
    }
    wait_for("graceful exit", Duration::from_secs(60), || {
        let exited = p.0.try_wait().ok().flatten().is_some();
        async move { exited.then_some(()) }
    })
    .await;
}

fn role(role: &str, redis: &str, port: u16, dsxa: &Dsxa) -> Proc {
    role_with(role, redis, port, dsxa, &[])
}

fn role_with(role: &str, redis: &str, port: u16, dsxa: &Dsxa, env: &[(&str, &str)]) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .arg(role)
            .envs(env.iter().copied())
            .env("DSXCONNECT_REDIS_URL", redis)
            .env("DSXCONNECT_HOST", "127.0.0.1")
            .env("DSXCONNECT_PORT", port.to_string())
            .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
            .env("DSXCONNECT_WORKERS__CONCURRENCY", "16")
            .env("DSXCONNECT_WORKERS__CLAIM_IDLE_SECS", "3")
            .env("DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS", "0.2")
            .env("DSXCONNECT_RESULTS_DB__RETAIN", "-1")
            .env("DSXCONNECT_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

struct Cluster {
    api_a: Api,
    api_b: Api,
    workers: Vec<Proc>,
    _apis: Vec<Proc>,
    _connector: Proc,
    connector_uuid: String,
    _tree: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn ready(api: &Api) {
    wait_for("readyz", Duration::from_secs(30), || async {
        (api.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
}

async fn cluster(redis: &str, dsxa: &Dsxa) -> Cluster {
    cluster_with(redis, dsxa, &[]).await
}

/// The cluster; `worker_env` is added to the workers' settings.
async fn cluster_with(redis: &str, dsxa: &Dsxa, worker_env: &[(&str, &str)]) -> Cluster {
    cluster_of(redis, dsxa, worker_env, ITEMS).await
}

/// The cluster over a tree of `items` files.
async fn cluster_of(redis: &str, dsxa: &Dsxa, worker_env: &[(&str, &str)], items: u64) -> Cluster {
    let tree = tempfile::tempdir().unwrap();
    for i in 0..items {
        write(
            tree.path(),
            &format!("d{:02}/f{i:05}.txt", i % 50),
            format!("item {i}").as_bytes(),
        );
    }
    let (pa, pb) = (free_tcp_port(), free_tcp_port());
    let apis = vec![role("api", redis, pa, dsxa), role("api", redis, pb, dsxa)];
    let workers = (0..3)
        .map(|_| role_with("worker", redis, free_tcp_port(), dsxa, worker_env))
        .collect();
    let api_a = Api::new(&format!("http://127.0.0.1:{pa}"));
    let api_b = Api::new(&format!("http://127.0.0.1:{pb}"));
    ready(&api_a).await;
    ready(&api_b).await;
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let connector = Proc(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["connector", "filesystem", "--listen", &listen, "--action", "nothing"])
            .args(["--core-url", &api_a.base.replace("/dsx-connect/api/v1", "")])
            .arg("--asset")
            .arg(tree.path())
            .arg("--data-dir")
            .arg(data.path())
            .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://{listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Registered through A, known to B.
    let connector_uuid = wait_for("the connector, seen through API B", Duration::from_secs(30), || async {
        let (_, list) = api_b.get("/connectors/list").await;
        list.as_array()?.first()?.get("uuid")?.as_str().map(str::to_string)
    })
    .await;
    Cluster {
        api_a,
        api_b,
        workers,
        _apis: apis,
        _connector: connector,
        connector_uuid,
        _tree: tree,
        _data: data,
    }
}

/// The task ids of every event the HEC capture server received.
fn hec_task_ids(hec: &common::capture::Capture) -> Vec<String> {
    hec.requests_to("/services/collector/event")
        .iter()
        .flat_map(|r| {
            r.text()
                .split('\n')
                .filter_map(|l| {
                    serde_json::from_str::<Value>(l).ok()?["event"]["scan_request_task_id"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The job's final figures add up exactly, every item has one result, and statistics agree.
async fn assert_exact(api: &Api, job: &Value, job_id: &str) {
    assert_eq!(count(job, "processed_count"), ITEMS, "{job}");
    assert_eq!(count(job, "failed_count") + count(job, "skipped_count"), 0, "{job}");
    assert_eq!(count(job, "enqueued_count"), ITEMS, "{job}");
    let mut results: Vec<Value> = Vec::new();
    let mut before = String::new();
    loop {
        let (_, page) = api
            .get(&format!("/scan/results?job_id={job_id}&limit=10000{before}"))
            .await;
        let page = page.as_array().cloned().unwrap_or_default();
        let Some(last) = page.last().and_then(|r| r["id"].as_i64()) else {
            break;
        };
        before = format!("&before_id={last}");
        results.extend(page);
    }
    let tasks: HashSet<&str> = results
        .iter()
        .filter_map(|r| r["scan_request_task_id"].as_str())
        .collect();
    assert_eq!(results.len() as u64, ITEMS, "one stored result per item");
    assert_eq!(tasks.len() as u64, ITEMS, "no task recorded twice");
    let (_, stats) = api.get("/scan/stats").await;
    assert_eq!(stats["files_scanned"], ITEMS, "statistics count each item once");
}

/// Also superlog on Redis (docs/reference/SUPERLOG.md, "When events are produced"): the workers
/// send their results to a Splunk HEC capture server, which never receives two events for one item
/// although the killed worker's items were delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_nothing_and_sse_on_a_shows_every_worker_s_results() {
    let redis = format!("redis://127.0.0.1:{}", common::redis::start_redis_server(&[]));
    let dsxa = Dsxa::start(&["--no-capture"]);
    let hec = common::capture::Capture::start();
    hec.set_default(
        "/services/collector/event",
        common::capture::Reply::new(200, r#"{"text":"Success","code":0}"#),
    );
    let mut c = cluster_with(
        &redis,
        &dsxa,
        &[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__URL", &hec.url),
            ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", "scale-test-token"),
        ],
    )
    .await;
    let mut sse = Sse::open(&format!("{}/subscribe/scan-result", c.api_a.base)).await;
    // Read while the job runs (a client that does not read loses its oldest frames).
    let reader = tokio::spawn(async move {
        let mut seen = HashSet::new();
        while let Some(f) = sse.next_json(Duration::from_secs(20)).await {
            if f["type"] == "scan_result" {
                seen.insert(
                    f["scan_result"]["scan_request_task_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
            if f["type"] == "job_summary" && f["job"]["status"] == "completed" {
                break;
            }
        }
        seen
    });
    // Triggered through B: the connector was registered through A.
    let job = c.api_b.full_scan(&c.connector_uuid).await;
    wait_for("a quarter of the job", Duration::from_secs(120), || async {
        (processed(&c.api_a, &job).await >= ITEMS / 4).then_some(())
    })
    .await;
    let victim = c.workers.remove(0);
    unsafe {
        libc::kill(victim.0.id() as i32, libc::SIGKILL);
    }
    drop(victim);
    let j = c.api_b.wait_job(&job, "completed", Duration::from_secs(300)).await;
    assert_exact(&c.api_a, &j, &job).await;
    // Never two SIEM events for one result, across all workers and the redelivery. (Events
    // the killed worker had buffered but not shipped — its last HEC batch, up to a flush
    // interval's worth — die with it: superlog buffers in memory, and the redelivery records
    // nothing new.)
    const UNSHIPPED: u64 = 200;
    // Stopping the surviving workers flushes what they still buffer: once they exited, the
    // receiver holds every event it will ever get.
    for w in c.workers.drain(..) {
        stop_gracefully(w).await;
    }
    let events = hec_task_ids(&hec);
    let distinct: HashSet<&String> = events.iter().collect();
    assert_eq!(events.len(), distinct.len(), "an item produced more than one event");
    assert!(distinct.len() as u64 >= ITEMS - UNSHIPPED, "{} events", distinct.len());
    // API A's stream carried the results of every worker. Pub/sub is best effort: the killed
    // worker's last frames (recorded, still in its publish queue when it died; 0–5 in the runs
    // here) are lost with it, and their redelivery records nothing new to announce.
    let seen = reader.await.unwrap();
    assert!(
        seen.len() as u64 >= ITEMS - 100,
        "SSE on A carried {} of {ITEMS} results",
        seen.len()
    );
}

/// Both API processes run the scheduler; the store's run lease lets one of them take each due
/// time. A schedule due every minute, watched for three minutes: exactly three jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_run_a_one_minute_schedule_exactly_once_per_due_time() {
    let redis = format!("redis://127.0.0.1:{}", common::redis::start_redis_server(&[]));
    let dsxa = Dsxa::start(&["--no-capture"]);
    let c = cluster_of(&redis, &dsxa, &[], 20).await;
    let (s, created) = c
        .api_a
        .post(
            "/schedules",
            serde_json::json!({"connector_uuid": c.connector_uuid, "name": "every minute", "cron": "* * * * *"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // Seen the same through either process.
    assert_eq!(
        c.api_b.get(&format!("/schedules/{id}")).await.1["next_run_at"],
        created["next_run_at"]
    );
    let runs = wait_for("three due times decided", Duration::from_secs(300), || async {
        let (_, v) = c.api_b.get(&format!("/schedules/{id}")).await;
        let runs = v["runs"].as_array()?.clone();
        (runs.len() >= 3).then_some(runs)
    })
    .await;
    assert_eq!(c.api_a.delete(&format!("/schedules/{id}")).await, 204);
    assert_eq!(runs.len(), 3, "{runs:?}");
    let mut dues: Vec<i64> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "started", "{r}");
            let t: chrono::DateTime<chrono::Utc> = r["due_at"].as_str().unwrap().parse().unwrap();
            t.timestamp_millis()
        })
        .collect();
    dues.sort();
    assert!(
        dues.windows(2).all(|w| w[1] - w[0] == 60_000),
        "consecutive minutes: {dues:?}"
    );
    // Exactly one job per due time, whichever process took it, named after the schedule. (The
    // due time after the third may have started a job before the delete: it is the only other
    // job the schedule may have.)
    let (_, jobs) = c.api_a.get("/scan/jobs?limit=100").await;
    let ours: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["job_id"]
                .as_str()
                .is_some_and(|j| j.starts_with(&format!("sched-{id}-")))
        })
        .map(|j| {
            assert_eq!(j["job_name"], "every minute", "{j}");
            j["job_id"].as_str().unwrap()
        })
        .collect();
    let expected: Vec<String> = runs.iter().map(|r| r["job_id"].as_str().unwrap().to_string()).collect();
    let fourth = format!("sched-{id}-{}", dues[2] + 60_000);
    for job in &expected {
        assert_eq!(ours.iter().filter(|j| *j == job).count(), 1, "{job} in {jobs}");
    }
    assert!(
        ours.iter().all(|j| expected.iter().any(|e| e == j) || *j == fourth),
        "{jobs}"
    );
    for job in &expected {
        c.api_a.wait_job(job, "completed", Duration::from_secs(60)).await;
        assert_eq!(processed(&c.api_a, job).await, 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_job_with_aof_the_processes_reconnect_and_the_job_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir"];
    let start = || {
        let mut args: Vec<&str> = aof.to_vec();
        args.push(dir.path().to_str().unwrap());
        common::redis::spawn_redis(port, &args)
    };
    let server = Proc(start());
    let redis = format!("redis://127.0.0.1:{port}");
    let dsxa = Dsxa::start(&["--no-capture"]);
    let c = cluster(&redis, &dsxa).await;
    let job = c.api_b.full_scan(&c.connector_uuid).await;
    wait_for("a quarter of the job", Duration::from_secs(120), || async {
        (processed(&c.api_a, &job).await >= ITEMS / 4).then_some(())
    })
    .await;
    drop(server);
    // While Redis is down, the API is not ready and scan requests are refused, never dropped.
    let (status, r) = c.api_a.get("/readyz").await;
    assert_eq!((status, r["redis"].as_str()), (503, Some("unavailable")), "{r}");
    let (status, _) = c
        .api_a
        .post(
            "/scan/request",
            scan_request("/outage.txt", "http://127.0.0.1:9/x", Some("outage")),
        )
        .await;
    assert_eq!(status, 503, "a scan request during the outage is refused, not dropped");
    // The thing under test: an outage that lasts while every process keeps retrying.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _server = Proc(start());
    let j = c.api_b.wait_job(&job, "completed", Duration::from_secs(300)).await;
    assert_exact(&c.api_a, &j, &job).await;
}

/// The original's key layout (docs/reference/CORE-API.md, "Redis keys") in Redis after a job, with
/// the job hash's TTL, and `raw` naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_keys_follow_the_original_layout() {
    use deadpool_redis::redis;
    let port = common::redis::start_redis_server(&[]);
    let url = format!("redis://127.0.0.1:{port}");
    let (core, _d) = start_core(&[("DSXCONNECT_REDIS_URL", &url)]);
    let api = Api::new(&core.url);
    let fake = common::fake_connector::FakeConnector::start();
    fake.put_file("/k/a.txt", b"a");
    let (s, v) = api
        .post("/scan/request", scan_request("/k/a.txt", &fake.url, Some("KJ")))
        .await;
    assert_eq!(s, 202, "{v}");
    let task = v["id"].as_str().unwrap().to_string();
    api.post("/scan/jobs/KJ/enqueue_done", serde_json::json!({"enqueued_total": 1}))
        .await;
    api.wait_job("KJ", "completed", Duration::from_secs(20)).await;
    let (_, raw) = api.get("/scan/jobs/KJ/raw").await;
    assert_eq!(raw["key"], "dsxconnect:job:KJ");
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let q = |cmd: &str, key: &str| {
        let mut r = redis::cmd(cmd);
        r.arg(key);
        r
    };
    let kind: String = q("TYPE", "dsxconnect:job:KJ").query_async(&mut c).await.unwrap();
    assert_eq!(kind, "hash");
    let ttl: i64 = q("TTL", "dsxconnect:job:KJ").query_async(&mut c).await.unwrap();
    assert!((604_000..=604_800).contains(&ttl), "job TTL {ttl}");
    let results: i64 = q("LLEN", "dsxconnect:scan_results").query_async(&mut c).await.unwrap();
    assert_eq!(results, 1);
    let by_task: i64 = q("EXISTS", &format!("dsxconnect:scan_result_by_task:{task}"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(by_task, 1);
    let groups: Vec<Vec<redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("dev:dsx-connect:queue:scan_request")
        .query_async(&mut c)
        .await
        .unwrap();
    let names: Vec<String> = groups
        .iter()
        .map(|g| match &g[1] {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["dsx-connect-workers"]);
    // A connector registers: its presence key appears with a TTL.
    let model = serde_json::json!({"name": "keys", "url": "http://127.0.0.1:9/keys", "uuid": "3f0c2b2e-1111-4222-8333-444455556677"});
    let (s, _) = api.post("/connectors/register", model).await;
    assert!(s == 200 || s == 201, "register {s}");
    let presence: i64 = q(
        "TTL",
        "dev:dsx-connect:connectors:presence:3f0c2b2e-1111-4222-8333-444455556677",
    )
    .query_async(&mut c)
    .await
    .unwrap();
    assert!(presence > 0, "presence TTL {presence}");
}

/// `rediss://`: the API process talks TLS to Redis and verifies the server's certificate
/// against the trust store (here a test CA given through `SSL_CERT_FILE`); without that CA the
/// store is unreachable and readiness says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_verifies_the_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.path().join("redis.pem"), dir.path().join("redis.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = other_dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["elsewhere.test".into()]).unwrap();
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let port = free_tcp_port();
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let _redis = Proc(common::redis::spawn_redis(
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            c,
            "--tls-key-file",
            k,
            "--tls-ca-cert-file",
            c,
            "--tls-auth-clients",
            "no",
        ],
    ));
    let dsxa = Dsxa::start(&["--no-capture"]);
    let url = format!("rediss://localhost:{port}");
    let start = |trust: bool| {
        let api_port = free_tcp_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
        cmd.arg("api")
            .env("DSXCONNECT_REDIS_URL", &url)
            .env("DSXCONNECT_HOST", "127.0.0.1")
            .env("DSXCONNECT_PORT", api_port.to_string())
            .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
            .env("DSXCONNECT_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if trust {
            cmd.env("SSL_CERT_FILE", &cert);
        } else {
            // A trust store that holds some other CA, not the one of Redis's certificate.
            cmd.env("SSL_CERT_FILE", &other_ca)
                .env("SSL_CERT_DIR", other_dir.path());
        }
        (
            Proc(cmd.spawn().unwrap()),
            Api::new(&format!("http://127.0.0.1:{api_port}")),
        )
    };
    let (_trusted, api) = start(true);
    ready(&api).await;
    let (_untrusted, other) = start(false);
    wait_for("the untrusted API answering", Duration::from_secs(20), || async {
        (other.get("/healthz").await.0 == 200).then_some(())
    })
    .await;
    let (status, r) = other.get("/readyz").await;
    assert_eq!(status, 503, "an untrusted certificate must not be accepted: {r}");
}

const AUTH_ITEMS: u64 = 4_000;
const ENROLL: &str = "scale-enroll-token-0001";

fn auth_role(role: &str, redis: &str, port: u16, dsxa: &Dsxa) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .arg(role)
            .env("DSXCONNECT_REDIS_URL", redis)
            .env("DSXCONNECT_HOST", "127.0.0.1")
            .env("DSXCONNECT_PORT", port.to_string())
            .env("DSXCONNECT_AUTH__ENABLED", "true")
            .env("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", ENROLL)
            .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
            .env("DSXCONNECT_WORKERS__CONCURRENCY", "8")
            .env("DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS", "0.2")
            .env("DSXCONNECT_RESULTS_DB__RETAIN", "-1")
            .env("DSXCONNECT_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The connector's stored key id and secret (`credentials.json`).
fn stored_key(data: &std::path::Path) -> Option<(String, String)> {
    let text = std::fs::read(data.join("filesystem-connector").join("credentials.json")).ok()?;
    let v: Value = serde_json::from_slice(&text).ok()?;
    Some((
        v["hmac_key_id"].as_str()?.to_string(),
        v["hmac_secret"].as_str()?.to_string(),
    ))
}

/// Authentication on, scaled out: two API and two worker processes on one Redis, a standalone
/// connector that enrolls with a token. A full scan completes with exact counts while the
/// connector's key is rotated mid-job; a signed request accepted by API A is refused as a
/// replay by API B; an operator token works through either API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_scaled_out_full_scan_survives_a_key_rotation_and_replays_fail_across_replicas() {
    let redis = format!("redis://127.0.0.1:{}", common::redis::start_redis_server(&[]));
    let dsxa = Dsxa::start(&["--no-capture", "--delay-ms", "40"]);
    let tree = tempfile::tempdir().unwrap();
    for i in 0..AUTH_ITEMS {
        write(
            tree.path(),
            &format!("d{:02}/f{i:05}.txt", i % 20),
            format!("item {i}").as_bytes(),
        );
    }
    let (pa, pb) = (free_tcp_port(), free_tcp_port());
    let _procs = [
        auth_role("api", &redis, pa, &dsxa),
        auth_role("api", &redis, pb, &dsxa),
        auth_role("worker", &redis, free_tcp_port(), &dsxa),
        auth_role("worker", &redis, free_tcp_port(), &dsxa),
    ];
    let out = run_for(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["token", "create", "--name", "ops", "--role", "admin"])
            .env("DSXCONNECT_REDIS_URL", &redis),
        60,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (api_a, api_b) = (
        Api::with_token(&format!("http://127.0.0.1:{pa}"), &token),
        Api::with_token(&format!("http://127.0.0.1:{pb}"), &token),
    );
    ready(&api_a).await;
    ready(&api_b).await;

    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let _connector = Proc(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["connector", "filesystem", "--listen", &listen, "--action", "nothing"])
            .args(["--core-url", &format!("http://127.0.0.1:{pa}")])
            .arg("--asset")
            .arg(tree.path())
            .arg("--data-dir")
            .arg(data.path())
            .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://{listen}"))
            .env("DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS", "5")
            .env("DSXCONNECT_ENROLLMENT_TOKEN", ENROLL)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let uuid = wait_for(
        "the enrolled connector, seen through API B",
        Duration::from_secs(30),
        || async {
            let (_, list) = api_b.get("/connectors/list").await;
            list.as_array()?.first()?.get("uuid")?.as_str().map(str::to_string)
        },
    )
    .await;
    let (kid, secret) = wait_for("stored credentials", Duration::from_secs(30), || async {
        stored_key(data.path())
    })
    .await;

    // One signed request, two replicas: the second copy is a replay.
    let key = dsx_connect::auth::hmac::HmacKey::new(&kid, &secret);
    let path = "/dsx-connect/api/v1/scan/auth_check";
    let header = key.authorization("POST", path, b"");
    let plain = reqwest::Client::new();
    let first = plain
        .post(format!("http://127.0.0.1:{pa}{path}"))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let again = plain
        .post(format!("http://127.0.0.1:{pb}{path}"))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 401);
    assert_eq!(again.json::<Value>().await.unwrap()["detail"], "replayed_request");

    // A full scan through B; the key is rotated (through A) while it runs.
    let job = api_b.full_scan(&uuid).await;
    wait_for("the job under way", Duration::from_secs(60), || async {
        (processed(&api_a, &job).await >= 200).then_some(())
    })
    .await;
    let (s, v) = api_a
        .post(&format!("/admin/connectors/{uuid}/rotate"), serde_json::json!(null))
        .await;
    assert_eq!(s, 200, "{v}");
    let rotated = wait_for("the connector holding its new key", Duration::from_secs(30), || async {
        stored_key(data.path()).filter(|(k, _)| *k != kid)
    })
    .await;
    assert_ne!(rotated.0, kid);
    let left = AUTH_ITEMS - processed(&api_a, &job).await;
    assert!(left > 0, "the rotation happened mid-job");
    let j = api_a.wait_job(&job, "completed", Duration::from_secs(300)).await;
    assert_eq!(count(&j, "processed_count"), AUTH_ITEMS, "{j}");
    assert_eq!(count(&j, "failed_count"), 0, "nothing lost to the rotation: {j}");
    let (_, creds) = api_b.get("/admin/connectors").await;
    assert_eq!(creds[0]["key_id"], rotated.0.as_str(), "{creds}");
    assert!(!creds.to_string().contains(&rotated.1));
}
