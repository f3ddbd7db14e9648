//! Superlog's HTTP destinations: Splunk HEC against a capture server playing HEC
//! (docs/reference/SUPERLOG.md, "Splunk HEC"), and the findings webhook against a receiver that
//! verifies every signature the way docs/CONFIGURATION.md tells receivers to.

use crate::common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use common::capture::{Capture, Reply};
use common::events::{AUDIT_KEYS, env_of, result, revoke_record, start_superlog, status_of, wait_status};
use common::rsyslog::free_port;
use dsx_connect::superlog::Superlog;

const EVENT: &str = "/services/collector/event";
const ACK: &str = "/services/collector/ack";
const TOKEN: &str = "hec-token-5f0c2a";
const OK: &str = r#"{"text":"Success","code":0}"#;

fn hec(cap: &Capture, env: &[(&str, &str)]) -> Superlog {
    cap.set_default(EVENT, Reply::new(200, OK));
    let mut env = env_of(env);
    env.insert("DSXCONNECT_SUPERLOG__DESTINATIONS".into(), "splunk".into());
    env.insert("DSXCONNECT_SUPERLOG__HOSTNAME".into(), "test-host".into());
    env.insert("DSXCONNECT_SUPERLOG__SPLUNK__URL".into(), cap.url.clone());
    env.insert("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN".into(), TOKEN.into());
    env.entry("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS".into())
        .or_insert("100".into());
    env.entry("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS".into())
        .or_insert("200".into());
    env.entry("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS".into())
        .or_insert("800".into());
    start_superlog(&env)
}

fn envelopes(body: &str) -> Vec<Value> {
    assert!(!body.ends_with('\n') && !body.starts_with('['));
    body.split('\n')
        .map(|l| serde_json::from_str(l).expect("envelope JSON"))
        .collect()
}

fn emit(sl: &Superlog, range: std::ops::Range<usize>) {
    for i in range {
        sl.emit_result(&result(i, &format!("/hec/ü/{i}"), i % 2 == 0, false));
    }
}

#[test]
fn hec_requests_carry_the_token_and_ordered_envelopes() {
    let cap = Capture::start();
    let sl = hec(&cap, &[]);
    let r = result(7, "/hec/ü/one", true, false);
    sl.emit_result(&r);
    let req = cap.wait(EVENT, Duration::from_secs(5), |r| !r.is_empty()).remove(0);
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers["authorization"], format!("Splunk {TOKEN}"));
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(
        req.headers["user-agent"],
        format!("dsx-connect/{}", dsx_connect::VERSION)
    );
    assert!(!req.headers.contains_key("x-splunk-request-channel"));
    let text = req.text();
    assert!(text.contains("/hec/ü/one"), "raw UTF-8 in HTTP bodies (SL-34)");
    let env = envelopes(&text).remove(0);
    let keys: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["time", "host", "source", "sourcetype", "event"],
        "index absent when unset"
    );
    let ms = chrono::DateTime::parse_from_rfc3339(&r.timestamp)
        .unwrap()
        .timestamp_millis();
    assert!(
        text.starts_with(&format!("{{\"time\":{}.{:03},", ms / 1000, ms % 1000)),
        "{text}"
    );
    assert_eq!(env["host"], "test-host");
    assert_eq!(env["source"], "dsx-connect");
    assert_eq!(env["sourcetype"], "dsx:scan:result");
    assert_eq!(env["event"]["scan_request_task_id"], "task-7");
    assert_eq!(env["event"]["severity"], "warning");
    assert_eq!(env["event"]["timestamp"], r.timestamp);
    wait_status(&sl, "sent", |s| s["sent"] == 1 && s["state"] == "ok");
}

