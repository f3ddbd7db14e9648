//! The binary as users run it: `scan` exit codes and summaries, and a `serve` process killed
//! with SIGKILL mid-job that finishes the job after a restart with exact counts.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
}

#[test]
fn scan_exits_1_and_lists_the_malicious_paths() {
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "ok.txt", b"fine");
    write(tree.path(), "a/b/evil one.com", EICAR);
    let out = run_for(bin().arg("scan").arg(tree.path()), 60);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a/b/evil one.com"), "{text}");
    assert!(text.contains("malicious") && text.contains("files/s"), "{text}");
    // The summary names the engine and says what a built-in `benign` is worth.
    let engine = format!(
        "engine                 embedded (builtin-test {})",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&engine), "{text}");
    assert!(
        text.contains("built-in test engine: detects only the EICAR test file and the SHA-256 hash list"),
        "{text}"
    );
    assert!(
        tree.path().join("a/b/evil one.com").exists(),
        "the default action only reports"
    );
}

#[test]
fn scan_of_a_clean_tree_exits_0_and_json_is_machine_readable() {
    let tree = tempfile::tempdir().unwrap();
    for i in 0..25 {
        write(
            tree.path(),
            &format!("d{}/f{i}.txt", i % 3),
            format!("clean {i}").as_bytes(),
        );
    }
    let out = run_for(bin().arg("scan").arg(tree.path()).arg("--json"), 60);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["files"], 25);
    assert_eq!(v["verdicts"]["benign"], 25);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["engine"]["name"], "embedded");
    assert_eq!(v["engine"]["test_engine"], true);
    assert_eq!(
        v["engine"]["version"],
        format!("builtin-test {}", env!("CARGO_PKG_VERSION")).as_str()
    );
}

/// Issue 15: the shipped binaries do not hold the EICAR string, so a scan of the install folder
/// finds nothing (it used to flag dsx-connect itself).
#[test]
fn the_binaries_do_not_contain_eicar_and_a_scan_of_the_install_folder_is_clean() {
    for exe in [env!("CARGO_BIN_EXE_dsx-connect"), env!("CARGO_BIN_EXE_dsxa-stub")] {
        let bytes = std::fs::read(exe).unwrap();
        assert!(memchr::memmem::find(&bytes, EICAR).is_none(), "{exe} contains EICAR");
    }
    let install = tempfile::tempdir().unwrap();
    let copy = install.path().join("dsx-connect");
    // A hard link is the same bytes without a 500 MB copy; another file system needs the copy.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_dsx-connect"), &copy).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_dsx-connect"), &copy).unwrap();
    }
    // A debug build of a 500 MB file through the whole pipeline: minutes on a busy machine.
    let out = run_for(bin().arg("scan").arg(install.path()).arg("--json"), 600);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["files"].as_u64(), v["verdicts"]["malicious"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
}

/// Issue 15: `serve` on the built-in engine warns at start that it is a test engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_the_built_in_engine_warns_that_it_is_a_test_engine() {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("serve")
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_PORT", free_tcp_port().to_string())
        .env("DSXCONNECT_DATA_DIR", data.path())
        .env("DSXCONNECT_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let warning = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("the built-in test engine is active") => break line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no test-engine warning within 60 s; stderr: {seen:#?}"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("only the EICAR test file and the SHA-256 hash list"),
        "{warning}"
    );
}

#[test]
fn scan_with_move_quarantines_and_reports_the_destination() {
    let tree = tempfile::tempdir().unwrap();
    let q = tempfile::tempdir().unwrap();
    write(tree.path(), "x/evil.com", EICAR);
    write(tree.path(), "x/fine.txt", b"fine");
    let out = run_for(
        bin()
            .arg("scan")
            .arg(tree.path())
            .args(["--action", "move", "--json", "--quarantine"])
            .arg(q.path()),
        60,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["actions"]["taken"], 1);
    assert!(
        v["malicious"][0]["action_detail"]
            .as_str()
            .unwrap()
            .starts_with("moved_to=")
    );
    assert_eq!(std::fs::read(q.path().join("x/evil.com")).unwrap(), EICAR);
    assert!(!tree.path().join("x/evil.com").exists());
}

#[test]
fn scan_of_a_missing_folder_exits_2_with_a_message() {
    let out = run_for(bin().args(["scan", "/definitely/not/here"]), 60);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Could not scan"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/definitely/not/here"));
}

/// Exit codes as clamscan's: 1 when anything malicious was found, whatever else failed; 2 for
/// errors only; 0 clean; 64 for usage errors.
#[test]
fn scan_exit_codes_follow_clamscan() {
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "clean/a.txt", b"fine");
    write(tree.path(), "bad/evil.com", EICAR);
    let clean = tree.path().join("clean");
    let bad = tree.path().join("bad");
    let missing = tree.path().join("missing");
    let code = |args: &[&std::path::Path]| {
        let out = run_for(bin().arg("scan").args(args), 120);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    assert_eq!(code(&[&clean]).0, Some(0));
    assert_eq!(code(&[&bad]).0, Some(1));
    let (c, err) = code(&[&bad, &missing]);
    assert_eq!(c, Some(1), "malicious wins over errors: {err}");
    assert!(err.contains("cannot scan") && err.contains("missing"), "{err}");
    assert_eq!(code(&[&clean, &missing]).0, Some(2), "errors only");
    for usage in [
        vec!["scan"],
        vec!["scan", "--bogus", "x"],
        vec!["scan", "--format", "xml", "x"],
    ] {
        let out = run_for(bin().args(&usage), 60);
        assert_eq!(out.status.code(), Some(64), "{usage:?}");
    }
    let help = run_for(bin().args(["scan", "--help"]), 60);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for var in [
        "DSXCONNECT_SCANNER__ENGINE",
        "DSXCONNECT_SCAN_FORMAT",
        "DSXCONNECT_SCAN_EXCLUDE",
    ] {
        assert!(text.contains(&format!("[env: {var}")), "{var} beside its flag: {text}");
    }
}

