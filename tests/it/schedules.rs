//! Scan schedules over HTTP on either backend (`DSX_TEST_BACKEND=redis` runs them on Redis):
//! validation and the edit cycle, a filtered scheduled scan on a real filesystem connector, the
//! skip while the previous job runs, and one catch-up run after downtime. The run-exactly-once
//! guarantee across two real API processes is in `redis_scale`.

use crate::common;

use std::net::TcpListener;
use std::time::Duration;

use common::fake_connector::FakeConnector;
use common::*;
use serde_json::{Value, json};

const UUID: &str = "5b3c1d2e-0f4a-4b6c-8d9e-112233445566";

fn fake_model(url: &str) -> Value {
    json!({"name": "fake", "uuid": UUID, "url": url, "status": "ready", "asset": "/data",
           "capabilities": ["enqueue_done"]})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ms_of(iso: &Value) -> i64 {
    let t: chrono::DateTime<chrono::Utc> = iso.as_str().expect("a time").parse().expect("RFC 3339");
    t.timestamp_millis()
}

/// The schedule's runs, newest first.
async fn runs(api: &Api, id: &str) -> Vec<Value> {
    let (s, v) = api.get(&format!("/schedules/{id}")).await;
    if s != 200 {
        return Vec::new();
    }
    v["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits until the schedule has recorded a run that `pred` accepts; returns it.
async fn wait_run(api: &Api, id: &str, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, timeout, || async {
        runs(api, id).await.into_iter().find(|r| pred(r))
    })
    .await
}

fn issue_locs(v: &Value) -> Vec<Value> {
    v["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["loc"].clone())
        .collect()
}

#[tokio::test]
async fn schedules_are_validated_edited_paused_resumed_and_deleted() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    assert_eq!(api.post("/connectors/register", fake_model(&fake.url)).await.0, 201);

    // Every field is checked, and all problems are reported at once.
    let (s, v) = api
        .post(
            "/schedules",
            json!({"connector_uuid": "not-a-uuid", "name": "", "cron": "61 * * * *", "colour": "red",
                   "filter": "\"unclosed", "missed_runs": "twice", "paused": "no"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let locs = issue_locs(&v);
    for field in [
        "connector_uuid",
        "name",
        "cron",
        "colour",
        "filter",
        "missed_runs",
        "paused",
    ] {
        assert!(locs.contains(&json!(["body", field])), "{field} in {v}");
    }
    let bad = |body: Value| {
        let api = &api;
        async move { api.post("/schedules", body).await }
    };
    let base = json!({"connector_uuid": UUID, "name": "nightly"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let (s, v) = bad(with(json!({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}))).await;
    assert_eq!(
        (s, v["detail"][0]["loc"].clone()),
        (422, json!(["body", "timezone"])),
        "{v}"
    );
    let (s, v) = bad(with(json!({"cron": "* * * * * *"}))).await;
    assert!(
        s == 422 && v["detail"][0]["msg"].as_str().unwrap().contains("10 s"),
        "{v}"
    );
    let (s, v) = bad(with(json!({"cron": "0 2 * * *", "interval_secs": 60}))).await;
    assert!(
        s == 422 && v["detail"][0]["msg"].as_str().unwrap().contains("not both"),
        "{v}"
    );
    let (s, v) = bad(with(json!({"interval_secs": 5}))).await;
    assert_eq!(
        (s, v["detail"][0]["loc"].clone()),
        (422, json!(["body", "interval_secs"])),
        "{v}"
    );
    let (s, _) = bad(base.clone()).await;
    assert_eq!(s, 422, "a cadence is required");
    let (s, v) =
        bad(json!({"connector_uuid": "00000000-0000-4000-8000-000000000000", "name": "x", "interval_secs": 60})).await;
    assert!(
        s == 422 && v["detail"][0]["msg"].as_str().unwrap().contains("No connector"),
        "{v}"
    );
    let (s, _) = bad(with(json!({"name": "evil\u{1b}[31m", "interval_secs": 60}))).await;
    assert_eq!(s, 422, "control characters in a name");
    assert_eq!(api.post_raw("/schedules", "{not json").await.0, 422);

    // Create: the next due time is in the time zone's future, shown in UTC.
    let before = now_ms();
    let (s, created) = api
        .post(
            "/schedules",
            with(
                json!({"cron": "30 2 * * *", "timezone": "Europe/Berlin", "filter": "--exclude *.tmp",
                        "job_name": "nightly scan"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["cron"], "30 2 * * *");
    assert_eq!(created["timezone"], "Europe/Berlin");
    assert_eq!(created["interval_secs"], Value::Null);
    assert_eq!(created["missed_runs"], "once");
    assert_eq!(created["paused"], false);
    assert_eq!(created["last_run"], Value::Null);
    let next = ms_of(&created["next_run_at"]);
    assert!(next > before && next <= before + 86_400_000, "{created}");
    assert!(created["next_run_at"].as_str().unwrap().ends_with('Z'));

    let (s, list) = api.get("/schedules").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let (s, one) = api.get(&format!("/schedules/{id}")).await;
    assert_eq!((s, one["runs"].clone()), (200, json!([])));
    assert_eq!(api.get("/schedules/not-a-uuid").await.0, 422);
    assert_eq!(api.get("/schedules/00000000-0000-4000-8000-000000000000").await.0, 404);

    // Pause: no next due time; resume: due times count from now again.
    let (s, paused) = api.post(&format!("/schedules/{id}/pause"), json!({})).await;
    assert_eq!(
        (s, paused["paused"].clone(), paused["next_run_at"].clone()),
        (200, json!(true), Value::Null)
    );
    let (s, resumed) = api.post(&format!("/schedules/{id}/resume"), json!({})).await;
    assert_eq!((s, resumed["paused"].clone()), (200, json!(false)));
    assert!(ms_of(&resumed["next_run_at"]) > before);

    // Edit: a new cadence counts from now; an invalid edit changes nothing.
    let (s, edited) = api
        .put(
            &format!("/schedules/{id}"),
            with(json!({"interval_secs": 3600, "missed_runs": "skip"})),
        )
        .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(
        (edited["interval_secs"].clone(), edited["cron"].clone()),
        (json!(3600), Value::Null)
    );
    assert_eq!(edited["missed_runs"], "skip");
    assert_eq!(edited["filter"], Value::Null, "PUT replaces every editable field");
    let due = ms_of(&edited["next_run_at"]) - now_ms();
    assert!((3_500_000..=3_600_000).contains(&due), "{edited}");
    let (s, _) = api
        .put(&format!("/schedules/{id}"), with(json!({"interval_secs": 1})))
        .await;
    assert_eq!(s, 422);
    assert_eq!(api.get(&format!("/schedules/{id}")).await.1["interval_secs"], 3600);

    // Delete.
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 204);
    assert_eq!(api.get(&format!("/schedules/{id}")).await.0, 404);
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 404);
    assert_eq!(api.get("/schedules").await.1, json!([]));
}

#[tokio::test]
async fn a_run_is_skipped_while_the_previous_job_runs_and_starts_once_it_finished() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    assert_eq!(api.post("/connectors/register", fake_model(&fake.url)).await.0, 201);
    let (s, created) = api
        .post(
            "/schedules",
            json!({"connector_uuid": UUID, "name": "every ten", "interval_secs": 10, "filter": "--exclude *.tmp"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let deadline = Duration::from_secs(60);

    // First due time: a job starts; the fake connector never reports enqueue_done, so it runs on.
    let first = wait_run(&api, &id, "the first run", deadline, |r| r["outcome"] == "started").await;
    let job = first["job_id"].as_str().unwrap().to_string();
    assert!(job.starts_with(&format!("sched-{id}-")), "{first}");
    let j = api.job(&job).await;
    assert_eq!(
        (j["status"].clone(), j["job_name"].clone()),
        (json!("running"), json!("every ten"))
    );
    let calls = fake.requests("/full_scan");
    assert_eq!(calls.len(), 1);
    let q: Vec<(String, String)> = url::form_urlencoded::parse(calls[0].query.as_bytes())
        .into_owned()
        .collect();
    assert!(q.contains(&("job_id".into(), job.clone())), "{q:?}");
    assert!(q.contains(&("filter".into(), "--exclude *.tmp".into())), "{q:?}");

    // Next due time: recorded as skipped, naming the job still running; no second call.
    let skip = wait_run(&api, &id, "a skipped run", deadline, |r| r["outcome"] == "skipped").await;
    assert!(skip["reason"].as_str().unwrap().contains(&job), "{skip}");
    assert_eq!(skip["job_id"], Value::Null);
    assert_eq!(fake.requests("/full_scan").len(), 1);

    // The job finishes: the following due time starts a new one.
    let (s, _) = api
        .post(&format!("/scan/jobs/{job}/enqueue_done"), json!({"enqueued_total": 0}))
        .await;
    assert_eq!(s, 200);
    api.wait_job(&job, "completed", deadline).await;
    let again = wait_run(&api, &id, "a run after the job finished", deadline, |r| {
        r["outcome"] == "started" && r["job_id"] != job.as_str()
    })
    .await;
    assert_eq!(fake.requests("/full_scan").len(), 2, "{again}");
    let (_, view) = api.get(&format!("/schedules/{id}")).await;
    assert_eq!(view["last_job_id"], again["job_id"]);
    assert!(ms_of(&view["next_run_at"]) > ms_of(&again["due_at"]));
    // Skips are counted for operators.
    let metrics = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("dsx_connect_schedule_runs_total{outcome=\"skipped\"}"),
        "{metrics}"
    );
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 204);
}

#[tokio::test]
async fn a_scheduled_scan_of_a_real_connector_applies_the_schedule_filter() {
    let (core, _d) = start_core(&[]);
    let api = Api::new(&core.url);
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "keep/a.txt", b"clean a");
    write(tree.path(), "keep/b.txt", b"clean b");
    write(tree.path(), "keep/c.tmp", b"clean c");
    write(tree.path(), "skip/d.txt", b"clean d");
    let data = tempfile::tempdir().unwrap();
    let (_conn, uuid) = start_fs_connector(&core.url, tree.path(), data.path(), &[]);
    api.wait_registered(&uuid).await;
    let (s, created) = api
        .post(
            "/schedules",
            json!({"connector_uuid": uuid, "name": "keep only", "interval_secs": 10,
                   "filter": "keep --exclude *.tmp", "job_name": "filtered"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let run = wait_run(&api, &id, "the first run", Duration::from_secs(60), |r| {
        r["outcome"] == "started"
    })
    .await;
    let job_id = run["job_id"].as_str().unwrap();
    let job = api.wait_job(job_id, "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&job, "processed_count"), 2, "{job}");
    assert_eq!(job["job_name"], "filtered");
    let (_, results) = api.get(&format!("/scan/results/job/{job_id}")).await;
    let mut scanned: Vec<String> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scan_request"]["location"].as_str().unwrap_or_default().to_string())
        .collect();
    scanned.sort();
    assert!(
        scanned.len() == 2 && scanned[0].ends_with("keep/a.txt") && scanned[1].ends_with("keep/b.txt"),
        "{scanned:?}"
    );
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 204);
}

#[tokio::test]
async fn after_downtime_one_catch_up_run_covers_every_missed_due_time() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = || TcpListener::bind(("127.0.0.1", port)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut core = start_core_on(data.path(), &[], bind());
    let api = Api::new(&core.url);
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"clean");
    let cdata = tempfile::tempdir().unwrap();
    let (_conn, uuid) = start_fs_connector(&core.url, tree.path(), cdata.path(), &[]);
    api.wait_registered(&uuid).await;
    let (s, created) = api
        .post(
            "/schedules",
            json!({"connector_uuid": uuid, "name": "catch up", "interval_secs": 10}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let deadline = Duration::from_secs(60);
    let first = wait_run(&api, &id, "the first run", deadline, |r| r["outcome"] == "started").await;
    api.wait_job(first["job_id"].as_str().unwrap(), "completed", deadline)
        .await;
    let next_due = ms_of(&api.get(&format!("/schedules/{id}")).await.1["next_run_at"]);

    // Down until at least three due times have passed.
    core.stop();
    let back_after = next_due + 25_000;
    wait_for("three due times to pass", Duration::from_secs(90), || async {
        (now_ms() > back_after).then_some(())
    })
    .await;
    let restarted_at = now_ms();
    let _core = start_core_on(data.path(), &[], bind());

    // One run for all of them, as soon as the core is back, saying how many it covers.
    let catch_up = wait_run(&api, &id, "the catch-up run", deadline, |r| {
        ms_of(&r["due_at"]) == next_due
    })
    .await;
    assert_eq!(catch_up["outcome"], "started", "{catch_up}");
    assert!(catch_up["missed"].as_u64().unwrap() >= 2, "{catch_up}");
    assert!(catch_up["reason"].as_str().unwrap().contains("catch-up"), "{catch_up}");
    let view = api.get(&format!("/schedules/{id}")).await.1;
    assert!(
        ms_of(&view["next_run_at"]) > restarted_at,
        "the cadence resumes after now: {view}"
    );
    let started_during_downtime = runs(&api, &id)
        .await
        .into_iter()
        .filter(|r| {
            let due = ms_of(&r["due_at"]);
            due >= next_due && due <= restarted_at
        })
        .count();
    assert_eq!(started_during_downtime, 1, "one run, not one per missed due time");
    api.wait_job(catch_up["job_id"].as_str().unwrap(), "completed", deadline)
        .await;

    // The regular cadence goes on.
    let regular = wait_run(&api, &id, "the next regular run", deadline, |r| {
        ms_of(&r["due_at"]) > restarted_at
    })
    .await;
    assert_eq!(
        (regular["outcome"].clone(), regular["missed"].clone()),
        (json!("started"), json!(0)),
        "{regular}"
    );
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 204);
}
