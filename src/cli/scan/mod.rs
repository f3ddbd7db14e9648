//! `dsx-connect scan PATH...`: a full scan of folders, files, standard input and S3 prefixes
//! through the same pipeline as the service, in one process, with progress, a summary and
//! clamscan's exit codes (see [`report`]).
//!
//! The engine is checked before anything starts, so an unreachable scanner fails at once with its
//! own error. Ctrl-C (or SIGTERM) cancels the jobs, prints the partial summary, removes the
//! temporary store and exits 130.

mod report;
mod targets;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::{ActionArg, ReportFormat, ScanArgs, builtin};
use crate::actors::job::{JobUpdate, Subscribe};
use crate::app::{CoreHandle, start_core};
use crate::backend::{BusEvent, ResultQuery};
use crate::config::Settings;
use crate::connectors::framework::server::RunningConnector;
use crate::connectors::framework::settings::ConnectorKind;
use crate::model::job::JobRecord;
use crate::model::{DlqQueue, JobId, ScanResultModel, VerdictKind, now_secs};
use report::{JobOutcome, Output, Summary};
use targets::{STDIN_NAME, Target};

/// A line on stderr for the person running the scan; a closed stderr (`2>&-`, a reader that went
/// away) must not end the scan, so write errors are ignored.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

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

/// SIGINT and SIGTERM, taken over as the scan starts so that an interrupted scan still cleans up.
struct Stop {
    int: Signal,
    term: Signal,
}

impl Stop {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// How progress is shown (on stderr; the report owns stdout).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// A bar, for a person at a terminal.
    Bar,
    /// A line every 2 s, for logs.
    Lines,
    None,
}

