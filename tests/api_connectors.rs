//! Connector registry, full-scan trigger and proxies (CORE-API §3.2, §4; checklist 30–34).

mod common;

use std::time::Duration;

use common::fake_connector::FakeConnector;
use common::*;
use serde_json::{Value, json};

const UUID: &str = "3f0c2b2e-1111-4222-8333-444455556666";

fn model(url: &str, caps: Option<Value>) -> Value {
    json!({"name": "fake", "uuid": UUID, "url": url, "status": "ready", "asset": "/data", "capabilities": caps})
}

#[tokio::test]
async fn registration_requires_a_uuid_and_distinguishes_first_and_refresh() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let (s, v) = api
        .post("/connectors/register", json!({"name": "x", "url": "http://h:1/x"}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "uuid"]));
    assert_eq!(
        api.post("/connectors/register", json!({"name": "x", "uuid": UUID, "url": ""}))
            .await
            .0,
        422
    );
    let (s, v) = api
        .post("/connectors/register", model("http://127.0.0.1:9/fake/", None))
        .await;
    assert_eq!(
        (s, v["message"].as_str(), v["id"].as_str()),
        (201, Some("registered"), Some(UUID))
    );
    let (s, v) = api
        .post("/connectors/register", model("http://127.0.0.1:9/fake", None))
        .await;
    assert_eq!((s, v["message"].as_str()), (200, Some("refreshed")));
    let (_, list) = api.get("/connectors/list").await;
    assert_eq!(list[0]["url"], "http://127.0.0.1:9/fake", "trailing slash removed");
    let r = api
        .http
        .delete(format!("{}/connectors/unregister/{UUID}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = api
        .http
        .delete(format!("{}/connectors/unregister/{UUID}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "idempotent");
    assert_eq!(api.get("/connectors/list").await.1, json!([]));
}

#[tokio::test]
async fn a_full_scan_trigger_forwards_the_query_with_a_job_id_and_uses_the_latest_url() {
    let (core, _d) = start_core(&[("DSXCONNECT_CONNECTORS__API_KEY", "k-123")]);
    let api = Api::new(&core.url);
    let old = FakeConnector::start();
    let new = FakeConnector::start();
    api.post("/connectors/register", model(&old.url, Some(json!(["enqueue_done"]))))
        .await;
    api.post("/connectors/register", model(&new.url, Some(json!(["enqueue_done"]))))
        .await;
    let r = api
        .http
        .post(format!("{}/connectors/full_scan/{UUID}?limit=5", api.base))
        .header("X-Job-Name", "nightly")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let job_id = r.headers()["x-job-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], job_id.as_str());
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .ends_with(&format!("| job_id={job_id}"))
    );
    assert!(
        old.requests("/full_scan").is_empty(),
        "a re-registered url is used at once"
    );
    let fs = new.requests("/full_scan");
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].query, format!("limit=5&job_id={job_id}"));
    assert_eq!(fs[0].headers["x-api-key"], "k-123", "the core sends its key");
    assert_eq!(new.requests("/estimate")[0].headers["x-api-key"], "k-123");
    // The job exists at once, with the estimate and the connector.
    let job = api.job(&job_id).await;
    assert_eq!(job["status"], "running");
    assert_eq!(job["expected_total"], "3");
    assert_eq!(job["connector_uuid"], UUID);
    assert_eq!(job["job_name"], "nightly");
    // Errors.
    assert_eq!(
        api.post(
            &format!("/connectors/full_scan/{}", "00000000-0000-4000-8000-000000000000"),
            json!(null)
        )
        .await
        .0,
        404
    );
    assert_eq!(api.post("/connectors/full_scan/not-a-uuid", json!(null)).await.0, 422);
    assert_eq!(
        api.post(&format!("/connectors/full_scan/{UUID}?job_id=a:b"), json!(null))
            .await
            .0,
        422
    );
}

#[tokio::test]
async fn a_connector_that_is_down_answers_502_with_the_documented_prefix() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    api.post(
        "/connectors/register",
        model(&format!("http://127.0.0.1:{port}/gone"), None),
    )
    .await;
    let (s, v) = api.post(&format!("/connectors/full_scan/{UUID}"), json!(null)).await;
    assert_eq!(s, 502);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("Connector service unavailable: "),
        "{v}"
    );
    assert_eq!(api.get(&format!("/connectors/config/{UUID}")).await.0, 502);
}

#[tokio::test]
async fn proxies_pass_answers_through_and_normalise_estimates() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    api.post("/connectors/register", model(&fake.url, None)).await;
    let (s, v) = api.get(&format!("/connectors/readyz/{UUID}")).await;
    assert_eq!((s, v["detail"].as_str()), (503, Some("not ready yet")));
    assert_eq!(
        api.get(&format!("/connectors/estimate/{UUID}")).await,
        (200, json!({"count": 3, "confidence": "exact"}))
    );
    assert_eq!(
        api.get(&format!("/connectors/healthz/{UUID}")).await,
        (200, json!({"ok": true}))
    );
    let (s, v) = api
        .get("/connectors/repo_check/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(s, 404);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("No connector found with UUID=")
    );
}

#[tokio::test]
async fn a_connector_whose_presence_expires_and_fails_its_health_check_is_evicted_and_announced() {
    let (core, _d) = start_core(&[
        ("DSXCONNECT_CONNECTORS__PRESENCE_TTL_SECS", "1"),
        ("DSXCONNECT_CONNECTORS__SWEEP_SECS", "1"),
    ]);
    let api = Api::new(&core.url);
    let mut events = reqwest::get(format!("{}/subscribe/connector-registered", api.base))
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    api.post(
        "/connectors/register",
        model(&format!("http://127.0.0.1:{port}/gone"), None),
    )
    .await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !text.contains("health_check_failed") && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(1), events.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let frames: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(frames[0], "retry: 5000");
    assert_eq!(
        frames[1],
        r#"data: {"type":"connected","message":"Connector SSE stream started"}"#
    );
    let reg: Value = serde_json::from_str(frames[2].trim_start_matches("data: ")).unwrap();
    assert_eq!(
        (reg["type"].as_str(), reg["uuid"].as_str()),
        (Some("registered"), Some(UUID))
    );
    assert!(reg["ts"].is_f64());
    assert!(text.contains(r#""reason":"health_check_failed""#), "{text}");
    assert_eq!(api.get("/connectors/list").await.1, json!([]));
}
