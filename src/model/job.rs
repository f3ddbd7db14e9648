//! The job record (docs/reference/CORE-API.md, "Job record"), its derived figures and its views.
//!
//! There is exactly one definition of `total`, `progress_pct`, `duration_secs`, `eta_secs` and
//! `time_remaining` ("Derived job figures"): [`Derived::of`]. Every endpoint and every SSE frame
//! goes through it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{ConnectorUuid, JobId};
use super::verdict::{Verdict, VerdictKind};

/// Stored job status. `cancelled` and `completed` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Paused,
    Cancelled,
    Completed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => JobStatus::Running,
            "paused" => JobStatus::Paused,
            "cancelled" => JobStatus::Cancelled,
            "completed" => JobStatus::Completed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Cancelled | JobStatus::Completed)
    }

    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

/// How a job reached `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletedBy {
    EnqueueDone,
    Idle,
    ConnectorLost,
}

impl CompletedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            CompletedBy::EnqueueDone => "enqueue_done",
            CompletedBy::Idle => "idle",
            CompletedBy::ConnectorLost => "connector_lost",
        }
    }
}

/// Per-verdict counts of processed items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub benign: u64,
    pub malicious: u64,
    pub unknown: u64,
    pub unsupported: u64,
    pub not_scanned: u64,
    pub non_compliant: u64,
    pub encrypted: u64,
}

impl VerdictCounts {
    /// Adds (`delta = 1`) or removes (`delta = -1`) one verdict.
    pub fn apply(&mut self, verdict: &Verdict, delta: i64) {
        let slot = match verdict.verdict {
            VerdictKind::Benign => &mut self.benign,
            VerdictKind::Malicious => &mut self.malicious,
            VerdictKind::Unknown => &mut self.unknown,
            VerdictKind::UnsupportedFileType => &mut self.unsupported,
            VerdictKind::NotScanned => &mut self.not_scanned,
            VerdictKind::NonCompliant => &mut self.non_compliant,
        };
        *slot = slot.saturating_add_signed(delta);
        if verdict.is_encrypted() {
            self.encrypted = self.encrypted.saturating_add_signed(delta);
        }
    }

    pub fn fields(&self) -> [(&'static str, u64); 7] {
        [
            ("verdict_benign", self.benign),
            ("verdict_malicious", self.malicious),
            ("verdict_unknown", self.unknown),
            ("verdict_unsupported", self.unsupported),
            ("verdict_not_scanned", self.not_scanned),
            ("verdict_non_compliant", self.non_compliant),
            ("verdict_encrypted", self.encrypted),
        ]
    }
}

/// The job record. Timestamps are epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: JobId,
    pub status: JobStatus,
    pub job_name: Option<String>,
    pub connector_uuid: Option<ConnectorUuid>,
    /// The job's connector promised to post `enqueue_done` (capability), so rule I waits for it.
    pub awaits_enqueue_done: bool,
    pub started_at: i64,
    pub last_update: i64,
    pub last_enqueued_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub completed_by: Option<CompletedBy>,
    pub enqueue_done: bool,
    pub enqueue_finished_at: Option<i64>,
    pub enqueued_total: Option<u64>,
    pub expected_total: Option<u64>,
    pub enqueued_count: u64,
    pub processed_count: u64,
    pub failed_count: u64,
    pub skipped_count: u64,
    /// Folders or entries the connector could not read while enumerating (reported with
    /// `enqueue_done`). Items below them were never enqueued, so a completed job with a
    /// non-zero count is not a complete scan of its asset. Records stored before the field
    /// existed read as 0.
    #[serde(default)]
    pub unreadable_count: u64,
    pub verdicts: VerdictCounts,
    pub actions_taken: u64,
    pub actions_failed: u64,
    /// `"1"` once cancelled; never removed (kept for original tools).
    pub cancel_flag: bool,
}

impl JobRecord {
    pub fn new(job_id: &JobId, now: i64) -> Self {
        Self {
            job_id: job_id.clone(),
            status: JobStatus::Running,
            job_name: None,
            connector_uuid: None,
            awaits_enqueue_done: false,
            started_at: now,
            last_update: now,
            last_enqueued_at: None,
            finished_at: None,
            completed_by: None,
            enqueue_done: false,
            enqueue_finished_at: None,
            enqueued_total: None,
            expected_total: None,
            enqueued_count: 0,
            processed_count: 0,
            failed_count: 0,
            skipped_count: 0,
            unreadable_count: 0,
            verdicts: VerdictCounts::default(),
            actions_taken: 0,
            actions_failed: 0,
            cancel_flag: false,
        }
    }

    /// `processed + failed + skipped`.
    pub fn finished(&self) -> u64 {
        self.processed_count + self.failed_count + self.skipped_count
    }

    pub fn derived(&self, now: i64) -> Derived {
        Derived::of(self, now)
    }

