//! dsx-connect: scan orchestration between storage connectors and malware scanning engines.

pub mod actors;
pub mod app;
pub mod audit_trail;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod http;
pub mod identity;
pub mod model;
pub mod oidc;

/// The version reported by `/version`, `/meta` and the User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod pipeline;
pub mod scanner;
pub mod superlog;
pub mod telemetry;
pub mod tls;
pub mod trust;
