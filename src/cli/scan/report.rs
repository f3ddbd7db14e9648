//! What `scan` reports: the summary (a text table or one JSON object), findings as NDJSON lines
//! while the scan runs, and the exit code.
//!
//! Exit codes follow clamscan, so scripts written for it keep working: 1 when anything malicious
//! was found (whatever else failed), 2 when something could not be scanned and nothing malicious
//! was found, 0 when everything was scanned and clean; 130 after Ctrl-C, 64 for usage errors.
//!
//! Locations are printed as the connector sent them (names that are not UTF-8 in their
//! `dsx-bytes:` form) with control characters escaped as `\u00XX`, so a file name cannot
//! rewrite the terminal.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::model::job::JobRecord;
use crate::model::{JobStatus, ScanResultModel, StatusKind};
use crate::scanner::EngineInfo;

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Where the report goes: standard output or the `--output` file. Shared by the live NDJSON
/// findings and the final summary.
#[derive(Clone)]
pub struct Output(Arc<Mutex<Box<dyn Write + Send>>>);

impl Output {
    pub fn open(file: Option<&Path>) -> anyhow::Result<Self> {
        let w: Box<dyn Write + Send> = match file {
            Some(f) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(f).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", f.display()))?,
            )),
            None => Box::new(std::io::stdout()),
        };
        Ok(Self(Arc::new(Mutex::new(w))))
    }

    /// Writes whole lines and flushes them (an NDJSON reader sees each finding at once).
    pub fn lines(&self, text: &str) -> std::io::Result<()> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("report writer poisoned"))?;
        w.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            w.write_all(b"\n")?;
        }
        w.flush()
    }
}

/// One target's job as it ended (or stood when the scan was interrupted).
pub struct JobOutcome {
    pub target: String,
    pub job: JobRecord,
}

/// Figures summed over the jobs.
#[derive(Default)]
struct Totals {
    files: u64,
    benign: u64,
    malicious: u64,
    unknown: u64,
    unsupported: u64,
    not_scanned: u64,
    non_compliant: u64,
    actions_taken: u64,
    actions_failed: u64,
    failed: u64,
    skipped: u64,
    unreadable: u64,
}

/// What the summary is made of.
pub struct Summary {
    pub jobs: Vec<JobOutcome>,
    /// Paths that could not be scanned at all, with the reason.
    pub refused: Vec<(String, String)>,
    /// The engine that gave the verdicts, as it reported itself at the end of the scan.
    pub engine: EngineInfo,
    pub malicious: Vec<ScanResultModel>,
    pub failures: Vec<Value>,
    pub elapsed: Duration,
    pub interrupted: bool,
}

