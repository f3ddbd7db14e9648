//! Scheduled full scans (docs/SCHEDULES.md): due-time arithmetic ([`cadence`]) and the pass that
//! runs due schedules in every API process ([`runner`]). Definitions and run state live in the
//! stores (`backend::schedules`); the routes are in `http::schedules`.

pub mod cadence;
pub mod runner;
