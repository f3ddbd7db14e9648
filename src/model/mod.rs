//! Wire types shared by the core, the connectors and the stores.

pub mod connector;
pub mod engine_identity;
pub mod findings;
pub mod ids;
pub mod item_identity;
pub mod job;
pub mod limits;
pub mod result;
pub mod scan_request;
pub mod schedule;
pub mod stats;
pub mod status;
pub mod validation;
pub mod verdict;
pub mod work;

pub use connector::{ConnectorEvent, ConnectorEventKind, ConnectorInstanceModel, ConnectorStatus};
pub use engine_identity::EngineIdentity;
pub use ids::{ConnectorUuid, JobId, TaskId};
pub use item_identity::ItemIdentity;
pub use job::{JobRecord, JobStatus};
pub use result::{ReusedFrom, ScanResultModel, TaskRecord, TaskState};
pub use scan_request::ScanRequestModel;
pub use status::{Confidence, Estimate, ItemAction, ItemActionStatusResponse, StatusKind, StatusResponse};
pub use verdict::{Engine, Verdict, VerdictKind};
pub use work::{DlqEntry, DlqQueue, Pin, Stage, WorkItem};

/// Current time as epoch seconds.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Current time as epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