    /// The raw hash view: every "Job record" field as a string (nulls for absent optional fields).
    pub fn hash_fields(&self) -> Map<String, Value> {
        let s = |v: i64| Value::String(v.to_string());
        let u = |v: u64| Value::String(v.to_string());
        let os = |v: Option<i64>| v.map(s).unwrap_or(Value::Null);
        let ou = |v: Option<u64>| v.map(u).unwrap_or(Value::Null);
        let ostr = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("job_id".into(), Value::String(self.job_id.to_string()));
        m.insert("status".into(), Value::String(self.status.as_str().into()));
        m.insert("job_name".into(), ostr(&self.job_name));
        m.insert(
            "connector_uuid".into(),
            ostr(&self.connector_uuid.as_ref().map(ConnectorUuid::to_string)),
        );
        m.insert("started_at".into(), s(self.started_at));
        m.insert("last_update".into(), s(self.last_update));
        m.insert("last_enqueued_at".into(), os(self.last_enqueued_at));
        m.insert("finished_at".into(), os(self.finished_at));
        m.insert(
            "completed_by".into(),
            self.completed_by
                .map(|c| Value::String(c.as_str().into()))
                .unwrap_or(Value::Null),
        );
        m.insert(
            "enqueue_done".into(),
            if self.enqueue_done {
                Value::String("1".into())
            } else {
                Value::Null
            },
        );
        m.insert("enqueue_finished_at".into(), os(self.enqueue_finished_at));
        m.insert("enqueued_total".into(), ou(self.enqueued_total));
        m.insert("expected_total".into(), ou(self.expected_total));
        m.insert("enqueued_count".into(), u(self.enqueued_count));
        m.insert("processed_count".into(), u(self.processed_count));
        m.insert("failed_count".into(), u(self.failed_count));
        m.insert("skipped_count".into(), u(self.skipped_count));
        m.insert("unreadable_count".into(), u(self.unreadable_count));
        for (k, v) in self.verdicts.fields() {
            m.insert(k.into(), u(v));
        }
        m.insert("actions_taken".into(), u(self.actions_taken));
        m.insert("actions_failed".into(), u(self.actions_failed));
        m.insert(
            "paused".into(),
            if self.status == JobStatus::Paused {
                Value::String("1".into())
            } else {
                Value::Null
            },
        );
        m.insert(
            "cancel".into(),
            if self.cancel_flag {
                Value::String("1".into())
            } else {
                Value::Null
            },
        );
        m
    }

    /// `GET /scan/jobs/{id}`: hash fields plus derived figures, all as strings.
    pub fn api_view(&self, now: i64) -> Value {
        let mut m = self.hash_fields();
        let d = self.derived(now);
        let s = |v: Option<u64>| v.map(|x| Value::String(x.to_string())).unwrap_or(Value::Null);
        m.insert("total".into(), s(d.total));
        m.insert("progress_pct".into(), s(d.progress_pct));
        m.insert("duration_secs".into(), Value::String(d.duration_secs.to_string()));
        m.insert("eta_secs".into(), s(d.eta_secs));
        m.insert(
            "time_remaining".into(),
            d.time_remaining.map(Value::String).unwrap_or(Value::Null),
        );
        Value::Object(m)
    }

    /// JobSummary of SSE frames and control answers ("The scan-result stream", R-3): counts as
    /// integers.
    pub fn summary(&self, now: i64) -> Value {
        let d = self.derived(now);
        let ostr = |v: Option<i64>| v.map(|x| Value::String(x.to_string())).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("job_id".into(), Value::String(self.job_id.to_string()));
        m.insert("status".into(), Value::String(self.status.as_str().into()));
        m.insert(
            "connector_uuid".into(),
            json_opt_str(&self.connector_uuid.as_ref().map(ConnectorUuid::to_string)),
        );
        m.insert("job_name".into(), json_opt_str(&self.job_name));
        m.insert("started_at".into(), Value::String(self.started_at.to_string()));
        m.insert("processed_count".into(), self.processed_count.into());
        m.insert("failed_count".into(), self.failed_count.into());
        m.insert("skipped_count".into(), self.skipped_count.into());
        m.insert("unreadable_count".into(), self.unreadable_count.into());
        m.insert("total".into(), json_opt_u64(d.total));
        m.insert("enqueued_total".into(), json_opt_u64(self.enqueued_total));
        m.insert("enqueued_count".into(), self.enqueued_count.into());
        m.insert("expected_total".into(), json_opt_u64(self.expected_total));
        m.insert(
            "enqueue_done".into(),
            if self.enqueue_done {
                Value::String("1".into())
            } else {
                Value::Null
            },
        );
        m.insert("progress_pct".into(), json_opt_u64(d.progress_pct));
        m.insert("last_update".into(), Value::String(self.last_update.to_string()));
        m.insert("finished_at".into(), ostr(self.finished_at));
        m.insert("duration_secs".into(), d.duration_secs.into());
        m.insert("eta_secs".into(), json_opt_u64(d.eta_secs));
        m.insert(
            "time_remaining".into(),
            d.time_remaining.map(Value::String).unwrap_or(Value::Null),
        );
        m.insert(
            "completed_by".into(),
            self.completed_by
                .map(|c| Value::String(c.as_str().into()))
                .unwrap_or(Value::Null),
        );
        for (k, v) in self.verdicts.fields() {
            m.insert(k.into(), v.into());
        }
        m.insert("actions_taken".into(), self.actions_taken.into());
        m.insert("actions_failed".into(), self.actions_failed.into());
        Value::Object(m)
    }
}

