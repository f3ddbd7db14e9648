//! Failure handling of the pipeline: retries per error class, dead letters counted as failed,
//! DSXA answer classification, size limits and item actions (CORE-API §4.3, §4.4, §5.1.2, §6.3,
//! §6.4; checklist 9–19).

mod common;

use std::time::Duration;

use common::fake_connector::{Answer, FakeConnector};
use common::*;
use serde_json::{Value, json};

struct Rig {
    api: Api,
    fake: FakeConnector,
    dsxa: Dsxa,
    _core: Threaded,
    _dir: tempfile::TempDir,
}

fn rig(env: &[(&str, &str)]) -> Rig {
    let dsxa = Dsxa::start(&[]);
    let url = dsxa.scan_url();
    let mut all = vec![("DSXCONNECT_SCANNER__SCAN_BINARY_URL", url.as_str())];
    all.extend_from_slice(env);
    let (core, dir) = start_core(&all);
    Rig {
        api: Api::new(&core.url),
        fake: FakeConnector::start(),
        dsxa,
        _core: core,
        _dir: dir,
    }
}

impl Rig {
    /// Submits one item as job `job`, closes the job, waits for completion; returns (job, task).
    async fn run_one(&self, job: &str, location: &str, extra: Value) -> (Value, Value) {
        let mut body = scan_request(location, &self.fake.url, Some(job));
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (s, v) = self.api.post("/scan/request", body).await;
        assert_eq!(s, 202, "{v}");
        let task = v["id"].as_str().unwrap().to_string();
        let (s, _) = self
            .api
            .post(&format!("/scan/jobs/{job}/enqueue_done"), json!({"enqueued_total": 1}))
            .await;
        assert_eq!(s, 200);
        let j = self.api.wait_job(job, "completed", Duration::from_secs(30)).await;
        let (_, t) = self.api.get(&format!("/scan/request/{task}")).await;
        (j, t)
    }

    async fn dlq(&self, queue: &str) -> Vec<Value> {
        let (_, v) = self
            .api
            .get(&format!("/admin/dead-letter/items/{queue}?start=0&end=100"))
            .await;
        v["items"].as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test]
async fn a_connector_answering_503_is_retried_then_dead_lettered_and_counted_failed() {
    let r = rig(&[]);
    r.fake.script_read("/f", vec![Answer::status(503); 4]);
    let (job, task) = r.run_one("j503", "/f", json!({})).await;
    assert_eq!(r.fake.requests("/read_file").len(), 4, "MAX_ATTEMPTS=4 attempts");
    assert_eq!(count(&job, "failed_count"), 1);
    assert_eq!(count(&job, "processed_count"), 0);
    assert_eq!(
        (task["state"].as_str(), task["task_state"].as_str()),
        (Some("FAILURE"), Some("dead_lettered"))
    );
    assert_eq!(task["attempts"], 4);
    let dlq = r.dlq("scan_request").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["reason"], "max_retries_exceeded");
    assert_eq!(dlq[0]["retry_count"], 3);
    assert_eq!(dlq[0]["meta"]["error_class"], "connector_server");
    assert_eq!(dlq[0]["payload"]["scan_request"]["location"], "/f");
    assert!(r.dsxa.captured().await.is_empty(), "nothing reached the scanner");
}

#[tokio::test]
async fn a_missing_item_is_not_retried() {
    let r = rig(&[]);
    let (job, _) = r.run_one("j404", "/missing", json!({})).await;
    assert_eq!(r.fake.requests("/read_file").len(), 1);
    assert_eq!(count(&job, "failed_count"), 1);
    assert_eq!(r.dlq("scan_request").await[0]["reason"], "connector_client_no_retry");
}

#[tokio::test]
async fn a_legacy_json_error_envelope_is_not_scanned_as_content() {
    let r = rig(&[]);
    r.fake.script_read(
        "/x",
        vec![Answer::json(
            200,
            json!({"status": "error", "message": "File x not found"}),
        )],
    );
    let (_, task) = r.run_one("jenv", "/x", json!({})).await;
    assert_eq!(task["task_state"], "dead_lettered");
    assert!(r.dsxa.captured().await.is_empty(), "no DSXA call");
    assert_eq!(r.dlq("scan_request").await[0]["reason"], "connector_client_no_retry");
}

#[tokio::test]
async fn dsxa_server_errors_and_initializing_answers_are_retried_until_a_verdict() {
    let r = rig(&[]);
    r.fake.put_file("/a", b"abc");
    r.dsxa.script(json!([{"status": 503}, {"status": 200, "body": {"verdict": "Not Scanned", "verdict_details": {"reason": "Initializing engine"}}}])).await;
    let (job, task) = r.run_one("jretry", "/a", json!({})).await;
    assert_eq!(count(&job, "processed_count"), 1);
    assert_eq!(task["verdict"], "Benign");
    assert_eq!(r.dsxa.captured().await.len(), 3);
}

