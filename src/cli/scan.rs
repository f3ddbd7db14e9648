//! `dsx-connect scan TARGET`: a full scan through the same pipeline, in one process, with a
//! progress bar and a summary. Exit code: 0 clean, 1 malicious found, 2 errors, failed items or
//! folders that could not be read (the scan did not cover the whole target).
//!
//! Locations are printed as the connector sent them (names that are not UTF-8 in their
//! `dsx-bytes:` form) with control characters escaped as `\u00XX`, so a file name cannot
//! rewrite the terminal.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{ActionArg, ScanArgs, builtin, shutdown_signal};
use crate::actors::job::{JobUpdate, Subscribe};
use crate::actors::job_registry::job_actor;
use crate::app::{CoreHandle, start_core};
use crate::backend::ResultQuery;
use crate::config::Settings;
use crate::connectors::framework::settings::ConnectorKind;
use crate::model::job::JobRecord;
use crate::model::{DlqQueue, ScanResultModel, now_secs};
use crate::scanner::EngineInfo;

/// Forwards a job's updates into a watch channel (the latest one wins).
struct Forward(watch::Sender<Option<Arc<JobRecord>>>);

impl Actor for Forward {
    type Context = Context<Self>;
}

impl Handler<JobUpdate> for Forward {
    type Result = ();
    fn handle(&mut self, msg: JobUpdate, _: &mut Self::Context) {
        let _ = self.0.send(Some(msg.0));
    }
}

/// What the summary is made of.
struct Summary {
    job: JobRecord,
    /// The engine that gave the verdicts, as it reported itself at the end of the scan.
    engine: EngineInfo,
    malicious: Vec<ScanResultModel>,
    failures: Vec<Value>,
    elapsed: Duration,
}

impl Summary {
    fn exit_code(&self) -> i32 {
        let incomplete = self.job.unreadable_count > 0 || self.job.status != crate::model::JobStatus::Completed;
        if self.job.failed_count > 0 || incomplete {
            2
        } else if self.job.verdicts.malicious > 0 {
            1
        } else {
            0
        }
    }

    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        self.job.finished() as f64 / secs
    }

    fn to_json(&self, target: &str) -> Value {
        let j = &self.job;
        json!({
            "target": target,
            "engine": self.engine,
            "job_id": j.job_id,
            "status": j.status.as_str(),
            "files": j.finished(),
            "verdicts": {
                "benign": j.verdicts.benign,
                "malicious": j.verdicts.malicious,
                "unknown": j.verdicts.unknown,
                "unsupported": j.verdicts.unsupported,
                "not_scanned": j.verdicts.not_scanned,
                "non_compliant": j.verdicts.non_compliant,
            },
            "actions": { "taken": j.actions_taken, "failed": j.actions_failed },
            "failed": j.failed_count,
            "skipped": j.skipped_count,
            "unreadable": j.unreadable_count,
            "duration_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "files_per_sec": (self.rate() * 10.0).round() / 10.0,
            "malicious": self.malicious.iter().map(|r| json!({
                "path": r.scan_request.location,
                "threat": r.verdict.verdict_details.event_description,
                "action": r.item_action.item_action,
                "action_status": r.item_action.status,
                "action_detail": r.item_action.description,
            })).collect::<Vec<_>>(),
            "failures": self.failures,
            "exit_code": self.exit_code(),
        })
    }

    fn print_table(&self, target: &str) {
        let j = &self.job;
        let row = |k: &str, v: String| println!("  {k:<22} {v}");
        println!();
        println!("Scan of {target} — {}", j.status.as_str());
        let version = self.engine.version.as_deref().unwrap_or("version not reported");
        row("engine", format!("{} ({version})", self.engine.name));
        if self.engine.test_engine {
            println!("  {}", self.engine.note);
        }
        row("files", j.finished().to_string());
        row("benign", j.verdicts.benign.to_string());
        row("malicious", j.verdicts.malicious.to_string());
        for (name, n) in [
            ("unknown", j.verdicts.unknown),
            ("unsupported file type", j.verdicts.unsupported),
            ("not scanned", j.verdicts.not_scanned),
            ("non compliant", j.verdicts.non_compliant),
        ] {
            if n > 0 {
                row(name, n.to_string());
            }
        }
        row("actions taken", j.actions_taken.to_string());
        if j.actions_failed > 0 {
            row("actions failed", j.actions_failed.to_string());
        }
        row("failed", j.failed_count.to_string());
        if j.skipped_count > 0 {
            row("skipped", j.skipped_count.to_string());
        }
        if j.unreadable_count > 0 {
            row(
                "unreadable",
                format!("{} (folders that could not be read; not scanned)", j.unreadable_count),
            );
        }
        row("duration", format!("{:.2} s", self.elapsed.as_secs_f64()));
        row("files/s", format!("{:.1}", self.rate()));
        if !self.malicious.is_empty() {
            println!();
            println!("Malicious items:");
            for r in &self.malicious {
                let threat = r.verdict.verdict_details.event_description.as_deref().unwrap_or("?");
                let action = match (&r.item_action.status, &r.item_action.description) {
                    (crate::model::StatusKind::Success, Some(d)) => format!(" [{}: {d}]", r.item_action.item_action),
                    (crate::model::StatusKind::Error, _) => {
                        format!(" [{} failed: {}]", r.item_action.item_action, r.item_action.message)
                    }
                    _ => String::new(),
                };
                let line = format!("  {}  ({threat}){action}", r.scan_request.location);
                println!("{}", shown(&line));
            }
        }
        if !self.failures.is_empty() {
            println!();
            println!("Failed items:");
            for f in &self.failures {
                println!(
                    "  {}  ({})",
                    shown(f["path"].as_str().unwrap_or("?")),
                    shown(f["reason"].as_str().unwrap_or("?"))
                );
            }
        }
    }
}

