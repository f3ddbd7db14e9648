//! An error with its sources as one line, for logs and failure messages, and the test whether an
//! error was caused by a given type. Used by the core and by the connectors, so it belongs to
//! neither.

/// The error and its sources, so "connection refused" is visible in the DLQ text. A source
/// whose text its error already shows (as the store's errors and `io::Error` do) is not
/// repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// Whether `T` is `e` or one of its causes, looking inside `io::Error`s too (they show their
/// inner error's text but skip it as a source, and TLS failures arrive as an `io::Error` in an
/// `io::Error`): the typed way to ask "was this a TLS failure", instead of reading the message.
pub fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<T>() {
            return true;
        }
        cur = match c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("call failed")]
    struct Call(#[source] std::io::Error);

    #[test]
    fn the_chain_reads_every_source_and_the_cause_is_found_inside_io_errors() {
        let e = Call(std::io::Error::new(std::io::ErrorKind::InvalidData, Refused));
        assert_eq!(error_chain(&e), "call failed: refused");
        assert!(caused_by::<Refused>(&e));
        assert!(caused_by::<Call>(&e));
        assert!(!caused_by::<std::fmt::Error>(&e));
        let nested = Call(std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Refused,
        )));
        assert!(caused_by::<Refused>(&nested));
    }

    #[test]
    fn a_source_the_error_already_shows_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = crate::backend::StoreError::Internal(crate::backend::Cause::with("writing", io));
        assert_eq!(error_chain(&e), "store error: writing: disk full");
        assert!(
            caused_by::<std::io::Error>(&e),
            "the library error stays reachable as the source"
        );
    }
}
