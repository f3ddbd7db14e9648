//! Capped exponential backoff with jitter (docs/reference/SUPERLOG.md, "Retries and backoff") and
//! `Retry-After` parsing.

use std::time::{Duration, SystemTime};

/// Longest wait ever, even when a receiver asks for more.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// Wait before retry `attempt` (1 = first retry): uniform in [d/2, d] with
/// d = min(max, base × 2^(attempt−1)). `unit` is a random number in [0, 1].
pub fn delay(attempt: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
    let d = base.saturating_mul(factor).min(max);
    d / 2 + (d / 2).mul_f64(unit.clamp(0.0, 1.0))
}

/// The wait for a retry: the jittered delay, at least what the receiver asked for, capped.
pub fn wait(attempt: u32, base: Duration, max: Duration, retry_after: Option<Duration>) -> Duration {
    let d = delay(attempt, base, max, rand::random::<f64>());
    d.max(retry_after.unwrap_or_default()).min(RETRY_AFTER_CAP)
}

/// A `Retry-After` value: delta seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap_with_half_jitter() {
        assert_eq!(delay(1, MS(500), MS(30_000), 0.0), MS(250));
        assert_eq!(delay(1, MS(500), MS(30_000), 1.0), MS(500));
        assert_eq!(delay(3, MS(500), MS(30_000), 1.0), MS(2000));
        assert_eq!(delay(20, MS(500), MS(30_000), 1.0), MS(30_000));
        assert_eq!(delay(100, MS(500), MS(30_000), 0.0), MS(15_000));
        for _ in 0..100 {
            let d = wait(2, MS(500), MS(30_000), None);
            assert!(d >= MS(500) && d <= MS(1000), "{d:?}");
        }
    }

    #[test]
    fn retry_after_raises_the_wait_but_never_past_the_cap() {
        assert!(wait(1, MS(500), MS(30_000), Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        assert_eq!(
            wait(1, MS(500), MS(30_000), Some(Duration::from_secs(9999))),
            RETRY_AFTER_CAP
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        assert!(parse_retry_after(&later).unwrap() > Duration::from_secs(50));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
