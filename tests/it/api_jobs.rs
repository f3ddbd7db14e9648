//! Jobs: completion rules, control transitions, live frames, statistics
//! (docs/reference/CORE-API.md, "Job endpoints", "Job state machine", "Event streams",
//! "Statistics") and the findings summary.

use crate::common;

use std::time::Duration;

use common::fake_connector::FakeConnector;
use common::*;
use serde_json::{Value, json};

async fn submit(api: &Api, fake: &FakeConnector, job: &str, n: usize, connector: Option<Value>) {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let loc = format!("/{job}/f{i}");
            fake.put_file(&loc, format!("data {i}").as_bytes());
            let mut r = scan_request(&loc, &fake.url, Some(job));
            if let Some(c) = &connector {
                r["connector"] = c.clone();
            }
            r
        })
        .collect();
    let (s, v) = api.post("/scan/request/batch", json!(items)).await;
    assert_eq!(s, 202, "{v}");
}

#[tokio::test]
async fn a_job_stays_running_until_enqueue_done_then_completes_at_once_with_exact_counts() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let caps = json!({"name": "c", "uuid": "3f0c2b2e-1111-4222-8333-444455556666", "capabilities": ["enqueue_done"]});
    submit(&api, &fake, "jc", 5, Some(caps)).await;
    wait_for("all processed", Duration::from_secs(20), || async {
        (count(&api.job("jc").await, "processed_count") == 5).then_some(())
    })
    .await;
    // Completion is decided in the same atomic store step that counts the last outcome, so the
    // snapshot that shows 5 processed would already show it.
    assert_eq!(
        api.job("jc").await["status"],
        "running",
        "no completion before enqueue_done"
    );
    let (s, v) = api
        .post("/scan/jobs/jc/enqueue_done", json!({"enqueued_total": 5}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("completed")));
    let j = api.job("jc").await;
    assert_eq!(j["completed_by"], "enqueue_done");
    assert_eq!(j["progress_pct"], "100");
    let verdicts: u64 = [
        "verdict_benign",
        "verdict_malicious",
        "verdict_unknown",
        "verdict_unsupported",
        "verdict_not_scanned",
        "verdict_non_compliant",
    ]
    .iter()
    .map(|f| count(&j, f))
    .sum();
    assert_eq!(verdicts, count(&j, "processed_count"));
    // An empty job completes at once; a bad body is refused.
    let (s, v) = api
        .post("/scan/jobs/empty-one/enqueue_done", json!({"enqueued_total": 0}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("completed")));
    assert_eq!(
        api.post("/scan/jobs/x/enqueue_done", json!({"enqueued_total": -1}))
            .await
            .0,
        422
    );
    assert_eq!(api.post("/scan/jobs/x/enqueue_done", json!([1])).await.0, 422);
    // Entries the connector could not read are counted; the job completes, with the count shown.
    let (s, v) = api
        .post(
            "/scan/jobs/partial/enqueue_done",
            json!({"enqueued_total": 0, "unreadable_count": 3, "from_the_future": true}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("completed")));
    assert_eq!(api.job("partial").await["unreadable_count"], "3");
    assert_eq!(api.job("empty-one").await["unreadable_count"], "0");
    assert_eq!(
        api.post("/scan/jobs/x/enqueue_done", json!({"unreadable_count": "2"}))
            .await
            .0,
        422
    );
    let (_, raw) = api.get("/scan/jobs/jc/raw").await;
    assert_eq!(raw["key"], "dsxconnect:job:jc");
    assert!(raw["ttl"].as_i64().unwrap() > 600_000);
    assert_eq!(api.get("/scan/jobs/nope/raw").await.1["ttl"], -2);
}

