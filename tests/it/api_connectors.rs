//! Connector registry, full-scan trigger and proxies (docs/reference/CORE-API.md,
//! "Connector registry", "Calls to connectors").

use crate::common;

use std::time::Duration;

use common::fake_connector::{Answer, FakeConnector};
use common::*;
use dsx_connect::auth::hmac::HmacKey;
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
    assert_eq!(list[0]["auth_state"], Value::Null, "authentication is off");
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
async fn the_registry_is_capped_and_every_registration_field_is_bounded() {
    let (core, _d) = start_core(&[("DSXCONNECT_CONNECTORS__MAX_REGISTERED", "3")]);
    let api = Api::new(&core.url);
    let uuid = |i: u32| format!("3f0c2b2e-1111-4222-8333-{i:012}");
    let body = |i: u32| json!({"name": format!("c{i}"), "uuid": uuid(i), "url": format!("http://127.0.0.1:9/c{i}")});
    for i in 0..3 {
        assert_eq!(api.post("/connectors/register", body(i)).await.0, 201);
    }
    let (s, v) = api.post("/connectors/register", body(3)).await;
    assert_eq!((s, v["detail"].as_str()), (507, Some("registry_full")));
    assert_eq!(v["max_registered"], 3);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("DSXCONNECT_CONNECTORS__MAX_REGISTERED"),
        "{v}"
    );
    assert_eq!(
        api.post("/connectors/register", body(1)).await.0,
        200,
        "a registered connector may refresh"
    );
    let r = api
        .http
        .delete(format!("{}/connectors/unregister/{}", api.base, uuid(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(api.post("/connectors/register", body(3)).await.0, 201, "room again");

    let oversized = [
        ("url", json!(format!("http://127.0.0.1:9/{}", "u".repeat(2048)))),
        ("name", json!("n".repeat(257))),
        ("meta_info", json!("m".repeat(4097))),
        ("display_icon", json!("i".repeat(32 * 1024 + 1))),
        ("filter", json!("f".repeat(16 * 1024 + 1))),
        ("capabilities", json!(vec!["cap"; 33])),
    ];
    for (field, value) in oversized {
        let mut b = body(1);
        b[field] = value;
        let (s, v) = api.post("/connectors/register", b).await;
        assert_eq!(s, 422, "{field}");
        assert_eq!(v["detail"][0]["type"], "too_long", "{field}");
        assert_eq!(v["detail"][0]["loc"], json!(["body", field]));
    }
    let (_, list) = api.get("/connectors/list").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c1", "c2", "c3"], "nothing oversized was kept");
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

// ---- Connector trust (docs/AUTH.md): regression tests of the attacks that used to work ----

/// Says that `n` items were enqueued for `job`, so it completes once they are done.
async fn enqueue_done(api: &Api, job: &str, n: u64) {
    let (s, v) = api
        .post(
            &format!("/scan/jobs/{job}/enqueue_done"),
            json!({ "enqueued_total": n }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

/// `atk_23`: a registration or scan request cannot aim the core at a fragment, userinfo, a
/// query, another scheme or the cloud metadata address.
#[tokio::test]
async fn atk_ssrf_connector_urls_are_refused_at_registration_and_intake() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let cases = [
        ("http://127.0.0.1:9/fake#", "fragment"),
        ("http://user:pw@127.0.0.1:9/fake", "userinfo"),
        ("http://127.0.0.1:9/fake?x=1", "query"),
        ("ftp://127.0.0.1/fake", "scheme"),
        ("http://169.254.169.254/latest/meta-data", "blocked_address"),
        ("http://[::ffff:169.254.169.254]/x", "blocked_address"),
    ];
    for (url, reason) in cases {
        let (s, v) = api.post("/connectors/register", model(url, None)).await;
        assert_eq!(s, 422, "{url}: {v}");
        assert_eq!(v["detail"][0]["loc"], json!(["body", "url"]));
        assert_eq!(v["detail"][0]["msg"], format!("url not allowed: {reason}"), "{url}");
        let (s, v) = api.post("/scan/request", scan_request("/x", url, None)).await;
        assert_eq!(s, 422, "{url}: {v}");
        assert_eq!(v["detail"][0]["loc"], json!(["body", "connector_url"]));
        assert_eq!(v["detail"][0]["msg"], format!("url not allowed: {reason}"), "{url}");
    }
    assert_eq!(api.get("/connectors/list").await.1, json!([]), "nothing registered");
}

/// `atk_22`: the connector key goes only to the connector registered at the item's url; a scan
/// request naming any other url gets neither the key nor a signature.
#[tokio::test]
async fn atk_credentials_go_only_to_the_registered_connector_of_the_pinned_url() {
    let (core, _d) = start_core(&[("DSXCONNECT_CONNECTORS__API_KEY", "k-secret")]);
    let api = Api::new(&core.url);
    let real = FakeConnector::start();
    let attacker = FakeConnector::start();
    assert_eq!(api.post("/connectors/register", model(&real.url, None)).await.0, 201);
    real.put_file("/a", b"clean");
    attacker.put_file("/b", b"clean");
    let (s, _) = api
        .post("/scan/request", scan_request("/a", &real.url, Some("jk1")))
        .await;
    assert_eq!(s, 202);
    // Naming the registered connector's uuid does not lend its credentials to another url.
    let mut steal = scan_request("/b", &attacker.url, Some("jk2"));
    steal["connector"] = json!({"name": "fake", "uuid": UUID, "url": attacker.url});
    let (s, _) = api.post("/scan/request", steal).await;
    assert_eq!(s, 202);
    wait_for("both reads", Duration::from_secs(30), || async {
        (!real.requests("/read_file").is_empty() && !attacker.requests("/read_file").is_empty()).then_some(())
    })
    .await;
    let r = &real.requests("/read_file")[0];
    assert_eq!(r.headers.get("x-api-key").map(String::as_str), Some("k-secret"));
    for q in attacker.requests("") {
        assert!(!q.headers.contains_key("x-api-key"), "{} got the key", q.path);
        assert!(!q.headers.contains_key("authorization"), "{} got a signature", q.path);
    }
}

/// `atk_21`: items accepted for a connector keep going to the url they were accepted with when
/// the connector re-registers elsewhere; only new items follow the new url.
#[tokio::test]
async fn atk_repointing_a_connector_mid_job_leaves_accepted_items_pinned() {
    let (core, _d) = start_core(&[("DSXCONNECT_WORKERS__CONCURRENCY", "4")]);
    let api = Api::new(&core.url);
    let old = FakeConnector::start();
    let new = FakeConnector::start();
    assert_eq!(api.post("/connectors/register", model(&old.url, None)).await.0, 201);
    // Every item's first read fails, so all 20 are still queued when the connector moves.
    for i in 0..20 {
        let loc = format!("/f{i}");
        old.put_file(&loc, b"clean");
        old.script_read(&loc, vec![Answer::status(503)]);
        new.put_file(&loc, b"clean");
    }
    let batch: Vec<Value> = (0..20)
        .map(|i| {
            let mut r = scan_request(&format!("/f{i}"), "", Some("jpin"));
            r["connector"] = json!({"name": "fake", "uuid": UUID});
            r
        })
        .collect();
    let (s, v) = api.post("/scan/request/batch", json!(batch)).await;
    assert_eq!(s, 202, "{v}");
    enqueue_done(&api, "jpin", 20).await;
    wait_for("20 first reads", Duration::from_secs(30), || async {
        (old.requests("/read_file").len() >= 20).then_some(())
    })
    .await;
    assert_eq!(api.post("/connectors/register", model(&new.url, None)).await.0, 200);
    let job = api.wait_job("jpin", "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&job, "processed_count"), 20, "{job}");
    assert!(
        new.requests("/read_file").is_empty(),
        "an accepted item followed the re-registration"
    );
    assert_eq!(old.requests("/read_file").len(), 40);
    // New items follow the new registration.
    let mut fresh = scan_request("/f0", "", Some("jpin2"));
    fresh["connector"] = json!({"name": "fake", "uuid": UUID});
    assert_eq!(api.post("/scan/request", fresh).await.0, 202);
    enqueue_done(&api, "jpin2", 1).await;
    api.wait_job("jpin2", "completed", Duration::from_secs(60)).await;
    assert_eq!(new.requests("/read_file").len(), 1);
}

/// `atk_25`, `atk_26`: proxies relay only parsed, re-serialised JSON; a connector's error text is
/// bounded and escaped; a redirect is never followed.
#[tokio::test]
async fn atk_proxies_relay_only_parsed_bounded_answers_and_follow_no_redirect() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let elsewhere = FakeConnector::start();
    assert_eq!(api.post("/connectors/register", model(&fake.url, None)).await.0, 201);
    let mut noisy = b"\x1b[31mERROR\r\nINFO forged log line\x00".to_vec();
    noisy.resize(4096, b'x');
    fake.script_route("/config", Answer::raw(500, "text/plain", noisy));
    let r = api
        .http
        .get(format!("{}/connectors/config/{UUID}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("\\u001b[31mERROR\\u000d\\u000aINFO forged log line\\u0000"),
        "{detail}"
    );
    assert!(!detail.chars().any(char::is_control), "{detail:?}");
    assert!(detail.len() <= 512 + 5 * 6, "{} bytes", detail.len());

    fake.script_route(
        "/config",
        Answer::raw(200, "text/html", b"<script>alert(1)</script>".to_vec()),
    );
    let (s, v) = api.get(&format!("/connectors/config/{UUID}")).await;
    assert_eq!(
        (s, v["detail"].as_str()),
        (502, Some("Connector service unavailable: InvalidResponse"))
    );

    // A connector that serves unsigned requests is reported.
    let (s, v) = api.get(&format!("/connectors/auth_check/{UUID}")).await;
    assert_eq!(
        (s, v["status"].as_str(), v["message"].as_str()),
        (200, Some("error"), Some("connector_fails_open"))
    );

    fake.script_route("/full_scan", Answer::raw(200, "text/html", b"<b>started</b>".to_vec()));
    let (s, v) = api.post(&format!("/connectors/full_scan/{UUID}"), json!(null)).await;
    assert_eq!(
        (s, v["detail"].as_str()),
        (502, Some("Connector service unavailable: InvalidResponse"))
    );

    fake.script_route("/config", Answer::json(200, json!({"a": 1, "x-extra": [1, 2]})));
    let (s, v) = api.get(&format!("/connectors/config/{UUID}")).await;
    assert_eq!((s, v), (200, json!({"a": 1, "x-extra": [1, 2]})));

    fake.script_route("/repo_check", Answer::redirect(&format!("{}/config", elsewhere.url)));
    let (s, _) = api.get(&format!("/connectors/repo_check/{UUID}")).await;
    assert_eq!(s, 502);
    fake.script_route("/read_file", Answer::redirect(&format!("{}/read_file", elsewhere.url)));
    fake.put_file("/r", b"clean");
    let mut req = scan_request("/r", &fake.url, Some("jredir"));
    req["connector"] = json!({"name": "fake", "uuid": UUID});
    assert_eq!(api.post("/scan/request", req).await.0, 202);
    enqueue_done(&api, "jredir", 1).await;
    let job = api.wait_job("jredir", "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&job, "failed_count"), 1, "{job}");
    assert!(elsewhere.requests("").is_empty(), "the Location target was contacted");

    fake.script_route(
        "/config",
        Answer::raw(401, "application/json", br#"{"detail":"bad_signature"}"#.to_vec()),
    );
    let (s, v) = api.get(&format!("/connectors/config/{UUID}")).await;
    assert_eq!(s, 502);
    assert_eq!(v["detail"], "connector rejected the core's credentials: bad_signature");
}

/// `atk_24`: with an allow-list, a connector url whose name resolves outside it is refused at
/// connect time: the item is dead-lettered and no request is sent.
#[tokio::test]
async fn atk_allow_list_is_enforced_on_resolved_addresses_at_connect_time() {
    let (core, _d) = start_core(&[("DSXCONNECT_CONNECTORS__ALLOWED_URLS", "10.1.0.0/16")]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    fake.put_file("/x", b"clean");
    // `localhost` passes the text check (names are decided on their addresses) …
    let url = fake.url.replace("127.0.0.1", "localhost");
    let (s, v) = api
        .post("/scan/request", scan_request("/x", &url, Some("jallow")))
        .await;
    assert_eq!(s, 202, "{v}");
    enqueue_done(&api, "jallow", 1).await;
    let job = api.wait_job("jallow", "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&job, "failed_count"), 1, "{job}");
    assert!(fake.requests("").is_empty(), "a request reached a refused address");
    let (_, dlq) = api.get("/admin/dead-letter/items/scan_request?start=0&end=100").await;
    let text = dlq.to_string();
    assert!(
        text.contains("blocked by DSXCONNECT_CONNECTORS__ALLOWED_URLS"),
        "{text}"
    );
    // … an IP literal outside the list is refused at once.
    let (s, v) = api.post("/scan/request", scan_request("/x", &fake.url, None)).await;
    assert_eq!(
        (s, v["detail"][0]["msg"].as_str()),
        (422, Some("url not allowed: not_in_allow_list"))
    );
}

// ---- Authentication on: enrollment, signatures, identity binding ----

const TOKEN: &str = "enroll-token-0123456789";
const UUID_B: &str = "9a1e7c44-2222-4333-8444-555566667777";

fn auth_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DSXCONNECT_AUTH__ENABLED", "true"),
        ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", TOKEN),
    ]
}

/// Sends `body` with `method` to `path` below the API, signed with `key` when given.
async fn send(
    api: &Api,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&HmacKey>,
    extra: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let url = format!("{}{path}", api.base);
    let target = dsx_connect::auth::hmac::target_of(&url);
    let mut r = api
        .http
        .request(method.parse().unwrap(), &url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        r = r.header("authorization", k.authorization(method, &target, body.as_bytes()));
    }
    for (h, v) in extra {
        r = r.header(*h, *v);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

async fn enroll(api: &Api, uuid: &str, url: &str) -> HmacKey {
    let body = json!({"name": "fake", "uuid": uuid, "url": url, "status": "ready"}).to_string();
    let (s, v, h) = send(
        api,
        "POST",
        "/connectors/register",
        &body,
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(v["connector_uuid"], uuid);
    assert!(v.get("access_token").is_none());
    let (kid, secret) = (v["hmac_key_id"].as_str().unwrap(), v["hmac_secret"].as_str().unwrap());
    assert_eq!((kid.len(), secret.len()), (16, 44));
    HmacKey::new(kid, secret)
}

/// Enrollment needs a token (docs/AUTH.md, "Enrollment"); a connector's key binds its uuid, url
/// and jobs; registrations cannot be hijacked.
#[tokio::test]
async fn atk_auth_on_enrollment_binds_identity_and_refuses_hijacks() {
    let env = auth_env();
    let (core, data) = start_core(&env);
    let api = Api::new(&core.url);
    let a = FakeConnector::start();
    let b = FakeConnector::start();
    let reg = |uuid: &str, url: &str| json!({"name": "fake", "uuid": uuid, "url": url, "status": "ready"}).to_string();

    // No token, a wrong one, the original's default: refused.
    for extra in [
        vec![],
        vec![("X-Enrollment-Token", "dev-enroll")],
        vec![("Authorization", "Bearer wrong-token-000000000")],
    ] {
        let (s, v, h) = send(&api, "POST", "/connectors/register", &reg(UUID, &a.url), None, &extra).await;
        assert_eq!((s, v["detail"].as_str()), (401, Some("invalid_enrollment_token")));
        assert_eq!(h["www-authenticate"], "Bearer realm=\"dsx-connect-enrollment\"");
    }
    let key_a = enroll(&api, UUID, &a.url).await;
    // The token as a bearer works too.
    let bearer = format!("Bearer {TOKEN}");
    let (s, v, _) = send(
        &api,
        "POST",
        "/connectors/register",
        &reg(UUID_B, &b.url),
        None,
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let key_b = HmacKey::new(v["hmac_key_id"].as_str().unwrap(), v["hmac_secret"].as_str().unwrap());

    // R7: an unsigned heartbeat of the same identity refreshes without handing out the key.
    let (s, v, _) = send(
        &api,
        "POST",
        "/connectors/register",
        &reg(UUID, &a.url),
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("hmac_secret").is_none());
    // R8: a token holder cannot move A.
    let (s, v, _) = send(
        &api,
        "POST",
        "/connectors/register",
        &reg(UUID, &b.url),
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("signature_required")));
    // Nor can B, with its own key.
    let (s, v, _) = send(
        &api,
        "POST",
        "/connectors/register",
        &reg(UUID, &b.url),
        Some(&key_b),
        &[],
    )
    .await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("identity_mismatch")));

    // Scan requests: only A's own uuid and url, signed by A.
    a.put_file("/x", b"clean");
    let own = json!({"location": "/x", "metainfo": "x", "scan_job_id": "ja"}).to_string();
    let (s, v, _) = send(&api, "POST", "/scan/request", &own, None, &[]).await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("not_authenticated")));
    let named_b = json!({"location": "/x", "metainfo": "x", "connector": {"name": "fake", "uuid": UUID_B}}).to_string();
    let (s, v, _) = send(&api, "POST", "/scan/request", &named_b, Some(&key_a), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("identity_mismatch")));
    let elsewhere = json!({"location": "/x", "metainfo": "x", "connector_url": b.url}).to_string();
    let (s, v, _) = send(&api, "POST", "/scan/request", &elsewhere, Some(&key_a), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("identity_mismatch")));
    let batch =
        json!([{"location": "/x", "metainfo": "x"}, {"location": "/y", "metainfo": "y", "connector_url": b.url}])
            .to_string();
    let (s, _, _) = send(&api, "POST", "/scan/request/batch", &batch, Some(&key_a), &[]).await;
    assert_eq!(s, 403, "one bad item rejects the batch");
    let (s, v, _) = send(&api, "POST", "/scan/request", &own, Some(&key_a), &[]).await;
    assert_eq!(s, 202, "{v}");
    // The core calls A with A's key, and A alone.
    let read = wait_for("signed read_file", Duration::from_secs(30), || async {
        a.requests("/read_file").first().cloned()
    })
    .await;
    let auth = read.headers.get("authorization").expect("signed read_file");
    let h = dsx_connect::auth::hmac::SignatureHeader::parse(auth.as_bytes()).unwrap();
    assert_eq!(h.key_id, key_a.key_id);
    assert!(b.requests("/read_file").is_empty());
    // B may not finish A's job.
    let (s, v, _) = send(
        &api,
        "POST",
        "/scan/jobs/ja/enqueue_done",
        r#"{"enqueued_total":1}"#,
        Some(&key_b),
        &[],
    )
    .await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("identity_mismatch")));
    let (s, _, _) = send(
        &api,
        "POST",
        "/scan/jobs/ja/enqueue_done",
        r#"{"enqueued_total":1}"#,
        Some(&key_a),
        &[],
    )
    .await;
    assert_eq!(s, 200);

    // A signature is no operator: other routes answer 403; anonymous callers 401.
    let (s, v, _) = send(&api, "GET", "/scan/results", "", Some(&key_a), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("insufficient_role")));
    let (s, v, _) = send(&api, "GET", "/scan/results", "", None, &[]).await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("not_authenticated")));
    let (s, _, _) = send(&api, "GET", "/healthz", "", None, &[]).await;
    assert_eq!(s, 200);
    let (s, v, _) = send(&api, "POST", "/scan/auth_check", "", Some(&key_a), &[]).await;
    assert_eq!((s, v["message"].as_str()), (200, Some("auth_ok")));

    // Unregistration: only A itself; afterwards the same identity re-enrolls, another is refused.
    let path = format!("/connectors/unregister/{UUID}");
    let (s, _, _) = send(&api, "DELETE", &path, "", None, &[("X-Enrollment-Token", TOKEN)]).await;
    assert_eq!(s, 401);
    let (s, v, _) = send(&api, "DELETE", &path, "", Some(&key_b), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("identity_mismatch")));
    let (s, _, _) = send(&api, "DELETE", &path, "", Some(&key_a), &[]).await;
    assert_eq!(s, 204);
    let (s, v, _) = send(
        &api,
        "POST",
        "/connectors/register",
        &reg(UUID, &b.url),
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!((s, v["detail"].as_str()), (409, Some("connector_identity_conflict")));
    let again = enroll(&api, UUID, &a.url).await;
    assert_ne!(again.key_id, key_a.key_id, "re-enrollment issues a new key");

    // The trail: three enrollments, no heartbeat, and the refusals.
    let root =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "root", "--role", "admin"]).stdout).unwrap();
    let admin = Api::with_token(&core.url, root.trim());
    let (_, page) = admin.get("/admin/audit?action=connector.&limit=1000").await;
    let items = page["items"].as_array().unwrap();
    let n = |action: &str, result: &str| {
        items
            .iter()
            .filter(|r| r["action"] == action && r["result"] == result)
            .map(|r| r["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(n("connector.enroll", "success"), 3, "{page}");
    assert_eq!(n("connector.unregister", "success"), 1, "{page}");
    assert!(n("connector.unregister", "denied") >= 1, "{page}");
    assert!(n("connector.enroll", "denied") >= 1, "{page}");
    assert_eq!(n("connector.auth_failure", "denied"), 1, "{page}");
    let failure = items.iter().find(|r| r["action"] == "connector.auth_failure").unwrap();
    assert_eq!(failure["detail"], "identity_mismatch");
    assert!(
        items
            .iter()
            .all(|r| r["actor"]["type"] != "connector" || r["role"] == "connector"),
        "{page}"
    );
}

/// A signed request is accepted once, within the skew window (docs/AUTH.md, "Replay cache").
#[tokio::test]
async fn atk_auth_on_replayed_and_stale_signatures_are_refused() {
    let env = auth_env();
    let (core, _d) = start_core(&env);
    let api = Api::new(&core.url);
    let a = FakeConnector::start();
    let key = enroll(&api, UUID, &a.url).await;
    let url = format!("{}/scan/auth_check", api.base);
    let target = dsx_connect::auth::hmac::target_of(&url);
    let header = key.authorization("POST", &target, b"");
    let post = |h: String| api.http.post(&url).header("authorization", h).send();
    assert_eq!(post(header.clone()).await.unwrap().status().as_u16(), 200);
    let r = post(header).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "DSX-HMAC realm=\"dsx-connect\", error=\"replayed_request\""
    );
    let now = dsx_connect::auth::hmac::now_secs();
    for ts in [now - 61, now + 61] {
        let stale = key.authorization_at("POST", &target, b"", ts, &format!("c3RhbGUt{}", ts % 100_000_000));
        let v: Value = post(stale).await.unwrap().json().await.unwrap();
        assert_eq!(v["detail"], "stale_request");
    }
    let no_nonce = format!(
        "DSX-HMAC key_id={}, ts={now}, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
        key.key_id
    );
    let v: Value = post(no_nonce).await.unwrap().json().await.unwrap();
    assert_eq!(v["detail"], "malformed_hmac");
}

/// `dsx-connect token …` against the store of the core whose data dir is `data`.
fn token_cli(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    let args: Vec<&str> = std::iter::once("token").chain(args.iter().copied()).collect();
    let out = common::dsx_cli(data, &args, None);
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Authentication on, end to end: a standalone connector enrolls with a token and keeps its key
/// private; an operator's API token starts a full scan that completes with exact counts; a
/// viewer may look but not act; a revoked token stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_full_scan_with_an_enrolled_connector_and_api_tokens() {
    let env = auth_env();
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &env);
    let ops =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "ops", "--role", "operator"]).stdout).unwrap();
    let ops = ops.trim();
    assert_eq!(ops.len(), 47, "{ops}");
    let view_out = token_cli(
        data.path(),
        &["create", "--name", "look", "--role", "viewer", "--expires", "1d"],
    );
    let viewer = String::from_utf8(view_out.stdout).unwrap().trim().to_string();
    let list = String::from_utf8(token_cli(data.path(), &["list"]).stdout).unwrap();
    assert!(
        list.contains("ops") && list.contains(&ops[..8]) && !list.contains(&ops[8..]),
        "{list}"
    );

    let asset = tempfile::tempdir().unwrap();
    for i in 0..30 {
        write(
            asset.path(),
            &format!("d{}/f{i}.txt", i % 3),
            format!("clean {i}").as_bytes(),
        );
    }
    write(asset.path(), "d1/evil.com", common::EICAR);
    let conn_data = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        conn_data.path(),
        &[
            ("DSXCONNECT_ENROLLMENT_TOKEN", TOKEN),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    );
    let op = Api::with_token(&core.url, ops);
    op.wait_registered(&uuid).await;
    let (_, list) = op.get("/connectors/list").await;
    assert_eq!(list[0]["auth_state"], "enrolled", "{list}");
    let admin =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "root", "--role", "admin"]).stdout).unwrap();
    let (s, v) = Api::with_token(&core.url, admin.trim())
        .get(&format!("/connectors/auth_check/{uuid}"))
        .await;
    assert_eq!((s, v["message"].as_str()), (200, Some("auth_ok")), "{v}");
    let creds = conn_data.path().join("filesystem-connector").join("credentials.json");
    let mode = wait_for("credentials.json", Duration::from_secs(20), || async {
        std::fs::metadata(&creds)
            .ok()
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
    })
    .await;
    assert_eq!(mode, 0o600);
    // The connector's port wants the core's signature.
    let r = reqwest::Client::new()
        .post(format!("{}/read_file", conn.url))
        .json(&json!({"location": "d1/evil.com", "metainfo": "evil.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let look = Api::with_token(&core.url, &viewer);
    let r = look
        .http
        .post(format!("{}/connectors/full_scan/{uuid}", look.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "a viewer cannot start a scan");
    let job = op.full_scan(&uuid).await;
    let j = op.wait_job(&job, "completed", Duration::from_secs(120)).await;
    assert_eq!(count(&j, "processed_count"), 31, "{j}");
    assert_eq!(count(&j, "failed_count"), 0, "{j}");
    let (s, results) = look.get(&format!("/scan/results/job/{job}")).await;
    assert_eq!(s, 200, "a viewer reads results");
    assert!(results.to_string().contains("evil.com"), "{results}");

    // A revoked token is refused within the cache lifetime.
    let id = String::from_utf8(token_cli(data.path(), &["list"]).stdout)
        .unwrap()
        .lines()
        .find(|l| l.contains(" look "))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    token_cli(data.path(), &["revoke", &id]);
    wait_for("revocation", Duration::from_secs(20), || async {
        let (s, v) = look.get("/scan/stats").await;
        (s == 401 && v["detail"] == "invalid_token").then_some(())
    })
    .await;
    let (s, v) = Api::new(&core.url).get("/scan/stats").await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("not_authenticated")));
}

/// Rotation with a grace period, revocation (signed calls refused, queued
/// items dead-lettered without a call, presence gone), reset and forget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_rotation_revocation_reset_and_forget() {
    let mut env = auth_env();
    env.push(("DSXCONNECT_WORKERS__RETRY_BACKOFF_BASE_SECS", "1"));
    env.push(("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "20"));
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &env);
    let admin_token =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "root", "--role", "admin"]).stdout).unwrap();
    let admin = Api::with_token(&core.url, admin_token.trim());
    let anon = Api::new(&core.url);
    let a = FakeConnector::start();
    let b = FakeConnector::start();
    let key_a = enroll(&anon, UUID, &a.url).await;
    let key_b = enroll(&anon, UUID_B, &b.url).await;
    let reg = |uuid: &str, url: &str| json!({"name": "fake", "uuid": uuid, "url": url, "status": "ready"}).to_string();

    let (s, list) = admin.get("/admin/connectors").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(key_a.secret()), "never a secret");
    assert_eq!(list[0]["state"], "enrolled");

    // Rotation: the next signed registration carries a new key; the old one keeps verifying
    // inbound during the grace period, and the core signs with the new one at once.
    let (s, v) = admin
        .post(&format!("/admin/connectors/{UUID}/rotate"), json!(null))
        .await;
    assert_eq!((s, v["rotate_pending"].as_bool()), (200, Some(true)), "{v}");
    let (s, v, _) = send(
        &anon,
        "POST",
        "/connectors/register",
        &reg(UUID, &a.url),
        Some(&key_a),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let new_a = HmacKey::new(v["hmac_key_id"].as_str().unwrap(), v["hmac_secret"].as_str().unwrap());
    assert_ne!(new_a.key_id, key_a.key_id);
    for k in [&key_a, &new_a] {
        assert_eq!(send(&anon, "POST", "/scan/auth_check", "", Some(k), &[]).await.0, 200);
    }

    // Revocation with items queued: they fail without reaching the connector.
    for i in 0..5 {
        let loc = format!("/r{i}");
        a.put_file(&loc, b"clean");
        a.script_read(
            &loc,
            vec![Answer::status(503), Answer::status(503), Answer::status(503)],
        );
    }
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"location": format!("/r{i}"), "metainfo": "r", "scan_job_id": "jrev"}))
        .collect();
    let (s, v, _) = send(
        &anon,
        "POST",
        "/scan/request/batch",
        &json!(batch).to_string(),
        Some(&new_a),
        &[],
    )
    .await;
    assert_eq!(s, 202, "{v}");
    wait_for("first reads", Duration::from_secs(30), || async {
        (a.requests("/read_file").len() >= 5).then_some(())
    })
    .await;
    let (s, v) = admin
        .post(&format!("/admin/connectors/{UUID}/revoke"), json!(null))
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("revoked")));
    let (s, v) = admin
        .post("/scan/jobs/jrev/enqueue_done", json!({"enqueued_total": 5}))
        .await;
    assert_eq!(s, 200, "{v}");
    let job = admin.wait_job("jrev", "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&job, "failed_count"), 5, "{job}");
    let (_, dlq) = admin.get("/admin/dead-letter/items/scan_request?start=0&end=100").await;
    let revoked = dlq["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["error_details"]
                .as_str()
                .is_some_and(|t| t.contains("connector revoked"))
        })
        .count();
    assert!(revoked >= 4, "items failed for the revocation: {dlq}");
    let (s, v, _) = send(&anon, "POST", "/scan/auth_check", "", Some(&new_a), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("key_revoked")));
    let (s, v, _) = send(
        &anon,
        "POST",
        "/connectors/register",
        &reg(UUID, &a.url),
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("connector_revoked")));
    let (s, _) = admin.get("/connectors/list").await;
    assert_eq!(s, 200);
    assert!(
        !admin.get("/connectors/list").await.1.to_string().contains(UUID),
        "presence removed"
    );
    let (s, v) = admin
        .post(&format!("/admin/connectors/{UUID}/reset"), json!(null))
        .await;
    assert_eq!((s, v["detail"].as_str()), (409, Some("connector_revoked")));

    // Reset: B's key is refused at once; the same identity enrolls again unsigned.
    let (s, _) = admin
        .post(&format!("/admin/connectors/{UUID_B}/reset"), json!(null))
        .await;
    assert_eq!(s, 200);
    let (s, v, _) = send(&anon, "POST", "/scan/auth_check", "", Some(&key_b), &[]).await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("unknown_key_id")));
    let (s, v, _) = send(
        &anon,
        "POST",
        "/connectors/register",
        &reg(UUID_B, &b.url),
        None,
        &[("X-Enrollment-Token", TOKEN)],
    )
    .await;
    assert_eq!(s, 200, "re-enrolled while its presence lives: {v}");
    assert_ne!(v["hmac_key_id"].as_str(), Some(key_b.key_id.as_str()));
    assert_eq!(v["hmac_secret"].as_str().map(str::len), Some(44));

    // Forget: A's uuid is unknown again and may enroll anywhere.
    let r = admin
        .http
        .delete(format!("{}/admin/connectors/{UUID}", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    enroll(&anon, UUID, &b.url).await;

    // Roles: a viewer cannot manage credentials.
    let viewer =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "v", "--role", "viewer"]).stdout).unwrap();
    let (s, v) = Api::with_token(&core.url, viewer.trim()).get("/admin/connectors").await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("insufficient_role")));
}

