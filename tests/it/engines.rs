//! The scanning engines end to end: clamd (a protocol-checking fake and the real daemon with a
//! custom signature database), DSXA (the stub) and the built-in engine's SHA-256 block list
//! (docs/reference/CORE-API.md, "Engines"); every result and `/meta` name the engine and its
//! version.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_connector::FakeConnector;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A clamd that records the raw bytes of each session and answers from a list.
async fn fake_clamd(replies: Vec<&'static str>) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sessions);
    tokio::spawn(async move {
        let mut replies = replies.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // Read until the INSTREAM terminator (or a short command).
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.starts_with(b"zINSTREAM\0") && buf.len() >= 14 && buf.ends_with(&[0, 0, 0, 0]) {
                    break;
                }
                if !buf.starts_with(b"zINSTREAM") && buf.ends_with(b"\0") {
                    break;
                }
            }
            let reply = if buf.starts_with(b"zPING") {
                "PONG"
            } else if buf.starts_with(b"zVERSION") {
                "ClamAV 1.4.6/27480/Mon Dec  2 09:31:43 2024"
            } else {
                replies.next().unwrap_or("stream: OK")
            };
            // Only scans are recorded: the core also asks VERSION at start and now and then.
            if buf.starts_with(b"zINSTREAM") {
                seen.lock().unwrap().push(buf);
            }
            let _ = sock.write_all(format!("{reply}\0").as_bytes()).await;
        }
    });
    (format!("tcp://{addr}"), sessions)
}

/// Parses an INSTREAM session into its payload, checking the framing on the way.
fn payload_of(session: &[u8]) -> Vec<u8> {
    assert!(session.starts_with(b"zINSTREAM\0"), "command");
    let mut rest = &session[10..];
    let mut out = Vec::new();
    loop {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        rest = &rest[4..];
        if len == 0 {
            assert!(rest.is_empty(), "nothing after the terminator");
            return out;
        }
        assert!(len <= 1 << 20, "chunks are at most 1 MiB");
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
    }
}

async fn scan_one(api: &Api, fake: &FakeConnector, job: &str, loc: &str) -> Value {
    api.post("/scan/request", scan_request(loc, &fake.url, Some(job))).await;
    api.post(&format!("/scan/jobs/{job}/enqueue_done"), json!({"enqueued_total": 1}))
        .await;
    api.wait_job(job, "completed", Duration::from_secs(30)).await;
    let (_, r) = api.get(&format!("/scan/results/job/{job}")).await;
    r[0].clone()
}