fn progress_bar(progress: Progress) -> indicatif::ProgressBar {
    if progress != Progress::Bar {
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

async fn wait_for_job(core: &CoreHandle, job_id: &JobId, progress: Progress) -> anyhow::Result<JobRecord> {
    let (tx, mut rx) = watch::channel(None);
    let fwd = Forward(tx).start();
    let actor = core.jobs().actor(job_id).await?;
    actor.send(Subscribe(fwd.recipient())).await?;
    let jobs = Arc::clone(&core.state.core.backend.jobs);
    let bar = progress_bar(progress);
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
            if progress == Progress::Lines && last_line.elapsed() >= Duration::from_secs(2) {
                last_line = Instant::now();
                note!(
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

/// The malicious results and the dead-lettered items of one job.
async fn collect(core: &CoreHandle, job: &JobRecord) -> anyhow::Result<(Vec<ScanResultModel>, Vec<Value>)> {
    let results = &core.state.core.backend.results;
    let mut malicious = Vec::new();
    let mut before = None;
    loop {
        let page = results
            .list(ResultQuery {
                limit: 10_000,
                job_id: Some(job.job_id.to_string()),
                verdict: Some("Malicious".into()),
                before_id: before,
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        malicious.extend(page);
    }
    let mut failures = Vec::new();
    if job.failed_count > 0 {
        for q in DlqQueue::ALL {
            let n = results.dlq_stats(q, 0).await?.length;
            let mut start = 0;
            while start < n {
                for e in results.dlq_items(q, start, start + 99).await? {
                    if job.job_id == e.meta.job_id {
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

/// Fails at once, with the engine's own error, when the scanner cannot be reached.
async fn check_engine(settings: &Settings) -> anyhow::Result<()> {
    let scanner = crate::scanner::build(&settings.scanner)?;
    scanner
        .probe()
        .await
        .map_err(|reason| anyhow::anyhow!("the scanner ({}) cannot be reached: {reason}", scanner.engine()))
}

/// Standard input, copied into a private folder the built-in connector serves.
async fn read_stdin() -> anyhow::Result<tempfile::TempDir> {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::Builder::new().prefix("dsx-connect-stdin-").tempdir()?;
    let mut file = tokio::fs::File::create(dir.path().join(STDIN_NAME)).await?;
    tokio::io::copy(&mut tokio::io::stdin(), &mut file).await?;
    file.flush().await?;
    Ok(dir)
}

/// Shows the item that came from standard input as `stdin`, not as its private copy.
struct Locations(Option<String>);

impl Locations {
    fn show(&self, r: &mut ScanResultModel) {
        if self.0.as_deref() == Some(r.scan_request.location.as_str()) {
            r.scan_request.location = STDIN_NAME.into();
        }
    }
}

/// Streams each malicious result as an NDJSON line while the scan runs; returns the task ids
/// written, so the end of the scan writes only the ones a lagging subscription missed.
fn stream_findings(
    mut rx: tokio::sync::broadcast::Receiver<BusEvent>,
    out: Output,
    locations: Arc<Locations>,
    written: Arc<Mutex<HashSet<String>>>,
) -> actix_rt::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(BusEvent::ScanResult { result, .. }) if result.verdict.verdict == VerdictKind::Malicious => {
                    let mut r = (*result).clone();
                    locations.show(&mut r);
                    let mut line = report::finding(&r);
                    line["type"] = json!("finding");
                    if out.lines(&line.to_string()).is_err() {
                        return;
                    }
                    if let Ok(mut w) = written.lock() {
                        w.insert(r.scan_request_task_id);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Starts one built-in connector per target and waits until all are registered.
async fn start_connectors(
    core: &CoreHandle,
    settings: &Settings,
    targets: &[Target],
    args: &ScanArgs,
) -> anyhow::Result<Vec<RunningConnector>> {
    let base = core.base_url();
    let mut running = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let filter = t.filter(&args.exclude);
        let action = if t.stdin { ActionArg::Nothing } else { args.action };
        running.push(
            builtin::start_builtin(
                builtin::Builtin {
                    kind: t.kind,
                    asset: &t.asset,
                    name: builtin::name(t.kind, i),
                    action: Some(action.as_str()),
                    quarantine: args.quarantine.as_deref(),
                    filter: (!filter.is_empty()).then_some(filter),
                },
                &base,
                &settings.data_dir,
                &core.state.core,
            )
            .await?,
        );
    }
    let view = Arc::clone(&core.state.core.registry_view);
    let deadline = Instant::now() + Duration::from_secs(20);
    for c in &running {
        while !view.contains(c.service.uuid()) {
            if Instant::now() > deadline {
                anyhow::bail!("the built-in connector did not register within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(running)
}

/// Runs the targets' full scans one after the other; each started job is recorded in `started`
/// as soon as it exists (an interrupted scan cancels and reports them). With `rescan_all`, no
/// verdict remembered in the data dir is reused.
async fn scan_all(
    core: &CoreHandle,
    connectors: &[RunningConnector],
    targets: &[Target],
    started: &Mutex<Vec<(String, JobId)>>,
    progress: Progress,
    rescan_all: bool,
) -> anyhow::Result<()> {
    let base = core.base_url();
    let http = reqwest::Client::new();
    let query = if rescan_all { "?rescan_all=true" } else { "" };
    for (c, t) in connectors.iter().zip(targets) {
        let resp = http
            .post(format!(
                "{base}/dsx-connect/api/v1/connectors/full_scan/{}{query}",
                c.service.uuid()
            ))
            .send()
            .await?;
        if resp.status().as_u16() != 202 {
            let status = resp.status();
            anyhow::bail!(
                "the full scan of {} could not start: HTTP {status}: {}",
                report::shown(&t.shown),
                resp.text().await.unwrap_or_default()
            );
        }
        let job_id = resp
            .headers()
            .get("X-Job-Id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| JobId::parse(v).ok())
            .ok_or_else(|| anyhow::anyhow!("the core did not return a job id"))?;
        if let Ok(mut s) = started.lock() {
            s.push((t.shown.clone(), job_id.clone()));
        }
        wait_for_job(core, &job_id, progress).await?;
    }
    Ok(())
}

/// Runs the scan and returns the process exit code.
pub async fn run(mut settings: Settings, args: ScanArgs) -> anyhow::Result<i32> {
    let mut stop = Stop::new()?;
    let format = args.report_format();
    let output = Output::open(args.output.as_deref())?;
    check_engine(&settings).await?;
    let stdin_dir = match args.targets.iter().any(|t| t == "-") {
        true => tokio::select! {
            dir = read_stdin() => Some(dir?),
            () = stop.recv() => return Ok(report::EXIT_INTERRUPTED),
        },
        false => None,
    };
    let (targets, refused) = targets::resolve(&args.targets, stdin_dir.as_ref().map(|d| d.path()));
    for (path, reason) in &refused {
        note!(
            "dsx-connect: cannot scan {}: {}",
            report::shown(path),
            report::shown(reason)
        );
    }
    if targets.is_empty() {
        let summary = Summary {
            jobs: Vec::new(),
            refused,
            engine: crate::scanner::build(&settings.scanner)?.info(),
            malicious: Vec::new(),
            failures: Vec::new(),
            elapsed: Duration::ZERO,
            interrupted: false,
        };
        write_report(&output, &summary, format, args.quiet, &HashSet::new())?;
        return Ok(summary.exit_code());
    }
    let locations = Arc::new(Locations(
        stdin_dir
            .as_ref()
            .map(|d| d.path().join(STDIN_NAME).display().to_string()),
    ));
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
    // Keep every finding of this scan so the summary can list them all; the other results keep
    // their body only when the web UI is there to show them (docs/OPERATIONS.md, "Temporary disk
    // of scan").
    settings.results_retain = -1;
    settings.keep_clean_results = args.ui.is_some();
    let listen = args.ui.clone().unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let settings = Arc::new(settings);
    let core = start_core(Arc::clone(&settings), listener, true).await?;
    let base = core.base_url();
    if args.ui.is_some() {
        note!("web UI: {base}/");
    }
    if matches!(args.action, ActionArg::Move | ActionArg::Movetag) {
        for t in targets.iter().filter(|t| !t.stdin) {
            let q = match (&args.quarantine, t.kind) {
                (Some(q), _) => q.clone(),
                (None, ConnectorKind::Filesystem) => {
                    Path::new(&t.asset).join("dsxconnect-quarantine").display().to_string()
                }
                (None, ConnectorKind::S3 | ConnectorKind::Gcs) => "dsxconnect-quarantine (in the bucket)".into(),
                (None, ConnectorKind::AzureBlob) => "dsxconnect-quarantine (in the container)".into(),
            };
            note!("malicious items will be moved to {}", report::shown(&q));
        }
    }
    let written = Arc::new(Mutex::new(HashSet::new()));
    let live = (format == ReportFormat::Ndjson).then(|| {
        stream_findings(
            core.state.core.backend.events.subscribe(),
            output.clone(),
            Arc::clone(&locations),
            Arc::clone(&written),
        )
    });
    let connectors = start_connectors(&core, &settings, &targets, &args).await?;
    let progress = if args.quiet || args.no_progress {
        Progress::None
    } else if std::io::stderr().is_terminal() && format == ReportFormat::Text {
        Progress::Bar
    } else {
        Progress::Lines
    };
    let started_at = Instant::now();
    let started = Mutex::new(Vec::new());
    let interrupted = tokio::select! {
        r = scan_all(&core, &connectors, &targets, &started, progress, args.rescan_all) => { r?; false }
        () = stop.recv() => true,
    };
    let elapsed = started_at.elapsed();
    let started = started.into_inner().unwrap_or_default();
    if interrupted {
        note!("interrupted: cancelling the scan");
        let http = reqwest::Client::new();
        for (_, job) in &started {
            let _ = http
                .post(format!("{base}/dsx-connect/api/v1/scan/jobs/{job}/cancel"))
                .send()
                .await;
        }
    }
    let mut jobs = Vec::new();
    let mut malicious = Vec::new();
    let mut failures = Vec::new();
    for (target, job_id) in started {
        let Some(job) = core.state.core.backend.jobs.get(&job_id).await? else {
            continue;
        };
        let (m, f) = collect(&core, &job).await?;
        malicious.extend(m);
        failures.extend(f);
        jobs.push(JobOutcome { target, job });
    }
    for r in &mut malicious {
        locations.show(r);
    }
    malicious.sort_by(|a, b| a.scan_request.location.cmp(&b.scan_request.location));
    let summary = Summary {
        jobs,
        refused,
        engine: core.state.core.scanner.info(),
        malicious,
        failures,
        elapsed,
        interrupted,
    };
    if let Some(task) = live {
        task.abort();
    }
    let written = written.lock().map(|w| w.clone()).unwrap_or_default();
    write_report(&output, &summary, format, args.quiet, &written)?;
    if args.ui.is_some() && !interrupted {
        note!("\nthe web UI stays open at {base}/ — Ctrl-C to exit");
        stop.recv().await;
    }
    for c in connectors {
        c.stop().await;
    }
    core.shutdown(Duration::from_secs(5)).await;
    drop(temp);
    drop(stdin_dir);
    Ok(summary.exit_code())
}

/// Writes the report; in NDJSON the findings not streamed yet (`written` holds the ones that
/// were), then the summary line.
fn write_report(
    output: &Output,
    summary: &Summary,
    format: ReportFormat,
    quiet: bool,
    written: &HashSet<String>,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Text => output.lines(&summary.to_text(quiet))?,
        ReportFormat::Json => output.lines(&serde_json::to_string_pretty(&summary.to_json())?)?,
        ReportFormat::Ndjson => {
            for r in summary
                .malicious
                .iter()
                .filter(|r| !written.contains(&r.scan_request_task_id))
            {
                let mut line = report::finding(r);
                line["type"] = json!("finding");
                output.lines(&line.to_string())?;
            }
            let mut line = summary.to_json();
            line["type"] = json!("summary");
            output.lines(&line.to_string())?;
        }
    }
    Ok(())
}