#[tokio::test]
async fn the_idle_rule_completes_jobs_of_connectors_that_never_signal_but_waits_for_those_that_promise_to() {
    let (core, _d) = start_core(&[("DSXCONNECT_JOBS__IDLE_COMPLETE_SECS", "1")]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    submit(&api, &fake, "legacy", 3, None).await;
    let caps = json!({"name": "c", "uuid": "3f0c2b2e-1111-4222-8333-444455556666", "capabilities": ["enqueue_done"]});
    api.post(
        "/connectors/register",
        json!({"name": "c", "uuid": "3f0c2b2e-1111-4222-8333-444455556666", "url": fake.url, "capabilities": ["enqueue_done"]}),
    )
    .await;
    submit(&api, &fake, "modern", 3, Some(caps)).await;
    let j = api.wait_job("legacy", "completed", Duration::from_secs(15)).await;
    assert_eq!(j["completed_by"], "idle");
    assert_eq!(count(&j, "processed_count"), 3);
    // A legacy job submitted after the modern one finished its items is the barrier: once the idle
    // rule completed it, the rule has also looked at the modern job after its idle period.
    wait_for("modern processed", Duration::from_secs(15), || async {
        (count(&api.job("modern").await, "processed_count") == 3).then_some(())
    })
    .await;
    submit(&api, &fake, "later", 1, None).await;
    let later = api.wait_job("later", "completed", Duration::from_secs(15)).await;
    assert_eq!(later["completed_by"], "idle");
    assert_eq!(api.job("modern").await["status"], "running");
}

#[tokio::test]
async fn control_transitions_follow_the_state_table() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    for cmd in ["pause", "resume", "cancel"] {
        assert_eq!(
            api.post(&format!("/scan/jobs/ghost/{cmd}"), json!(null)).await,
            (404, json!({"detail": "job_not_found"}))
        );
    }
    api.post("/scan/jobs/t1/enqueue_done", json!({})).await;
    assert_eq!(
        api.job("t1").await["status"],
        "completed",
        "an empty job completes at enqueue_done"
    );
    let fake = FakeConnector::start();
    submit(&api, &fake, "t2", 1, None).await;
    assert_eq!(
        api.post("/scan/jobs/t2/resume", json!(null)).await,
        (409, json!({"detail": "job_not_paused"}))
    );
    let (s, v) = api.post("/scan/jobs/t2/pause", json!(null)).await;
    assert_eq!(
        (s, v["status"].as_str(), v["job"]["status"].as_str()),
        (200, Some("paused"), Some("paused"))
    );
    assert_eq!(api.post("/scan/jobs/t2/pause", json!(null)).await.0, 200);
    assert_eq!(
        api.post("/scan/jobs/t2/cancel", json!(null)).await.1["status"],
        "cancelled"
    );
    assert_eq!(
        api.post("/scan/jobs/t2/cancel", json!(null)).await.0,
        200,
        "cancel twice is fine"
    );
    assert_eq!(
        api.post("/scan/jobs/t2/pause", json!(null)).await,
        (409, json!({"detail": "job_cancelled"}))
    );
    api.post("/scan/jobs/t3/enqueue_done", json!({"enqueued_total": 0}))
        .await;
    for cmd in ["pause", "resume", "cancel"] {
        assert_eq!(
            api.post(&format!("/scan/jobs/t3/{cmd}"), json!(null)).await,
            (409, json!({"detail": "job_completed"}))
        );
    }
}

