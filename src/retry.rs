//! The one retry policy of the binary: capped exponential backoff with a chosen jitter, and the
//! one `Retry-After` parser (delta seconds or an HTTP date).
//!
//! Every waiting loop (the pipeline's item retries, superlog deliveries, a connector's calls to
//! the core and its registration, the SQS poller, the Redis event bus, the store's write probe)
//! describes its delays with a [`Backoff`]. The delay after the n-th failure is
//! `min(base · 2^(n−1), max)`, then jittered, then raised to a floor.
//!
//! Why not the `backon` crate: its jitter only adds up to one more delay (`[d, 2d)`), while
//! the contracts we keep ask for `[d/2, d]` (docs/reference/CORE-API.md, "Retries";
//! docs/reference/SUPERLOG.md, "Retries and backoff") and ±20 % (docs/reference/CONNECTORS.md,
//! "Startup"); and its policies are iterators holding their attempt count, while the
//! pipeline computes the delay from an attempt count stored with the item (any process may
//! retry it). What is left is the formula below.

use std::time::{Duration, SystemTime};

/// How a delay is spread so that many clients failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// Uniform in `[d/2, d]`.
    Half,
    /// Uniform in `[d·(1−f), d·(1+f)]`.
    Spread(f64),
}

/// Capped exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: Jitter,
    floor: Duration,
}

impl Backoff {
    /// `base` after the first failure, doubling per failure up to `max`; no jitter.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: Jitter::None,
            floor: Duration::ZERO,
        }
    }

    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Never wait less than `floor`, whatever the jitter drew.
    pub const fn at_least(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    /// The delay after `failures` failures (1 = the first) before jitter: `min(base·2^(n−1), max)`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// [`Backoff::delay`] with the random draw given: `unit` in `[0, 1]`.
    pub fn delay_with(&self, failures: u32, unit: f64) -> Duration {
        let d = self.ceiling(failures);
        let unit = unit.clamp(0.0, 1.0);
        let jittered = match self.jitter {
            Jitter::None => d,
            Jitter::Half => d / 2 + (d / 2).mul_f64(unit),
            Jitter::Spread(f) => d.mul_f64((1.0 - f + 2.0 * f * unit).max(0.0)),
        };
        jittered.max(self.floor)
    }

    /// The wait after `failures` failures.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, rand::random::<f64>())
    }

    /// The wait after `failures` failures, at least what the peer asked for in `Retry-After`,
    /// and never more than `cap`.
    pub fn delay_honouring(&self, failures: u32, retry_after: Option<Duration>, cap: Duration) -> Duration {
        self.delay(failures).max(retry_after.unwrap_or_default()).min(cap)
    }
}

/// A `Retry-After` value: delta seconds or an HTTP date (a date in the past is zero).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The `Retry-After` header of an answer, if present and valid.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const SECS: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let b = Backoff::new(MS(100), SECS(3));
        let waits: Vec<_> = (1..=7).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3000, 3000]);
        assert_eq!(b.delay(0), MS(100));
        assert_eq!(b.delay(u32::MAX), SECS(3));
        let huge = Backoff::new(SECS(86_400), SECS(86_400));
        assert_eq!(huge.delay(1000), SECS(86_400));
    }

    #[test]
    fn half_jitter_stays_between_half_and_the_full_delay() {
        let b = Backoff::new(MS(500), MS(30_000)).jitter(Jitter::Half);
        assert_eq!(b.delay_with(1, 0.0), MS(250));
        assert_eq!(b.delay_with(1, 1.0), MS(500));
        assert_eq!(b.delay_with(3, 1.0), MS(2000));
        assert_eq!(b.delay_with(20, 1.0), MS(30_000));
        assert_eq!(b.delay_with(100, 0.0), MS(15_000));
        for _ in 0..100 {
            let d = b.delay(2);
            assert!(d >= MS(500) && d <= MS(1000), "{d:?}");
        }
    }

    #[test]
    fn spread_jitter_stays_within_its_fraction_and_the_floor_holds() {
        let b = Backoff::new(SECS(2), SECS(60))
            .jitter(Jitter::Spread(0.2))
            .at_least(SECS(1));
        assert_eq!(b.delay_with(1, 0.0), MS(1600));
        assert_eq!(b.delay_with(1, 1.0), MS(2400));
        assert_eq!(b.delay_with(10, 0.5), SECS(60));
        let tight = Backoff::new(SECS(2), SECS(1))
            .jitter(Jitter::Spread(0.2))
            .at_least(SECS(1));
        assert_eq!(tight.delay_with(1, 0.0), SECS(1));
    }

    #[test]
    fn retry_after_raises_the_wait_but_never_past_the_cap() {
        let b = Backoff::new(MS(500), MS(30_000)).jitter(Jitter::Half);
        assert!(b.delay_honouring(1, Some(SECS(2)), SECS(300)) >= SECS(2));
        assert_eq!(b.delay_honouring(1, Some(SECS(9999)), SECS(300)), SECS(300));
        assert!(b.delay_honouring(1, None, SECS(300)) <= MS(500));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 2 "), Some(SECS(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + SECS(60));
        assert!(parse_retry_after(&later).is_some_and(|d| d > SECS(50)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(
            reqwest::header::RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("7"),
        );
        assert_eq!(retry_after(&h), Some(SECS(7)));
    }
}
