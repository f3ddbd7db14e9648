//! A stream wrapper that enforces the size limit and the source's pace, and remembers why a
//! stream stopped.
//!
//! Engines only see an I/O error when the stream breaks; the pipeline asks the meter whether
//! that was the size limit (→ the "too large" verdict), the connector failing or stalling
//! mid-body (→ `connector_connection`, retried) or neither (→ the engine's own failure).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::ByteStream;

/// How fast a source must deliver: its first byte within `first_byte`, then on average at
/// least `min_rate` bytes per second over every `window`. Only time spent waiting for the
/// source counts; time the consumer (the scanner) takes between two reads does not.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub first_byte: Duration,
    pub window: Duration,
    pub min_rate: u64,
}

impl Pace {
    fn window_minimum(&self) -> u64 {
        (self.min_rate as f64 * self.window.as_secs_f64()) as u64
    }
}

/// A source that fell behind its pace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Stall {
    #[error("no byte from the source within {0:?}")]
    FirstByte(Duration),
    #[error("the source delivered {bytes} bytes in {window:?}, below the minimum of {min_rate} bytes/s")]
    TooSlow {
        bytes: u64,
        window: Duration,
        min_rate: u64,
    },
}

/// Why a metered stream ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterReport {
    /// More than the limit arrived; `seen` bytes were counted.
    LimitExceeded { seen: u64 },
    /// The source failed with this message.
    SourceFailed(String),
    /// The source was slower than its [`Pace`].
    Stalled(String),
}

#[derive(Default)]
struct State {
    bytes: u64,
    report: Option<MeterReport>,
}

/// Shared view of a metered stream.
#[derive(Clone)]
pub struct Meter {
    state: Arc<Mutex<State>>,
    /// Becomes true when the source has delivered its last byte.
    ended: watch::Sender<bool>,
    /// The announced length: reaching it counts as the end (an HTTP client sending a body of
    /// known length stops reading the stream there and never sees its end).
    expected_len: Option<u64>,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            ended: watch::Sender::new(false),
            expected_len: None,
        }
    }
}

impl Meter {
    /// A meter for a source that announced `len` bytes.
    pub fn expecting(len: Option<u64>) -> Self {
        Self {
            expected_len: len,
            ..Self::default()
        }
    }

    /// Wraps `inner`; `limit` 0 means unlimited; `pace` bounds how slow the source may be.
    pub fn wrap(&self, inner: ByteStream, limit: u64, pace: Option<Pace>) -> ByteStream {
        let now = Instant::now();
        Box::pin(Metered {
            inner,
            limit,
            meter: self.clone(),
            pace: pace.map(|p| Pacing {
                pace: p,
                window_start: now,
                window_bytes: 0,
                any_byte: false,
                handed_out_at: None,
                timer: Box::pin(tokio::time::sleep_until(now + p.first_byte)),
            }),
        })
    }

    /// Resolves once the source has delivered its last byte (never, if it does not).
    pub async fn ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|ended| *ended).await;
    }

    pub fn bytes(&self) -> u64 {
        self.state.lock().map(|s| s.bytes).unwrap_or(0)
    }

    pub fn report(&self) -> Option<MeterReport> {
        self.state.lock().ok().and_then(|s| s.report.clone())
    }
}

struct Metered {
    inner: ByteStream,
    limit: u64,
    meter: Meter,
    pace: Option<Pacing>,
}

/// The pace check's running state.
struct Pacing {
    pace: Pace,
    window_start: Instant,
    window_bytes: u64,
    any_byte: bool,
    /// When the last chunk went to the consumer (its time until the next poll is not counted).
    handed_out_at: Option<Instant>,
    timer: Pin<Box<Sleep>>,
}

impl Pacing {
    /// Takes the consumer's time since the last chunk off the current window.
    fn resume(&mut self, now: Instant) {
        if let Some(at) = self.handed_out_at.take() {
            self.window_start += now.saturating_duration_since(at);
        }
    }

    /// Counts a chunk; a stall when a finished window fell short of the minimum.
    fn delivered(&mut self, n: usize, now: Instant) -> Result<(), Stall> {
        self.any_byte = true;
        self.window_bytes += n as u64;
        self.handed_out_at = Some(now);
        self.roll(now)
    }

    /// Closes the window if it is over: short of the minimum → a stall.
    fn roll(&mut self, now: Instant) -> Result<(), Stall> {
        if now < self.window_start + self.pace.window {
            return Ok(());
        }
        if self.window_bytes < self.pace.window_minimum() {
            return Err(Stall::TooSlow {
                bytes: self.window_bytes,
                window: self.pace.window,
                min_rate: self.pace.min_rate,
            });
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }

    /// While waiting for the source: fails when the first byte or a window's minimum is late.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Result<(), Stall> {
        loop {
            let deadline = if self.any_byte {
                self.window_start + self.pace.window
            } else {
                self.window_start + self.pace.first_byte
            };
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let now = Instant::now();
            if !self.any_byte {
                return Err(Stall::FirstByte(self.pace.first_byte));
            }
            self.roll(now)?;
        }
    }
}

impl Metered {
    fn stalled(&mut self, stall: Stall) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        if let Ok(mut st) = self.meter.state.lock() {
            st.report.get_or_insert(MeterReport::Stalled(stall.to_string()));
        }
        Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, stall))))
    }
}