/// Single files, several paths, standard input and excludes in one run.
#[test]
fn scan_takes_single_files_several_paths_stdin_and_excludes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(a.path(), "one.txt", b"fine");
    write(a.path(), "evil.com", EICAR);
    write(a.path(), "not named.txt", b"fine");
    write(b.path(), "x/keep.txt", b"fine");
    write(b.path(), "x/skip.log", EICAR);
    let eicar = std::str::from_utf8(EICAR).unwrap();
    let out = run_with_input(
        bin()
            .arg("scan")
            .arg(a.path().join("one.txt"))
            .arg(a.path().join("evil.com"))
            .arg(b.path())
            .arg("-")
            .args(["--exclude", "*.log", "--format", "json"]),
        eicar,
        120,
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"], 4, "two named files, one kept file, stdin: {v}");
    assert_eq!(v["verdicts"]["malicious"], 2, "{v}");
    let paths: Vec<&str> = v["malicious"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("evil.com")), "{paths:?}");
    assert!(paths.contains(&"stdin"), "{paths:?}");
    assert_eq!(v["jobs"].as_array().unwrap().len(), 3, "{v}");
}

/// An unreachable engine fails the scan at once, with the engine's error.
#[test]
fn scan_with_an_unreachable_engine_fails_at_once() {
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"fine");
    let url = format!("http://127.0.0.1:{}/scan/binary/v2", free_tcp_port());
    let started = std::time::Instant::now();
    let out = run_for(
        bin()
            .arg("scan")
            .arg(tree.path())
            .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &url),
        60,
    );
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot be reached") && err.contains("dsxa"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// A DSXA answer that says `Malicious` whatever the bytes (the stub's scripted answers).
fn malicious_answer() -> Value {
    serde_json::json!({
        "scan_guid": "s1", "verdict": "Malicious",
        "verdict_details": {"event_description": "Scripted", "reason": "Signature match", "threat_type": "VIRUS"},
        "file_info": {"file_type": "Unknown", "file_size_in_bytes": 4, "file_hash": "00", "container_hash": null},
        "protected_entity": 1, "scan_duration_in_microseconds": 42
    })
}

/// Six files scanned one at a time: the first answer at once, malicious; the others slow.
fn slow_scan(dsxa: &Dsxa, tree: &std::path::Path) -> Command {
    for i in 0..6 {
        write(tree, &format!("f{i}.txt"), b"fine");
    }
    let mut script = vec![serde_json::json!({"status": 200, "body": malicious_answer()})];
    script.extend((0..5).map(|_| serde_json::json!({"status": 200, "delay_ms": 1500})));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(dsxa.script(Value::Array(script)));
    let mut cmd = bin();
    cmd.arg("scan")
        .arg(tree)
        .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
        .env("DSXCONNECT_WORKERS__CONCURRENCY", "1");
    cmd
}