#[tokio::test]
async fn dsxa_client_and_auth_errors_dead_letter_after_one_call() {
    let r = rig(&[]);
    r.fake.put_file("/a", b"abc");
    r.fake.put_file("/b", b"def");
    r.dsxa.script(json!([{"status": 400, "body": "bad request"}])).await;
    let (_, t) = r.run_one("j400", "/a", json!({})).await;
    assert_eq!(t["task_state"], "dead_lettered");
    r.dsxa.script(json!([{"status": 401, "body": "no token"}])).await;
    let (_, t) = r.run_one("j401", "/b", json!({})).await;
    assert_eq!(t["task_state"], "dead_lettered");
    assert_eq!(r.dsxa.captured().await.len(), 2);
    let reasons: Vec<Value> = r
        .dlq("scan_request")
        .await
        .iter()
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(reasons, [json!("dsxa_client_no_retry"), json!("dsxa_auth_no_retry")]);
    assert!(t["error"].as_str().unwrap().contains("HTTP 401"));
}

#[tokio::test]
async fn too_large_items_are_not_scanned_never_benign() {
    let r = rig(&[("DSXCONNECT_SCANNER__MAX_FILE_SIZE", "10")]);
    r.fake.put_file("/small", b"abc");
    r.fake.put_file("/hinted", b"x");
    r.fake.put_file("/big", b"0123456789ABCDEF");
    r.dsxa.script(json!([{"status": 413, "body": "too big"}])).await;
    let (job, task) = r.run_one("j413", "/small", json!({})).await;
    assert_eq!(task["verdict"], "Not Scanned");
    assert_eq!(count(&job, "verdict_not_scanned"), 1);
    let (_, res) = r
        .api
        .get(&format!("/scan/results/{}", task["task_id"].as_str().unwrap()))
        .await;
    assert_eq!(res[0]["status"], "not scanned");
    assert_eq!(res[0]["verdict"]["verdict_details"]["reason"], "file too large");
    // A size hint above the limit: not even fetched.
    let reads = r.fake.requests("/read_file").len();
    let (_, task) = r.run_one("jhint", "/hinted", json!({"size_in_bytes": 11})).await;
    assert_eq!(task["verdict"], "Not Scanned");
    assert_eq!(r.fake.requests("/read_file").len(), reads);
    // A Content-Length above the limit: fetched but not read or scanned.
    let scans = r.dsxa.captured().await.len();
    let (_, task) = r.run_one("jlen", "/big", json!({})).await;
    assert_eq!(task["verdict"], "Not Scanned");
    assert_eq!(r.dsxa.captured().await.len(), scans);
}

#[tokio::test]
async fn scanning_is_recorded_as_not_scanned_and_an_unknown_verdict_is_dead_lettered() {
    let r = rig(&[]);
    r.fake.put_file("/a", b"abc");
    r.fake.put_file("/b", b"abc");
    r.dsxa
        .script(json!([{"status": 200, "body": {"verdict": "Scanning"}}, {"status": 200, "body": {"verdict": "Odd"}}]))
        .await;
    let (_, t) = r.run_one("jscan", "/a", json!({})).await;
    assert_eq!(t["verdict"], "Not Scanned");
    let (_, t) = r.run_one("jodd", "/b", json!({})).await;
    assert_eq!(t["task_state"], "dead_lettered");
    assert_eq!(r.dlq("scan_request").await[0]["reason"], "dsxa_bad_response_no_retry");
}

#[tokio::test]
async fn dsxa_receives_the_exact_bytes_and_headers() {
    let r = rig(&[
        ("DSXCONNECT_SCANNER__AUTH_TOKEN", "t0k"),
        ("DSXCONNECT_SCANNER__PROTECTED_ENTITY", "3"),
    ]);
    r.fake.put_file("/café.txt", b"payload bytes");
    let mut body = scan_request("/café.txt", &r.fake.url, Some("jhdr"));
    body["metainfo"] = json!("café.txt");
    let (s, v) = r.api.post("/scan/request", body).await;
    assert_eq!(s, 202);
    let task = v["id"].as_str().unwrap().to_string();
    wait_for("scan", Duration::from_secs(20), || async {
        (!r.dsxa.captured().await.is_empty()).then_some(())
    })
    .await;
    let c = &r.dsxa.captured().await[0];
    assert_eq!(c["path"], "/scan/binary/v2");
    assert_eq!(c["body_len"], 13);
    let h = &c["headers"];
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-custom-metadata"], format!("file-tag:cafe.txt,task-id:{task}"));
    assert_eq!(
        (h["auth"].as_str(), h["auth_token"].as_str()),
        (Some("t0k"), Some("t0k"))
    );
    assert_eq!(h["protected_entity"], "3");
    // The connector got the request as accepted, job id and callback filled in.
    let read = &r.fake.requests("/read_file")[0];
    assert_eq!(read.body["scan_job_id"], "jhdr");
    assert_eq!(read.body["location"], "/café.txt");

    let plain = rig(&[]);
    plain.fake.put_file("/a", b"x");
    plain.run_one("jplain", "/a", json!({})).await;
    let h = &plain.dsxa.captured().await[0]["headers"];
    assert!(h.get("auth").is_none() && h.get("auth_token").is_none() && h.get("protected_entity").is_none());
}

