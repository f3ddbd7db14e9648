//! The actors of the core (docs/ARCHITECTURE.md, "4. Actors"): one per file, each owning one piece
//! of state. Beside them the SSE fan-out, which is a task and plain structs, not actors
//! (`broadcaster.rs` says why): the Broadcaster, the streams' buffers (`sse.rs`) and the one
//! `job_summary` throttle (`summary_throttle.rs`).

pub mod broadcaster;
pub mod connector;
pub mod job;
pub mod job_registry;
pub mod sse;
pub mod summary_throttle;