#[tokio::test]
async fn clamd_gets_length_prefixed_chunks_and_its_replies_become_verdicts() {
    let (addr, sessions) = fake_clamd(vec![
        "stream: Eicar-Signature FOUND",
        "stream: OK",
        "INSTREAM size limit exceeded. ERROR",
    ])
    .await;
    let (core, _d) = start_core(&[
        ("DSXCONNECT_SCANNER__ENGINE", "clamd"),
        ("DSXCONNECT_SCANNER__CLAMD_ADDRESS", &addr),
    ]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    fake.put_file("/eicar", EICAR);
    fake.put_file("/big", &big);
    fake.put_file("/huge", b"pretend this is over clamd's StreamMaxLength");
    let r = scan_one(&api, &fake, "c1", "/eicar").await;
    assert_eq!(r["verdict"]["verdict"], "Malicious");
    assert_eq!(r["verdict"]["verdict_details"]["event_description"], "Eicar-Signature");
    assert_eq!(r["verdict"]["scan_engine"], "clamd");
    let clamd_version = "ClamAV 1.4.6, database 27480 (Mon Dec  2 09:31:43 2024)";
    assert_eq!(r["verdict"]["scan_engine_version"], clamd_version);
    let r = scan_one(&api, &fake, "c2", "/big").await;
    assert_eq!(r["verdict"]["verdict"], "Benign");
    assert_eq!(
        r["verdict"]["file_info"]["file_hash"],
        hex::encode(Sha256::digest(&big))
    );
    let r = scan_one(&api, &fake, "c3", "/huge").await;
    assert_eq!(
        (r["verdict"]["verdict"].as_str(), r["status"].as_str()),
        (Some("Not Scanned"), Some("not scanned"))
    );
    assert_eq!(
        r["verdict"]["scan_engine_version"], clamd_version,
        "too large names the engine too"
    );
    let (_, meta) = api.get("/meta").await;
    assert_eq!(
        meta["engine"],
        json!({"name": "clamd", "version": clamd_version, "test_engine": false, "note": "ClamAV daemon"})
    );
    let s = sessions.lock().unwrap().clone();
    assert_eq!(payload_of(&s[0]), EICAR);
    assert_eq!(payload_of(&s[1]), big, "3 MB arrive intact in ≤ 1 MiB chunks");
    let (_, t) = api.get("/test/dsxa-connection").await;
    assert_eq!(t["status"], "success");
    assert!(t["message"].as_str().unwrap().contains("ClamAV 1.4.6"), "{t}");
}

/// The daemon and its folder (removed when the test ends).
struct Clamd {
    child: Child,
    /// clamd's log: one line per scan, `instream(local): …` for a stream and the file's path
    /// for a descriptor (`LogClean yes` logs clean files too).
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Clamd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real clamd, offline, with one custom signature (the EICAR MD5) on a unix socket.
fn real_clamd() -> (Clamd, String) {
    real_clamd_with("StreamMaxLength 10M\n")
}

/// [`real_clamd`] with more configuration lines.
fn real_clamd_with(conf_lines: &str) -> (Clamd, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    let md5 = format!("{:x}", md5_of(EICAR));
    std::fs::write(db.join("custom.hdb"), format!("{md5}:68:Eicar-Test-Signature.Custom\n")).unwrap();
    let sock = dir.path().join("clamd.sock");
    let conf = dir.path().join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "DatabaseDirectory {}\nLocalSocket {}\nForeground yes\nLogFile {}\nLogClean yes\n{conf_lines}",
            db.display(),
            sock.display(),
            dir.path().join("clamd.log").display()
        ),
    )
    .unwrap();
    let child = Command::new("clamd")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clamd is installed (scripts/test.sh installs clamav-daemon)");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        assert!(std::time::Instant::now() < deadline, "clamd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = format!("unix://{}", sock.display());
    let log = dir.path().join("clamd.log");
    (Clamd { child, log, _dir: dir }, addr)
}

/// MD5 for the clamd hash signature (computed by `md5sum`, to avoid a crate for one test).
fn md5_of(data: &[u8]) -> u128 {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    u128::from_str_radix(&String::from_utf8_lossy(&out.stdout)[..32], 16).unwrap()
}

