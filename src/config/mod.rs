//! Settings of the core and of the connectors, read from env, a TOML file and flags.
//!
//! Every setting is declared once ([`crate::settings_source::setting::Setting`]: variable, type, default, range,
//! documentation, `/config` view) in `core_table`, `pipeline_table`, `auth_table` and `oidc`; the readers, the
//! `GET /config` view and docs/CONFIGURATION.md's tables (`docs`) all come from those
//! declarations.

pub mod auth;
mod auth_read;
pub mod auth_table;
pub mod core;
mod core_read;
pub mod core_table;
pub mod docs;
pub mod oidc;
pub mod pipeline_table;
pub use crate::settings_source::setting;

pub use self::core::Settings;
pub use crate::settings_source::{ConfigError, Secret};