#[tokio::test]
async fn the_scan_result_stream_carries_every_result_with_its_job_and_one_terminal_summary() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let mut sse = Sse::open(&format!("{}/subscribe/scan-result", api.base)).await;
    assert_eq!(
        sse.next_block(Duration::from_secs(5)).await.unwrap(),
        r#"data: {"type":"connected"}"#
    );
    assert_eq!(sse.next_block(Duration::from_secs(5)).await.unwrap(), "retry: 5000");
    submit(&api, &fake, "live", 20, None).await;
    api.post("/scan/jobs/live/enqueue_done", json!({"enqueued_total": 20}))
        .await;
    let frames = sse
        .until(Duration::from_secs(20), |v| {
            v["type"] == "job_summary" && v["job"]["status"] == "completed"
        })
        .await;
    let results: Vec<&Value> = frames.iter().filter(|f| f["type"] == "scan_result").collect();
    assert_eq!(results.len(), 20);
    for key in [
        "job_id",
        "status",
        "processed_count",
        "total",
        "enqueued_total",
        "enqueued_count",
        "enqueue_done",
        "last_update",
        "duration_secs",
        "eta_secs",
        "time_remaining",
    ] {
        assert!(results[0]["job"].get(key).is_some(), "job summary has {key}");
    }
    assert!(results[0]["scan_result"]["scan_request_task_id"].is_string());
    // Exactly one terminal frame, even with enqueue_done racing the last results: a marker job
    // ends after it, and frames arrive in publication order, so a second end of "live" announced
    // by then comes before the marker's.
    api.post("/scan/jobs/marker/enqueue_done", json!({"enqueued_total": 0}))
        .await;
    let more = sse
        .until(Duration::from_secs(20), |v| {
            v["type"] == "job_summary" && v["job"]["job_id"] == "marker" && v["job"]["status"] == "completed"
        })
        .await;
    assert_eq!(more.last().map(|v| &v["job"]["job_id"]), Some(&json!("marker")));
    let terminal = frames
        .iter()
        .chain(more.iter())
        .filter(|f| f["type"] == "job_summary" && f["job"]["job_id"] == "live" && f["job"]["status"] == "completed")
        .count();
    assert_eq!(terminal, 1);
}

#[tokio::test]
async fn pausing_a_quiet_job_publishes_its_summary_within_a_second() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    submit(&api, &fake, "quiet", 1, None).await;
    wait_for("processed", Duration::from_secs(10), || async {
        (count(&api.job("quiet").await, "processed_count") == 1).then_some(())
    })
    .await;
    let mut sse = Sse::open(&format!("{}/subscribe/scan-result", api.base)).await;
    sse.next_block(Duration::from_secs(2)).await;
    sse.next_block(Duration::from_secs(2)).await;
    api.post("/scan/jobs/quiet/pause", json!(null)).await;
    let f = sse.next_json(Duration::from_secs(1)).await.expect("a frame within 1 s");
    assert_eq!(
        (f["type"].as_str(), f["job"]["status"].as_str()),
        (Some("job_summary"), Some("paused"))
    );
    assert!(f["ts"].is_i64());
    assert_eq!(api.get("/subscribe/job-summary/quiet?interval=1").await.0, 422);
    let mut js = Sse::open(&format!("{}/subscribe/job-summary/quiet?interval=2", api.base)).await;
    assert_eq!(js.next_block(Duration::from_secs(2)).await.unwrap(), "retry: 5000");
    assert_eq!(
        js.next_json(Duration::from_secs(2)).await.unwrap(),
        json!({"type": "connected", "job_id": "quiet"})
    );
    let s = js.next_json(Duration::from_secs(2)).await.unwrap();
    assert_eq!(s["job"]["status"], "paused");
}

#[tokio::test]
async fn an_idle_stream_sends_a_heartbeat_within_fifteen_seconds() {
    let (core, _d) = start_core(&[]);
    let mut sse = Sse::open(&format!("{}{API}/subscribe/scan-result", core.url)).await;
    sse.next_block(Duration::from_secs(2)).await;
    sse.next_block(Duration::from_secs(2)).await;
    let f = sse.next_json(Duration::from_secs(16)).await.expect("heartbeat");
    assert_eq!(f, json!({"type": "heartbeat"}));
}