/// Server or file-system text made safe for a terminal.
fn shown(s: &str) -> String {
    crate::auth::relay::escape_controls(s)
}

fn progress_bar(interactive: bool) -> indicatif::ProgressBar {
    if !interactive {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:40.cyan/blue}] {pos}/{len} files  {per_sec}  eta {eta}  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn wait_for_job(core: &CoreHandle, job_id: &str, interactive: bool) -> anyhow::Result<JobRecord> {
    let (tx, mut rx) = watch::channel(None);
    let fwd = Forward(tx).start();
    let actor = job_actor(core.jobs(), job_id).await?;
    actor.send(Subscribe(fwd.recipient())).await?;
    let jobs = Arc::clone(&core.state.services.backend.jobs);
    let bar = progress_bar(interactive);
    let mut last_line = Instant::now();
    loop {
        // Updates arrive through the subscription; the periodic read covers a job that
        // finished before the subscription was in place.
        // Clone out of the watch guard first: it must not be held across the await below.
        let pushed = rx.borrow_and_update().clone();
        let latest = match pushed {
            Some(j) => Some((*j).clone()),
            None => jobs.get(job_id).await?,
        };
        if let Some(job) = latest {
            let d = job.derived(now_secs());
            if let Some(t) = d.total {
                bar.set_length(t);
            }
            bar.set_position(job.finished());
            bar.set_message(if job.verdicts.malicious > 0 {
                format!("{} malicious", job.verdicts.malicious)
            } else {
                String::new()
            });
            if !interactive && last_line.elapsed() >= Duration::from_secs(2) {
                last_line = Instant::now();
                eprintln!(
                    "progress: {}/{} files, {} malicious, {} failed",
                    job.finished(),
                    d.total.map_or("?".to_string(), |t| t.to_string()),
                    job.verdicts.malicious,
                    job.failed_count
                );
            }
            if job.status.is_terminal() {
                bar.finish_and_clear();
                return Ok(job);
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
    }
}

async fn collect(core: &CoreHandle, job: &JobRecord) -> anyhow::Result<(Vec<ScanResultModel>, Vec<Value>)> {
    let results = &core.state.services.backend.results;
    let mut malicious = Vec::new();
    let mut before = None;
    loop {
        let page = results
            .list(ResultQuery {
                limit: 10_000,
                job_id: Some(job.job_id.clone()),
                verdict: Some("Malicious".into()),
                before_id: before,
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        malicious.extend(page);
    }
    malicious.sort_by(|a, b| a.scan_request.location.cmp(&b.scan_request.location));
    let mut failures = Vec::new();
    if job.failed_count > 0 {
        for q in DlqQueue::ALL {
            let n = results.dlq_stats(q, 0).await?.length;
            let mut start = 0;
            while start < n {
                for e in results.dlq_items(q, start, start + 99).await? {
                    if e.meta.job_id == job.job_id {
                        failures.push(json!({
                            "path": e.payload["scan_request"]["location"],
                            "reason": e.reason,
                            "error": e.error_details,
                        }));
                    }
                }
                start += 100;
            }
        }
    }
    Ok((malicious, failures))
}

/// Runs the scan and returns the process exit code.
pub async fn run(mut settings: Settings, args: ScanArgs) -> anyhow::Result<i32> {
    // `s3://bucket[/prefix]` or a folder.
    let (kind, target) = match args.target.strip_prefix("s3://") {
        Some(rest) => (ConnectorKind::S3, rest.to_string()),
        None => {
            let dir =
                std::fs::canonicalize(&args.target).map_err(|e| anyhow::anyhow!("cannot scan {}: {e}", args.target))?;
            if !dir.is_dir() {
                anyhow::bail!("{} is not a folder", dir.display());
            }
            (ConnectorKind::Filesystem, dir.display().to_string())
        }
    };
    let shown = match kind {
        ConnectorKind::S3 => format!("s3://{target}"),
        ConnectorKind::Filesystem => target.clone(),
    };
    let temp = match &args.data_dir {
        Some(d) => {
            settings.data_dir = d.clone();
            None
        }
        None => {
            let t = tempfile::Builder::new().prefix("dsx-connect-scan-").tempdir()?;
            settings.data_dir = t.path().to_path_buf();
            Some(t)
        }
    };
    // Keep every result of this scan so the summary can list them all.
    settings.results_retain = -1;
    let listen = args.ui.clone().unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let settings = Arc::new(settings);
    let core = start_core(Arc::clone(&settings), listener, true).await?;
    let base = core.base_url();
    if args.ui.is_some() {
        eprintln!("web UI: {base}/");
    }
    if matches!(args.action, ActionArg::Move | ActionArg::Movetag) {
        let q = match (&args.quarantine, kind) {
            (Some(q), _) => q.clone(),
            (None, ConnectorKind::Filesystem) => Path::new(&target).join("dsxconnect-quarantine").display().to_string(),
            (None, ConnectorKind::S3) => "dsxconnect-quarantine (in the bucket)".into(),
        };
        eprintln!("malicious items will be moved to {q}");
    }
    let connector = builtin::start_builtin(
        builtin::Builtin {
            kind,
            asset: &target,
            name: builtin::name(kind, 0),
            action: Some(args.action.as_str()),
            quarantine: args.quarantine.as_deref(),
        },
        &base,
        &settings.data_dir,
        core.state.services.trust.builtin(),
    )
    .await?;
    let uuid = connector.service.uuid().to_string();
    let view = Arc::clone(&core.state.services.registry_view);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !view.contains(&uuid) {
        if Instant::now() > deadline {
            anyhow::bail!("the built-in connector did not register within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{base}/dsx-connect/api/v1/connectors/full_scan/{uuid}"))
        .send()
        .await?;
    if resp.status().as_u16() != 202 {
        let status = resp.status();
        anyhow::bail!(
            "the full scan could not start: HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    let job_id = resp
        .headers()
        .get("X-Job-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the core did not return a job id"))?;
    let interactive = std::io::stderr().is_terminal() && !args.json;
    let job = wait_for_job(&core, &job_id, interactive).await?;
    let elapsed = started.elapsed();
    let (malicious, failures) = collect(&core, &job).await?;
    let summary = Summary {
        job,
        engine: core.state.scanner.info(),
        malicious,
        failures,
        elapsed,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.to_json(&shown))?);
    } else {
        summary.print_table(&shown);
    }
    if args.ui.is_some() {
        eprintln!("\nthe web UI stays open at {base}/ — Ctrl-C to exit");
        shutdown_signal().await;
    }
    connector.stop().await;
    core.shutdown(Duration::from_secs(5)).await;
    drop(temp);
    Ok(summary.exit_code())
}
