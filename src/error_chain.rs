//! An error with its sources as one line, for logs and failure messages. Used by the core and
//! by the connectors, so it belongs to neither.

/// The error and its sources, so "connection refused" is visible in the DLQ text.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
