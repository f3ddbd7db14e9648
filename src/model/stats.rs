//! Scan statistics (docs/reference/CORE-API.md, "Statistics"): exact sums and a log-linear
//! histogram for quantiles.
//!
//! Both backends use the same bucket function, so their medians and p95s agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::result::ScanResultModel;
use super::verdict::VerdictKind;

/// Bucket of a non-negative value: exact below 16, then 8 buckets per power of two.
pub fn bucket_of(v: u64) -> u32 {
    if v < 16 {
        return v as u32;
    }
    let e = 63 - v.leading_zeros();
    let s = (v >> (e - 3)) - 8;
    16 + 8 * (e - 4) + s as u32
}

/// Largest value that falls in bucket `b`.
pub fn bucket_upper(b: u32) -> u64 {
    if b < 16 {
        return u64::from(b);
    }
    let e = (b - 16) / 8 + 4;
    let s = u64::from((b - 16) % 8);
    ((9 + s) << (e - 3)) - 1
}

/// A histogram of non-negative values with its largest observation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub buckets: BTreeMap<u32, u64>,
    pub count: u64,
    pub max: u64,
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        *self.buckets.entry(bucket_of(v)).or_default() += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// Quantile q: the upper bound of the bucket holding rank ⌈q·n⌉, capped at the maximum.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut cumulative = 0;
        for (b, c) in &self.buckets {
            cumulative += c;
            if cumulative >= rank {
                return Some(bucket_upper(*b).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// Everything the statistics endpoint is computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsState {
    pub files_scanned: u64,
    pub benign: u64,
    pub malicious: u64,
    pub unknown: u64,
    pub unsupported: u64,
    pub not_scanned: u64,
    pub encrypted: u64,
    pub non_compliant: u64,
    pub total_scan_time_us: u64,
    pub timed_count: u64,
    pub total_file_size: u64,
    pub sized_count: u64,
    pub longest_file: Option<String>,
    pub longest_file_size: i64,
    pub longest_us: Option<u64>,
    pub size_hist: Histogram,
    pub time_hist: Histogram,
}

impl StatsState {
    /// Adds one result. Results without `file_info` or a duration still count (differs from
    /// the original, which lost them).
    pub fn add(&mut self, r: &ScanResultModel) {
        self.files_scanned += 1;
        let v = &r.verdict;
        match v.verdict {
            VerdictKind::Benign => self.benign += 1,
            VerdictKind::Malicious => self.malicious += 1,
            VerdictKind::Unknown => self.unknown += 1,
            VerdictKind::UnsupportedFileType => self.unsupported += 1,
            VerdictKind::NotScanned => self.not_scanned += 1,
            VerdictKind::NonCompliant => self.non_compliant += 1,
        }
        if v.is_encrypted() {
            self.encrypted += 1;
        }
        let size = v.file_size().and_then(|s| u64::try_from(s).ok());
        if let Some(size) = size {
            self.total_file_size += size;
            self.sized_count += 1;
            self.size_hist.record(size);
        }
        if let Ok(us) = u64::try_from(v.scan_duration_in_microseconds) {
            self.total_scan_time_us += us;
            self.timed_count += 1;
            self.time_hist.record(us);
            if self.longest_us.is_none_or(|l| us > l) {
                self.longest_us = Some(us);
                self.longest_file = Some(r.scan_request.location.clone());
                self.longest_file_size = size.map_or(-1, |s| s as i64);
            }
        }
    }

    /// The ScanStatsModel JSON.
    pub fn view(&self) -> Value {
        let avg = |sum: u64, n: u64| sum.checked_div(n);
        let avg_time = avg(self.total_scan_time_us, self.timed_count);
        let int_or = |v: Option<u64>| v.map_or(json!(-1), |x| json!(x));
        let f_or = |v: Option<u64>, div: f64| v.map_or(json!(-1.0), |x| json!(x as f64 / div));
        json!({
            "files_scanned": self.files_scanned,
            "benign_count": self.benign,
            "malicious_count": self.malicious,
            "unknown_count": self.unknown,
            "unsupported_count": self.unsupported,
            "not_scanned_count": self.not_scanned,
            "encrypted_count": self.encrypted,
            "non_compliant_count": self.non_compliant,
            "total_scan_time_in_microseconds": int_or((self.timed_count > 0).then_some(self.total_scan_time_us)),
            "total_scan_time_in_seconds": f_or((self.timed_count > 0).then_some(self.total_scan_time_us), 1e6),
            "total_file_size": int_or((self.sized_count > 0).then_some(self.total_file_size)),
            "avg_file_size": int_or(avg(self.total_file_size, self.sized_count)),
            "avg_scan_time_in_microseconds": int_or(avg_time),
            "avg_scan_time_in_milliseconds": f_or(avg_time, 1e3),
            "avg_scan_time_in_seconds": f_or(avg_time, 1e6),
            "median_file_size_in_bytes": int_or(self.size_hist.quantile(0.5)),
            "median_scan_time_in_microseconds": int_or(self.time_hist.quantile(0.5)),
            "p95_file_size_in_bytes": int_or(self.size_hist.quantile(0.95)),
            "p95_scan_time_in_microseconds": int_or(self.time_hist.quantile(0.95)),
            "longest_scan_time_file": self.longest_file.clone().unwrap_or_default(),
            "longest_scan_time_file_size_in_bytes": if self.longest_us.is_some() { self.longest_file_size } else { -1 },
            "longest_scan_time_in_microseconds": int_or(self.longest_us),
            "longest_scan_time_in_milliseconds": f_or(self.longest_us, 1e3),
            "longest_scan_time_in_seconds": f_or(self.longest_us, 1e6),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_sixteen_and_bounded_above() {
        for v in 0..16 {
            assert_eq!(bucket_upper(bucket_of(v)), v);
        }
        for v in [16u64, 17, 100, 200, 207, 208, 1 << 20, u64::MAX / 3] {
            let b = bucket_of(v);
            assert!(bucket_upper(b) >= v, "{v}");
            if b > 0 {
                assert!(bucket_upper(b - 1) < v, "{v}");
            }
        }
    }

    #[test]
    fn the_spec_example_median_is_207() {
        let mut h = Histogram::default();
        for v in [100, 200, 300] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(207));
        assert_eq!(h.quantile(0.95), Some(300));
    }

    #[test]
    fn relative_error_stays_below_an_eighth() {
        for v in [17u64, 99, 1000, 123_456, 9_999_999] {
            let up = bucket_upper(bucket_of(v));
            assert!((up - v) as f64 / v as f64 <= 0.125, "{v} -> {up}");
        }
    }
}
