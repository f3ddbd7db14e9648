//! When a schedule is due: cron expressions in a time zone, or fixed intervals from an anchor.
//!
//! Every process computes the same due times from the same definition (no clock of its own
//! enters the sequence), which is what lets the run lease compare due times across processes.

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::model::schedule::Cadence;

/// Shortest period allowed between two due times: each run is a full scan of a repository.
pub const MIN_PERIOD_SECS: u64 = 10;
/// Longest interval (a year and a day).
pub const MAX_INTERVAL_SECS: u64 = 366 * 86_400;
/// Longest cron expression and time-zone name accepted.
const MAX_EXPR_LEN: usize = 200;
const MAX_TZ_LEN: usize = 64;
/// Due times checked against [`MIN_PERIOD_SECS`] when a cron expression is accepted.
const PERIOD_SAMPLES: usize = 8;

/// Why a cadence was refused; the text is meant for the operator who wrote it.
#[derive(Debug, thiserror::Error)]
pub enum CadenceError {
    #[error("invalid cron expression: {0}")]
    Cron(#[source] croner::errors::CronError),
    #[error("cron expression is longer than {MAX_EXPR_LEN} characters")]
    CronTooLong,
    #[error("unknown time zone (use an IANA name such as UTC or Europe/Berlin)")]
    TimeZone(#[source] jiff::Error),
    #[error("time zone name is longer than {MAX_TZ_LEN} characters")]
    TimeZoneTooLong,
    #[error("the cron expression never matches a future time")]
    NeverDue,
    #[error("due times are less than {MIN_PERIOD_SECS} s apart")]
    TooFrequent,
    #[error("interval must be between {MIN_PERIOD_SECS} and {MAX_INTERVAL_SECS} seconds")]
    IntervalRange,
}

impl CadenceError {
    /// Whether the time zone, not the expression, is at fault (the field a 422 points at).
    pub fn is_time_zone(&self) -> bool {
        matches!(self, Self::TimeZone(_) | Self::TimeZoneTooLong)
    }
}

/// A cadence ready to answer "when next?".
#[derive(Debug, Clone)]
pub enum Due {
    Cron { cron: Box<Cron>, tz: TimeZone },
    Interval { anchor_ms: i64, period_ms: i64 },
}

impl Due {
    /// Checks `cadence` and prepares it; `anchor_ms` is where intervals count from.
    pub fn new(cadence: &Cadence, anchor_ms: i64) -> Result<Self, CadenceError> {
        match cadence {
            Cadence::Interval { secs } => {
                if !(MIN_PERIOD_SECS..=MAX_INTERVAL_SECS).contains(secs) {
                    return Err(CadenceError::IntervalRange);
                }
                Ok(Due::Interval {
                    anchor_ms,
                    period_ms: (*secs as i64) * 1000,
                })
            }
            Cadence::Cron { expr, timezone } => {
                if expr.len() > MAX_EXPR_LEN {
                    return Err(CadenceError::CronTooLong);
                }
                if timezone.len() > MAX_TZ_LEN {
                    return Err(CadenceError::TimeZoneTooLong);
                }
                let tz = TimeZone::get(timezone).map_err(CadenceError::TimeZone)?;
                let cron = CronParser::builder()
                    .seconds(Seconds::Optional)
                    .build()
                    .parse(expr)
                    .map_err(CadenceError::Cron)?;
                Ok(Due::Cron {
                    cron: Box::new(cron),
                    tz,
                })
            }
        }
    }

    /// Like [`Due::new`], and also refuses cron expressions that never fire or fire more often
    /// than [`MIN_PERIOD_SECS`] (checked over the next few due times from `now_ms`).
    pub fn checked(cadence: &Cadence, anchor_ms: i64, now_ms: i64) -> Result<Self, CadenceError> {
        let due = Self::new(cadence, anchor_ms)?;
        if let Due::Cron { .. } = due {
            let mut prev = due.next_after(now_ms).ok_or(CadenceError::NeverDue)?;
            for _ in 1..PERIOD_SAMPLES {
                let Some(next) = due.next_after(prev) else { break };
                if next - prev < (MIN_PERIOD_SECS as i64) * 1000 {
                    return Err(CadenceError::TooFrequent);
                }
                prev = next;
            }
        }
        Ok(due)
    }

    /// The first due time strictly after `after_ms` (epoch ms), if there is one.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Due::Interval { anchor_ms, period_ms } => {
                if after_ms < *anchor_ms {
                    return Some(*anchor_ms + period_ms);
                }
                let k = (after_ms - anchor_ms) / period_ms + 1;
                Some(anchor_ms + k * period_ms)
            }
            Due::Cron { cron, tz } => {
                let start = Timestamp::from_millisecond(after_ms).ok()?.to_zoned(tz.clone());
                let next = cron.find_next_occurrence(&start, false).ok()?;
                Some(next.timestamp().as_millisecond())
            }
        }
    }

    /// How many due times lie in `(after_ms, until_ms]`, counting at most `cap`.
    pub fn count_between(&self, after_ms: i64, until_ms: i64, cap: u32) -> u32 {
        let mut n = 0;
        let mut t = after_ms;
        while n < cap {
            match self.next_after(t) {
                Some(next) if next <= until_ms => {
                    n += 1;
                    t = next;
                }
                _ => break,
            }
        }
        n
    }
}

