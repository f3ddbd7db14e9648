//! Scanning engines behind one trait (ARCHITECTURE §6): DSXA over HTTP, clamd, and the
//! built-in engine. Every engine consumes a byte stream in bounded memory.

pub mod clamd;
pub mod dsxa;
pub mod embedded;
mod meter;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

pub use meter::{Meter, MeterReport, Pace};

use crate::config::core::ScannerSettings;
use crate::model::{Engine, StatusResponse, Verdict};
use crate::pipeline::failure::Failure;

/// The bytes of one item as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What an engine scans.
pub struct ScanInput {
    pub body: ByteStream,
    /// Size when known in advance (the connector's `Content-Length`).
    pub size: Option<u64>,
    /// Display/tag text of the item (becomes DSXA's `file-tag`).
    pub metainfo: String,
    pub task_id: String,
}

/// A scanning engine.
#[async_trait]
pub trait Scanner: Send + Sync {
    fn engine(&self) -> Engine;
    /// Largest item this engine takes (0 = unlimited); enforced by the core before and while
    /// streaming.
    fn max_file_size(&self) -> u64;
    /// Scans the stream. An error caused by the stream itself (limit, source failure) is
    /// reported by the [`Meter`] wrapped around it; the engine just fails.
    async fn scan(&self, input: ScanInput) -> Result<Verdict, Failure>;
    /// The connection test of `GET /test/dsxa-connection` (always a StatusResponse).
    async fn test_connection(&self) -> StatusResponse;
}

/// Builds the configured engine.
pub fn build(settings: &ScannerSettings) -> anyhow::Result<Arc<dyn Scanner>> {
    Ok(match settings.engine {
        Engine::Dsxa => Arc::new(dsxa::DsxaScanner::new(settings)?),
        Engine::Clamd => Arc::new(clamd::ClamdScanner::new(settings)?),
        Engine::Embedded => Arc::new(embedded::EmbeddedScanner::new(settings)?),
    })
}