impl Summary {
    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for JobOutcome { job: j, .. } in &self.jobs {
            t.files += j.finished();
            t.benign += j.verdicts.benign;
            t.malicious += j.verdicts.malicious;
            t.unknown += j.verdicts.unknown;
            t.unsupported += j.verdicts.unsupported;
            t.not_scanned += j.verdicts.not_scanned;
            t.non_compliant += j.verdicts.non_compliant;
            t.actions_taken += j.actions_taken;
            t.actions_failed += j.actions_failed;
            t.failed += j.failed_count;
            t.skipped += j.skipped_count;
            t.unreadable += j.unreadable_count;
        }
        t
    }

    /// `completed` when every target was scanned to the end; `interrupted` after Ctrl-C; the
    /// one job's status otherwise, or `incomplete`.
    fn status(&self) -> &'static str {
        if self.interrupted {
            return "interrupted";
        }
        let all_completed = self.jobs.iter().all(|j| j.job.status == JobStatus::Completed);
        match (self.refused.is_empty(), self.jobs.as_slice()) {
            (true, [one]) => one.job.status.as_str(),
            (true, _) if all_completed => "completed",
            _ => "incomplete",
        }
    }

    pub fn exit_code(&self) -> i32 {
        let t = self.totals();
        if self.interrupted {
            EXIT_INTERRUPTED
        } else if t.malicious > 0 {
            1
        } else if t.failed > 0 || t.unreadable > 0 || self.status() != "completed" {
            2
        } else {
            0
        }
    }

    fn rate(&self, files: u64) -> f64 {
        files as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    fn targets(&self) -> Vec<&str> {
        self.jobs
            .iter()
            .map(|j| j.target.as_str())
            .chain(self.refused.iter().map(|(p, _)| p.as_str()))
            .collect()
    }

    pub fn to_json(&self) -> Value {
        let t = self.totals();
        let targets = self.targets();
        json!({
            "target": targets.join(", "),
            "targets": targets,
            "engine": self.engine,
            "job_id": self.jobs.first().map(|j| j.job.job_id.clone()),
            "jobs": self.jobs.iter().map(|j| json!({
                "target": j.target,
                "job_id": j.job.job_id,
                "status": j.job.status.as_str(),
                "files": j.job.finished(),
            })).collect::<Vec<_>>(),
            "status": self.status(),
            "files": t.files,
            "verdicts": {
                "benign": t.benign,
                "malicious": t.malicious,
                "unknown": t.unknown,
                "unsupported": t.unsupported,
                "not_scanned": t.not_scanned,
                "non_compliant": t.non_compliant,
            },
            "actions": { "taken": t.actions_taken, "failed": t.actions_failed },
            "failed": t.failed,
            "skipped": t.skipped,
            "unreadable": t.unreadable,
            "errors": self.refused.iter().map(|(p, r)| json!({"path": p, "reason": r})).collect::<Vec<_>>(),
            "duration_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "files_per_sec": (self.rate(t.files) * 10.0).round() / 10.0,
            "malicious": self.malicious.iter().map(finding).collect::<Vec<_>>(),
            "failures": self.failures,
            "exit_code": self.exit_code(),
        })
    }

    /// The text report; `quiet` keeps only the malicious, failed and refused items.
    pub fn to_text(&self, quiet: bool) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        if !quiet {
            let t = self.totals();
            let row = |k: &str, v: String| format!("  {k:<22} {v}");
            line(String::new());
            line(format!(
                "Scan of {} — {}",
                shown(&self.targets().join(", ")),
                self.status()
            ));
            let version = self.engine.version.as_deref().unwrap_or("version not reported");
            line(row("engine", format!("{} ({version})", self.engine.name)));
            if self.engine.test_engine {
                line(format!("  {}", self.engine.note));
            }
            line(row("files", t.files.to_string()));
            line(row("benign", t.benign.to_string()));
            line(row("malicious", t.malicious.to_string()));
            for (name, n) in [
                ("unknown", t.unknown),
                ("unsupported file type", t.unsupported),
                ("not scanned", t.not_scanned),
                ("non compliant", t.non_compliant),
            ] {
                if n > 0 {
                    line(row(name, n.to_string()));
                }
            }
            line(row("actions taken", t.actions_taken.to_string()));
            if t.actions_failed > 0 {
                line(row("actions failed", t.actions_failed.to_string()));
            }
            line(row("failed", t.failed.to_string()));
            if t.skipped > 0 {
                line(row("skipped", t.skipped.to_string()));
            }
            if t.unreadable > 0 {
                line(row(
                    "unreadable",
                    format!("{} (folders that could not be read; not scanned)", t.unreadable),
                ));
            }
            line(row("duration", format!("{:.2} s", self.elapsed.as_secs_f64())));
            line(row("files/s", format!("{:.1}", self.rate(t.files))));
        }
        if !self.malicious.is_empty() {
            if !quiet {
                line(String::new());
                line("Malicious items:".into());
            }
            for r in &self.malicious {
                let threat = r.verdict.verdict_details.event_description.as_deref().unwrap_or("?");
                let action = match (&r.item_action.status, &r.item_action.description) {
                    (StatusKind::Success, Some(d)) => format!(" [{}: {d}]", r.item_action.item_action),
                    (StatusKind::Error, _) => {
                        format!(" [{} failed: {}]", r.item_action.item_action, r.item_action.message)
                    }
                    _ => String::new(),
                };
                line(shown(&format!("  {}  ({threat}){action}", r.scan_request.location)));
            }
        }
        if !self.failures.is_empty() {
            if !quiet {
                line(String::new());
                line("Failed items:".into());
            }
            for f in &self.failures {
                line(format!(
                    "  {}  ({})",
                    shown(f["path"].as_str().unwrap_or("?")),
                    shown(f["reason"].as_str().unwrap_or("?"))
                ));
            }
        }
        if !self.refused.is_empty() {
            if !quiet {
                line(String::new());
                line("Could not scan:".into());
            }
            for (p, reason) in &self.refused {
                line(format!("  {}  ({})", shown(p), shown(reason)));
            }
        }
        out
    }
}

/// A malicious result as a JSON finding (the summary's list and the NDJSON lines).
pub fn finding(r: &ScanResultModel) -> Value {
    json!({
        "path": r.scan_request.location,
        "threat": r.verdict.verdict_details.event_description,
        "verdict": r.verdict.verdict.as_str(),
        "engine": r.verdict.scan_engine.as_str(),
        "engine_version": r.verdict.scan_engine_version,
        "job_id": r.scan_job_id,
        "task_id": r.scan_request_task_id,
        "action": r.item_action.item_action,
        "action_status": r.item_action.status,
        "action_detail": r.item_action.description,
    })
}

/// Server or file-system text made safe for a terminal.
pub fn shown(s: &str) -> String {
    crate::auth::relay::escape_controls(s)
}
