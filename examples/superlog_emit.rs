//! Benchmark driver for `bench/superlog.py`: starts superlog from the `DSXCONNECT_SUPERLOG__*`
//! environment exactly as the core does, emits N scan-result events as fast as it can, waits
//! until every destination has accounted for all of them, and prints one line per destination
//! with events/s and the process CPU time per 1,000 events (event building included).
//!
//!     DSXCONNECT_SUPERLOG__DESTINATIONS=syslog ... superlog_emit 50000

use std::time::{Duration, Instant};

use dsx_connect::config::Settings;
use dsx_connect::model::result::ScanResultModel;
use dsx_connect::model::scan_request::ScanRequestModel;
use dsx_connect::model::status::ItemActionStatusResponse;
use dsx_connect::model::verdict::{FileInfo, Verdict, VerdictKind};
use dsx_connect::model::{ConnectorInstanceModel, Engine};
use dsx_connect::superlog::Superlog;

/// User + system CPU time of this process.
fn cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
    t(u.ru_utime) + t(u.ru_stime)
}

fn result(i: usize) -> ScanResultModel {
    let mut v = Verdict::bare(VerdictKind::Benign, Engine::Dsxa);
    v.verdict_details.event_description = Some("No threat detected".into());
    v.file_info = Some(FileInfo {
        file_type: Some("TXTFileType".into()),
        file_size_in_bytes: Some(4096),
        file_hash: Some("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f".into()),
        ..Default::default()
    });
    v.scan_guid = Some("007ea79292ae4261ad82269cd13051b9".into());
    v.scan_duration_in_microseconds = 10_404;
    let loc = format!("/data/share/inbox/d{:02}/file-{i:06}.bin", i % 100);
    let mut req = ScanRequestModel::new(&loc, &loc);
    req.scan_job_id = Some("9c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f".into());
    req.connector = Some(ConnectorInstanceModel {
        name: "filesystem-connector".into(),
        uuid: Some("3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41".into()),
        asset: "/data/share".into(),
        ..Default::default()
    });
    let mut r = ScanResultModel::new(
        &format!("a1b2c3d4-0000-4000-8000-{i:012}"),
        req,
        v,
        ItemActionStatusResponse::no_action(),
        chrono::Utc::now(),
    );
    r.id = i as i64 + 1;
    r
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let loaded = Settings::from_env(None)?;
    let sl = Superlog::start(&loaded.settings.superlog)?;
    let results: Vec<ScanResultModel> = (0..n).map(result).collect();
    let (cpu0, t0) = (cpu(), Instant::now());
    for r in &results {
        sl.emit_result(r);
    }
    let emit_secs = t0.elapsed().as_secs_f64();
    let deadline = t0 + Duration::from_secs(600);
    let done = |d: &serde_json::Value| {
        let f = |k: &str| d[k].as_u64().unwrap_or(0);
        f("sent") + f("dropped") + f("failed") + f("filtered") == n as u64 && f("buffered") == 0
    };
    loop {
        let s = sl.status();
        if s["destinations"].as_array().is_some_and(|ds| ds.iter().all(done)) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "not delivered in 600 s: {s}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (secs, cpu_ms) = (t0.elapsed().as_secs_f64(), (cpu() - cpu0).as_secs_f64() * 1000.0);
    for d in sl.status()["destinations"].as_array().into_iter().flatten() {
        println!(
            "destination={} transport={} events={n} seconds={secs:.2} events_per_s={:.0} cpu_ms_per_1000={:.1} emit_us_per_event={:.2} sent={} dropped={} failed={}",
            d["name"].as_str().unwrap_or("?"),
            d["transport"].as_str().unwrap_or("-"),
            n as f64 / secs,
            cpu_ms * 1000.0 / n as f64,
            emit_secs * 1e6 / n as f64,
            d["sent"],
            d["dropped"],
            d["failed"],
        );
    }
    Ok(())
}