/// Formats epoch ms as RFC 3339 in UTC, the way the schedule API shows times.
pub fn iso_ms(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn cron(expr: &str, tz: &str) -> Cadence {
        Cadence::Cron {
            expr: expr.into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn cron_due_times_follow_the_time_zone() {
        let due = Due::new(&cron("0 2 * * *", "Europe/Berlin"), 0).unwrap();
        // 02:00 in Berlin is 01:00 UTC in winter.
        assert_eq!(
            due.next_after(ms("2026-12-07T12:00:00Z")),
            Some(ms("2026-12-08T01:00:00Z"))
        );
        // and 00:00 UTC in summer.
        assert_eq!(
            due.next_after(ms("2026-07-01T12:00:00Z")),
            Some(ms("2026-07-02T00:00:00Z"))
        );
    }

    #[test]
    fn a_nonexistent_local_time_is_not_run_twice_or_lost_across_a_dst_change() {
        // 02:30 does not exist in Berlin on 2027-03-28 (clocks jump 02:00 → 03:00).
        let due = Due::new(&cron("30 2 * * *", "Europe/Berlin"), 0).unwrap();
        let first = due.next_after(ms("2027-03-27T12:00:00Z")).unwrap();
        let second = due.next_after(first).unwrap();
        assert!(first > ms("2027-03-27T12:00:00Z"));
        assert!(second > first && second - first >= 3_600_000, "{first} {second}");
    }

    #[test]
    fn six_fields_read_seconds_first() {
        let due = Due::new(&cron("*/15 * * * * *", "UTC"), 0).unwrap();
        assert_eq!(
            due.next_after(ms("2026-12-07T12:00:01Z")),
            Some(ms("2026-12-07T12:00:15Z"))
        );
    }

    #[test]
    fn intervals_count_from_the_anchor() {
        let anchor = ms("2026-12-07T12:00:00Z");
        let due = Due::new(&Cadence::Interval { secs: 60 }, anchor).unwrap();
        assert_eq!(due.next_after(anchor), Some(anchor + 60_000));
        assert_eq!(due.next_after(anchor + 59_999), Some(anchor + 60_000));
        assert_eq!(due.next_after(anchor + 60_000), Some(anchor + 120_000));
        assert_eq!(due.next_after(anchor - 5_000), Some(anchor + 60_000));
        assert_eq!(due.count_between(anchor, anchor + 300_000, 100), 5);
        assert_eq!(due.count_between(anchor, anchor + 300_000, 3), 3);
    }

    #[test]
    fn bad_cadences_are_refused_with_a_reason() {
        let now = ms("2026-12-07T12:00:00Z");
        let err = |c: Cadence| Due::checked(&c, now, now).unwrap_err().to_string();
        assert!(err(cron("61 * * * *", "UTC")).starts_with("invalid cron expression"));
        assert!(err(cron("0 2 * * *", "Mars/Olympus")).starts_with("unknown time zone"));
        assert!(err(cron("* * * * * *", "UTC")).contains("less than 10 s apart"));
        assert!(err(cron("0 0 30 2 *", "UTC")).contains("never") || err(cron("0 0 30 2 *", "UTC")).contains("invalid"));
        assert!(err(Cadence::Interval { secs: 5 }).contains("between 10 and"));
        assert!(
            err(Cadence::Interval {
                secs: MAX_INTERVAL_SECS + 1
            })
            .contains("between 10 and")
        );
        assert!(Due::checked(&cron("*/10 * * * * *", "UTC"), now, now).is_ok());
        assert!(Due::checked(&cron("0 2 * * MON-FRI", "America/New_York"), now, now).is_ok());
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(iso_ms(ms("2026-12-08T01:00:00Z")).unwrap(), "2026-12-08T01:00:00Z");
    }
}
