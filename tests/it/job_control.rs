//! Jobs you can trust (issue 3): pause holds everything, resume dispatches what was parked,
//! cancel drops queued work and counts it skipped, counts always add up, dead letters can be
//! requeued into their job, many SSE clients all see the end.

use crate::common;

use std::time::Duration;

use common::fake_connector::{Answer, FakeConnector};
use common::*;
use serde_json::{Value, json};

fn at_rest(j: &Value) {
    assert_eq!(
        count(j, "processed_count") + count(j, "failed_count") + count(j, "skipped_count"),
        count(j, "enqueued_count"),
        "counts add up: {j}"
    );
}

async fn scans(dsxa: &Dsxa) -> usize {
    dsxa.captured().await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_while_the_connector_enumerates_parks_everything_and_resume_finishes_it() {
    let dsxa = Dsxa::start(&["--delay-ms", "30"]);
    let url = dsxa.scan_url();
    let (core, data) = start_core(&[
        ("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url),
        ("DSXCONNECT_WORKERS__CONCURRENCY", "4"),
    ]);
    let asset = tempfile::tempdir().unwrap();
    for i in 0..400 {
        write(asset.path(), &format!("d{}/f{i:03}", i % 7), b"content");
    }
    let (_c, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        data.path(),
        &[("DSXCONNECTOR_SCAN_BATCH_SIZE", "10")],
    );
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let job = api.full_scan(&uuid).await;
    let (s, v) = api.post(&format!("/scan/jobs/{job}/pause"), json!(null)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("paused")));
    // Enumeration goes on: every item is accepted (parked), none is dispatched any more.
    let j = wait_for("enumeration finished", Duration::from_secs(30), || async {
        let j = api.job(&job).await;
        (j["enqueue_done"] == "1").then_some(j)
    })
    .await;
    assert_eq!(count(&j, "enqueued_count"), 400);
    assert_eq!(j["status"], "paused");
    // A later job's items queue behind every item of the paused job (claims are ordered): once
    // they are all processed, the workers have claimed and parked the paused job's items.
    let fake = FakeConnector::start();
    let barrier: Vec<Value> = (0..20)
        .map(|i| {
            let loc = format!("/barrier/f{i}");
            fake.put_file(&loc, b"barrier");
            scan_request(&loc, &fake.url, Some("barrier"))
        })
        .collect();
    assert_eq!(api.post("/scan/request/batch", json!(barrier)).await.0, 202);
    wait_for("the later job processed", Duration::from_secs(60), || async {
        (count(&api.job("barrier").await, "processed_count") == 20).then_some(())
    })
    .await;
    // The items dispatched before the pause finish; nothing else of the paused job is scanned.
    let frozen = wait_for("in-flight items recorded", Duration::from_secs(30), || async {
        let processed = count(&api.job(&job).await, "processed_count") as usize;
        (scans(&dsxa).await == processed + 20).then_some(processed)
    })
    .await;
    assert!(frozen < 400, "nothing of a paused job is dispatched: {frozen}");
    assert_eq!(api.job(&job).await["status"], "paused");
    let (s, v) = api.post(&format!("/scan/jobs/{job}/resume"), json!(null)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("running")));
    let j = api.wait_job(&job, "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&j, "processed_count"), 400, "nothing lost");
    at_rest(&j);
    assert_eq!(scans(&dsxa).await, 420, "each item scanned once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_drops_queued_work_lets_in_flight_items_finish_and_stays_cancelled() {
    let dsxa = Dsxa::start(&["--delay-ms", "40"]);
    let url = dsxa.scan_url();
    let (core, _d) = start_core(&[
        ("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url),
        ("DSXCONNECT_WORKERS__CONCURRENCY", "4"),
    ]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let items: Vec<Value> = (0..200)
        .map(|i| {
            fake.put_file(&format!("/c{i}"), b"x");
            scan_request(&format!("/c{i}"), &fake.url, Some("cx"))
        })
        .collect();
    api.post("/scan/request/batch", json!(items)).await;
    wait_for("some processed", Duration::from_secs(20), || async {
        (count(&api.job("cx").await, "processed_count") >= 20).then_some(())
    })
    .await;
    let (s, v) = api.post("/scan/jobs/cx/cancel", json!(null)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("cancelled")));
    // Later requests for the job are refused with 409.
    let (s, v) = api
        .post("/scan/request", scan_request("/late", &fake.url, Some("cx")))
        .await;
    assert_eq!((s, v["message"].as_str()), (409, Some("Job cancelled")));
    let j = wait_for("at rest", Duration::from_secs(20), || async {
        let j = api.job("cx").await;
        (count(&j, "processed_count") + count(&j, "skipped_count") == 200).then_some(j)
    })
    .await;
    assert_eq!(j["status"], "cancelled");
    assert_eq!(j["cancel"], "1");
    assert!(count(&j, "skipped_count") > 100, "queued work was dropped");
    at_rest(&j);
    // The connector's end-of-enumeration signal is what completes a running job: it must not
    // complete a cancelled one.
    api.post("/scan/jobs/cx/enqueue_done", json!({"enqueued_total": 200}))
        .await;
    let again = api.job("cx").await;
    assert_eq!(again["status"], "cancelled", "a cancelled job never completes");
    assert_eq!(again["finished_at"], j["finished_at"]);
    // Skipped tasks say so.
    let (_, res) = api.get("/scan/results?job_id=cx&limit=1000").await;
    assert_eq!(res.as_array().unwrap().len() as u64, count(&j, "processed_count"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_jobs_with_random_control_all_end_with_counts_that_add_up() {
    let dsxa = Dsxa::start(&["--delay-ms", "2"]);
    let url = dsxa.scan_url();
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url)]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let jobs: Vec<String> = (0..10).map(|i| format!("rnd{i}")).collect();
    for (n, job) in jobs.iter().enumerate() {
        let items: Vec<Value> = (0..150)
            .map(|i| {
                let loc = format!("/{job}/{i}");
                fake.put_file(&loc, format!("{n}-{i}").as_bytes());
                scan_request(&loc, &fake.url, Some(job))
            })
            .collect();
        api.post("/scan/request/batch", json!(items)).await;
    }
    // A deterministic "random" sequence of commands while the jobs run.
    let mut seed = 0x2545_f491u64;
    for _ in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let job = &jobs[(seed % 10) as usize];
        let cmd = ["pause", "resume", "pause", "resume", "cancel"][((seed >> 8) % 5) as usize];
        let (s, _) = api.post(&format!("/scan/jobs/{job}/{cmd}"), json!(null)).await;
        assert!(matches!(s, 200 | 409), "{cmd} {job} -> {s}");
        // The scenario: commands spread over the jobs' lifetime (pacing, not a wait).
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    for job in &jobs {
        api.post(&format!("/scan/jobs/{job}/resume"), json!(null)).await;
        api.post(
            &format!("/scan/jobs/{job}/enqueue_done"),
            json!({"enqueued_total": 150}),
        )
        .await;
    }
    for job in &jobs {
        let j = wait_for(&format!("{job} finished"), Duration::from_secs(60), || async {
            let j = api.job(job).await;
            let done = count(&j, "processed_count") + count(&j, "failed_count") + count(&j, "skipped_count") == 150;
            (done && (j["status"] == "completed" || j["status"] == "cancelled")).then_some(j)
        })
        .await;
        assert_eq!(count(&j, "enqueued_count"), 150);
        at_rest(&j);
        if j["status"] == "completed" {
            assert_eq!(
                count(&j, "processed_count"),
                150,
                "{job}: a completed job processed everything"
            );
        }
    }
}

#[tokio::test]
async fn dead_letters_are_counted_failed_and_a_requeue_moves_them_to_processed() {
    let (core, _d) = start_core(&[("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "2")]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    for i in 0..3 {
        fake.put_file(&format!("/d{i}"), b"ok later");
        fake.script_read(&format!("/d{i}"), vec![Answer::status(503), Answer::status(503)]);
        api.post("/scan/request", scan_request(&format!("/d{i}"), &fake.url, Some("dl")))
            .await;
    }
    api.post("/scan/jobs/dl/enqueue_done", json!({"enqueued_total": 3}))
        .await;
    let j = api.wait_job("dl", "completed", Duration::from_secs(20)).await;
    assert_eq!((count(&j, "failed_count"), count(&j, "processed_count")), (3, 0));
    let (_, st) = api.get("/admin/dead-letter/stats").await;
    assert_eq!(st["total_items"], 3);
    assert_eq!(st["queues"]["scan_request"]["length"], 3);
    assert_eq!(st["active_queues"], 1);
    assert!(st["queues"]["scan_request"]["ttl_seconds"].as_i64().unwrap() > 0);
    assert_eq!(
        api.get("/admin/dead-letter/items/scan_request?start=5&end=2").await.0,
        400
    );
    assert_eq!(api.get("/admin/dead-letter/items/nope").await.0, 422);
    let (_, items) = api.get("/admin/dead-letter/items/scan_request?start=1&end=1").await;
    assert_eq!(
        (items["total_length"].as_u64(), items["returned_count"].as_u64()),
        (Some(3), Some(1))
    );
    // The connector works again: requeue runs the items under their job.
    let (s, v) = api
        .post("/admin/dead-letter/requeue/scan_request?max_items=2", json!(null))
        .await;
    assert_eq!(
        (s, v["requeued_count"].as_u64(), v["remaining_count"].as_u64()),
        (200, Some(2), Some(1))
    );
    let j = wait_for("requeued items processed", Duration::from_secs(20), || async {
        let j = api.job("dl").await;
        (count(&j, "processed_count") == 2).then_some(j)
    })
    .await;
    assert_eq!(count(&j, "failed_count"), 1, "moved from failed to processed");
    assert_eq!(j["status"], "completed");
    at_rest(&j);
    let (_, v) = api
        .http
        .delete(format!("{}/admin/dead-letter/clear/scan_request", api.base))
        .send()
        .await
        .map(|r| (0, r))
        .unwrap();
    let v: Value = v.json().await.unwrap();
    assert_eq!(v["cleared_count"], 1);
    let (_, h) = api.get("/admin/dead-letter/health").await;
    assert_eq!(
        (h["status"].as_str(), h["total_dead_letter_items"].as_u64()),
        (Some("healthy"), Some(0))
    );
}

#[tokio::test]
async fn a_task_reports_its_real_state() {
    let dsxa = Dsxa::start(&["--delay-ms", "1500"]);
    let url = dsxa.scan_url();
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url)]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    fake.put_file("/slow", b"x");
    let (_, v) = api
        .post("/scan/request", scan_request("/slow", &fake.url, Some("ts")))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    let running = wait_for("running", Duration::from_secs(5), || async {
        let (_, t) = api.get(&format!("/scan/request/{id}")).await;
        (t["task_state"] == "running").then_some(t)
    })
    .await;
    assert_eq!(
        (running["state"].as_str(), running["attempts"].as_u64()),
        (Some("STARTED"), Some(1))
    );
    let r = api
        .http
        .get(format!("{}/scan/request/{id}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["retry-after"], "2");
    let done = wait_for("succeeded", Duration::from_secs(10), || async {
        let (_, t) = api.get(&format!("/scan/request/{id}")).await;
        (t["task_state"] == "succeeded").then_some(t)
    })
    .await;
    assert_eq!(done["verdict"], "Benign");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sse_clients_all_receive_the_final_job_frame() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(Sse::open(&format!("{}/subscribe/scan-result", api.base)).await);
    }
    // One more client that never reads.
    let _stuck = reqwest::get(format!("{}/subscribe/scan-result", api.base))
        .await
        .unwrap();
    let items: Vec<Value> = (0..50)
        .map(|i| {
            fake.put_file(&format!("/s{i}"), b"x");
            scan_request(&format!("/s{i}"), &fake.url, Some("many"))
        })
        .collect();
    api.post("/scan/request/batch", json!(items)).await;
    api.post("/scan/jobs/many/enqueue_done", json!({"enqueued_total": 50}))
        .await;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                c.until(Duration::from_secs(30), |v| {
                    v["type"] == "job_summary" && v["job"]["status"] == "completed"
                })
                .await
                .len()
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap() >= 50, "every client saw the results and the end");
    }
}

#[tokio::test]
async fn jobs_are_listed_newest_first_with_paging() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    for i in 0..5 {
        api.post(
            &format!("/scan/jobs/page{i}/enqueue_done"),
            json!({"enqueued_total": 0}),
        )
        .await;
        // The thing under test: jobs created in different seconds (timestamps have whole seconds).
        tokio::time::sleep(Duration::from_millis(1050)).await;
    }
    let (_, all) = api.get("/scan/jobs").await;
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["page4", "page3", "page2", "page1", "page0"]);
    let (_, page) = api.get("/scan/jobs?limit=2&offset=2").await;
    let ids: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["page2", "page1"]);
    let (_, done) = api.get("/scan/jobs?status=completed&limit=1").await;
    assert_eq!(done.as_array().unwrap().len(), 1);
}