#[tokio::test]
async fn the_real_clamd_detects_eicar_with_a_custom_signature() {
    let (_clamd, addr) = real_clamd();
    let (core, _d) = start_core(&[
        ("DSXCONNECT_SCANNER__ENGINE", "clamd"),
        ("DSXCONNECT_SCANNER__CLAMD_ADDRESS", &addr),
    ]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    fake.put_file("/e", EICAR);
    fake.put_file("/ok", b"just text");
    let r = scan_one(&api, &fake, "r1", "/e").await;
    assert_eq!(r["verdict"]["verdict"], "Malicious");
    assert!(
        r["verdict"]["verdict_details"]["event_description"]
            .as_str()
            .unwrap()
            .starts_with("Eicar-Test-Signature.Custom")
    );
    let version = r["verdict"]["scan_engine_version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // This clamd runs on one custom signature file, so it reports no official database version.
    assert!(
        version.starts_with("ClamAV ") && version.ends_with(", database version not reported"),
        "{r}"
    );
    let ok = scan_one(&api, &fake, "r2", "/ok").await;
    assert_eq!(ok["verdict"]["verdict"], "Benign");
    assert_eq!(ok["verdict"]["scan_engine_version"], version.as_str());
    let (_, meta) = api.get("/meta").await;
    assert_eq!(meta["engine"]["name"], "clamd");
    assert_eq!(meta["engine"]["version"], version.as_str());
    assert_eq!(meta["engine"]["test_engine"], false);
    let (_, t) = api.get("/test/dsxa-connection").await;
    assert_eq!(t["status"], "success", "{t}");
}

#[tokio::test]
async fn the_embedded_engine_blocks_listed_hashes_and_finds_eicar_split_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let bad = b"some proprietary malware sample";
    let list = dir.path().join("blocklist.txt");
    std::fs::write(
        &list,
        format!(
            "# test list\n{}  Sample.Trojan\n",
            hex::encode(Sha256::digest(bad)).to_uppercase()
        ),
    )
    .unwrap();
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SHA256_BLOCKLIST", list.to_str().unwrap())]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    fake.put_file("/bad", bad);
    // EICAR at a 64 KiB boundary: the HTTP body arrives in several reads.
    let mut split = vec![b'.'; 65_536 - 30];
    split.extend_from_slice(EICAR);
    split.extend(vec![b'.'; 200_000]);
    fake.put_file("/split", &split);
    fake.put_file("/fine", b"%PDF-1.7 fine");
    let r = scan_one(&api, &fake, "b1", "/bad").await;
    assert_eq!(r["verdict"]["verdict"], "Malicious");
    assert_eq!(r["verdict"]["verdict_details"]["event_description"], "Sample.Trojan");
    assert_eq!(r["verdict"]["verdict_details"]["reason"], "sha256 blocklist");
    let r = scan_one(&api, &fake, "b2", "/split").await;
    assert_eq!(r["verdict"]["verdict_details"]["event_description"], "EICAR-Test-File");
    let r = scan_one(&api, &fake, "b3", "/fine").await;
    assert_eq!(r["verdict"]["verdict"], "Benign");
    assert_eq!(r["verdict"]["file_info"]["file_type"], "PDFFileType");
    assert_eq!(r["verdict"]["scan_engine"], "embedded");
    let builtin = format!("builtin-test {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(r["verdict"]["scan_engine_version"], builtin.as_str());
    let (_, meta) = api.get("/meta").await;
    assert_eq!(meta["engine"]["name"], "embedded");
    assert_eq!(meta["engine"]["version"], builtin.as_str());
    assert_eq!(meta["engine"]["test_engine"], true);
    assert!(
        meta["engine"]["note"]
            .as_str()
            .unwrap()
            .contains("only the EICAR test file"),
        "{meta}"
    );
}

#[tokio::test]
async fn dsxa_results_name_the_engine_and_claim_no_version_it_does_not_report() {
    let dsxa = Dsxa::start(&[]);
    let (core, _d) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &dsxa.scan_url())]);
    let api = Api::new(&core.url);
    let fake = FakeConnector::start();
    fake.put_file("/ok", b"plain text");
    let r = scan_one(&api, &fake, "d1", "/ok").await;
    assert_eq!(r["verdict"]["verdict"], "Benign");
    assert_eq!(r["verdict"]["scan_engine"], "dsxa");
    // DSXA's answers carry no version: the field is left out rather than made up.
    assert!(r["verdict"].get("scan_engine_version").is_none(), "{r}");
    let (_, meta) = api.get("/meta").await;
    assert_eq!(
        meta["engine"],
        json!({"name": "dsxa", "version": null, "test_engine": false, "note": "Deep Instinct DSXA"})
    );
}

/// One item through `connector_url`: its verdict, or `(reason, class, details)` of its
/// dead-letter entry.
async fn outcome(api: &Api, connector_url: &str, job: &str, location: &str) -> Value {
    let (s, v) = api
        .post("/scan/request", scan_request(location, connector_url, Some(job)))
        .await;
    assert_eq!(s, 202, "{v}");
    api.post(&format!("/scan/jobs/{job}/enqueue_done"), json!({"enqueued_total": 1}))
        .await;
    api.wait_job(job, "completed", Duration::from_secs(60)).await;
    let (_, r) = api.get(&format!("/scan/results/job/{job}")).await;
    if let Some(r) = r.as_array().and_then(|a| a.first()) {
        return json!({"verdict": r["verdict"]["verdict"], "detail": r["verdict"]["verdict_details"]});
    }
    let (_, dlq) = api.get("/admin/dead-letter/items/scan_request?start=0&end=100").await;
    let entry = dlq["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no dead-letter list: {dlq}"))
        .iter()
        .find(|e| e["meta"]["job_id"] == job)
        .unwrap_or_else(|| panic!("job {job} has neither a result nor a dead-letter entry: {dlq}"))
        .clone();
    json!({"reason": entry["reason"], "class": entry["meta"]["error_class"], "error": entry["error_details"]})
}