#[tokio::test]
async fn the_nested_dsxa_answer_is_stored_like_the_flat_one() {
    let r = rig(&[]);
    r.dsxa.configure(json!({"nested": true})).await;
    r.fake.put_file("/e", EICAR);
    let (_, t) = r.run_one("jnested", "/e", json!({})).await;
    let (_, res) = r
        .api
        .get(&format!("/scan/results/{}", t["task_id"].as_str().unwrap()))
        .await;
    let v = &res[0]["verdict"];
    assert_eq!(v["verdict"], "Malicious");
    assert_eq!(v["verdict_details"]["threat_type"], "VIRUS");
    assert_eq!(v["file_info"]["file_size_in_bytes"], 68);
    assert_eq!(v["scan_engine"], "dsxa");
}

#[tokio::test]
async fn a_malicious_verdict_calls_item_action_once_and_a_benign_one_never() {
    let r = rig(&[]);
    r.fake.put_file("/evil", EICAR);
    r.fake.put_file("/fine", b"fine");
    let (job, t) = r.run_one("jmal", "/evil", json!({})).await;
    assert_eq!(r.fake.requests("/item_action").len(), 1);
    assert_eq!(r.fake.requests("/item_action")[0].method, "PUT");
    assert_eq!(count(&job, "actions_taken"), 1);
    let (_, res) = r
        .api
        .get(&format!("/scan/results/{}", t["task_id"].as_str().unwrap()))
        .await;
    assert_eq!(res[0]["status"], "action succeeded");
    let (_, t) = r.run_one("jben", "/fine", json!({})).await;
    assert_eq!(r.fake.requests("/item_action").len(), 1, "no call for Benign");
    let (_, res) = r
        .api
        .get(&format!("/scan/results/{}", t["task_id"].as_str().unwrap()))
        .await;
    assert_eq!(res[0]["status"], "scanned");
    assert_eq!(res[0]["item_action"]["message"], "No action taken");
    assert_eq!(res[0]["item_action"]["item_action"], "nothing");
    // A failed action is recorded as such; the verdict stays.
    r.fake.put_file("/evil2", EICAR);
    r.fake.state.lock().unwrap().action_answer = Some(Answer::json(
        200,
        json!({"status": "error", "message": "permission denied", "description": null, "id": null, "preview": null, "item_action": "move"}),
    ));
    let (job, t) = r.run_one("jmal2", "/evil2", json!({})).await;
    assert_eq!(count(&job, "actions_failed"), 1);
    let (_, res) = r
        .api
        .get(&format!("/scan/results/{}", t["task_id"].as_str().unwrap()))
        .await;
    assert_eq!(res[0]["status"], "action attempted, but failed");
}

