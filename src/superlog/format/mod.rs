//! Formatters (SUPERLOG §5): compact JSON everywhere, RFC 5424 or `<PRI>`+JSON for syslog.

pub mod json;
pub mod rfc5424;
