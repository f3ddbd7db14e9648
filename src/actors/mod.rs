//! The actors of the core (docs/ARCHITECTURE.md, "4. Actors"): one per file, each owning one piece
//! of state.

pub mod broadcaster;
pub mod connector;
pub mod job;
pub mod job_registry;
pub mod sse;
