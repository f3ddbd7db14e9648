//! HTTP plumbing shared by the core's API (`http/`) and the connectors' (`connectors/framework/`):
//! error answers, request reading, and server limits. Neither side owns it, so neither imports
//! the other's modules for it.

pub mod error;
pub mod request;
pub mod server;