fn json_opt_u64(v: Option<u64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

fn json_opt_str(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

/// Derived figures of a job (docs/reference/CORE-API.md, "Derived job figures").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub total: Option<u64>,
    pub progress_pct: Option<u64>,
    pub duration_secs: u64,
    pub eta_secs: Option<u64>,
    pub time_remaining: Option<String>,
}

impl Derived {
    pub fn of(job: &JobRecord, now: i64) -> Self {
        let finished = job.finished();
        let total = if job.enqueue_done {
            Some(job.enqueued_count.max(job.enqueued_total.unwrap_or(0)))
        } else {
            job.expected_total.map(|e| e.max(job.enqueued_count))
        };
        let progress_pct = if job.status == JobStatus::Completed {
            Some(100)
        } else {
            match total {
                Some(t) if t > 0 => Some((finished.saturating_mul(100) / t).min(100)),
                _ => None,
            }
        };
        let end = job.finished_at.unwrap_or(now);
        let duration_secs = u64::try_from(end - job.started_at).unwrap_or(0);
        let eta_secs = match total {
            Some(t) if job.status == JobStatus::Running && t > 0 && finished > 0 && finished < t => {
                let elapsed = u64::try_from(now - job.started_at).unwrap_or(0).max(1);
                // remaining / (finished / elapsed), rounded up, in integer arithmetic.
                let remaining = t - finished;
                Some((remaining * elapsed).div_ceil(finished))
            }
            _ => None,
        };
        Self {
            total,
            progress_pct,
            duration_secs,
            eta_secs,
            time_remaining: eta_secs.map(format_hms),
        }
    }
}

/// `HH:MM:SS`, or `<D>d HH:MM:SS` from one day on ("Times and durations").
pub fn format_hms(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if days > 0 {
        format!("{days}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobRecord {
        JobRecord::new(&JobId::parse("j").unwrap(), 1000)
    }

    #[test]
    fn total_prefers_the_connector_count_once_enqueue_is_done() {
        let mut j = job();
        assert_eq!(j.derived(1000).total, None);
        j.expected_total = Some(10);
        j.enqueued_count = 4;
        assert_eq!(j.derived(1000).total, Some(10));
        j.enqueued_count = 12;
        assert_eq!(j.derived(1000).total, Some(12));
        j.enqueue_done = true;
        j.enqueued_total = Some(11);
        assert_eq!(j.derived(1000).total, Some(12));
    }

    #[test]
    fn progress_and_eta_use_finished_items() {
        let mut j = job();
        j.expected_total = Some(100);
        j.processed_count = 20;
        j.failed_count = 5;
        let d = j.derived(1010);
        assert_eq!(d.progress_pct, Some(25));
        // 75 remaining at 25 per 10 s -> 30 s.
        assert_eq!(d.eta_secs, Some(30));
        assert_eq!(d.time_remaining.as_deref(), Some("00:00:30"));
        assert_eq!(d.duration_secs, 10);
        j.status = JobStatus::Paused;
        assert_eq!(j.derived(1010).eta_secs, None);
        j.status = JobStatus::Completed;
        assert_eq!(j.derived(1010).progress_pct, Some(100));
    }

    #[test]
    fn hms_format_switches_to_days() {
        assert_eq!(format_hms(3661), "01:01:01");
        assert_eq!(format_hms(90_061), "1d 01:01:01");
    }

    #[test]
    fn a_record_stored_before_unreadable_count_existed_reads_as_zero() {
        let mut v = serde_json::to_value(job()).unwrap();
        v.as_object_mut().unwrap().remove("unreadable_count");
        let j: JobRecord = serde_json::from_value(v).unwrap();
        assert_eq!(j.unreadable_count, 0);
    }

    #[test]
    fn hash_view_has_every_counter_from_creation() {
        let v = job().hash_fields();
        for k in [
            "enqueued_count",
            "processed_count",
            "failed_count",
            "skipped_count",
            "unreadable_count",
            "verdict_unsupported",
            "verdict_encrypted",
        ] {
            assert_eq!(v[k], Value::String("0".into()), "{k}");
        }
    }
}
