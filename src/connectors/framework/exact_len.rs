//! A body that is exactly as long as announced (docs/reference/CONNECTORS.md, "read_file"):
//! `read_file` sends `Content-Length` up front, so an item that ends early must fail the stream
//! (the server then aborts the connection) rather than end cleanly and look like a shorter item to
//! the core.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

/// Yields exactly `remaining` bytes of `inner`, or an `UnexpectedEof` error if it ends sooner.
pub struct ExactLen<S> {
    inner: S,
    remaining: u64,
    short: &'static str,
}

impl<S> ExactLen<S> {
    /// `short` is the error text when the source ends early.
    pub fn new(inner: S, len: u64, short: &'static str) -> Self {
        Self {
            inner,
            remaining: len,
            short,
        }
    }
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for ExactLen<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(mut b))) => {
                if b.len() as u64 > self.remaining {
                    b.truncate(self.remaining as usize);
                }
                self.remaining -= b.len() as u64;
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, self.short)))),
            other => other,
        }
    }
}
