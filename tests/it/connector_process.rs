//! The standalone `dsx-connect connector filesystem` process: it outlives a core that is down at
//! start, registers once the core answers, heartbeats, and unregisters on SIGTERM; invalid
//! settings stop it before it listens (docs/reference/CONNECTORS.md, "Lifecycle with the core").

use crate::common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_core::FakeCore;
use common::*;

fn free_addr() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn connector(asset: &std::path::Path, data: &std::path::Path, core: &str, listen: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
    c.args(["connector", "filesystem", "--listen", listen, "--core-url", core])
        .arg("--asset")
        .arg(asset)
        .arg("--data-dir")
        .arg(data)
        .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://{listen}"))
        .env("DSXCONNECTOR_LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Kills the child if the test fails before it stops it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn readyz(url: &str) -> Option<u16> {
    let r = reqwest::Client::new()
        .get(format!("{url}/readyz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

#[tokio::test]
async fn a_connector_started_before_the_core_registers_heartbeats_and_unregisters_on_sigterm() {
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(asset.path(), "a.txt", b"a");
    let core_addr = free_addr();
    let listen = free_addr().to_string();
    let url = format!("http://{listen}/filesystem-connector");
    // The core is down: whatever reaches its address is dropped unanswered.
    let down = TcpListener::bind(core_addr).unwrap();
    down.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut child = Guard(
        connector(asset.path(), data.path(), &format!("http://{core_addr}"), &listen)
            .env("DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS", "5")
            .env("DSXCONNECTOR_REGISTER_RETRY_MAX_SECS", "4")
            .spawn()
            .unwrap(),
    );

    // The core is down: the connector serves its probes but is not ready.
    let code = wait_for("connector listening", Duration::from_secs(20), || readyz(&url)).await;
    assert_eq!(code, 503, "not ready while the core is unreachable");
    wait_for("the first registration attempt", Duration::from_secs(30), || {
        let attempt = down.accept().ok().map(drop);
        async move { attempt }
    })
    .await;
    drop(down);

    // The core comes up but refuses registrations for a while: the attempts are spaced and the
    // spacing grows.
    let core = FakeCore::start_on(TcpListener::bind(core_addr).unwrap());
    core.set(|s| {
        s.overrides.insert("/connectors/register".into(), 503);
    });
    let refused = wait_for("two refused registrations", Duration::from_secs(20), || async {
        let r = core.requests("/connectors/register");
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert!(
        refused[0].at.duration_since(started) >= Duration::from_millis(1500),
        "the retry after the first failure waits about 2 s"
    );
    let gap = refused[1].at.duration_since(refused[0].at);
    assert!(gap >= Duration::from_millis(3000), "backoff grows: second gap {gap:?}");
    assert_eq!(
        readyz(&url).await,
        Some(503),
        "still not ready while registration fails"
    );

    // The core accepts: the connector registers, becomes ready, then heartbeats.
    core.set(|s| {
        s.overrides.clear();
    });
    wait_for("ready", Duration::from_secs(15), || async {
        (readyz(&url).await == Some(200)).then_some(())
    })
    .await;
    let first_ok = core.requests("/connectors/register").last().unwrap().at;
    let beats = wait_for("a heartbeat", Duration::from_secs(12), || async {
        let after: Vec<_> = core
            .requests("/connectors/register")
            .into_iter()
            .filter(|r| r.at > first_ok)
            .collect();
        (!after.is_empty()).then_some(after)
    })
    .await;
    let interval = beats[0].at.duration_since(first_ok);
    assert!(
        interval >= Duration::from_millis(4500) && interval <= Duration::from_millis(7000),
        "heartbeat every 5 s, got {interval:?}"
    );
    let beat = &beats[0].body;
    assert_eq!(beat["status"], "ready", "a heartbeat carries the full model: {beat}");
    for k in ["name", "url", "asset", "filter", "capabilities", "last_repo_check_ts"] {
        assert!(!beat[k].is_null(), "{k} missing from the heartbeat {beat}");
    }
    let uuid = beat["uuid"].as_str().unwrap().to_string();
    // The data dir holds one folder named after the connector, with the UUID file in it.
    let dir = std::fs::read_dir(data.path()).unwrap().next().unwrap().unwrap().path();
    let persisted = std::fs::read_to_string(dir.join("connector_uuid.txt")).unwrap();
    assert_eq!(persisted.trim(), uuid, "the UUID is persisted in the data dir");

    // SIGTERM: a clean exit that unregisters.
    let pid = child.0.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_for("exit", Duration::from_secs(15), || {
        let s = child.0.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(status.success(), "{status:?}");
    let unregs = core.requests(&format!("/connectors/unregister/{uuid}"));
    assert_eq!(unregs.len(), 1);
    let unregistered_at = unregs[0].at;

    // Restarted, it comes back with the same identity.
    let _again = Guard(
        connector(asset.path(), data.path(), &core.url, &listen)
            .spawn()
            .unwrap(),
    );
    let again = wait_for("re-registration", Duration::from_secs(20), || async {
        let r = core.requests("/connectors/register");
        r.last().filter(|x| x.at > unregistered_at).cloned()
    })
    .await;
    assert_eq!(again.body["uuid"].as_str(), Some(uuid.as_str()));
}

#[test]
fn invalid_settings_exit_2_before_listening_and_name_the_variable() {
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let cases = [
        ("DSXCONNECTOR_FILTER", "'x", "DSXCONNECTOR_FILTER"),
        ("DSXCONNECTOR_ITEM_ACTION", "bogus", "DSXCONNECTOR_ITEM_ACTION"),
        ("DSXCONNECTOR_UUID", "not-a-uuid", "DSXCONNECTOR_UUID"),
        (
            "DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS",
            "soon",
            "DSXCONNECTOR_HEARTBEAT_INTERVAL_SECS",
        ),
        ("DSXCONNECTOR_USE_TLS", "true", "DSXCONNECTOR_USE_TLS"),
        ("DSXCONNECTOR_SCAN_BATCH_SIZE", "0", "DSXCONNECTOR_SCAN_BATCH_SIZE"),
        // The asset is required: this case passes neither the flag nor the variable.
        ("DSXCONNECTOR_ASSET", "", "DSXCONNECTOR_ASSET"),
    ];
    for (var, value, named) in cases {
        let listen = free_addr().to_string();
        let mut cmd = connector(asset.path(), data.path(), "http://127.0.0.1:9", &listen);
        if var == "DSXCONNECTOR_ASSET" {
            // No --asset flag and no variable.
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            let keep: Vec<_> = args
                .iter()
                .enumerate()
                .filter(|(i, a)| *a != "--asset" && (*i == 0 || args[i - 1] != "--asset"))
                .map(|(_, a)| a.clone())
                .collect();
            cmd = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
            cmd.args(keep).env_remove("DSXCONNECTOR_ASSET");
        } else {
            cmd.env(var, value);
        }
        let out = run_for(&mut cmd, 20);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert!(err.contains(named), "{var}: {err}");
        assert!(
            std::net::TcpStream::connect(&listen).is_err(),
            "nothing listens after a refused start"
        );
    }
}

#[test]
fn an_invalid_filter_points_at_the_bad_token() {
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let listen = free_addr().to_string();
    let out = run_for(
        connector(asset.path(), data.path(), "http://127.0.0.1:9", &listen)
            .env("DSXCONNECTOR_FILTER", "sub1 --exclude"),
        20,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--exclude"), "the message names the bad token: {err}");
}

#[test]
fn a_corrupt_uuid_file_stops_start_up() {
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("custom");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("connector_uuid.txt"), "garbage\n").unwrap();
    let listen = free_addr().to_string();
    let out = run_for(
        connector(asset.path(), data.path(), "http://127.0.0.1:9", &listen).args(["--name", "custom"]),
        20,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("connector_uuid.txt") && err.contains("valid UUID"),
        "{err}"
    );
}

#[tokio::test]
async fn an_explicit_uuid_is_the_one_registered() {
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let core = FakeCore::start();
    let listen = free_addr().to_string();
    let id = "8d3a3f4e-2b7c-4c61-9a55-0f1e2d3c4b5a";
    let _child = Guard(
        connector(asset.path(), data.path(), &core.url, &listen)
            .env("DSXCONNECTOR_UUID", id)
            .spawn()
            .unwrap(),
    );
    let reg = wait_for("registration", Duration::from_secs(20), || async {
        core.requests("/connectors/register").first().cloned()
    })
    .await;
    assert_eq!(reg.body["uuid"].as_str(), Some(id));
}