/// With authentication off there are no connector credentials to manage.
#[tokio::test]
async fn credential_admin_routes_answer_auth_disabled_when_auth_is_off() {
    let (core, _d) = start_core(&[]);
    let (s, v) = Api::new(&core.url).get("/admin/connectors").await;
    assert_eq!((s, v["detail"].as_str()), (404, Some("auth_disabled")));
}

/// Interop (docs/AUTH.md, "Signatures"): an independent signer and verifier in Python (standard
/// library, computed as the original does) and ours agree byte for byte on the original's published
/// vectors and 200 random requests; any one changed part is refused by ours.
#[test]
fn dsx_hmac_interoperates_with_an_independent_python_implementation() {
    use base64::Engine;
    use dsx_connect::auth::hmac::{KeyLookup, Received, verify};
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/dsx_hmac.py");
    let out = std::process::Command::new("python3")
        .args([script, "generate", "200", "7"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cases: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 200);
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let mut ours = String::new();
    for c in &cases {
        let (kid, secret) = (c["key_id"].as_str().unwrap(), c["secret"].as_str().unwrap());
        let lookup = |k: &str| {
            if k == kid {
                KeyLookup::Active {
                    secret: secret.into(),
                    owner: "c".into(),
                }
            } else {
                KeyLookup::Unknown
            }
        };
        let (method, path_q, body) = (
            c["method"].as_str().unwrap(),
            c["path_q"].as_str().unwrap(),
            b64(&c["body"]),
        );
        let ts = c["ts"].as_i64().unwrap();
        let header = c["header"].as_str().unwrap();
        let req = Received {
            method,
            target: path_q,
            body: &body,
        };
        assert!(
            verify(Some(header.as_bytes()), req, ts, 60, None, lookup).is_ok(),
            "{c}"
        );
        for m in c["mutations"].as_array().unwrap() {
            let mb = b64(&m["body"]);
            let changed = Received {
                method: m["method"].as_str().unwrap(),
                target: m["path_q"].as_str().unwrap(),
                body: &mb,
            };
            let h = m["header"].as_str().unwrap();
            assert!(
                verify(Some(h.as_bytes()), changed, ts, 60, None, lookup).is_err(),
                "accepted {m}"
            );
        }
        let mine = HmacKey::new(kid, secret).authorization_at(method, path_q, &body, ts, c["nonce"].as_str().unwrap());
        assert_eq!(mine, header, "byte-identical headers");
        ours.push_str(&json!({"case": c, "header": mine}).to_string());
        ours.push('\n');
    }
    // The published vectors, signed by us, checked by Python.
    let v1 = HmacKey::new("ZHN4LXRlc3Qta2lk", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let body = br#"{"location":"/data/eicar.com","metainfo":"eicar.com","scan_job_id":"job-1"}"#;
    let h = v1.authorization_at(
        "POST",
        "/dsx-connect/api/v1/scan/request",
        body,
        1_767_225_600,
        "bm9uY2UtMDAwMDAx",
    );
    let case = json!({"secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "method": "POST",
        "path_q": "/dsx-connect/api/v1/scan/request",
        "body": base64::engine::general_purpose::STANDARD.encode(body)});
    ours.push_str(&json!({"case": case, "header": h}).to_string());
    ours.push('\n');
    let mut child = std::process::Command::new("python3")
        .args([script, "verify"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(ours.as_bytes()).unwrap();
    }
    assert!(
        child.wait().unwrap().success(),
        "the Python verifier refused one of our headers"
    );
}

/// Auth off, loopback (docs/AUTH.md, "Browsers: Host and CSRF checks"): another site's page cannot
/// drive the core through a browser (cross-origin or form-typed POSTs → 403 `csrf_rejected`), a
/// DNS-rebound name cannot reach it (403 `host_not_allowed`), while scripts and the UI's own calls
/// keep working.
#[tokio::test]
async fn atk_cross_site_posts_and_foreign_hosts_are_refused() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let port = core.url.rsplit(':').next().unwrap().to_string();
    let post = |path: &str, headers: &[(&str, &str)], body: &'static str| {
        let mut r = api.http.post(format!("{}{path}", api.base)).body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let same = format!("http://127.0.0.1:{port}");
    for (headers, why) in [
        (
            vec![("Origin", "http://evil.example"), ("Content-Type", "application/json")],
            "cross-origin JSON",
        ),
        (vec![("Origin", "null")], "null origin"),
        (vec![("Content-Type", "text/plain")], "form-typed body"),
        (vec![("Origin", same.as_str())], "same origin without JSON or marker"),
        (
            vec![("Sec-Fetch-Site", "cross-site"), ("X-DSX-CSRF", "1")],
            "cross-site fetch",
        ),
    ] {
        let r = post("/admin/dead-letter/requeue", &headers, "").await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{why}");
        assert_eq!(r.json::<Value>().await.unwrap()["detail"], "csrf_rejected", "{why}");
    }
    for (headers, why) in [
        (vec![], "a script without browser markers"),
        (
            vec![("Origin", same.as_str()), ("X-DSX-CSRF", "1")],
            "the UI's own call",
        ),
        (
            vec![("Origin", same.as_str()), ("Content-Type", "application/json")],
            "same-origin JSON",
        ),
    ] {
        let r = post("/admin/dead-letter/requeue", &headers, "").await.unwrap();
        assert_ne!(r.status().as_u16(), 403, "{why}");
    }
    // DNS rebinding: a foreign Host is refused, loopback names and the probes are not.
    let get = |path: &str, host: &str| {
        api.http
            .get(format!("{}{path}", api.base))
            .header("Host", host.to_string())
            .send()
    };
    let r = get("/scan/jobs", &format!("evil.example:{port}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "host_not_allowed");
    assert_eq!(
        get("/scan/jobs", &format!("localhost:{port}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(get("/healthz", "evil.example").await.unwrap().status().as_u16(), 200);
}

/// Auth on: an explicit credential is no cross-site form — a request with a
/// foreign Origin and a valid API token is processed.
#[tokio::test]
async fn an_api_token_request_is_not_subject_to_the_browser_checks() {
    let env = auth_env();
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &env);
    let token =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "ops", "--role", "operator"]).stdout).unwrap();
    let op = Api::with_token(&core.url, token.trim());
    let r = op
        .http
        .post(format!("{}/admin/dead-letter/requeue", op.base))
        .header("Origin", "http://evil.example")
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// API tokens over HTTP (admin): created once with the token in the answer only, listed without
/// it, revoked; a wrong method is 405 before any authentication; all 404 with auth off.
#[tokio::test]
async fn admin_token_endpoints_create_list_and_revoke() {
    let env = auth_env();
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &env);
    let root =
        String::from_utf8(token_cli(data.path(), &["create", "--name", "root", "--role", "admin"]).stdout).unwrap();
    let admin = Api::with_token(&core.url, root.trim());
    let r = admin
        .http
        .post(format!("{}/admin/tokens", admin.base))
        .json(&json!({"name": "ci", "role": "viewer", "expires_in_days": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!((token.len(), created["role"].as_str()), (47, Some("viewer")));
    assert_eq!(created["created_by"], "token:root");
    let (s, list) = admin.get("/admin/tokens").await;
    assert_eq!(s, 200);
    assert!(!list.to_string().contains(&token[8..]), "never the token: {list}");
    assert_eq!(list.as_array().unwrap().len(), 2);
    let viewer = Api::with_token(&core.url, &token);
    assert_eq!(viewer.get("/scan/jobs").await.0, 200);
    assert_eq!(viewer.get("/admin/tokens").await.0, 403);
    let (s, v) = admin
        .post("/admin/tokens", json!({"name": "bad name", "role": "root"}))
        .await;
    assert_eq!(s, 422, "{v}");
    let id = created["id"].as_str().unwrap();
    let del = |id: String| admin.http.delete(format!("{}/admin/tokens/{id}", admin.base)).send();
    assert_eq!(del(id.to_string()).await.unwrap().status().as_u16(), 204);
    assert_eq!(del(id.to_string()).await.unwrap().status().as_u16(), 404);
    assert_eq!(viewer.get("/scan/jobs").await.1["detail"], "invalid_token");
    // 405 before authentication (an anonymous PUT on a GET/POST route).
    let r = reqwest::Client::new()
        .put(format!("{}/admin/tokens", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);

    let (off, _d) = start_core(&[]);
    let (s, v) = Api::new(&off.url).get("/admin/tokens").await;
    assert_eq!((s, v["detail"].as_str()), (404, Some("auth_disabled")));
}
