//! Connector trust (docs/AUTH.md): DSX-HMAC signatures, the replay cache, the SSRF guard for
//! connector URLs, and the rules for relaying a peer's text.
//!
//! Everything here is pure or process-local, so the core and the connectors share it without
//! depending on each other.

pub mod builtin;
pub mod credentials;
pub mod hmac;
pub mod relay;
pub mod replay;
pub mod tokens;
pub mod url_guard;