#[tokio::test]
async fn statistics_count_results_with_and_without_file_info_exactly_once() {
    let dsxa = Dsxa::start(&[]);
    let url = dsxa.scan_url();
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url)]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let answer = |size: Option<u64>| match size {
        Some(s) => {
            json!({"status": 200, "body": {"verdict": "Benign", "file_info": {"file_size_in_bytes": s}, "scan_duration_in_microseconds": s}})
        }
        None => json!({"status": 200, "body": {"verdict": "Benign"}}),
    };
    dsxa.script(json!([answer(Some(100)), answer(Some(200)), answer(None)]))
        .await;
    for i in 0..3 {
        fake.put_file(&format!("/s{i}"), b"x");
        api.post(
            "/scan/request",
            scan_request(&format!("/s{i}"), &fake.url, Some("stats")),
        )
        .await;
        wait_for("one more result", Duration::from_secs(10), || async {
            (api.get("/scan/stats").await.1["files_scanned"] == i + 1).then_some(())
        })
        .await;
    }
    let (_, s) = api.get("/scan/stats").await;
    assert_eq!(
        (
            s["files_scanned"].as_u64(),
            s["total_file_size"].as_u64(),
            s["avg_file_size"].as_u64()
        ),
        (Some(3), Some(300), Some(150))
    );
    assert_eq!(s["benign_count"], 3);
    // Two sized results, 100 and 200: rank 1 falls in the bucket [96, 103] ("Statistics").
    assert_eq!(s["median_file_size_in_bytes"], 103);
    assert_eq!(s["longest_scan_time_in_microseconds"], 200);
    assert_eq!(s["longest_scan_time_file"], "/s1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_summaries_are_throttled_to_four_per_second_per_job() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            fake.put_file(&format!("/t{i}"), b"x");
            scan_request(&format!("/t{i}"), &fake.url, Some("thr"))
        })
        .collect();
    api.post("/scan/request/batch", json!(items)).await;
    let start = tokio::time::Instant::now();
    let mut sse = Sse::open(&format!("{}/subscribe/scan-result", api.base)).await;
    let mut js = Sse::open(&format!("{}/subscribe/job-summary/thr?interval=60", api.base)).await;
    api.post("/scan/jobs/thr/cancel", json!(null)).await;
    // Every queued item is now skipped as the workers reach it: many changes, few frames. Frames
    // are read until one carries the final figures (all 1,000 items accounted for), however long
    // a loaded machine takes; the time that took bounds the number of frames. The job-summary
    // stream also gets a summary of every result recorded before the cancel, under the same rule.
    let figure = |v: &Value, k: &str| v["job"][k].as_u64().unwrap_or(0);
    let mut counted = Vec::new();
    for stream in [&mut sse, &mut js] {
        let mut summaries = 0;
        let mut last_counts = 0;
        while last_counts < 1000 {
            let v = stream
                .next_json(Duration::from_secs(120))
                .await
                .expect("job summaries until the final figures");
            if v["type"] == "job_summary" && v["job"]["job_id"] == "thr" {
                summaries += 1;
                last_counts = figure(&v, "processed_count") + figure(&v, "skipped_count") + figure(&v, "failed_count");
            }
        }
        counted.push((summaries, last_counts));
    }
    let secs = start.elapsed().as_secs_f64();
    let j = api.job("thr").await;
    let final_counts = count(&j, "processed_count") + count(&j, "skipped_count") + count(&j, "failed_count");
    assert!(count(&j, "skipped_count") > 100, "many changes happened");
    // + the cancel announcement and the window edges; the job-summary stream also has its
    // periodic frames (one at once, then one a minute).
    let allowed = (secs.max(0.0) * 4.0).ceil() as u64 + 3;
    let periodic = 2 + (secs / 60.0).ceil() as u64;
    let [(on_results, last_results), (on_job, last_job)] = counted[..] else {
        unreachable!()
    };
    assert_eq!(
        (last_results, last_job),
        (final_counts, final_counts),
        "the last frames have the final figures"
    );
    assert!(on_results <= allowed, "{on_results} summaries in {secs:.2} s");
    assert!(
        on_job <= allowed + periodic,
        "{on_job} summaries on the job's stream in {secs:.2} s"
    );
}

