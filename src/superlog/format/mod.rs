//! Formatters (docs/reference/SUPERLOG.md, "Formats"): compact JSON everywhere, RFC 5424 or
//! `<PRI>`+JSON for syslog, a chat message for Slack/Teams webhooks.

pub mod json;
pub mod rfc5424;
pub mod slack;