#[test]
fn hec_batches_keep_emission_order_and_the_flush_interval() {
    let cap = Capture::start();
    let sl = hec(
        &cap,
        &[
            ("DSXCONNECT_SUPERLOG__SPLUNK__BATCH_MAX_EVENTS", "100"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS", "500"),
            ("DSXCONNECT_SUPERLOG__SPLUNK__INDEX", "security"),
        ],
    );
    emit(&sl, 0..250);
    let reqs = cap.wait(EVENT, Duration::from_secs(5), |r| r.len() >= 3);
    let sizes: Vec<usize> = reqs.iter().map(|r| envelopes(&r.text()).len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let order: Vec<String> = reqs
        .iter()
        .flat_map(|r| envelopes(&r.text()))
        .map(|e| e["event"]["scan_request_task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, (0..250).map(|i| format!("task-{i}")).collect::<Vec<_>>());
    assert_eq!(envelopes(&reqs[0].text())[0]["index"], "security");

    let t = Instant::now();
    emit(&sl, 250..251);
    cap.wait(EVENT, Duration::from_secs(5), |r| r.len() >= 4);
    assert!(t.elapsed() < Duration::from_millis(500 + 500), "{:?}", t.elapsed());
}

#[test]
fn hec_gzip_bodies_decode_to_the_same_envelopes() {
    let cap = Capture::start();
    let sl = hec(&cap, &[("DSXCONNECT_SUPERLOG__SPLUNK__GZIP", "true")]);
    emit(&sl, 0..3);
    let req = cap.wait(EVENT, Duration::from_secs(5), |r| !r.is_empty()).remove(0);
    assert_eq!(req.headers["content-encoding"], "gzip");
    assert_eq!(envelopes(&req.text()).len(), 3);
}

#[test]
fn hec_server_errors_are_retried_with_backoff_and_delivered_once() {
    let cap = Capture::start();
    cap.script(
        EVENT,
        [
            Reply::new(503, r#"{"text":"Server is busy","code":9}"#),
            Reply::new(503, "{}"),
        ],
    );
    let sl = hec(&cap, &[]);
    emit(&sl, 0..3);
    let reqs = cap.wait(EVENT, Duration::from_secs(10), |r| r.len() >= 3);
    assert!(reqs.iter().all(|r| r.body == reqs[0].body), "the same batch is re-sent");
    let gaps: Vec<Duration> = reqs.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Attempt 1 waits in [100, 200] ms, attempt 2 in [200, 400] ms (base 200 ms).
    assert!(
        gaps[0] >= Duration::from_millis(95) && gaps[0] <= Duration::from_millis(400),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(195) && gaps[1] <= Duration::from_millis(600),
        "{gaps:?}"
    );
    let s = wait_status(&sl, "sent", |s| s["sent"] == 3);
    assert_eq!(s["retried"], 6);
    assert_eq!(s["failed"], 0);
    // A later event is delivered after any stray retry would have been: none was.
    let before = cap.requests_to(EVENT).len();
    emit(&sl, 3..4);
    wait_status(&sl, "the later event sent", |s| s["sent"] == 4);
    assert_eq!(cap.requests_to(EVENT).len(), before + 1);
}

#[test]
fn hec_retry_after_is_honoured() {
    let cap = Capture::start();
    cap.script(EVENT, [Reply::new(429, "{}").header("Retry-After", "2")]);
    let sl = hec(&cap, &[]);
    emit(&sl, 0..1);
    let reqs = cap.wait(EVENT, Duration::from_secs(10), |r| r.len() >= 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(2));
    wait_status(&sl, "sent", |s| s["sent"] == 1);
}

#[test]
fn hec_client_errors_fail_at_once_and_never_show_the_token() {
    for (status, body) in [
        (400, r#"{"text":"Invalid data format","code":6}"#),
        (403, r#"{"text":"Invalid token","code":4}"#),
    ] {
        let cap = Capture::start();
        cap.script(EVENT, [Reply::new(status, body)]);
        let sl = hec(&cap, &[]);
        emit(&sl, 0..2);
        let s = wait_status(&sl, "failed", |s| s["failed"] == 2);
        assert_eq!(s["sent"], 0);
        assert_eq!(s["retried"], 0);
        // A later event is delivered after a retry would have been sent: there was none.
        emit(&sl, 2..3);
        wait_status(&sl, "the later event sent", |s| s["sent"] == 1);
        assert_eq!(cap.requests_to(EVENT).len(), 2, "no second request after {status}");
        let text = sl.status().to_string();
        assert!(!text.contains(TOKEN), "{text}");
        if status == 400 {
            assert!(s["last_error"].as_str().unwrap().contains("Invalid data format"), "{s}");
        } else {
            assert!(s["last_error"].as_str().unwrap().contains("token rejected"), "{s}");
        }
    }
}

#[test]
fn hec_413_splits_the_batch_into_halves() {
    let cap = Capture::start();
    cap.script(EVENT, [Reply::new(413, "{}")]);
    let sl = hec(&cap, &[]);
    emit(&sl, 0..2);
    let reqs = cap.wait(EVENT, Duration::from_secs(5), |r| r.len() >= 3);
    let sizes: Vec<usize> = reqs.iter().map(|r| envelopes(&r.text()).len()).collect();
    assert_eq!(sizes, [2, 1, 1]);
    let s = wait_status(&sl, "sent", |s| s["sent"] == 2);
    assert_eq!(s["retried"], 0);
}

#[test]
fn hec_acknowledgements_count_a_batch_only_once_acknowledged() {
    let cap = Capture::start();
    cap.script(EVENT, [Reply::new(200, r#"{"text":"Success","code":0,"ackId":7}"#)]);
    cap.script(
        ACK,
        [
            Reply::new(200, r#"{"acks":{"7":false}}"#),
            Reply::new(200, r#"{"acks":{"7":false}}"#),
            Reply::new(200, r#"{"acks":{"7":true}}"#),
        ],
    );
    let sl = hec(
        &cap,
        &[
            ("DSXCONNECT_SUPERLOG__SPLUNK__ACK", "true"),
            (
                "DSXCONNECT_SUPERLOG__SPLUNK__CHANNEL",
                "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10",
            ),
            ("DSXCONNECT_SUPERLOG__SPLUNK__ACK_POLL_MS", "300"),
        ],
    );
    emit(&sl, 0..2);
    let req = cap.wait(EVENT, Duration::from_secs(5), |r| !r.is_empty()).remove(0);
    assert_eq!(
        req.headers["x-splunk-request-channel"],
        "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10"
    );
    // The second poll follows a "not yet" answer and gets another: nothing is sent yet.
    cap.wait(ACK, Duration::from_secs(10), |r| r.len() >= 2);
    assert_eq!(status_of(&sl)["sent"], 0, "not sent while unacknowledged");
    let acks = cap.wait(ACK, Duration::from_secs(5), |r| r.len() >= 2);
    assert_eq!(acks[0].query, "channel=0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10");
    assert_eq!(
        serde_json::from_slice::<Value>(&acks[0].body).unwrap()["acks"],
        serde_json::json!([7])
    );
    wait_status(&sl, "acknowledged", |s| s["sent"] == 2);
}

#[test]
fn a_receiver_that_never_answers_keeps_the_newest_events_and_counts_the_rest_dropped() {
    let cap = Capture::start();
    // Every answer comes after the request timeout: the batch stays in flight.
    cap.set_default(EVENT, Reply::new(200, OK).delay(Duration::from_secs(3)));
    let mut env = env_of(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", &cap.url),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", TOKEN),
        ("DSXCONNECT_SUPERLOG__SPLUNK__BATCH_MAX_EVENTS", "10"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS", "10"),
        ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "100"),
        ("DSXCONNECT_SUPERLOG__REQUEST_TIMEOUT_MS", "1000"),
        ("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS", "100"),
        ("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS", "200"),
    ]);
    env.insert("DSXCONNECT_SUPERLOG__MAX_ATTEMPTS".into(), "100".into());
    let sl = start_superlog(&env);
    emit(&sl, 0..10);
    cap.wait(EVENT, Duration::from_secs(5), |r| !r.is_empty());
    emit(&sl, 10..1000);
    let s = status_of(&sl);
    assert_eq!(s["dropped"], 1000 - 100 - 10, "{s}");
    assert_eq!(s["buffered"], 110, "buffer plus the in-flight batch");
    // The receiver recovers.
    cap.set_default(EVENT, Reply::new(200, OK));
    let s = wait_status(&sl, "everything accounted", |s| s["sent"] == 110);
    assert_eq!(s["emitted"], 1000);
    assert_eq!(s["failed"], 0);
    let delivered: std::collections::BTreeSet<String> = cap
        .requests_to(EVENT)
        .iter()
        .flat_map(|r| envelopes(&r.text()))
        .map(|e| e["event"]["scan_request_task_id"].as_str().unwrap().to_string())
        .collect();
    let want: std::collections::BTreeSet<String> = (0..10).chain(900..1000).map(|i| format!("task-{i}")).collect();
    assert_eq!(delivered, want);
}

#[test]
fn an_audit_event_arrives_with_its_own_sourcetype_and_schema() {
    let cap = Capture::start();
    let sl = hec(&cap, &[]);
    let rec = revoke_record();
    sl.emit_audit(&rec, Some(42));
    let req = cap.wait(EVENT, Duration::from_secs(5), |r| !r.is_empty()).remove(0);
    let env = envelopes(&req.text()).remove(0);
    assert_eq!(env["sourcetype"], "dsx:audit");
    assert_eq!(env["host"], "test-host");
    let event = env["event"].as_object().unwrap();
    assert_eq!(event.keys().map(String::as_str).collect::<Vec<_>>(), AUDIT_KEYS);
    assert_eq!(env["event"]["audit_id"], 42);
    assert_eq!(env["event"]["action"], "connector.revoke");
    assert_eq!(env["event"]["severity"], "notice");
    assert_eq!(env["event"]["timestamp"], rec.timestamp);
    wait_status(&sl, "sent", |s| s["sent"] == 1);
    assert_eq!(sl.status()["emitted_by_type"]["audit"], 1);
}

#[test]
fn event_types_scan_result_sends_no_audit_event() {
    let cap = Capture::start();
    let sl = hec(&cap, &[("DSXCONNECT_SUPERLOG__EVENT_TYPES", "scan_result")]);
    sl.emit_audit(&revoke_record(), Some(42));
    sl.emit_result(&result(1, "/hec/1", false, false));
    // No destination takes audit events: none is emitted.
    let s = wait_status(&sl, "accounted", |s| s["sent"] == 1);
    assert_eq!((s["emitted"].as_u64(), s["filtered"].as_u64()), (Some(1), Some(0)));
    let bodies: String = cap.requests_to(EVENT).iter().map(|r| r.text()).collect();
    assert!(!bodies.contains("dsx:audit"), "{bodies}");
}

// ---------------------------------------------------------------------------------------------
// Webhook

const HOOK: &str = "/hooks/dsx";
const HOOK_SECRET: &str = "whsec-5b1d0c9e2f7a4e11";

/// One request the receiver accepted: lower-case header names and the body.
#[derive(Debug, Clone)]
struct Delivery {
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Default)]
struct ReceiverState {
    /// `None`: no signature is checked (a chat service).
    secret: Option<String>,
    accepted: Mutex<Vec<Delivery>>,
    rejected: AtomicUsize,
}

/// A webhook receiver as an operator would write one, on loopback: it recomputes the HMAC of
/// `"<t>.<body>"`, accepts `t` within five minutes of its own clock and answers 401 otherwise.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The receiver's check of `X-DSX-Signature: t=<unix>,v1=<hex>`.
fn signature_valid(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(header) = header else { return false };
    let parts: BTreeMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    let Ok(t) = t.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let Ok(sig) = hex::decode(v1) else { return false };
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<ReceiverState>) -> HttpResponse {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    if let Some(secret) = &state.secret
        && !signature_valid(secret, headers.get("x-dsx-signature").map(String::as_str), &body)
    {
        state.rejected.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::Unauthorized().body("bad signature");
    }
    state.accepted.lock().unwrap().push(Delivery {
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    });
    HttpResponse::Ok().body("ok")
}

impl Receiver {
    fn start(secret: Option<&str>) -> Self {
        Self::start_on(free_port(false), secret)
    }

    fn start_on(port: u16, secret: Option<&str>) -> Self {
        let state = Arc::new(ReceiverState {
            secret: secret.map(str::to_string),
            ..Default::default()
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
                let data = web::Data::from(st);
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).route(HOOK, web::post().to(receive)))
                        .workers(1)
                        .disable_signals()
                        .listen(listener)
                        .unwrap()
                        .run();
                let handle = server.handle();
                actix_rt::spawn(server);
                ready_tx.send(()).unwrap();
                let _ = stop_rx.await;
                handle.stop(false).await;
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Receiver {
            url: format!("http://127.0.0.1:{port}{HOOK}"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> Vec<Delivery> {
        self.state.accepted.lock().unwrap().clone()
    }

    fn rejected(&self) -> usize {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// Waits (20 s) until `n` requests were accepted.
    fn wait_accepted(&self, n: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "receiver: {} of {n} accepted", got.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn webhook(url: &str, env: &[(&str, &str)]) -> Superlog {
    let mut vars = env_of(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "webhook"),
        ("DSXCONNECT_SUPERLOG__HOSTNAME", "test-host"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL", url),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET", HOOK_SECRET),
        ("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS", "100"),
        ("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS", "400"),
    ]);
    vars.extend(env_of(env));
    start_superlog(&vars)
}

#[test]
fn webhook_posts_signed_malicious_results_only_one_per_request() {
    let rx = Receiver::start(Some(HOOK_SECRET));
    let sl = webhook(&rx.url, &[]);
    sl.emit_audit(&revoke_record(), Some(42));
    for i in 0..6 {
        sl.emit_result(&result(i, &format!("/hook/ü/{i}"), i % 2 == 0, false));
    }
    let got = rx.wait_accepted(3);
    let s = wait_status(&sl, "accounted", |s| s["sent"] == 3 && s["filtered"] == 3);
    assert_eq!((s["failed"].as_u64(), s["dropped"].as_u64()), (Some(0), Some(0)), "{s}");
    assert_eq!(s["format"], "json");
    assert_eq!(rx.rejected(), 0);
    let mut tasks = Vec::new();
    for d in &got {
        let event: Value = serde_json::from_str(&d.body).expect("one JSON object per request");
        assert_eq!(event["event"], "scan_result");
        assert_eq!(event["verdict"], "Malicious");
        assert_eq!(event["host"], "test-host");
        assert_eq!(d.headers["content-type"], "application/json");
        assert_eq!(d.headers["x-dsx-event-id"], event["event_id"].as_str().unwrap());
        assert_eq!(d.headers["x-dsx-event-type"], "scan_result");
        tasks.push(event["scan_request_task_id"].as_str().unwrap().to_string());
    }
    assert_eq!(tasks, ["task-0", "task-2", "task-4"]);
    assert!(got[0].body.contains("/hook/ü/0"), "raw UTF-8");
    // The audit event is taken by no destination: never emitted.
    assert_eq!(sl.status()["emitted_by_type"]["audit"], 0);
    // A later finding arrives next: nothing else came before it.
    sl.emit_result(&result(6, "/hook/ü/6", true, false));
    let got = rx.wait_accepted(4);
    assert_eq!(got.len(), 4, "nothing else arrives");
    let last: Value = serde_json::from_str(&got[3].body).unwrap();
    assert_eq!(last["scan_request_task_id"], "task-6");
}

#[test]
fn webhook_verdict_list_is_configurable() {
    let rx = Receiver::start(Some(HOOK_SECRET));
    let sl = webhook(&rx.url, &[("DSXCONNECT_SUPERLOG__WEBHOOK__VERDICTS", "Benign")]);
    for i in 0..4 {
        sl.emit_result(&result(i, &format!("/hook/{i}"), i % 2 == 0, false));
    }
    let got = rx.wait_accepted(2);
    wait_status(&sl, "accounted", |s| s["sent"] == 2 && s["filtered"] == 2);
    for d in got {
        assert_eq!(serde_json::from_str::<Value>(&d.body).unwrap()["verdict"], "Benign");
    }
}

#[test]
fn a_receiver_refuses_a_wrong_signature_and_the_event_counts_failed_at_once() {
    let rx = Receiver::start(Some("another-secret-0123456789"));
    let sl = webhook(&rx.url, &[]);
    sl.emit_result(&result(1, "/hook/1", true, false));
    let s = wait_status(&sl, "failed", |s| s["failed"] == 1);
    assert_eq!((s["sent"].as_u64(), s["retried"].as_u64()), (Some(0), Some(0)), "{s}");
    assert!(
        s["last_error"].as_str().unwrap().contains("refused the request (401)"),
        "{s}"
    );
    assert_eq!(rx.rejected(), 1);
    assert!(rx.accepted().is_empty());
    let text = sl.status().to_string();
    assert!(!text.contains(HOOK_SECRET) && !text.contains(HOOK), "{text}");
}

#[test]
fn the_slack_format_posts_text_with_peer_text_escaped() {
    let rx = Receiver::start(None);
    let sl = webhook(
        &rx.url,
        &[
            ("DSXCONNECT_SUPERLOG__WEBHOOK__FORMAT", "slack"),
            ("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET", ""),
        ],
    );
    sl.emit_result(&result(3, "/in/<!channel> & <b>\n", true, true));
    let d = rx.wait_accepted(1).remove(0);
    assert!(!d.headers.contains_key("x-dsx-signature"), "no secret, no signature");
    let body: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(":rotating_light: *Malicious* file found by dsx-connect on test-host\n"),
        "{text}"
    );
    assert!(
        text.contains("*Path:* `/in/&lt;!channel&gt; &amp; &lt;b&gt;\\u000a`"),
        "{text}"
    );
    assert!(text.contains("*Threat:* EICAR-Test-File"), "{text}");
    assert!(text.contains("*Engine:* embedded"), "{text}");
    assert!(text.contains("*Action:* move (error): permission denied"), "{text}");
    assert!(
        text.contains("*Connector:* fs \"one\" \\ two ] three\\u0009four"),
        "{text}"
    );
    assert!(text.contains("*Job:* `job-1`"), "{text}");
    wait_status(&sl, "sent", |s| s["sent"] == 1 && s["format"] == "slack");
}

#[test]
fn a_webhook_down_keeps_the_newest_events_counts_drops_and_delivers_after_recovery() {
    let port = free_port(false);
    let url = format!("http://127.0.0.1:{port}{HOOK}");
    let sl = webhook(
        &url,
        &[
            ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "5"),
            ("DSXCONNECT_SUPERLOG__MAX_ATTEMPTS", "100"),
        ],
    );
    // Nothing listens: the first event is retried with backoff, in flight.
    sl.emit_result(&result(0, "/hook/0", true, false));
    wait_status(&sl, "retrying", |s| {
        s["retried"].as_u64() >= Some(2) && s["state"] == "retrying"
    });
    for i in 1..20 {
        sl.emit_result(&result(i, &format!("/hook/{i}"), true, false));
    }
    let s = status_of(&sl);
    assert_eq!(s["dropped"], 20 - 1 - 5, "{s}");
    assert_eq!(s["buffered"], 6, "buffer plus the event in flight: {s}");
    // The receiver comes up on that port.
    let rx = Receiver::start_on(port, Some(HOOK_SECRET));
    let got = rx.wait_accepted(6);
    let s = wait_status(&sl, "delivered", |s| s["sent"] == 6 && s["state"] == "ok");
    assert_eq!((s["emitted"].as_u64(), s["failed"].as_u64()), (Some(20), Some(0)));
    let tasks: Vec<String> = got
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(&d.body).unwrap()["scan_request_task_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = std::iter::once(0).chain(15..20).map(|i| format!("task-{i}")).collect();
    assert_eq!(tasks, want, "the in-flight event, then the newest, in order");
    assert_eq!(rx.rejected(), 0, "retries are signed afresh");
}

/// The verification snippet of docs/CONFIGURATION.md, run by python3 on one body.
fn documented_check(secret: &str, header: &str, body: &str) -> bool {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md")).unwrap();
    let start = doc.find("**Verifying a request**").expect("the section");
    let code = &doc[start..];
    let code = &code[code.find("```python\n").unwrap() + 10..];
    let code = &code[..code.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.py");
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).unwrap();
    std::fs::write(
        &script,
        format!(
            "{code}\nimport sys\nbody = open(sys.argv[3], 'rb').read()\n\
             print(dsx_signature_ok(sys.argv[1].encode(), sys.argv[2], body))\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([secret, header])
        .arg(&body_file)
        .output()
        .expect("python3 runs (scripts/setup.sh)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    match String::from_utf8_lossy(&out.stdout).trim() {
        "True" => true,
        "False" => false,
        other => panic!("{other}"),
    }
}

#[test]
fn the_documented_python_check_accepts_a_real_delivery_and_nothing_else() {
    let rx = Receiver::start(Some(HOOK_SECRET));
    let sl = webhook(&rx.url, &[]);
    sl.emit_result(&result(9, "/hook/ü/9", true, false));
    let d = rx.wait_accepted(1).remove(0);
    let header = &d.headers["x-dsx-signature"];
    assert!(documented_check(HOOK_SECRET, header, &d.body));
    assert!(!documented_check(
        HOOK_SECRET,
        header,
        &d.body.replace("task-9", "task-8")
    ));
    assert!(!documented_check("another-secret-0123456789", header, &d.body));
    let stale = format!("t=1000000000,{}", header.split_once(',').unwrap().1);
    assert!(!documented_check(HOOK_SECRET, &stale, &d.body));
}
