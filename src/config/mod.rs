//! Settings of the core and of the connectors, read from env, a TOML file and flags.

pub mod auth;
pub mod core;
pub mod loader;
pub mod oidc;

pub use self::core::Settings;
pub use loader::{ConfigError, Secret};