#[tokio::test]
async fn an_action_that_keeps_failing_is_dead_lettered_without_rescanning() {
    let r = rig(&[("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "2")]);
    r.fake.put_file("/evil", EICAR);
    r.fake.state.lock().unwrap().action_answer = Some(Answer::status(503));
    let (job, t) = r.run_one("jact", "/evil", json!({})).await;
    assert_eq!(count(&job, "failed_count"), 1);
    assert_eq!(t["task_state"], "dead_lettered");
    assert_eq!(r.fake.requests("/item_action").len(), 2);
    assert_eq!(
        r.dsxa.captured().await.len(),
        1,
        "the retry restarts at the action, not the scan"
    );
    let dlq = r.dlq("verdict_action").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["payload"]["verdict"]["verdict"], "Malicious");
}

/// Issue 4: the core sends the configured connector key on every call it makes to a connector —
/// reads, item actions and every proxied route.
#[tokio::test]
async fn the_core_sends_its_connector_key_on_every_call_to_a_connector() {
    let r = rig(&[("DSXCONNECT_CONNECTORS__API_KEY", "k-every")]);
    let uuid = "0b7c6a51-3d2e-4f10-8a9b-1c2d3e4f5a6b";
    let (s, _) = r
        .api
        .post(
            "/connectors/register",
            json!({"name": "fake", "uuid": uuid, "url": r.fake.url, "status": "ready", "asset": "/data",
                   "capabilities": ["enqueue_done"]}),
        )
        .await;
    assert_eq!(s, 201);
    for route in ["config", "repo_check", "readyz", "healthz", "estimate"] {
        // Whatever the fake answers is relayed; what matters here is the header it received.
        r.api.get(&format!("/connectors/{route}/{uuid}")).await;
    }
    r.api.post(&format!("/connectors/full_scan/{uuid}"), json!(null)).await;
    r.fake.put_file("/evil", EICAR);
    r.run_one("jkey", "/evil", json!({})).await;
    let all = r.fake.requests("");
    let paths: std::collections::BTreeSet<String> = all
        .iter()
        .map(|q| q.path.rsplit('/').next().unwrap().to_string())
        .collect();
    for p in [
        "config",
        "repo_check",
        "readyz",
        "healthz",
        "estimate",
        "full_scan",
        "read_file",
        "item_action",
    ] {
        assert!(paths.contains(p), "{p} was never called: {paths:?}");
    }
    for q in &all {
        assert_eq!(
            q.headers.get("x-api-key").map(String::as_str),
            Some("k-every"),
            "{} {}",
            q.method,
            q.path
        );
    }
}

/// A client that stalls in its headers or its body gets `408` and loses the connection, well
/// within the documented bounds (10 s for headers, 15 s between body pieces).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atk_slow_headers_and_stalled_bodies_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (core, _d) = start_core(&[]);
    let addr = core.url.trim_start_matches("http://").to_string();
    let cases = [
        "POST /dsx-connect/api/v1/scan/request HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl",
        "POST /dsx-connect/api/v1/scan/request HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"location\": \"a",
    ];
    for sent in cases {
        let started = std::time::Instant::now();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(sent.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "the connection stayed open: {sent:?}");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(40), "{:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_reads_time_out_and_free_their_workers_while_a_normal_job_completes() {
    // Configured bounds: the first byte within 2 s, then 1 KiB/s over every 2 s window; two
    // attempts each. The trickle sends one byte every 200 ms.
    let r = rig(&[
        ("DSXCONNECT_TRANSFER__FIRST_BYTE_SECS", "2"),
        ("DSXCONNECT_TRANSFER__RATE_WINDOW_SECS", "2"),
        ("DSXCONNECT_TRANSFER__MIN_RATE_BYTES", "1024"),
        ("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "2"),
        ("DSXCONNECT_WORKERS__CONNECTOR_RETRY_BACKOFF_BASE", "0.2"),
        ("DSXCONNECT_WORKERS__CONCURRENCY", "32"),
    ]);
    for i in 0..64 {
        r.fake.trickle(&format!("/slow/{i}.bin"), Duration::from_millis(200));
    }
    for i in 0..2_000 {
        r.fake
            .put_file(&format!("/ok/{i}.txt"), format!("plain text {i}").as_bytes());
    }
    let submit = |job: &'static str, locations: Vec<String>| {
        let api = &r.api;
        let url = r.fake.url.clone();
        async move {
            for chunk in locations.chunks(500) {
                let batch: Vec<Value> = chunk.iter().map(|l| scan_request(l, &url, Some(job))).collect();
                let (s, v) = api.post("/scan/request/batch", json!(batch)).await;
                assert_eq!(s, 202, "{v}");
            }
            let n = locations.len();
            let (s, _) = api
                .post(&format!("/scan/jobs/{job}/enqueue_done"), json!({"enqueued_total": n}))
                .await;
            assert_eq!(s, 200);
        }
    };
    let started = std::time::Instant::now();
    submit("trickle", (0..64).map(|i| format!("/slow/{i}.bin")).collect()).await;
    submit("normal", (0..2_000).map(|i| format!("/ok/{i}.txt")).collect()).await;
    let normal = r.api.wait_job("normal", "completed", Duration::from_secs(300)).await;
    assert_eq!(count(&normal, "processed_count"), 2_000, "{normal}");
    assert_eq!(count(&normal, "failed_count"), 0, "{normal}");
    let slow = r.api.wait_job("trickle", "completed", Duration::from_secs(300)).await;
    assert_eq!(count(&slow, "failed_count"), 64, "{slow}");
    // Each attempt ends at its first 2 s window; 64 items × 2 attempts on 32 workers is about
    // 8 s of work. A worker held by a trickle (the old behaviour) would take minutes.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(240), "{took:?}");
    let reads = r.fake.requests("/read_file");
    for i in 0..64 {
        let loc = format!("/slow/{i}.bin");
        let n = reads.iter().filter(|q| q.body["location"] == loc.as_str()).count();
        assert_eq!(n, 2, "{loc}: retried once, then dead-lettered");
    }
    let dead = r.dlq("scan_request").await;
    let timeouts = dead
        .iter()
        .filter(|d| {
            let text = d.to_string();
            text.contains("connector_connection") && text.contains("timed out") && text.contains("max_retries_exceeded")
        })
        .count();
    assert_eq!(timeouts, 64, "{:?}", dead.first());
}
