//! Failure handling of the pipeline: retries per error class, dead letters counted as failed, DSXA
//! answer classification, size limits and item actions (docs/reference/CORE-API.md,
//! "read_file answers", "item_action answers", "DSXA answer classification",
//! "Size limit and transfer deadlines", "Retries").

use crate::common;

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

/// A caller's `X-Request-Id` is echoed and goes, with the item, on the worker's calls to the
/// connector and to the scanner; a missing or unsafe id is replaced by a fresh one.
#[tokio::test]
async fn a_request_id_is_echoed_and_follows_the_item_to_the_connector_and_the_scanner() {
    let r = rig(&[]);
    r.fake.put_file("/rid", b"plain bytes");
    let resp = r
        .api
        .http
        .post(format!("{}/scan/request", r.api.base))
        .header("x-request-id", "trace-7f3a:1")
        .json(&scan_request("/rid", &r.fake.url, Some("jrid")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(resp.headers()["x-request-id"], "trace-7f3a:1", "echoed");
    let (s, _) = r
        .api
        .post("/scan/jobs/jrid/enqueue_done", json!({"enqueued_total": 1}))
        .await;
    assert_eq!(s, 200);
    r.api.wait_job("jrid", "completed", Duration::from_secs(60)).await;
    let reads = r.fake.requests("/read_file");
    assert_eq!(reads.len(), 1);
    assert_eq!(
        reads[0].headers.get("x-request-id").map(String::as_str),
        Some("trace-7f3a:1")
    );
    let actions = r.fake.requests("/item_action");
    assert!(
        actions
            .iter()
            .all(|a| a.headers.get("x-request-id").map(String::as_str) == Some("trace-7f3a:1")),
        "{actions:?}"
    );
    let scans: Vec<Value> = r
        .dsxa
        .captured()
        .await
        .into_iter()
        .filter(|c| c["path"] == "/scan/binary/v2")
        .collect();
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0]["headers"]["x-request-id"], "trace-7f3a:1", "{scans:?}");
    // No id, or one that is not a plain token: a fresh UUID, never the caller's text.
    for sent in [None, Some("two words"), Some("<b>x</b>")] {
        let mut req = r.api.http.get(format!("{}/healthz", r.api.base));
        if let Some(v) = sent {
            req = req.header("x-request-id", v);
        }
        let resp = req.send().await.unwrap();
        let got = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "{sent:?} → {got}");
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

#[tokio::test]
async fn a_scanner_that_takes_the_bytes_but_never_answers_times_out_after_the_last_byte() {
    let r = rig(&[
        ("DSXCONNECT_SCANNER__TIMEOUT_SECS", "1"),
        ("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "2"),
        ("DSXCONNECT_WORKERS__DSXA_RETRY_BACKOFF_BASE", "0.1"),
    ]);
    r.fake.put_file("/silent", b"bytes the scanner swallows");
    // Both attempts meet a scanner that holds its answer for ten minutes.
    r.dsxa
        .script(json!([{"status": 200, "delay_ms": 600_000}, {"status": 200, "delay_ms": 600_000}]))
        .await;
    let started = std::time::Instant::now();
    let (job, task) = r.run_one("jsilent", "/silent", json!({})).await;
    assert_eq!(count(&job, "failed_count"), 1, "{job}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let dead = r.dlq("scan_request").await;
    let text = dead[0].to_string();
    assert!(
        text.contains("dsxa_timeout") && text.contains("after the last byte"),
        "{text} {task}"
    );
}

#[tokio::test]
async fn readiness_includes_the_scanner_on_roles_that_scan() {
    // A reachable DSXA: ready, and the body says which engine answered.
    let r = rig(&[]);
    let (s, v) = r.api.get("/readyz").await;
    assert_eq!(
        (s, v["scanner"].as_str(), v["engine"].as_str()),
        (200, Some("ok"), Some("dsxa")),
        "{v}"
    );
    // A DSXA that is not there: not ready, with the reason.
    let port = free_tcp_port();
    let url = format!("http://127.0.0.1:{port}/scan/binary/v2");
    let (core, _dir) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", url.as_str())]);
    let api = Api::new(&core.url);
    let v = wait_for("readyz 503 for the scanner", Duration::from_secs(60), || async {
        let (s, v) = api.get("/readyz").await;
        (s == 503).then_some(v)
    })
    .await;
    assert_eq!(v["status"], "not_ready", "{v}");
    assert!(v["scanner"].as_str().unwrap().starts_with("unavailable: "), "{v}");
    assert_eq!(api.get("/healthz").await.0, 200, "alive all the same");
    // The engine comes up: ready again, and the probes scanned nothing.
    let dsxa = Dsxa::start(&["--port", &port.to_string()]);
    let v = wait_for("readyz 200 once the scanner is up", Duration::from_secs(60), || async {
        let (s, v) = api.get("/readyz").await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(v["scanner"], "ok", "{v}");
    assert!(dsxa.captured().await.is_empty(), "a probe is not a scan");
}

// ---- a store that cannot write (issue 15) ------------------------------------------------------

/// Items of the job that meets a full store: enough that the store fills up mid-job.
const FULL_ITEMS: usize = 300;
/// Worker slots: at most this many items are between a read and their recording at once.
const FULL_SLOTS: usize = 4;

/// A tmpfs mounted for one test (the suite runs as root); unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("the mount command runs");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed (this test needs root and tmpfs): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `name` until the file system is full; returns its path.
    fn fill(&self, name: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a thread of a stopped core may still hold a file open for a moment.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Cores for the full-store cases: few slots and a slow engine, so the job is still running
/// when the store fills up.
fn full_store_env(dsxa: &Dsxa) -> Vec<(&'static str, String)> {
    vec![
        ("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url()),
        ("DSXCONNECT_WORKERS__CONCURRENCY", FULL_SLOTS.to_string()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Queues `FULL_ITEMS` files of the fake connector as job `job` (closed with its total) and
/// waits until the first are processed. Each request carries 2 KiB of metainfo, so every
/// result grows the store.
async fn start_full_store_job(api: &Api, fake: &FakeConnector, job: &str) {
    let pad = "m".repeat(2048);
    let mut batch = Vec::new();
    for i in 0..FULL_ITEMS {
        let loc = format!("/full/{i:04}");
        fake.put_file(&loc, format!("clean file {i}").as_bytes());
        let mut r = scan_request(&loc, &fake.url, Some(job));
        r["metainfo"] = json!(format!("{loc} {pad}"));
        batch.push(r);
    }
    let (s, v) = api.post("/scan/request/batch", Value::Array(batch)).await;
    assert_eq!((s, v["accepted"].as_u64()), (202, Some(FULL_ITEMS as u64)), "{v}");
    let (s, _) = api
        .post(
            &format!("/scan/jobs/{job}/enqueue_done"),
            json!({"enqueued_total": FULL_ITEMS}),
        )
        .await;
    assert_eq!(s, 200);
    wait_for("the first items processed", Duration::from_secs(60), || async {
        (count(&api.job(job).await, "processed_count") >= 10).then_some(())
    })
    .await;
}

/// While the store cannot write: readiness is 503 and names it, intake answers 503 with
/// `Retry-After` (nothing queued), and no item is fetched again while the prober keeps failing.
async fn assert_held_while_full(api: &Api, fake: &FakeConnector, job: &str) {
    let ready = wait_for("readyz 503 for the store", Duration::from_secs(120), || async {
        let (s, v) = api.get("/readyz").await;
        (s == 503 && v["store"].as_str().is_some_and(|t| t.starts_with("write_failed: "))).then_some(v)
    })
    .await;
    assert_eq!(ready["status"], "not_ready", "{ready}");
    let reads_then = fake.requests("/read_file").len();
    let failures_then = ready["store_write_failures"].as_u64().expect("a failure counter");
    assert!(failures_then >= 1, "{ready}");

    let r = api
        .http
        .post(format!("{}/scan/request", api.base))
        .json(&scan_request("/full/late", &fake.url, Some(job)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&after), "Retry-After {after}");

    // A window measured in failed probe writes (the prober backs off 0.25 s, 0.5 s, 1 s, …):
    // the old behaviour fetched and scanned every item again in that time.
    let ready = wait_for("three more refused writes", Duration::from_secs(120), || async {
        let (s, v) = api.get("/readyz").await;
        assert_eq!(s, 503, "the store stays unwritable while full: {v}");
        (v["store_write_failures"].as_u64()? >= failures_then + 3).then_some(v)
    })
    .await;
    let reads_now = fake.requests("/read_file").len();
    assert!(
        reads_now - reads_then <= FULL_SLOTS,
        "items were fetched again while the store could not write: {reads_then} → {reads_now} ({ready})"
    );
    let j = api.job(job).await;
    assert_eq!(j["status"], "running", "{j}");
    assert!(count(&j, "processed_count") < FULL_ITEMS as u64, "{j}");
}

/// Once the store writes again the job completes exactly: every item processed once, one
/// result each, and nothing refused at intake counted.
async fn assert_exact_after_recovery(api: &Api, fake: &FakeConnector, job: &str) {
    let j = api.wait_job(job, "completed", Duration::from_secs(180)).await;
    assert_eq!(count(&j, "enqueued_count"), FULL_ITEMS as u64, "{j}");
    assert_eq!(count(&j, "processed_count"), FULL_ITEMS as u64, "{j}");
    assert_eq!(count(&j, "failed_count"), 0, "{j}");
    let (s, ready) = api.get("/readyz").await;
    assert_eq!((s, ready["store"].as_str()), (200, Some("ok")), "{ready}");
    let (_, results) = api.get(&format!("/scan/results/job/{job}?limit=10000")).await;
    let results = results.as_array().cloned().unwrap_or_default();
    let tasks: std::collections::HashSet<&str> = results
        .iter()
        .filter_map(|r| r["scan_request_task_id"].as_str())
        .collect();
    let locations: std::collections::HashSet<&str> = results
        .iter()
        .filter_map(|r| r["scan_request"]["location"].as_str())
        .collect();
    assert_eq!(results.len(), FULL_ITEMS, "one result per item");
    assert_eq!((tasks.len(), locations.len()), (FULL_ITEMS, FULL_ITEMS));
    assert!(
        !locations.contains("/full/late"),
        "a request refused with 503 was queued"
    );
    let reads = fake.requests("/read_file").len();
    assert!(
        (FULL_ITEMS..=FULL_ITEMS + FULL_SLOTS).contains(&reads),
        "{reads} reads for {FULL_ITEMS} items"
    );
}

/// Issue 15: the embedded store's disk fills up mid-job (a small tmpfs as the data dir), then
/// space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_embedded_store_holds_the_job_and_it_completes_exactly_once_freed() {
    let fs = Tmpfs::mount("24m");
    let dsxa = Dsxa::start(&["--delay-ms", "40", "--no-capture"]);
    let fake = FakeConnector::start();
    let mut env = full_store_env(&dsxa);
    // Always the embedded store, whatever backend the suite runs on.
    env.push(("DSXCONNECT_REDIS_URL", String::new()));
    let core = start_core_in(&fs.path().join("store"), &env_refs(&env));
    let api = Api::new(&core.url);
    start_full_store_job(&api, &fake, "jdiskfull").await;
    let filler = fs.fill("filler");
    assert_held_while_full(&api, &fake, "jdiskfull").await;
    std::fs::remove_file(&filler).unwrap();
    assert_exact_after_recovery(&api, &fake, "jdiskfull").await;
    drop(core);
}

/// Issue 15: Redis reaches `maxmemory` (policy `noeviction`) mid-job, then memory is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_out_of_memory_holds_the_job_and_it_completes_exactly_once_freed() {
    use deadpool_redis::redis;
    let port = common::redis::start_redis_server(&["--maxmemory", "48mb", "--maxmemory-policy", "noeviction"]);
    let url = format!("redis://127.0.0.1:{port}");
    let dsxa = Dsxa::start(&["--delay-ms", "40", "--no-capture"]);
    let fake = FakeConnector::start();
    let mut env = full_store_env(&dsxa);
    env.push(("DSXCONNECT_REDIS_URL", url.clone()));
    let dir = tempfile::tempdir().unwrap();
    let core = start_core_in(dir.path(), &env_refs(&env));
    let api = Api::new(&core.url);
    start_full_store_job(&api, &fake, "jredisoom").await;

    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let block = "f".repeat(1 << 20);
    let mut fillers = Vec::new();
    let refused = loop {
        let key = format!("test:filler:{}", fillers.len());
        let r: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(&block).query_async(&mut c).await;
        match r {
            Ok(()) => fillers.push(key),
            Err(e) => break e,
        }
        assert!(fillers.len() < 1000, "Redis never refused a write");
    };
    assert_eq!(refused.code(), Some("OOM"), "{refused}");
    assert_held_while_full(&api, &fake, "jredisoom").await;
    let _: () = redis::cmd("DEL").arg(&fillers).query_async(&mut c).await.unwrap();
    assert_exact_after_recovery(&api, &fake, "jredisoom").await;
    drop(core);
}
