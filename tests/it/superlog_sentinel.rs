//! Superlog Azure Logs Ingestion (Sentinel) destination against a capture server playing both
//! the Entra ID token endpoint and the data collection endpoint (docs/reference/SUPERLOG.md,
//! "Microsoft Sentinel").

use crate::common;

use std::time::Duration;

use serde_json::Value;

use common::capture::{Capture, Reply};
use common::events::{AUDIT_KEYS, env_of, result, revoke_record, start_superlog, status_of, wait_status};
use dsx_connect::superlog::Superlog;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10";
const SECRET: &str = "client-secret-value-77";
const DCR: &str = "dcr-00112233445566778899aabbccddeeff";
const STREAM: &str = "Custom-DSXConnect_CL";
const AUDIT_STREAM: &str = "Custom-DSXConnectAudit_CL";

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn upload_path() -> String {
    format!("/dataCollectionRules/{DCR}/streams/{STREAM}")
}

fn token_reply(token: &str, expires_in: u64) -> Reply {
    Reply::new(
        200,
        &serde_json::json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": token}).to_string(),
    )
}

fn sentinel(cap: &Capture, extra: &[(&str, &str)]) -> Superlog {
    cap.set_default(&token_path(), token_reply("bearer-tok-1", 3600));
    cap.set_default(&upload_path(), Reply::new(204, ""));
    let mut env = env_of(extra);
    for (k, v) in [
        ("DESTINATIONS", "sentinel"),
        ("SENTINEL__DCE_URL", cap.url.as_str()),
        ("SENTINEL__AUTHORITY_HOST", cap.url.as_str()),
        ("SENTINEL__DCR_IMMUTABLE_ID", DCR),
        ("SENTINEL__STREAM_NAME", STREAM),
        ("SENTINEL__TENANT_ID", TENANT),
        ("SENTINEL__CLIENT_ID", CLIENT),
        ("SENTINEL__CLIENT_SECRET", SECRET),
        ("BACKOFF_BASE_MS", "100"),
        ("BACKOFF_MAX_MS", "200"),
    ] {
        env.entry(format!("DSXCONNECT_SUPERLOG__{k}")).or_insert(v.to_string());
    }
    env.entry("DSXCONNECT_SUPERLOG__SENTINEL__FLUSH_INTERVAL_MS".into())
        .or_insert("100".into());
    start_superlog(&env)
}

fn records(body: &[u8]) -> Vec<Value> {
    serde_json::from_slice::<Value>(body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn token_and_upload_requests_follow_the_wire_format() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[]);
    let r = result(1, "/az/ü", true, false);
    sl.emit_result(&r);
    let up = cap
        .wait(&upload_path(), Duration::from_secs(5), |r| !r.is_empty())
        .remove(0);
    let tok = cap.requests_to(&token_path()).remove(0);
    assert_eq!(tok.method, "POST");
    assert_eq!(tok.headers["content-type"], "application/x-www-form-urlencoded");
    let form: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(&tok.body).into_owned().collect();
    assert_eq!(form.len(), 4);
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["client_secret"], SECRET);
    assert_eq!(form["scope"], "https://monitor.azure.com//.default");

    assert_eq!(up.query, "api-version=2023-01-01");
    assert_eq!(up.headers["authorization"], "Bearer bearer-tok-1");
    assert_eq!(up.headers["content-type"], "application/json");
    assert_eq!(up.headers["content-encoding"], "gzip");
    assert!(uuid::Uuid::parse_str(&up.headers["x-ms-client-request-id"]).is_ok());
    let recs = records(&up.body);
    let keys: Vec<&str> = recs[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys[0], "TimeGenerated");
    assert_eq!(keys[1], "event");
    assert_eq!(recs[0]["TimeGenerated"], r.timestamp);
    assert_eq!(recs[0]["location"], "/az/ü", "raw UTF-8");
    assert!(recs[0]["connector"].is_object(), "nested objects stay objects");
    wait_status(&sl, "sent", |s| s["sent"] == 1);
}

#[test]
fn uploads_stay_within_the_size_and_record_limits_and_the_token_is_cached() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[("DSXCONNECT_SUPERLOG__SENTINEL__FLUSH_INTERVAL_MS", "50")]);
    let pad = "p".repeat(600);
    for i in 0..3000 {
        sl.emit_result(&result(i, &format!("/az/{pad}/{i}"), false, false));
    }
    wait_status(&sl, "3000 sent", |s| s["sent"] == 3000);
    let ups = cap.requests_to(&upload_path());
    let mut n = 0;
    for u in &ups {
        assert!(u.body.len() <= 1_000_000, "{}", u.body.len());
        let recs = records(&u.body);
        assert!(recs.len() <= 500);
        n += recs.len();
    }
    assert_eq!(n, 3000);
    assert!(ups.len() >= 6);
    assert_eq!(cap.requests_to(&token_path()).len(), 1, "one token for every batch");
}

#[test]
fn a_token_close_to_expiry_is_refreshed_before_the_next_batch() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[]);
    cap.set_default(&token_path(), token_reply("short-lived", 200));
    sl.emit_result(&result(1, "/az/1", false, false));
    wait_status(&sl, "first", |s| s["sent"] == 1);
    sl.emit_result(&result(2, "/az/2", false, false));
    wait_status(&sl, "second", |s| s["sent"] == 2);
    assert_eq!(cap.requests_to(&token_path()).len(), 2);
}

