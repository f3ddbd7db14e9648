//! A stream wrapper that enforces the size limit and remembers why a stream stopped.
//!
//! Engines only see an I/O error when the stream breaks; the pipeline asks the meter whether
//! that was the size limit (→ the "too large" verdict), the connector failing mid-body
//! (→ `connector_connection`, retried) or neither (→ the engine's own failure).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use super::ByteStream;

/// Why a metered stream ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterReport {
    /// More than the limit arrived; `seen` bytes were counted.
    LimitExceeded { seen: u64 },
    /// The source failed with this message.
    SourceFailed(String),
}

#[derive(Default)]
struct State {
    bytes: u64,
    report: Option<MeterReport>,
}

/// Shared view of a metered stream.
#[derive(Clone, Default)]
pub struct Meter {
    state: Arc<Mutex<State>>,
}

impl Meter {
    /// Wraps `inner`; `limit` 0 means unlimited.
    pub fn wrap(&self, inner: ByteStream, limit: u64) -> ByteStream {
        Box::pin(Metered {
            inner,
            limit,
            meter: self.clone(),
        })
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
}

impl Stream for Metered {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let limit = self.limit;
                let Ok(mut st) = self.meter.state.lock() else {
                    return Poll::Ready(Some(Err(std::io::Error::other("meter lock poisoned"))));
                };
                st.bytes += chunk.len() as u64;
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
            other => other,
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
        let mut s = m.wrap(chunks(vec![Ok(b"abc"), Ok(b"def")]), 4);
        assert!(s.next().await.unwrap().is_ok());
        assert!(s.next().await.unwrap().is_err());
        assert_eq!(m.report(), Some(MeterReport::LimitExceeded { seen: 6 }));
    }

    #[tokio::test]
    async fn a_source_failure_is_reported() {
        let m = Meter::default();
        let mut s = m.wrap(chunks(vec![Ok(b"abc"), Err("reset")]), 0);
        while s.next().await.is_some() {}
        assert_eq!(m.report(), Some(MeterReport::SourceFailed("reset".into())));
        assert_eq!(m.bytes(), 3);
    }
}
