//! Private `redis-server`s on loopback, and the switch that runs the HTTP-level suites on the
//! Redis backend: with `DSX_TEST_BACKEND=redis`, every core the harness starts gets a server of
//! its own (the same one again for the same data dir, so restarts keep their state). One server
//! per core, not one database each: pub/sub channels are shared by all databases of a server.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The backend name the core reports in `/readyz` and `/config` under this test run.
pub fn backend_name() -> &'static str {
    if backend_is_redis() { "redis" } else { "embedded" }
}

pub fn backend_is_redis() -> bool {
    std::env::var("DSX_TEST_BACKEND").is_ok_and(|b| b == "redis")
}

/// A `redis-server` child on `port` with `args` (killed if the test process dies).
pub fn spawn_redis(port: u16, args: &[&str]) -> std::process::Child {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("redis-server runs (apt-get install redis-server)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Starts `redis-server` on a free port with `args`; it dies with the test process (the child
/// is tied to a thread that waits on it as long as the process lives).
pub fn start_redis_server(args: &[&str]) -> u16 {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args: Vec<String> = ["--appendonly", "no"]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = spawn_redis(port, &refs);
        tx.send(()).unwrap();
        // Reaps the server if it ever exits; it is killed with the process otherwise.
        let _ = child.wait();
    });
    rx.recv().expect("redis-server started");
    port
}

/// The server for `data_dir`: a new one the first time, the same one later.
pub fn url_for(data_dir: &Path) -> String {
    static SERVERS: OnceLock<Mutex<HashMap<PathBuf, u16>>> = OnceLock::new();
    let mut servers = SERVERS.get_or_init(Default::default).lock().unwrap();
    let port = *servers
        .entry(data_dir.to_path_buf())
        .or_insert_with(|| start_redis_server(&[]));
    format!("redis://127.0.0.1:{port}")
}