impl Stream for Metered {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let now = Instant::now();
        if let Some(p) = self.pace.as_mut() {
            p.resume(now);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(Err(stall)) = self.pace.as_mut().map(|p| p.delivered(chunk.len(), now)) {
                    return self.stalled(stall);
                }
                let limit = self.limit;
                let Ok(mut st) = self.meter.state.lock() else {
                    return Poll::Ready(Some(Err(std::io::Error::other("meter lock poisoned"))));
                };
                st.bytes += chunk.len() as u64;
                if self.meter.expected_len == Some(st.bytes) {
                    self.meter.ended.send_replace(true);
                }
                if limit > 0 && st.bytes > limit {
                    let seen = st.bytes;
                    st.report = Some(MeterReport::LimitExceeded { seen });
                    return Poll::Ready(Some(Err(std::io::Error::other("item exceeds the size limit"))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                if let Ok(mut st) = self.meter.state.lock() {
                    st.report.get_or_insert(MeterReport::SourceFailed(e.to_string()));
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.meter.ended.send_replace(true);
                Poll::Ready(None)
            }
            Poll::Pending => match self.pace.as_mut().map(|p| p.poll_waiting(cx)) {
                Some(Err(stall)) => self.stalled(stall),
                _ => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn chunks(parts: Vec<Result<&'static [u8], &'static str>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| p.map(Bytes::from_static).map_err(std::io::Error::other)),
        ))
    }

    #[tokio::test]
    async fn the_limit_stops_the_stream_and_is_reported() {
        let m = Meter::default();
        let mut s = m.wrap(chunks(vec![Ok(b"abc"), Ok(b"def")]), 4, None);
        assert!(s.next().await.unwrap().is_ok());
        assert!(s.next().await.unwrap().is_err());
        assert_eq!(m.report(), Some(MeterReport::LimitExceeded { seen: 6 }));
    }

    #[tokio::test]
    async fn the_announced_length_counts_as_the_end() {
        let m = Meter::expecting(Some(6));
        let mut s = m.wrap(chunks(vec![Ok(b"abc"), Ok(b"def")]), 0, None);
        s.next().await.unwrap().unwrap();
        s.next().await.unwrap().unwrap();
        // The consumer stops here, as an HTTP client with a Content-Length does.
        tokio::time::timeout(Duration::from_secs(10), m.ended()).await.unwrap();
    }

    #[tokio::test]
    async fn a_source_failure_is_reported() {
        let m = Meter::default();
        let mut s = m.wrap(chunks(vec![Ok(b"abc"), Err("reset")]), 0, None);
        while s.next().await.is_some() {}
        assert_eq!(m.report(), Some(MeterReport::SourceFailed("reset".into())));
        assert_eq!(m.bytes(), 3);
    }

    fn trickle(every: Duration, n: usize) -> ByteStream {
        Box::pin(futures_util::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((Ok(Bytes::from_static(b"x")), i + 1))
        }))
    }

    /// Real time, so the numbers leave room for a loaded machine: the trickle delivers at most
    /// 50 bytes/s against a minimum of 1,000.
    const PACE: Pace = Pace {
        first_byte: Duration::from_millis(300),
        window: Duration::from_millis(500),
        min_rate: 1_000,
    };

    #[tokio::test]
    async fn a_trickle_fails_at_the_end_of_a_window() {
        let m = Meter::default();
        let started = Instant::now();
        let mut s = m.wrap(trickle(Duration::from_millis(20), 100_000), 0, Some(PACE));
        let err = loop {
            if let Err(e) = s.next().await.unwrap() {
                break e;
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(matches!(m.report(), Some(MeterReport::Stalled(_))), "{:?}", m.report());
        let took = started.elapsed();
        assert!(took >= PACE.window && took < Duration::from_secs(30), "{took:?}");
    }

    #[tokio::test]
    async fn silence_before_the_first_byte_is_cut_at_its_deadline() {
        let m = Meter::default();
        let started = Instant::now();
        let mut s = m.wrap(trickle(Duration::from_secs(600), 1), 0, Some(PACE));
        assert!(s.next().await.unwrap().is_err());
        let took = started.elapsed();
        assert!(took >= PACE.first_byte && took < Duration::from_secs(30), "{took:?}");
        assert!(matches!(m.report(), Some(MeterReport::Stalled(ref msg)) if msg.contains("no byte")));
    }

    #[tokio::test]
    async fn a_steady_source_and_a_slow_consumer_pass_and_the_end_is_signalled() {
        let m = Meter::default();
        // About 100,000 bytes/s from the source, while the consumer pauses for several windows.
        let source: ByteStream = Box::pin(futures_util::stream::unfold(0, |i| async move {
            if i == 60 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((Ok(Bytes::from(vec![0u8; 1_000])), i + 1))
        }));
        let mut s = m.wrap(source, 0, Some(PACE));
        let mut n = 0;
        while let Some(chunk) = s.next().await {
            chunk.unwrap();
            n += 1;
            if n % 20 == 0 {
                tokio::time::sleep(PACE.window * 3).await;
            }
        }
        assert_eq!((n, m.report()), (60, None));
        tokio::time::timeout(Duration::from_secs(10), m.ended()).await.unwrap();
    }
}
