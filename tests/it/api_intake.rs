//! Meta endpoints and scan-request intake (docs/reference/CORE-API.md, "Meta and health",
//! "Scan request intake").

use crate::common;

use std::time::Duration;

use common::fake_connector::FakeConnector;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn meta_version_health_and_connection_endpoints_answer_their_documented_shapes() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let (s, v) = api.get("/version").await;
    assert_eq!(s, 200);
    assert!(v.is_string(), "version is a JSON string: {v}");
    let (_, m1) = api.get("/meta").await;
    assert_eq!(m1["version"], v);
    // The build time recorded at build time (not a file's mtime), and the commit built.
    assert_eq!(m1["build_timestamp"], dsx_connect::BUILD_TIME);
    assert!(
        chrono::DateTime::parse_from_rfc3339(m1["build_timestamp"].as_str().unwrap()).is_ok(),
        "{m1}"
    );
    let commit = m1["git_commit"].as_str().unwrap();
    assert!(
        commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{m1}"
    );
    assert_eq!(api.get("/healthz").await, (200, json!({"status": "alive"})));
    let (s, r) = api.get("/readyz").await;
    assert_eq!(
        (s, r["status"].as_str(), r["backend"].as_str()),
        (200, Some("ready"), Some(common::redis::backend_name()))
    );
    let (s, t) = api.get("/test/connection").await;
    assert_eq!(s, 200);
    assert_eq!(t["status"], "success");
    let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "message", "description", "id", "preview"]);
    let legacy = reqwest::get(format!("{}/dsx-connect/test/connection", core.url))
        .await
        .unwrap();
    assert_eq!(legacy.status().as_u16(), 200);
    let (s, d) = api.get("/test/dsxa-connection").await;
    assert_eq!((s, d["message"].as_str()), (200, Some("Embedded scanner ready")));
    assert_eq!(api.get("/no/such/route").await, (404, json!({"detail": "Not Found"})));
    let r = api.http.delete(format!("{}/healthz", api.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    let r = api.http.patch(format!("{}/schedules", api.base)).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["allow"].to_str().unwrap()),
        (405, "GET, POST")
    );
}