#[tokio::test]
async fn the_findings_summary_counts_the_days_malicious_results_by_threat_connector_and_job() {
    let dsxa = Dsxa::start(&[]);
    let url = dsxa.scan_url();
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url)]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let (s, empty) = api.get("/scan/findings/summary").await;
    assert_eq!(s, 200, "{empty}");
    assert_eq!(
        (
            &empty["malicious"],
            &empty["complete"],
            &empty["first_seen"],
            &empty["window_hours"]
        ),
        (&json!(0), &json!(true), &Value::Null, &json!(24))
    );
    assert_eq!(empty["recent"], json!([]));

    let malicious = |threat: &str| json!({"status": 200, "body": {"verdict": "Malicious", "verdict_details": {"event_description": threat, "threat_type": "VIRUS"}}});
    let benign = json!({"status": 200, "body": {"verdict": "Benign"}});
    dsxa.script(json!([
        malicious("Trojan.A"),
        benign,
        malicious("Worm.B"),
        malicious("Trojan.A")
    ]))
    .await;
    let conn = |name: &str, uuid: &str| json!({"name": name, "uuid": uuid});
    let items = [
        ("find-1", "/a/1", conn("conn-a", "3f0c2b2e-1111-4222-8333-444455556666")),
        ("find-1", "/a/2", conn("conn-a", "3f0c2b2e-1111-4222-8333-444455556666")),
        (
            "find-2",
            "/b/<3>",
            conn("conn-b", "3f0c2b2e-1111-4222-8333-777788889999"),
        ),
        ("find-2", "/b/4", conn("conn-a", "3f0c2b2e-1111-4222-8333-444455556666")),
    ];
    // One at a time, so the scripted answers meet the items in order.
    for (i, (job, loc, c)) in items.iter().enumerate() {
        fake.put_file(loc, b"x");
        let mut r = scan_request(loc, &fake.url, Some(job));
        r["connector"] = c.clone();
        let (s, v) = api.post("/scan/request", r).await;
        assert_eq!(s, 202, "{v}");
        wait_for("one more result", Duration::from_secs(10), || async {
            (api.get("/scan/stats").await.1["files_scanned"] == i + 1).then_some(())
        })
        .await;
    }

    let (s, f) = api.get("/scan/findings/summary?recent=2").await;
    assert_eq!(s, 200, "{f}");
    assert_eq!((&f["malicious"], &f["complete"]), (&json!(3), &json!(true)), "{f}");
    let groups = |k: &str| -> Vec<(String, u64)> {
        f[k].as_array()
            .unwrap()
            .iter()
            .map(|g| (g["label"].as_str().unwrap().to_string(), g["count"].as_u64().unwrap()))
            .collect()
    };
    let pairs = |v: &[(&str, u64)]| v.iter().map(|(l, n)| (l.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(groups("by_threat"), pairs(&[("Trojan.A", 2), ("Worm.B", 1)]));
    assert_eq!(groups("by_connector"), pairs(&[("conn-a", 2), ("conn-b", 1)]));
    assert_eq!(groups("by_job"), pairs(&[("find-2", 2), ("find-1", 1)]));
    assert_eq!(f["by_connector"][1]["key"], "3f0c2b2e-1111-4222-8333-777788889999");
    let recent = f["recent"].as_array().unwrap();
    let locations: Vec<&str> = recent.iter().map(|r| r["location"].as_str().unwrap()).collect();
    assert_eq!(locations, ["/b/4", "/b/<3>"], "newest first, as many as asked");
    assert_eq!(
        (
            &recent[1]["threat"],
            &recent[1]["threat_type"],
            &recent[1]["engine"],
            &recent[1]["job_id"]
        ),
        (&json!("Worm.B"), &json!("VIRUS"), &json!("dsxa"), &json!("find-2"))
    );
    assert!(recent[1]["action"].is_string() && recent[1]["action_status"].is_string());
    let (first, last) = (f["first_seen"].as_str().unwrap(), f["last_seen"].as_str().unwrap());
    assert!(f["since"].as_str().unwrap() <= first && first < last && last <= f["until"].as_str().unwrap());
    assert_eq!(f["by_threat"][0]["last_seen"], last);

    let (_, all) = api.get("/scan/findings/summary").await;
    assert_eq!(
        all["recent"].as_array().unwrap().len(),
        3,
        "ten by default, three exist"
    );
    for bad in ["many", "101", "-1"] {
        let (s, _) = api.get(&format!("/scan/findings/summary?recent={bad}")).await;
        assert_eq!(s, 422, "recent={bad}");
    }
}
