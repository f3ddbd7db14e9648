//! Superlog CloudWatch Logs destination against `moto_server` (service semantics: creation,
//! storage, order) and a capture server answering the CloudWatch JSON protocol (exact
//! requests and error answers) (docs/reference/SUPERLOG.md, "CloudWatch Logs").

use crate::common;

use std::sync::Once;

use aws_sdk_cloudwatchlogs::Client;
use serde_json::{Value, json};

use common::capture::{Capture, Reply};
use common::events::{env_of, result, start_superlog, wait_status};
use common::moto::{moto, unique};
use dsx_connect::superlog::Superlog;

/// The SDK's default chain reads credentials from the environment ("Tests").
fn aws_env() {
    static ONCE: Once = Once::new();
    // SAFETY: set once, before any SDK client of these tests exists; nothing else in the suite
    // writes the environment, and Rust's own readers take the same lock as this writer.
    ONCE.call_once(|| unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

fn cloudwatch(endpoint: &str, group: &str, extra: &[(&str, &str)]) -> Superlog {
    aws_env();
    let mut env = env_of(extra);
    env.insert("DSXCONNECT_SUPERLOG__DESTINATIONS".into(), "cloudwatch".into());
    env.insert("DSXCONNECT_SUPERLOG__HOSTNAME".into(), "cw-host".into());
    env.insert("DSXCONNECT_SUPERLOG__CLOUDWATCH__LOG_GROUP".into(), group.into());
    env.insert("DSXCONNECT_SUPERLOG__CLOUDWATCH__ENDPOINT_URL".into(), endpoint.into());
    env.insert("DSXCONNECT_SUPERLOG__CLOUDWATCH__REGION".into(), "us-east-1".into());
    env.entry("DSXCONNECT_SUPERLOG__CLOUDWATCH__FLUSH_INTERVAL_MS".into())
        .or_insert("100".into());
    env.insert("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS".into(), "50".into());
    env.insert("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS".into(), "100".into());
    start_superlog(&env)
}

async fn sdk(endpoint: &str) -> Client {
    aws_env();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .load()
        .await;
    Client::new(&conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_group_and_stream_are_created_and_events_arrive_in_order() {
    let url = moto();
    let group = format!("/dsx/{}", unique("superlog"));
    let sl = cloudwatch(
        url,
        &group,
        &[
            ("DSXCONNECT_SUPERLOG__CLOUDWATCH__RETENTION_DAYS", "7"),
            ("DSXCONNECT_SUPERLOG__CLOUDWATCH__LOG_STREAM", "dsx/{host}/{pid}"),
        ],
    );
    let mut sent = Vec::new();
    for i in 0..30 {
        let r = result(i, &format!("/cw/ü/{i}"), i % 5 == 0, false);
        sl.emit_result(&r);
        sent.push(r);
    }
    tokio::task::spawn_blocking({
        let sl = sl.clone();
        move || wait_status(&sl, "30 sent", |s| s["sent"] == 30)
    })
    .await
    .unwrap();

    let client = sdk(url).await;
    let groups = client
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    let g = &groups.log_groups()[0];
    assert_eq!(g.log_group_name(), Some(group.as_str()));
    assert_eq!(g.retention_in_days(), Some(7));
    let stream = format!("dsx/cw-host/{}", std::process::id());
    let out = client
        .get_log_events()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    let events = out.events();
    assert_eq!(events.len(), 30);
    for (e, r) in events.iter().zip(&sent) {
        let msg: Value = serde_json::from_str(e.message().unwrap()).unwrap();
        assert_eq!(msg["scan_request_task_id"], r.scan_request_task_id);
        assert_eq!(msg["location"], r.scan_request.location, "UTF-8 message");
        assert!(e.message().unwrap().contains('ü'));
        let ms = chrono::DateTime::parse_from_rfc3339(&r.timestamp)
            .unwrap()
            .timestamp_millis();
        assert_eq!(e.timestamp(), Some(ms));
    }
}

/// A CloudWatch JSON-protocol answer.
fn aws_error(kind: &str, status: u16) -> Reply {
    Reply::new(status, &json!({"__type": kind, "message": "scripted"}).to_string())
}

fn targets(cap: &Capture) -> Vec<String> {
    cap.requests_to("/")
        .iter()
        .map(|r| {
            r.headers["x-amz-target"]
                .trim_start_matches("Logs_20140328.")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_answers_are_classified_as_the_spec_says() {
    let cap = Capture::start();
    cap.set_default("/", Reply::new(200, "{}"));
    cap.script(
        "/",
        [
            aws_error("ResourceNotFoundException", 400),
            Reply::new(200, "{}"),
            Reply::new(200, "{}"),
            Reply::new(200, r#"{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":1}}"#),
        ],
    );
    let sl = cloudwatch(
        &cap.url,
        "/dsx/scripted",
        &[("DSXCONNECT_SUPERLOG__CLOUDWATCH__BATCH_MAX_EVENTS", "5")],
    );
    for i in 0..5 {
        sl.emit_result(&result(i, &format!("/cw/{i}"), false, false));
    }
    let s = tokio::task::spawn_blocking({
        let sl = sl.clone();
        move || wait_status(&sl, "accounted", |s| s["buffered"] == 0 && s["sent"] == 3)
    })
    .await
    .unwrap();
    assert_eq!(s["failed_by_reason"]["rejected"], 2);
    assert_eq!(s["retried"], 0);
    assert_eq!(
        targets(&cap),
        ["PutLogEvents", "CreateLogGroup", "CreateLogStream", "PutLogEvents"]
    );
    let put = &cap.requests_to("/")[3];
    let body: Value = serde_json::from_slice(&put.body).unwrap();
    assert!(body.get("sequenceToken").is_none());
    assert_eq!(body["logEvents"].as_array().unwrap().len(), 5);
    assert!(put.headers["authorization"].starts_with("AWS4-HMAC-SHA256 "));

    // Throttling is retried; access denied is permanent.
    cap.script("/", [aws_error("ThrottlingException", 400), Reply::new(200, "{}")]);
    sl.emit_result(&result(10, "/cw/throttled", false, false));
    let s = tokio::task::spawn_blocking({
        let sl = sl.clone();
        move || wait_status(&sl, "retried and sent", |s| s["sent"] == 4)
    })
    .await
    .unwrap();
    assert_eq!(s["retried"], 1);
    cap.script("/", [aws_error("AccessDeniedException", 400)]);
    sl.emit_result(&result(11, "/cw/denied", false, false));
    let s = tokio::task::spawn_blocking({
        let sl = sl.clone();
        move || wait_status(&sl, "permanent failure", |s| s["failed_by_reason"]["permanent"] == 1)
    })
    .await
    .unwrap();
    assert_eq!(s["retried"], 1);
    assert!(
        s["last_error"].as_str().unwrap().contains("AccessDeniedException"),
        "{s}"
    );
}
