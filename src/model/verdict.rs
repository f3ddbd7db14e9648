//! Verdicts as stored, streamed and returned (docs/reference/CORE-API.md, "Verdict").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The recordable verdict strings. `Scanning` is normalised to `NotScanned` before recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    Benign,
    Malicious,
    Unknown,
    UnsupportedFileType,
    NotScanned,
    NonCompliant,
}

impl VerdictKind {
    pub const ALL: [VerdictKind; 6] = [
        VerdictKind::Benign,
        VerdictKind::Malicious,
        VerdictKind::Unknown,
        VerdictKind::UnsupportedFileType,
        VerdictKind::NotScanned,
        VerdictKind::NonCompliant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Benign => "Benign",
            VerdictKind::Malicious => "Malicious",
            VerdictKind::Unknown => "Unknown",
            VerdictKind::UnsupportedFileType => "Unsupported File Type",
            VerdictKind::NotScanned => "Not Scanned",
            VerdictKind::NonCompliant => "Non Compliant",
        }
    }

    /// Name of the job counter ("Job record") for this verdict.
    pub fn job_counter(self) -> &'static str {
        match self {
            VerdictKind::Benign => "verdict_benign",
            VerdictKind::Malicious => "verdict_malicious",
            VerdictKind::Unknown => "verdict_unknown",
            VerdictKind::UnsupportedFileType => "verdict_unsupported",
            VerdictKind::NotScanned => "verdict_not_scanned",
            VerdictKind::NonCompliant => "verdict_non_compliant",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict '{0}'")]
pub struct UnknownVerdict(pub String);

impl FromStr for VerdictKind {
    type Err = UnknownVerdict;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerdictKind::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerdict(s.to_string()))
    }
}

impl Serialize for VerdictKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VerdictKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `verdict_details`: never null itself, every field may be null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VerdictDetails {
    #[serde(default)]
    pub event_description: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub threat_type: Option<String>,
}

/// `file_info` as reported by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FileInfo {
    #[serde(default)]
    pub file_type: Option<String>,
    #[serde(default)]
    pub file_size_in_bytes: Option<i64>,
    #[serde(default)]
    pub file_hash: Option<String>,
    #[serde(default)]
    pub container_hash: Option<String>,
    #[serde(default)]
    pub additional_office_data: Option<serde_json::Value>,
}

/// Which engine produced a verdict (beyond the original).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Dsxa,
    Clamd,
    /// The built-in test engine (EICAR and a SHA-256 hash list only).
    Embedded,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Dsxa => "dsxa",
            Engine::Clamd => "clamd",
            Engine::Embedded => "embedded",
        }
    }

    /// Whether the engine only exists to exercise the product: its `Benign` means "not one of
    /// the few things it knows", not "examined and found harmless", so it must never unlock a
    /// file the way a real engine's verdict does.
    pub fn is_test_engine(self) -> bool {
        self == Engine::Embedded
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recorded verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(default)]
    pub scan_guid: Option<String>,
    pub verdict: VerdictKind,
    #[serde(default)]
    pub verdict_details: VerdictDetails,
    #[serde(default)]
    pub file_info: Option<FileInfo>,
    #[serde(default)]
    pub protected_entity: Option<i64>,
    #[serde(default = "minus_one")]
    pub scan_duration_in_microseconds: i64,
    #[serde(default)]
    pub container_files_scanned: Option<i64>,
    #[serde(default)]
    pub container_files_scanned_size: Option<i64>,
    #[serde(default)]
    pub x_custom_metadata: Option<String>,
    #[serde(default)]
    pub last_update_time: Option<String>,
    #[serde(default)]
    pub dsxconnect_request_elapsed_ms: Option<f64>,
    #[serde(default)]
    pub dsxconnect_read_elapsed_ms: Option<f64>,
    #[serde(default)]
    pub dsxconnect_dsxa_elapsed_ms: Option<f64>,
    pub scan_engine: Engine,
    /// The engine's version as it reported it when it gave this verdict (DSXA: absent, its scan
    /// answers carry none; clamd: engine and signature database; built-in: `builtin-test <version>`).
    /// Absent in records written before it existed, so it is omitted rather than null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_engine_version: Option<String>,
}

fn minus_one() -> i64 {
    -1
}

impl Verdict {
    /// A verdict with everything optional left empty.
    pub fn bare(kind: VerdictKind, engine: Engine) -> Self {
        Self {
            scan_guid: None,
            verdict: kind,
            verdict_details: VerdictDetails::default(),
            file_info: None,
            protected_entity: None,
            scan_duration_in_microseconds: -1,
            container_files_scanned: None,
            container_files_scanned_size: None,
            x_custom_metadata: None,
            last_update_time: None,
            dsxconnect_request_elapsed_ms: None,
            dsxconnect_read_elapsed_ms: None,
            dsxconnect_dsxa_elapsed_ms: None,
            scan_engine: engine,
            scan_engine_version: None,
        }
    }

    /// The synthetic "too large" verdict (docs/reference/CORE-API.md, "Verdict"): never reported as
    /// Benign.
    pub fn too_large(size: Option<u64>, engine: Engine) -> Self {
        let mut v = Self::bare(VerdictKind::NotScanned, engine);
        v.verdict_details = VerdictDetails {
            event_description: Some("File not scanned".into()),
            reason: Some("file too large".into()),
            threat_type: None,
        };
        v.file_info = Some(FileInfo {
            file_size_in_bytes: size.and_then(|s| i64::try_from(s).ok()),
            ..FileInfo::default()
        });
        v.scan_duration_in_microseconds = 0;
        v
    }

    /// Whether a `Not Scanned` verdict is for an encrypted file (sub-count `verdict_encrypted`).
    pub fn is_encrypted(&self) -> bool {
        self.verdict == VerdictKind::NotScanned
            && self
                .verdict_details
                .reason
                .as_deref()
                .is_some_and(|r| r.trim().eq_ignore_ascii_case("encrypted file"))
    }

    pub fn file_size(&self) -> Option<i64> {
        self.file_info.as_ref().and_then(|f| f.file_size_in_bytes)
    }
}

/// A fresh 32-hex-character scan id for engines that do not assign one.
pub fn generate_scan_guid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_strings_round_trip_exactly() {
        for v in VerdictKind::ALL {
            assert_eq!(v.as_str().parse::<VerdictKind>().unwrap(), v);
        }
        assert!("Scanning".parse::<VerdictKind>().is_err());
        assert!("benign".parse::<VerdictKind>().is_err());
    }

    #[test]
    fn too_large_is_not_scanned_with_the_documented_reason() {
        let v = Verdict::too_large(Some(10), Engine::Dsxa);
        assert_eq!(v.verdict, VerdictKind::NotScanned);
        assert_eq!(v.verdict_details.reason.as_deref(), Some("file too large"));
        assert_eq!(v.scan_duration_in_microseconds, 0);
        assert_eq!(v.file_size(), Some(10));
    }

    #[test]
    fn encrypted_is_detected_case_insensitively() {
        let mut v = Verdict::bare(VerdictKind::NotScanned, Engine::Dsxa);
        v.verdict_details.reason = Some("  Encrypted File ".into());
        assert!(v.is_encrypted());
    }
}