/// NDJSON: each finding is a line of its own as soon as it is recorded, long before the
/// summary line that ends the scan.
#[test]
fn ndjson_findings_arrive_while_the_scan_runs() {
    use std::io::BufRead;
    let dsxa = Dsxa::start(&[]);
    let tree = tempfile::tempdir().unwrap();
    let mut child = slow_scan(&dsxa, tree.path())
        .args(["--format", "ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        lines.push((std::time::Instant::now(), v));
    }
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let kinds: Vec<&str> = lines.iter().map(|(_, v)| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["finding", "summary"], "{lines:?}");
    assert_eq!(lines[0].1["threat"], "Scripted");
    assert_eq!(lines[1].1["verdicts"]["malicious"], 1);
    // Five answers of 1.5 s each come after the finding: the summary cannot be near it.
    let gap = lines[1].0 - lines[0].0;
    assert!(gap > Duration::from_secs(3), "finding only {gap:?} before the end");
}

/// Ctrl-C: the partial summary, exit 130, and no temporary store left behind.
#[test]
fn ctrl_c_prints_a_partial_summary_exits_130_and_cleans_up() {
    use std::io::BufRead;
    let dsxa = Dsxa::start(&[]);
    let tree = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = slow_scan(&dsxa, tree.path())
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen.last().is_some_and(|l: &String| l.starts_with("progress:")) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("no progress line ({e}): {seen:?}"),
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert_eq!(out.status.code(), Some(130), "{seen:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("interrupted"), "{text}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary state left: {left:?}");
}

fn serve(data: &std::path::Path, tree: &std::path::Path, port: u16, dsxa: &Dsxa) -> Child {
    bin()
        .args(["serve", "--action", "nothing", "--fs"])
        .arg(tree)
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_DATA_DIR", data)
        .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
        .env("DSXCONNECT_WORKERS__CONCURRENCY", "4")
        .env("DSXCONNECT_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn builtin_uuid(api: &Api) -> String {
    wait_for("built-in connector", Duration::from_secs(30), || async {
        let (_, list) = api.get("/connectors/list").await;
        list.as_array()?.first()?.get("uuid")?.as_str().map(str::to_string)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_process_killed_mid_job_finishes_the_job_after_restart_with_exact_counts() {
    const N: u64 = 1000;
    let dsxa = Dsxa::start(&["--delay-ms", "15"]);
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    for i in 0..N {
        write(
            tree.path(),
            &format!("d{}/f{i:04}.bin", i % 10),
            format!("content {i}").as_bytes(),
        );
    }
    let port = free_tcp_port();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let mut first = serve(data.path(), tree.path(), port, &dsxa);
    let uuid = builtin_uuid(&api).await;
    let job_id = api.full_scan(&uuid).await;
    let at_kill = wait_for(
        "enumeration done and a part processed",
        Duration::from_secs(60),
        || async {
            let j = api.job(&job_id).await;
            (j["enqueue_done"] == "1" && j["processed_count"].as_str()?.parse::<u64>().ok()? >= 150).then_some(j)
        },
    )
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(count(&at_kill, "enqueued_count"), N);
    assert!(count(&at_kill, "processed_count") < N, "killed mid-job");

    let mut second = serve(data.path(), tree.path(), port, &dsxa);
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(120)).await;
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(count(&job, "enqueued_count"), N);
    assert_eq!(count(&job, "processed_count"), N, "nothing lost");
    assert_eq!(count(&job, "failed_count") + count(&job, "skipped_count"), 0);
    assert_eq!(count(&job, "verdict_benign"), N, "nothing counted twice");

    let mut second = serve(data.path(), tree.path(), port, &dsxa);
    let (_, stats) = wait_for("core back", Duration::from_secs(30), || async {
        let r = api.http.get(format!("{}/scan/stats", api.base)).send().await.ok()?;
        Some((r.status().as_u16(), r.json::<Value>().await.ok()?))
    })
    .await;
    assert_eq!(stats["files_scanned"], N, "statistics count each item once");
    let (_, results) = api.get(&format!("/scan/results/job/{job_id}?limit=5000")).await;
    let mut ids: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scan_request_task_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, N, "one stored result per item");
    let _ = second.kill();
    let _ = second.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_file_reaches_the_scanner_intact_while_memory_stays_flat() {
    const SIZE: u64 = 256 << 20;
    let dsxa = Dsxa::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(tree.path().join("huge.img")).unwrap();
    f.set_len(SIZE).unwrap(); // sparse: reads as zeros
    let port = free_tcp_port();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let mut child = serve(data.path(), tree.path(), port, &dsxa);
    let uuid = builtin_uuid(&api).await;
    let before = status_kb(child.id(), "VmRSS:");
    let job = api.full_scan(&uuid).await;
    let j = api.wait_job(&job, "completed", Duration::from_secs(120)).await;
    let peak = status_kb(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(count(&j, "processed_count"), 1);
    let cap = &dsxa.captured().await[0];
    assert_eq!(cap["body_len"], SIZE);
    let zeros = vec![0u8; 1 << 20];
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..256 {
        sha2::Digest::update(&mut h, &zeros);
    }
    assert_eq!(cap["body_sha256"], hex::encode(sha2::Digest::finalize(h)));
    let growth_mb = peak.saturating_sub(before) / 1024;
    assert!(
        growth_mb < 32,
        "resident memory grew by {growth_mb} MiB (before {before} kB, peak {peak} kB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_paused_before_a_sigkill_is_still_paused_after_restart_and_resume_completes_it() {
    const N: u64 = 500;
    let dsxa = Dsxa::start(&["--delay-ms", "20"]);
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    for i in 0..N {
        write(tree.path(), &format!("p{i:03}"), b"x");
    }
    let port = free_tcp_port();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let mut first = serve(data.path(), tree.path(), port, &dsxa);
    let uuid = builtin_uuid(&api).await;
    let job_id = api.full_scan(&uuid).await;
    assert_eq!(
        api.post(&format!("/scan/jobs/{job_id}/pause"), serde_json::json!(null))
            .await
            .0,
        200
    );
    wait_for("enumeration done", Duration::from_secs(30), || async {
        (api.job(&job_id).await["enqueue_done"] == "1").then_some(())
    })
    .await;
    // Everything was accepted and is durable from here on: the kill may land at any moment.
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = serve(data.path(), tree.path(), port, &dsxa);
    let j = wait_for("core back", Duration::from_secs(30), || async {
        let j = api.job(&job_id).await;
        j.get("status").is_some().then_some(j)
    })
    .await;
    assert_eq!(j["status"], "paused");
    assert_eq!(count(&j, "enqueued_count"), N);
    let parked_at = count(&j, "processed_count");
    assert!(parked_at < N);
    // Another full scan runs to completion beside it: the restarted workers are busy, and still
    // none of the paused job's items is dispatched.
    let other = api.full_scan_when_reachable(&uuid).await;
    let other_done = api.wait_job(&other, "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&other_done, "processed_count"), N);
    assert_eq!(
        count(&api.job(&job_id).await, "processed_count"),
        parked_at,
        "still holding its items"
    );
    assert_eq!(
        api.post(&format!("/scan/jobs/{job_id}/resume"), serde_json::json!(null))
            .await
            .0,
        200
    );
    let done = api.wait_job(&job_id, "completed", Duration::from_secs(60)).await;
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(count(&done, "processed_count"), N);
    assert_eq!(count(&done, "failed_count") + count(&done, "skipped_count"), 0);
}

/// `atk_31` (protected mode): without authentication `serve` refuses a non-loopback address,
/// naming the variables to set; with `DSXCONNECT_ALLOW_UNAUTHENTICATED=true` it starts and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atk_serve_without_auth_refuses_a_non_loopback_address() {
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let out = run_for(
        bin()
            .arg("serve")
            .env("DSXCONNECT_HOST", "0.0.0.0")
            .env("DSXCONNECT_PORT", port.to_string())
            .env("DSXCONNECT_DATA_DIR", data.path()),
        60,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DSXCONNECT_HOST=0.0.0.0: refusing to serve without authentication on a non-loopback address; set DSXCONNECT_AUTH__ENABLED=true or DSXCONNECT_ALLOW_UNAUTHENTICATED=true"),
        "{err}"
    );
    let mut child = bin()
        .arg("serve")
        .env("DSXCONNECT_HOST", "0.0.0.0")
        .env("DSXCONNECT_ALLOW_UNAUTHENTICATED", "true")
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_DATA_DIR", data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let config = wait_for("serve with ALLOW_UNAUTHENTICATED", Duration::from_secs(30), || async {
        let (s, v) = api.get("/config").await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(config["allow_unauthenticated"], true);
    let _ = child.kill();
    let _ = child.wait();
}

/// `atk_32`: the built-in connector of `serve` answers nobody but its core: an unsigned
/// `read_file` on its loopback port is refused, and nobody can re-point or remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atk_the_builtin_connector_port_refuses_unsigned_calls_and_cannot_be_repointed() {
    let dsxa = Dsxa::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "secret.txt", b"private");
    let port = free_tcp_port();
    let mut child = serve(data.path(), tree.path(), port, &dsxa);
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let uuid = builtin_uuid(&api).await;
    let (_, list) = api.get("/connectors/list").await;
    let url = list[0]["url"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/read_file"))
        .json(&serde_json::json!({"location": "secret.txt", "metainfo": "secret.txt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DSX-HMAC realm=")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"], "missing_hmac");
    // Probes stay open.
    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // Re-pointing or removing it needs its key.
    let (s, v) = api
        .post(
            "/connectors/register",
            serde_json::json!({"name": "filesystem-connector", "uuid": uuid, "url": "http://127.0.0.1:9/evil"}),
        )
        .await;
    assert_eq!((s, v["detail"].as_str()), (401, Some("signature_required")));
    let r = http
        .delete(format!("{}/connectors/unregister/{uuid}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (_, list) = api.get("/connectors/list").await;
    assert_eq!(list[0]["url"], url.as_str(), "the registry still has the real url");
    // And the core's own calls still work: a full scan reads the file.
    let job = api.full_scan(&uuid).await;
    let j = api.wait_job(&job, "completed", Duration::from_secs(60)).await;
    assert_eq!(count(&j, "processed_count"), 1, "{j}");
    let _ = child.kill();
    let _ = child.wait();
}

/// With everything at `trace`, no secret reaches the log — enrollment token,
/// passwords, session ids, CSRF tokens, API tokens, connector keys, the OIDC client secret — and
/// `GET /config` shows the set ones as `***`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atk_no_secret_reaches_a_trace_log() {
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"hello");
    let log_path = data.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_tcp_port();
    let base = format!("http://127.0.0.1:{port}");
    const ENROLL: &str = "enrollment-secret-4f1d9c";
    const ADMIN_PW: &str = "bootstrap-password-8e2a77";
    const OIDC_SECRET: &str = "oidc-client-secret-c31b0e";
    let mut child = bin()
        .args(["serve", "--action", "nothing", "--fs"])
        .arg(tree.path())
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_DATA_DIR", data.path().join("core"))
        .env("DSXCONNECT_LOG_LEVEL", "trace")
        .env("DSXCONNECT_AUTH__ENABLED", "true")
        .env("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", ENROLL)
        .env("DSXCONNECT_AUTH__BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PW)
        .env("DSXCONNECT_AUTH__OIDC__ISSUER", "http://127.0.0.1:9")
        .env("DSXCONNECT_AUTH__OIDC__CLIENT_ID", "dsx")
        .env("DSXCONNECT_AUTH__OIDC__CLIENT_SECRET", OIDC_SECRET)
        .env("DSXCONNECT_AUTH__OIDC__REDIRECT_URL", format!("{base}/cb"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let api = format!("{base}{API}");
    wait_for("core up", Duration::from_secs(60), || async {
        let r = http.get(format!("{api}/healthz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    // A password login, a session-authenticated change, a token made over HTTP and used.
    let r = http
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session_id = cookie.split_once('=').unwrap().1.to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{api}/admin/tokens"))
        .header("cookie", &cookie)
        .header("x-dsx-csrf", &csrf)
        .json(&serde_json::json!({"name": "t", "role": "admin", "expires_in_days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let api_token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let config: Value = http
        .get(format!("{api}/config"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["auth"]["enrollment_tokens"], "***");
    assert_eq!(config["auth"]["oidc"]["client_secret"], "***");
    assert_eq!(config["auth"]["bootstrap_admin"]["password"], "***");
    // A connector enrolls: its key is in the answer only.
    let r = http
        .post(format!("{api}/connectors/register"))
        .header("x-enrollment-token", ENROLL)
        .json(
            &serde_json::json!({"name": "x", "uuid": "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41",
                                  "url": "http://127.0.0.1:9/x", "status": "ready"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let hmac_secret = r.json::<Value>().await.unwrap()["hmac_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let _ = http
        .post(format!("{api}/auth/logout"))
        .header("cookie", &cookie)
        .header("x-dsx-csrf", &csrf)
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.lines().count() > 50, "a trace log was written");
    assert!(!text.contains('\u{1b}'), "no colour codes in a log written to a file");
    for (what, secret) in [
        ("enrollment token", ENROLL),
        ("admin password", ADMIN_PW),
        ("OIDC client secret", OIDC_SECRET),
        ("session id", session_id.as_str()),
        ("CSRF token", csrf.as_str()),
        ("API token", api_token.as_str()),
        ("connector key", hmac_secret.as_str()),
    ] {
        assert!(!text.contains(secret), "the {what} is in the trace log");
    }
}

/// Issue 15 through the CLI: names that are not UTF-8 are scanned and quarantined, and a folder
/// the scan could not read is shown and makes the exit code 2 (not a clean, complete scan).
#[test]
fn scan_counts_an_unreadable_folder_and_quarantines_a_name_that_is_not_utf8() {
    use common::hostile_tree::{self, EICAR_LOCATION_TAIL, READABLE_FILES, Tree};
    let tree = Tree::new();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_dsx-connect"));
    let base = tree.path().display().to_string();

    let out = run_for(
        hostile_tree::unprivileged(exe)
            .arg("scan")
            .arg(tree.path())
            .args(["--action", "move", "--json"]),
        120,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Malicious found: 1, though a folder could not be read (clamscan's priority).
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["files"], READABLE_FILES);
    assert_eq!(v["unreadable"], 1);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["verdicts"]["malicious"], 1);
    assert_eq!(v["actions"]["taken"], 1);
    assert_eq!(
        v["malicious"][0]["path"],
        format!("dsx-bytes:{base}{EICAR_LOCATION_TAIL}").as_str()
    );
    assert_eq!(v["exit_code"], 1);
    let q = tree.path().join("dsxconnect-quarantine");
    assert_eq!(std::fs::read(hostile_tree::quarantined_eicar(&q)).unwrap(), EICAR);
}

#[test]
fn the_scan_table_shows_unreadable_folders_and_escapes_control_bytes() {
    use common::hostile_tree::{self, Tree};
    let tree = Tree::new();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_dsx-connect"));
    let out = run_for(hostile_tree::unprivileged(exe).arg("scan").arg(tree.path()), 120);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("the table is UTF-8 text");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("unreadable"))
        .unwrap_or_else(|| panic!("no unreadable row in {text}"));
    assert!(line.contains(" 1 "), "{line}");
    assert!(text.contains("eicar%FF%01.com"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "no raw control characters: {text:?}"
    );
}

/// `dsx-connect healthcheck` for container health checks: 0 with the core up and ready, 1 with
/// nothing listening and 1 when the service answers "not ready" (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_only_when_the_service_answers_ready() {
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let check = |args: &[&str]| {
        let out = run_for(
            bin()
                .arg("healthcheck")
                .args(args)
                .env("DSXCONNECT_PORT", port.to_string()),
            60,
        );
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = check(&[]);
    assert_eq!(code, Some(1), "nothing listens yet: {err}");
    let mut child = bin()
        .arg("serve")
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_DATA_DIR", data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_for("healthcheck passes", Duration::from_secs(60), || async {
        let (code, _) = check(&[]);
        (code == Some(0)).then_some(())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ready, ());
    // A service that answers but is not ready.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/dsx-connect/api/v1/readyz", listener.local_addr().unwrap());
    let answer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = r#"{"status":"not_ready","redis":"unavailable"}"#;
        let _ = write!(
            s,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let (code, err) = check(&["--url", &url]);
    answer.join().unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("503") && err.contains("not_ready"), "{err}");
}

/// `--version` names the commit and the build time recorded when the binary was built.
#[test]
fn version_names_the_commit_and_the_build_time() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("dsx-connect {}", dsx_connect::VERSION)),
        "{text}"
    );
    assert!(text.contains(&format!("commit {}", dsx_connect::GIT_COMMIT)), "{text}");
    assert!(text.contains(&format!("built {}", dsx_connect::BUILD_TIME)), "{text}");
    assert_eq!(dsx_connect::GIT_COMMIT.len(), 40, "built from a git checkout");
}

/// The service log: in JSON mode every line is JSON; a detection is one WARN line naming the
/// path, verdict, engine, job and action; clean items stay out of a WARN-level log.
#[test]
fn a_detection_is_one_warn_line_with_path_verdict_engine_job_and_action() {
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "ok.txt", b"fine");
    write(tree.path(), "deep/evil.com", EICAR);
    let out = run_for(
        bin()
            .arg("scan")
            .arg(tree.path())
            .env("DSXCONNECT_LOG_FORMAT", "json")
            .env("DSXCONNECT_LOG_LEVEL", "warn"),
        60,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(!err.contains('\u{1b}'), "no colour codes: {err}");
    let hits: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["event"] == "item.malicious")
        .collect();
    assert_eq!(hits.len(), 1, "{err}");
    let f = &hits[0]["fields"];
    assert_eq!(hits[0]["level"], "WARN");
    assert!(f["location"].as_str().unwrap().ends_with("deep/evil.com"), "{f}");
    assert_eq!(f["verdict"], "Malicious");
    assert_eq!(f["engine"], "embedded");
    assert!(f["job"].as_str().is_some_and(|j| !j.is_empty()), "{f}");
    assert!(f["action"].is_string(), "{f}");
    assert!(!err.contains("ok.txt"), "clean items are not logged at WARN: {err}");
}

/// The log of every role (`serve`, a standalone connector, `api` and `worker` on Redis) in one
/// format: each role started, asked something, stopped; returns each role's stderr.
async fn role_logs(json: bool) -> Vec<(&'static str, String)> {
    let format = if json { "json" } else { "text" };
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "a.txt", b"x");
    let log = |name: &str| data.path().join(format!("{name}.log"));
    let spawn = |name: &str, cmd: &mut Command| -> Child {
        cmd.env("DSXCONNECT_LOG_FORMAT", format)
            .env("DSXCONNECTOR_LOG_FORMAT", format)
            .env("DSXCONNECT_HOST", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log(name)).unwrap())
            .spawn()
            .unwrap()
    };
    let port = free_tcp_port();
    let base = format!("http://127.0.0.1:{port}");
    let api = Api::new(&base);
    let mut children = vec![spawn(
        "serve",
        bin()
            .arg("serve")
            .env("DSXCONNECT_PORT", port.to_string())
            .env("DSXCONNECT_DATA_DIR", data.path().join("core")),
    )];
    wait_for("core up", Duration::from_secs(60), || async {
        (api.get("/healthz").await.0 == 200).then_some(())
    })
    .await;
    let conn_port = free_tcp_port();
    children.push(spawn(
        "connector",
        bin()
            .args(["connector", "filesystem"])
            .env("DSXCONNECTOR_ASSET", tree.path())
            .env("DSXCONNECTOR_DSX_CONNECT_URL", &base)
            .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://127.0.0.1:{conn_port}"))
            .env("DSXCONNECTOR_DATA_DIR", data.path().join("conn")),
    ));
    wait_for("the connector registered", Duration::from_secs(60), || async {
        let (_, list) = api.get("/connectors/list").await;
        (!list.as_array()?.is_empty()).then_some(())
    })
    .await;
    let listed = api
        .http
        .get(format!("{}/connectors/list", api.base))
        .header("x-request-id", "it-42")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.headers()["x-request-id"], "it-42");
    // The scale-out roles on a private Redis.
    let redis = format!("redis://127.0.0.1:{}", redis::start_redis_server(&[]));
    for role in ["api", "worker"] {
        let port = free_tcp_port();
        children.push(spawn(
            role,
            bin()
                .arg(role)
                .env("DSXCONNECT_REDIS_URL", &redis)
                .env("DSXCONNECT_PORT", port.to_string()),
        ));
        let probe = Api::new(&format!("http://127.0.0.1:{port}"));
        wait_for(role, Duration::from_secs(60), || async {
            (probe.get("/readyz").await.0 == 200).then_some(())
        })
        .await;
        assert_eq!(probe.get("/meta").await.0, 200, "{role}");
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    ["serve", "connector", "api", "worker"]
        .into_iter()
        .map(|name| (name, std::fs::read_to_string(log(name)).unwrap()))
        .collect()
}

/// JSON log mode on every role: every stderr line is a JSON object, the start-up notice and the
/// access log included; the access log carries the request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_lines_only_on_every_role() {
    let logs = role_logs(true).await;
    for (role, text) in &logs {
        assert!(text.lines().count() >= 1, "{role}: empty log");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{role}: not JSON ({e}): {line:?}"));
            assert!(v["level"].is_string(), "{line}");
        }
        assert!(!text.contains('\u{1b}'), "{role}");
    }
    let core_text = &logs[0].1;
    assert!(core_text.contains("dsx-connect is running"), "{core_text}");
    // The access log: one line per request, with its id, method, path and status.
    let access: Vec<Value> = core_text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let mine = access.iter().find(|v| v["fields"]["request_id"] == "it-42");
    let f = &mine.unwrap_or_else(|| panic!("no access line for it-42: {core_text}"))["fields"];
    assert_eq!(
        (f["method"].as_str(), f["path"].as_str(), f["status"].as_u64()),
        (Some("GET"), Some("/dsx-connect/api/v1/connectors/list"), Some(200)),
        "{f}"
    );
    let registered = access
        .iter()
        .find(|v| v["fields"]["path"] == "/dsx-connect/api/v1/connectors/register")
        .unwrap_or_else(|| panic!("no access line for the registration: {core_text}"));
    assert!(
        registered["fields"]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{registered}"
    );
    for role in ["api", "worker"] {
        let text = &logs.iter().find(|(r, _)| *r == role).unwrap().1;
        assert!(
            text.contains("/dsx-connect/api/v1/meta"),
            "{role}: access line of /meta: {text}"
        );
    }
}

/// Text log mode to a file (not a terminal) on every role: no colour codes, and the access log
/// is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_file_carry_no_escape_codes_on_any_role() {
    for (role, text) in role_logs(false).await {
        assert!(text.lines().count() >= 1, "{role}: empty log");
        assert!(!text.contains('\u{1b}'), "{role}: {text}");
        if role != "connector" {
            assert!(text.contains("request_id="), "{role}: access log: {text}");
        }
    }
}

/// Connector origins: each a listener of its own on a loopback address, answering every request
/// with `200 {"status":"ok"}` (what `healthz` returns), keeping connections alive.
async fn origins(n: usize) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut urls = Vec::with_capacity(n);
    for i in 0..n {
        let addr = format!("127.0.0.{}:0", 1 + i % 50);
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        urls.push(format!("http://{}/c", listener.local_addr().unwrap()));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        buf.clear();
                        let body = br#"{"status":"ok"}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(body).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    urls
}

/// Registers a connector at each url, has the core call it (`healthz` proxy), and removes it.
async fn storm(api: &Api, urls: &[String], first: usize) {
    use futures_util::StreamExt;
    futures_util::stream::iter(urls.iter().enumerate())
        .for_each_concurrent(16, |(i, url)| async move {
            let uuid = format!("5e0c2b2e-1111-4222-8333-{:012}", first + i);
            let (s, v) = api
                .post(
                    "/connectors/register",
                    serde_json::json!({"name": format!("o{i}"), "uuid": uuid, "url": url, "status": "ready"}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            let (s, v) = api.get(&format!("/connectors/healthz/{uuid}")).await;
            assert_eq!((s, v["status"].as_str()), (200, Some("ok")), "{url}");
            let r = api
                .http
                .delete(format!("{}/connectors/unregister/{uuid}", api.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        })
        .await;
}

/// Issue 15: 2,000 distinct connector origins the core registered and called, then let go, leave
/// its resident memory within 20 % of where it was after a warm-up of 200 (more origins than
/// its client cache keeps, so the cache is full at both readings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_returns_to_baseline_after_a_storm_of_distinct_connector_origins() {
    const WARM: usize = 200;
    const STORM: usize = 2000;
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let mut core = bin()
        .arg("serve")
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_DATA_DIR", data.path())
        .env("DSXCONNECT_SCANNER__ENGINE", "embedded")
        .env("DSXCONNECT_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("core up", Duration::from_secs(60), || async {
        (api.get("/connectors/list").await.0 == 200).then_some(())
    })
    .await;
    let urls = origins(WARM + STORM).await;
    storm(&api, &urls[..WARM], 0).await;
    let baseline = status_kb(core.id(), "VmRSS:");
    storm(&api, &urls[WARM..], WARM).await;
    let peak = status_kb(core.id(), "VmHWM:");
    let during = status_kb(core.id(), "VmRSS:");
    assert_eq!(api.get("/connectors/list").await.1, serde_json::json!([]));
    let limit = baseline + baseline / 5;
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let after = loop {
        let now = status_kb(core.id(), "VmRSS:");
        if now <= limit || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let numbers = format!("baseline {baseline} kB, peak {peak} kB, right after {during} kB, settled {after} kB");
    eprintln!("{STORM} origins: {numbers}");
    assert!(
        after <= limit,
        "resident memory did not return within 20 % of the baseline: {numbers}"
    );
    let _ = core.kill();
    let _ = core.wait();
}

/// The example alert rules shipped for operators.
const ALERT_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/prometheus/alerts.yml");

/// A real Prometheus on loopback scraping `scrape_configs` every second and evaluating the
/// example alert rules, with its storage in a temporary folder. Killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(scrape_configs: &str) -> Self {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: ['{rules}']\nscrape_configs:\n{scrape_configs}",
                rules = ALERT_RULES,
            ),
        )
        .unwrap();
        let port = free_tcp_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("prometheus runs (scripts/setup.sh installs the Debian package)");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The result vector of an instant query (empty while Prometheus is not up yet).
    async fn query(&self, q: &str) -> Vec<Value> {
        let r = self
            .http
            .get(url::Url::parse_with_params(&format!("{}/api/v1/query", self.base), [("query", q)]).unwrap())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let Ok(r) = r else { return Vec::new() };
        let v: Value = r.json().await.unwrap_or(Value::Null);
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of `q`, once it has one.
    async fn value(&self, q: &str) -> Option<f64> {
        let r = self.query(q).await;
        r.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits (polling) until `q` evaluates to `want`.
    async fn wait_value(&self, q: &str, want: f64) {
        let mut last = None;
        let found = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                last = self.value(q).await;
                if last == Some(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "{q}: wanted {want}, Prometheus says {last:?}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A killed-on-drop child process of a test.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 17: a real Prometheus scrapes an `api`, a `worker` (Redis backend, authentication on,
/// with a viewer token) and a standalone connector (its metrics token) while a full scan runs,
/// and sees the scans by verdict, the histograms, the HTTP routes and the stored state; the
/// pages refuse callers without the token. The example alert rules pass `promtool`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_api_worker_and_connector_during_a_scan() {
    const N: u64 = 120;
    let check = run_for(Command::new("promtool").args(["check", "rules", ALERT_RULES]), 60);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    let redis = format!("redis://127.0.0.1:{}", common::redis::start_redis_server(&[]));
    let data = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    for i in 0..N - 1 {
        write(
            tree.path(),
            &format!("d{}/f{i:03}.txt", i % 4),
            format!("clean {i}").as_bytes(),
        );
    }
    write(tree.path(), "evil.com", EICAR);
    let dsxa = Dsxa::start(&["--delay-ms", "60"]);
    let core_env = |cmd: &mut Command| {
        cmd.env("DSXCONNECT_REDIS_URL", &redis)
            .env("DSXCONNECT_DATA_DIR", data.path().join("core"))
            .env("DSXCONNECT_HOST", "127.0.0.1")
            .env("DSXCONNECT_AUTH__ENABLED", "true")
            .env("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", "enrollment-token-0001")
            .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
            .env("DSXCONNECT_LOG_LEVEL", "warn");
    };
    let token = |name: &str, role: &str| {
        let mut cmd = bin();
        cmd.args(["token", "create", "--name", name, "--role", role]);
        core_env(&mut cmd);
        let out = run_for(&mut cmd, 60);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (viewer, operator) = (token("prometheus", "viewer"), token("ops", "operator"));
    let (api_port, worker_port, conn_port) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
    let spawn_role = |role: &str, port: u16| {
        let mut cmd = bin();
        cmd.arg(role)
            .env("DSXCONNECT_PORT", port.to_string())
            .env("DSXCONNECT_WORKERS__CONCURRENCY", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        core_env(&mut cmd);
        Proc(cmd.spawn().unwrap())
    };
    let _api = spawn_role("api", api_port);
    let _worker = spawn_role("worker", worker_port);
    let base = format!("http://127.0.0.1:{api_port}");
    let metrics_token = data.path().join("metrics-token");
    std::fs::write(&metrics_token, "metrics-token-0123456789\n").unwrap();
    let viewer_file = data.path().join("viewer-token");
    std::fs::write(&viewer_file, &viewer).unwrap();
    let _connector = Proc(
        bin()
            .args(["connector", "filesystem"])
            .env("DSXCONNECTOR_ASSET", tree.path())
            .env("DSXCONNECTOR_DSX_CONNECT_URL", &base)
            .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://127.0.0.1:{conn_port}"))
            .env("DSXCONNECTOR_DATA_DIR", data.path().join("conn"))
            .env("DSXCONNECT_ENROLLMENT_TOKEN", "enrollment-token-0001")
            .env("DSXCONNECTOR_METRICS_TOKEN_FILE", &metrics_token)
            .env("DSXCONNECTOR_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = Api::with_token(&base, &operator);
    let uuid = wait_for("the connector registered", Duration::from_secs(60), || async {
        let (_, list) = api.get("/connectors/list").await;
        list.as_array()?.first()?.get("uuid")?.as_str().map(str::to_string)
    })
    .await;
    let worker_url = format!("http://127.0.0.1:{worker_port}/dsx-connect/api/v1/metrics");
    wait_for("the worker up", Duration::from_secs(60), || async {
        let r = reqwest::Client::new()
            .get(&worker_url)
            .bearer_auth(&viewer)
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // Without their tokens the pages are refused.
    let http = reqwest::Client::new();
    let conn_metrics = format!("http://127.0.0.1:{conn_port}/filesystem-connector/metrics");
    for url in [
        format!("{base}/dsx-connect/api/v1/metrics"),
        worker_url.clone(),
        conn_metrics.clone(),
    ] {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 401, "{url}");
    }
    let wrong = http.get(&conn_metrics).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(wrong.status(), 401, "the connector takes its own token only");

    let prom = Prometheus::start(&format!(
        "  - job_name: dsx-connect\n    authorization:\n      credentials_file: {viewer}\n    static_configs:\n      - targets: ['127.0.0.1:{api_port}', '127.0.0.1:{worker_port}']\n\
         \x20 - job_name: dsx-connect-connectors\n    metrics_path: /filesystem-connector/metrics\n    authorization:\n      credentials_file: {token}\n    static_configs:\n      - targets: ['127.0.0.1:{conn_port}']\n",
        viewer = viewer_file.display(),
        token = metrics_token.display(),
    ));
    prom.wait_value("count(up == 1)", 3.0).await;

    let job_id = api.full_scan(&uuid).await;
    // Seen while the scan runs: items in flight on the worker.
    prom.wait_value(
        "max(max_over_time(dsx_connect_worker_items_in_flight[5m])) > bool 0",
        1.0,
    )
    .await;
    api.wait_job(&job_id, "completed", Duration::from_secs(180)).await;

    prom.wait_value("sum(dsx_connect_scans_total)", N as f64).await;
    prom.wait_value(
        "sum(dsx_connect_scans_total{verdict=\"Malicious\",engine=\"dsxa\"})",
        1.0,
    )
    .await;
    prom.wait_value(
        "sum(dsx_connect_scan_duration_seconds_count{engine=\"dsxa\"})",
        N as f64,
    )
    .await;
    prom.wait_value("sum(dsx_connect_read_duration_seconds_count)", N as f64)
        .await;
    prom.wait_value("sum(dsx_connect_action_duration_seconds_count)", 1.0)
        .await;
    prom.wait_value("max(dsx_connect_scanner_up{engine=\"dsxa\"})", 1.0)
        .await;
    prom.wait_value(
        &format!(
            "sum(dsx_connect_http_requests_total{{instance=\"127.0.0.1:{api_port}\",route=\"/dsx-connect/api/v1/connectors/full_scan/{{uuid}}\",method=\"POST\",status=\"202\"}})"
        ),
        1.0,
    )
    .await;
    prom.wait_value(
        "sum(dsx_connect_http_request_duration_seconds_count{route=\"/dsx-connect/api/v1/scan/request/batch\"}) > bool 0",
        1.0,
    )
    .await;
    // The stored state is the same seen from either process.
    for instance in [api_port, worker_port] {
        let sel = format!("instance=\"127.0.0.1:{instance}\"");
        prom.wait_value(&format!("dsx_connect_jobs{{{sel},state=\"completed\"}}"), 1.0)
            .await;
        prom.wait_value(&format!("dsx_connect_queue_depth{{{sel},queue=\"scan_request\"}}"), 0.0)
            .await;
        prom.wait_value(&format!("dsx_connect_dlq_depth{{{sel},queue=\"scan_request\"}}"), 0.0)
            .await;
        prom.wait_value(&format!("dsx_connect_connectors{{{sel},status=\"ready\"}}"), 1.0)
            .await;
        prom.wait_value(&format!("dsx_connect_store_up{{{sel}}}"), 1.0).await;
    }
    prom.wait_value(
        &format!("dsx_connect_worker_concurrency{{instance=\"127.0.0.1:{worker_port}\"}}"),
        2.0,
    )
    .await;
    // The connector: what it handed over, its status, the core's read_file calls on its routes.
    prom.wait_value("dsx_connect_connector_items_submitted_total", N as f64)
        .await;
    prom.wait_value("dsx_connect_connector_status{status=\"ready\"}", 1.0)
        .await;
    prom.wait_value(
        &format!(
            "sum(dsx_connect_http_requests_total{{job=\"dsx-connect-connectors\",route=\"/filesystem-connector/read_file\",status=\"200\"}}) >= bool {N}"
        ),
        1.0,
    )
    .await;
    // No label carries a path or an id: every route label is a template.
    let routes = prom.query("count by (route) (dsx_connect_http_requests_total)").await;
    for r in &routes {
        let route = r["metric"]["route"].as_str().unwrap_or("");
        assert!(!route.contains(&uuid) && !route.contains(&job_id), "{route}");
    }
    assert!(!routes.is_empty(), "{}", prom.log());

    // The scanner goes away: the worker's probe says so, and the alert rule fires (pending for
    // its `for:` time) on the worker only.
    assert!(
        prom.query("ALERTS{alertname=\"DsxConnectScannerDown\"}")
            .await
            .is_empty(),
        "no scanner alert while it answers"
    );
    drop(dsxa);
    prom.wait_value(
        &format!("dsx_connect_scanner_up{{instance=\"127.0.0.1:{worker_port}\",engine=\"dsxa\"}}"),
        0.0,
    )
    .await;
    prom.wait_value(
        &format!(
            "count(ALERTS{{alertname=\"DsxConnectScannerDown\",instance=\"127.0.0.1:{worker_port}\",engine=\"dsxa\"}})"
        ),
        1.0,
    )
    .await;
}