#[tokio::test]
async fn malformed_requests_get_a_clear_422_and_never_a_server_error() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let (s, v) = api
        .post(
            "/scan/request",
            json!({"location": "/x", "connector_url": "http://h:1/c"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["type"], "missing");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "metainfo"]));
    let (s, v) = api.post_raw("/scan/request", "{not json").await;
    assert_eq!((s, v["detail"][0]["type"].as_str()), (422, Some("json_invalid")));
    let (s, v) = api
        .post(
            "/scan/request",
            json!({"location": 5, "metainfo": "m", "connector_url": "h"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["type"], "string_type");
    let (s, v) = api
        .post(
            "/scan/request",
            json!({"location": "/x", "metainfo": "m", "connector_url": "http://h:1/c", "scan_job_id": "a:b"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "scan_job_id"]));
    let (s, v) = api
        .post("/scan/request", json!({"location": "/x", "metainfo": "m"}))
        .await;
    assert_eq!(s, 422, "no connector url resolvable");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "connector_url"]));
    let (s, _) = api
        .post(
            "/scan/request",
            json!({"location": "/x", "metainfo": "m", "connector_url": "ftp://h/c"}),
        )
        .await;
    assert_eq!(s, 422);
    // Every text field is bounded (docs/CONFIGURATION.md, "Limits on what clients send"); the value
    // is not echoed.
    let long = "x".repeat(16 * 1024 + 1);
    let (s, v) = api
        .post(
            "/scan/request",
            json!({"location": long, "metainfo": "m", "connector_url": "http://h:1/c"}),
        )
        .await;
    assert_eq!((s, v["detail"][0]["type"].as_str()), (422, Some("too_long")));
    assert_eq!(v["detail"][0]["loc"], json!(["body", "location"]));
    assert_eq!(v["detail"][0]["input"], "<16385 bytes>");
    let (s, v) = api
        .post(
            "/scan/request/batch",
            json!([{"location": "/a", "metainfo": "m", "connector_url": "http://h:1/c",
                    "connector": {"name": "c", "meta_info": "i".repeat(4097)}}]),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", 0, "connector", "meta_info"]));
    let (s, v) = api
        .post(
            "/scan/request",
            json!({"location": "/x", "metainfo": "m", "connector_url": format!("http://h:1/{}", "u".repeat(2048))}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "connector_url"]));
    // Bad ids in paths and queries.
    assert_eq!(api.get("/scan/jobs/no-such-job").await.0, 404);
    assert_eq!(api.get("/scan/jobs/bad:id").await.0, 422);
    assert_eq!(api.get("/scan/jobs?limit=0").await.0, 422);
    assert_eq!(api.get("/scan/jobs?limit=abc").await.0, 422);
    assert_eq!(
        api.get("/scan/request/not-a-uuid").await,
        (404, json!({"detail": "task_not_found"}))
    );
    assert_eq!(
        api.get("/scan/request/3f0c2b2e-1111-4222-8333-444455556666").await,
        (404, json!({"detail": "task_not_found"}))
    );
    let r = api
        .http
        .delete(format!("{}/connectors/unregister/not-a-uuid", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    // An oversized header is refused by the HTTP layer with a 4xx, not a crash.
    let r = api
        .http
        .get(format!("{}/healthz", api.base))
        .header("X-Huge", "a".repeat(64 * 1024))
        .send()
        .await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "huge header -> {}", r.status());
    }
    // A body over the limit.
    let big = json!({"location": "x".repeat(2 << 20), "metainfo": "m", "connector_url": "http://h:1/c"});
    assert_eq!(
        api.post("/scan/request", big).await,
        (413, json!({"detail": "payload_too_large"}))
    );
    // The server is still fine.
    assert_eq!(api.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn an_accepted_request_answers_202_with_location_job_id_and_task_id() {
    let (core, _d) = start_core(&[]);
    let fake = FakeConnector::start();
    fake.put_file("/a.txt", b"hello");
    let api = Api::new(&core.url);
    let r = api
        .http
        .post(format!("{}/scan/request", api.base))
        .json(&json!({"location": "/a.txt", "metainfo": "a.txt", "connector_url": fake.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let job = r.headers()["x-job-id"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["x-job-status"], "running");
    let body: Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/dsx-connect/api/v1/scan/request/{id}"));
    assert_eq!(body["message"], format!("Scan task ID: {id}"));
    assert_eq!(
        body["description"],
        format!("Scan task queued for connector: {}", fake.url)
    );
    // The result carries the generated job id; the task reports success with its verdict.
    let result = wait_for("result", Duration::from_secs(20), || async {
        let (_, v) = api.get(&format!("/scan/results/{id}")).await;
        v.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(result["scan_job_id"], job.as_str());
    assert_eq!(result["scan_request"]["connector_url"], fake.url.as_str());
    assert!(result["timestamp"].is_string());
    let (s, task) = api.get(&format!("/scan/request/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        (task["state"].as_str(), task["task_state"].as_str()),
        (Some("SUCCESS"), Some("succeeded"))
    );
    assert_eq!(task["verdict"], "Benign");
    assert_eq!(task["result"]["scan_request_task_id"], id.as_str());
    assert_eq!(
        api.get("/scan/results/3f0c2b2e-1111-4222-8333-444455556666").await,
        (200, json!([]))
    );
}

#[tokio::test]
async fn repeating_a_request_with_the_same_idempotency_key_replays_the_answer_and_enqueues_nothing() {
    let (core, _d) = start_core(&[]);
    let fake = FakeConnector::start();
    fake.put_file("/a", b"x");
    let api = Api::new(&core.url);
    let send = || async {
        let r = api
            .http
            .post(format!("{}/scan/request", api.base))
            .header("Idempotency-Key", "key-1")
            .json(&json!({"location": "/a", "metainfo": "a", "connector_url": fake.url, "scan_job_id": "idem-job"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        (status, location, r.text().await.unwrap())
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first, second, "identical status, Location and body");
    let job = api.job("idem-job").await;
    assert_eq!(count(&job, "enqueued_count"), 1);
    let r = api
        .http
        .post(format!("{}/scan/request", api.base))
        .header("Idempotency-Key", "k".repeat(256))
        .json(&json!({"location": "/a", "metainfo": "a", "connector_url": fake.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn batches_are_all_or_nothing_and_answer_per_item_in_order() {
    let (core, _d) = start_core(&[]);
    let fake = FakeConnector::start();
    let api = Api::new(&core.url);
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"location": format!("/f{i}"), "metainfo": "m", "connector_url": fake.url}))
        .collect();
    let r = api
        .http
        .post(format!("{}/scan/request/batch", api.base))
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let job = r.headers()["x-job-id"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(3), Some(0)));
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    assert_eq!(v["items"][2]["index"], 2);
    assert_eq!(
        count(&api.job(&job).await, "enqueued_count"),
        3,
        "items without a job id share one generated job"
    );

    let (_, before) = api.get("/scan/jobs").await;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| scan_request(&format!("/g{i}"), &fake.url, Some("big")))
        .collect();
    assert_eq!(api.post("/scan/request/batch", json!(too_many)).await.0, 422);
    let mut one_bad: Vec<Value> = (0..3)
        .map(|i| scan_request(&format!("/h{i}"), &fake.url, Some("bad-batch")))
        .collect();
    one_bad[1] = json!({"location": "/h1"});
    let (s, v) = api.post("/scan/request/batch", json!(one_bad)).await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", 1, "metainfo"]));
    assert_eq!(api.post("/scan/request/batch", json!([])).await.0, 422);
    let (_, after) = api.get("/scan/jobs").await;
    assert_eq!(
        before.as_array().unwrap().len(),
        after.as_array().unwrap().len(),
        "no job was created"
    );
    assert_eq!(api.get("/scan/jobs/bad-batch").await.0, 404);
}

#[tokio::test]
async fn the_config_endpoint_redacts_secrets() {
    let (core, _d) = start_core(&[
        ("DSXCONNECT_CONNECTORS__API_KEY", "super-secret-key"),
        ("DSXCONNECT_SCANNER__AUTH_TOKEN", "tok-123"),
    ]);
    let api = Api::new(&core.url);
    let (s, v) = api.get("/config").await;
    assert_eq!(s, 200);
    assert_eq!(v["connectors"]["api_key"], "***");
    assert_eq!(v["scanner"]["auth_token"], "***");
    let text = v.to_string();
    assert!(!text.contains("super-secret-key") && !text.contains("tok-123"));
    assert_eq!(v["backend"], common::redis::backend_name());
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_variable() {
    let out = run_for(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["serve"])
            .env("DSXCONNECT_SCANNER__ENGINE", "foo"),
        30,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DSXCONNECT_SCANNER__ENGINE") && err.contains("dsxa, clamd, embedded"),
        "{err}"
    );
}
