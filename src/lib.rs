//! dsx-connect: scan orchestration between storage connectors and malware scanning engines.

pub mod actors;
pub mod app;
pub mod audit_trail;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod connector_client;
pub mod connectors;
pub mod core_state;
pub mod error_chain;
pub mod failure;
pub mod http;
pub mod identity;
pub mod local_open;
pub mod metrics;
pub mod model;
pub mod oidc;

/// The version reported by `/version`, `/meta` and the User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit this binary was built from (`unknown` outside a checkout without
/// `DSX_GIT_COMMIT`).
pub const GIT_COMMIT: &str = env!("DSX_GIT_COMMIT");

/// When this binary was built (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
pub const BUILD_TIME: &str = env!("DSX_BUILD_TIME");

/// `--version`: the version, the commit and the build time.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DSX_GIT_COMMIT"),
    ", built ",
    env!("DSX_BUILD_TIME"),
    ")"
);
pub mod pipeline;
pub mod registry_view;
pub mod request_id;
pub mod retry;
pub mod scan_trigger;
pub mod scanner;
pub mod schedule;
pub mod settings_source;
pub mod superlog;
pub mod telemetry;
pub mod tls;
pub mod trust;
pub mod web;
