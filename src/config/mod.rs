//! Settings of the core and of the connectors, read from env, a TOML file and flags.

pub mod auth;
pub mod core;
pub mod oidc;

pub use self::core::Settings;
pub use crate::settings_source::{ConfigError, Secret};