fn symlink(target: &std::path::Path, link: &std::path::Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// A file of a built-in filesystem connector (`serve --fs`, `scan DIR`) is opened by the core
/// and passed to a clamd on a unix socket as a descriptor: clamd logs the file's own path, where
/// the same file read through a standalone connector's `read_file` is an `instream`. Every
/// location gets exactly the standalone connector's answer: links out of the asset refused, a
/// file replaced after it was listed (by a link out, a folder, nothing) refused or not found,
/// a link inside the asset followed.
#[tokio::test]
async fn built_in_folders_reach_clamd_by_descriptor_with_the_connector_s_refusals() {
    let (clamd, addr) = real_clamd();
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let asset = root.join("asset");
    write(&asset, "sub/eicar.com", EICAR);
    write(&asset, "sub/ok.txt", b"fine");
    write(&root, "outside/secret.com", EICAR);
    symlink(&asset.join("sub/ok.txt"), &asset.join("inside-link"));
    symlink(&root.join("outside/secret.com"), &asset.join("escape"));
    symlink(&root.join("outside"), &asset.join("escape-dir"));
    // Listed as files, then replaced before they were opened.
    symlink(&root.join("outside/secret.com"), &asset.join("sub/swapped.com"));
    std::fs::create_dir_all(asset.join("sub/now-a-folder")).unwrap();
    let env = [
        ("DSXCONNECT_SCANNER__ENGINE", "clamd"),
        ("DSXCONNECT_SCANNER__CLAMD_ADDRESS", addr.as_str()),
        ("DSXCONNECT_WORKERS__MAX_ATTEMPTS", "1"),
    ];
    let data = tempfile::tempdir().unwrap();
    let (core, builtin_uuid, builtin_url) = start_core_with_builtin_fs(data.path(), &asset, &env);
    let api = Api::new(&core.url);
    api.wait_registered(&builtin_uuid).await;
    let conn_data = tempfile::tempdir().unwrap();
    let (standalone, standalone_uuid) = start_fs_connector(
        &core.url,
        &asset,
        conn_data.path(),
        &[("DSXCONNECTOR_ITEM_ACTION", "nothing")],
    );
    api.wait_registered(&standalone_uuid).await;
    let a = asset.display().to_string();
    let cases = [
        ("sub/eicar.com", "Malicious"),
        ("sub/ok.txt", "Benign"),
        ("inside-link", "Benign"),
        ("escape", "refused"),
        ("escape-dir/secret.com", "refused"),
        ("sub/../../outside/secret.com", "refused"),
        ("sub/swapped.com", "refused"),
        ("sub/now-a-folder", "not a regular file"),
        ("sub/gone.txt", "not found"),
    ];
    for (i, (rel, expected)) in cases.iter().enumerate() {
        let location = format!("{a}/{rel}");
        let direct = outcome(&api, &builtin_url, &format!("b{i}"), &location).await;
        let over_http = outcome(&api, &standalone.url, &format!("s{i}"), &location).await;
        assert_eq!(direct, over_http, "{rel}");
        match *expected {
            "refused" => {
                assert_eq!(direct["class"], "connector_client", "{rel}: {direct}");
                assert!(
                    direct["error"].as_str().unwrap().starts_with("HTTP 403"),
                    "{rel}: {direct}"
                );
            }
            "not a regular file" | "not found" => {
                let error = direct["error"].as_str().unwrap();
                assert!(
                    error.starts_with("HTTP 404") && error.contains(expected),
                    "{rel}: {direct}"
                );
            }
            verdict => assert_eq!(direct["verdict"], verdict, "{rel}: {direct}"),
        }
    }
    // Three files scanned each way: by descriptor (clamd names the file) and as streams.
    let log = wait_for("clamd's log lines", Duration::from_secs(30), || async {
        let log = clamd.log();
        (log.matches("instream(").count() >= 3 && log.contains("/sub/ok.txt: OK")).then_some(log)
    })
    .await;
    assert!(
        log.contains(&format!("{a}/sub/eicar.com: Eicar-Test-Signature.Custom")),
        "{log}"
    );
    assert_eq!(log.matches("instream(").count(), 3, "{log}");
    assert_eq!(
        log.matches("/sub/ok.txt: OK").count(),
        2,
        "plain and through the inner link: {log}"
    );
    assert!(!log.contains("outside"), "nothing outside the asset was scanned: {log}");
}

/// Past `DSXCONNECT_SCANNER__CLAMD_FDPASS_MAX_SIZE` a built-in connector's file is streamed:
/// clamd answers OK for a descriptor over its `MaxFileSize` without scanning it, while the
/// stream meets its stream limit and the item is reported too large, never clean.
#[tokio::test]
async fn files_over_the_descriptor_limit_are_streamed_and_never_reported_clean() {
    let (clamd, addr) = real_clamd_with("StreamMaxLength 1M\nMaxFileSize 1M\n");
    let root = tempfile::tempdir().unwrap();
    let asset = std::fs::canonicalize(root.path()).unwrap();
    let mut big = vec![b'.'; 2 << 20];
    big.extend_from_slice(EICAR);
    write(&asset, "big.com", &big);
    write(&asset, "small.com", EICAR);
    let env = [
        ("DSXCONNECT_SCANNER__ENGINE", "clamd"),
        ("DSXCONNECT_SCANNER__CLAMD_ADDRESS", addr.as_str()),
        ("DSXCONNECT_SCANNER__CLAMD_FDPASS_MAX_SIZE", "1M"),
    ];
    let data = tempfile::tempdir().unwrap();
    let (core, uuid, url) = start_core_with_builtin_fs(data.path(), &asset, &env);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let a = asset.display().to_string();
    let big = outcome(&api, &url, "big", &format!("{a}/big.com")).await;
    assert_eq!(big["verdict"], "Not Scanned", "{big}");
    assert_eq!(big["detail"]["reason"], "file too large", "{big}");
    let small = outcome(&api, &url, "small", &format!("{a}/small.com")).await;
    assert_eq!(small["verdict"], "Malicious", "{small}");
    let log = wait_for("clamd's log line", Duration::from_secs(30), || async {
        let log = clamd.log();
        log.contains("small.com: Eicar").then_some(log)
    })
    .await;
    assert!(
        !log.contains("big.com"),
        "the large file was never passed by descriptor: {log}"
    );
}

/// `dsx-connect scan DIR` with clamd on a unix socket: the malicious file is listed (exit 1)
/// and clamd scanned every file by descriptor.
#[test]
fn scan_of_a_folder_with_a_local_clamd_passes_descriptors() {
    let (clamd, addr) = real_clamd();
    let tree = tempfile::tempdir().unwrap();
    let tree_path = std::fs::canonicalize(tree.path()).unwrap();
    write(&tree_path, "a/evil.com", EICAR);
    for i in 0..5 {
        write(&tree_path, &format!("b/f{i}.txt"), format!("clean {i}").as_bytes());
    }
    let data = tempfile::tempdir().unwrap();
    let out = run_for(
        Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["scan", "--data-dir"])
            .arg(data.path())
            .arg(&tree_path)
            .env("DSXCONNECT_SCANNER__ENGINE", "clamd")
            .env("DSXCONNECT_SCANNER__CLAMD_ADDRESS", &addr),
        120,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("a/evil.com"), "{text}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = clamd.log();
        if log.matches("/b/f").count() >= 5 || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(log.contains("/a/evil.com: Eicar-Test-Signature.Custom"), "{log}");
    assert_eq!(log.matches("/b/f").count(), 5, "{log}");
    assert!(!log.contains("instream("), "{log}");
}
