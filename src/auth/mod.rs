//! Connector trust and operator identity (docs/AUTH.md): DSX-HMAC signatures, the replay cache,
//! the SSRF guard for connector URLs, the rules for relaying a peer's text, and the records of
//! users, API tokens, sessions and the audit trail.
//!
//! Everything here is pure or process-local, so the core and the connectors share it without
//! depending on each other.

pub mod audit;
pub mod builtin;
pub mod credentials;
pub mod hmac;
pub mod relay;
pub mod replay;
pub mod seal;
pub mod sessions;
pub mod tokens;
pub mod url_guard;
pub mod users;
