//! Scanning engines behind one trait (docs/ARCHITECTURE.md, "6. Scanners"): DSXA over HTTP, clamd,
//! and the built-in engine. Every engine consumes a byte stream in bounded memory.

pub mod clamd;
pub mod dsxa;
pub mod embedded;
mod meter;
pub mod probe;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

pub use meter::{Meter, MeterReport, Pace};

use crate::config::core::ScannerSettings;
use crate::failure::Failure;
use crate::model::{Engine, EngineIdentity, StatusResponse, TaskId, Verdict};

/// The bytes of one item as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What an engine scans.
pub struct ScanInput {
    pub body: ByteStream,
    /// Size when known in advance (the connector's `Content-Length`).
    pub size: Option<u64>,
    /// The item's open file, when the core opened it itself (a built-in filesystem connector,
    /// `local_open.rs`): an engine on this machine may scan it by descriptor instead of
    /// consuming `body`, which then reads the same file.
    pub local: Option<std::fs::File>,
    /// Display/tag text of the item (becomes DSXA's `file-tag`).
    pub metainfo: String,
    pub task_id: TaskId,
}

/// The active engine as `/meta`, the UI header and the CLI summary show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineInfo {
    pub name: Engine,
    /// As the engine last reported it; `None` while unknown (DSXA never reports one).
    pub version: Option<String>,
    /// The built-in engine: detection of EICAR and the hash list only.
    pub test_engine: bool,
    /// One sentence on what the engine's verdicts mean.
    pub note: &'static str,
}

/// A scanning engine.
#[async_trait]
pub trait Scanner: Send + Sync {
    fn engine(&self) -> Engine;
    /// The version stamped on this engine's verdicts (see [`Verdict::scan_engine_version`]).
    fn version(&self) -> Option<String>;
    /// Asks the engine for its current version (clamd: its signature database changes while it
    /// runs). Engines whose version cannot change have nothing to ask.
    async fn refresh_version(&self) -> Result<(), Failure> {
        Ok(())
    }
    /// The engine and signature set its verdicts come from, for reusing them on unchanged items
    /// (docs/SCAN-REUSE.md). `None` (the default) when the engine cannot say which signatures it
    /// uses: its verdicts are then never reused.
    fn reuse_identity(&self) -> Option<EngineIdentity> {
        None
    }
    /// What `/meta` and the CLI report about the engine.
    fn info(&self) -> EngineInfo {
        let name = self.engine();
        EngineInfo {
            name,
            version: self.version(),
            test_engine: name.is_test_engine(),
            note: match name {
                Engine::Dsxa => "Deep Instinct DSXA",
                Engine::Clamd => "ClamAV daemon",
                Engine::Embedded => embedded::TEST_ENGINE_NOTE,
            },
        }
    }
    /// Largest item this engine takes (0 = unlimited); enforced by the core before and while
    /// streaming.
    fn max_file_size(&self) -> u64;
    /// Scans the stream. An error caused by the stream itself (limit, source failure) is
    /// reported by the [`Meter`] wrapped around it; the engine just fails.
    async fn scan(&self, input: ScanInput) -> Result<Verdict, Failure>;
    /// The connection test of `GET /test/dsxa-connection` (always a StatusResponse).
    async fn test_connection(&self) -> StatusResponse;
    /// Whether the engine can be reached, for readiness ([`probe`]): a cheap exchange that scans
    /// nothing, so probing costs the engine no scan and never shows up as one. The error is the
    /// reason, fit for an operator.
    async fn probe(&self) -> Result<(), ProbeError>;
}

/// Why an engine is not ready (readiness, `scan`'s start-up check); the text is for an operator.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    /// The exchange failed the way a scan's would (connection refused, timeout).
    #[error("{}", .0.message())]
    Unreachable(Failure),
    #[error("DSXA answered HTTP {0}")]
    ServerError(u16),
    #[error("DSXA refuses the configured token (HTTP {0})")]
    TokenRefused(u16),
    #[error("clamd answered PING with '{0}'")]
    UnexpectedPong(String),
    #[error("clamd did not answer PING within {0:?}")]
    NoAnswer(Duration),
}

/// How often the engine's version is asked again (clamd loads new signatures while it runs).
const VERSION_REFRESH: Duration = Duration::from_secs(600);
/// The retry interval while the engine does not answer.
const VERSION_RETRY: Duration = Duration::from_secs(30);

/// Asks the engine its version now and then every [`VERSION_REFRESH`], until the scanner is
/// dropped (the task holds it weakly).
pub fn spawn_version_refresh(scanner: &Arc<dyn Scanner>) {
    let weak = Arc::downgrade(scanner);
    actix_rt::spawn(async move {
        loop {
            let Some(scanner) = weak.upgrade() else { return };
            let wait = match scanner.refresh_version().await {
                Ok(()) => VERSION_REFRESH,
                Err(f) => {
                    tracing::debug!(engine = %scanner.engine(), error = %f.message(), "engine version not available yet");
                    VERSION_RETRY
                }
            };
            drop(scanner);
            tokio::time::sleep(wait).await;
        }
    });
}

/// Builds the configured engine.
pub fn build(settings: &ScannerSettings) -> anyhow::Result<Arc<dyn Scanner>> {
    Ok(match settings.engine {
        Engine::Dsxa => Arc::new(dsxa::DsxaScanner::new(settings)?),
        Engine::Clamd => Arc::new(clamd::ClamdScanner::new(settings)?),
        Engine::Embedded => Arc::new(embedded::EmbeddedScanner::new(settings)?),
    })
}