#[test]
fn answers_429_401_413_and_403_are_handled_as_the_spec_says() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[("DSXCONNECT_SUPERLOG__SENTINEL__BATCH_MAX_EVENTS", "2")]);
    // 429 with Retry-After: 1 → the retry waits at least a second.
    cap.script(&upload_path(), [Reply::new(429, "{}").header("Retry-After", "1")]);
    sl.emit_result(&result(1, "/az/1", false, false));
    let ups = cap.wait(&upload_path(), Duration::from_secs(10), |r| r.len() >= 2);
    assert!(ups[1].at - ups[0].at >= Duration::from_secs(1));
    wait_status(&sl, "sent after 429", |s| s["sent"] == 1 && s["retried"] == 1);

    // 401 → one token refresh and an immediate re-send (not a retry).
    cap.script(&upload_path(), [Reply::new(401, "{}")]);
    cap.script(&token_path(), [token_reply("bearer-tok-2", 3600)]);
    sl.emit_result(&result(2, "/az/2", false, false));
    wait_status(&sl, "sent after 401", |s| s["sent"] == 2);
    let ups = cap.requests_to(&upload_path());
    assert_eq!(ups.last().unwrap().headers["authorization"], "Bearer bearer-tok-2");
    assert_eq!(cap.requests_to(&token_path()).len(), 2);
    assert_eq!(status_of(&sl)["retried"], 1);

    // 413 on two records → two one-record uploads.
    cap.script(&upload_path(), [Reply::new(413, "{}")]);
    let before = cap.requests_to(&upload_path()).len();
    sl.emit_result(&result(3, "/az/3", false, false));
    sl.emit_result(&result(4, "/az/4", false, false));
    wait_status(&sl, "sent after 413", |s| s["sent"] == 4);
    let sizes: Vec<usize> = cap.requests_to(&upload_path())[before..]
        .iter()
        .map(|u| records(&u.body).len())
        .collect();
    assert_eq!(sizes, [2, 1, 1]);

    // 403 → failed, no retry.
    cap.script(&upload_path(), [Reply::new(403, "{}")]);
    let before = cap.requests_to(&upload_path()).len();
    sl.emit_result(&result(5, "/az/5", false, false));
    let s = wait_status(&sl, "failed after 403", |s| s["failed"] == 1);
    assert_eq!(s["retried"], 1);
    // A later event is uploaded after a retry would have been sent: there was none.
    sl.emit_result(&result(6, "/az/6", false, false));
    wait_status(&sl, "the later event sent", |s| s["sent"] == 5);
    assert_eq!(cap.requests_to(&upload_path()).len(), before + 2);

    // Secrets appear nowhere in the status.
    let text = sl.status().to_string();
    for secret in [SECRET, "bearer-tok-1", "bearer-tok-2"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn an_invalid_client_fails_the_batch_without_retry() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[]);
    cap.script(
        &token_path(),
        [Reply::new(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215"}"#,
        )],
    );
    sl.emit_result(&result(1, "/az/1", false, false));
    let s = wait_status(&sl, "failed", |s| s["failed"] == 1);
    assert_eq!(s["retried"], 0);
    assert!(s["last_error"].as_str().unwrap().contains("invalid_client"), "{s}");
    assert!(cap.requests_to(&upload_path()).is_empty());
}

#[test]
fn the_verdict_filter_sends_only_malicious_events_to_sentinel() {
    let cap = Capture::start();
    let sl = sentinel(&cap, &[("DSXCONNECT_SUPERLOG__SENTINEL__VERDICTS", "Malicious")]);
    for i in 0..10 {
        sl.emit_result(&result(i, &format!("/az/{i}"), i < 3, false));
    }
    let s = wait_status(&sl, "accounted", |s| s["sent"] == 3 && s["filtered"] == 7);
    assert_eq!(s["emitted"], 10);
    let n: usize = cap
        .requests_to(&upload_path())
        .iter()
        .map(|u| records(&u.body).len())
        .sum();
    assert_eq!(n, 3);
}

#[test]
fn audit_events_go_to_their_own_stream_or_are_filtered_without_one() {
    let audit_path = format!("/dataCollectionRules/{DCR}/streams/{AUDIT_STREAM}");
    let cap = Capture::start();
    cap.set_default(&audit_path, Reply::new(204, ""));
    let sl = sentinel(
        &cap,
        &[("DSXCONNECT_SUPERLOG__SENTINEL__AUDIT_STREAM_NAME", AUDIT_STREAM)],
    );
    sl.emit_result(&result(1, "/az/1", false, false));
    sl.emit_audit(&revoke_record(), None);
    sl.emit_result(&result(2, "/az/2", false, false));
    wait_status(&sl, "sent", |s| s["sent"] == 3);
    let audit_ups = cap.requests_to(&audit_path);
    assert_eq!(audit_ups.len(), 1);
    let rec = records(&audit_ups[0].body).remove(0);
    let keys: Vec<&str> = rec.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys[0], "TimeGenerated");
    assert_eq!(keys[1..], AUDIT_KEYS);
    assert_eq!(rec["audit_id"], serde_json::Value::Null);
    let scan: Vec<Value> = cap
        .requests_to(&upload_path())
        .iter()
        .flat_map(|u| records(&u.body))
        .collect();
    assert_eq!(scan.len(), 2);
    assert!(scan.iter().all(|r| r["event"] == "scan_result"));

    // Without an audit stream Sentinel takes no audit events; as the only destination, the
    // superlog then emits none.
    let cap = Capture::start();
    let sl = sentinel(&cap, &[]);
    sl.emit_audit(&revoke_record(), Some(7));
    sl.emit_result(&result(3, "/az/3", false, false));
    let s = wait_status(&sl, "accounted", |s| s["sent"] == 1);
    assert_eq!((s["emitted"].as_u64(), s["filtered"].as_u64()), (Some(1), Some(0)));
    assert!(cap.requests().iter().all(|r| !r.path.contains(AUDIT_STREAM)));
}
