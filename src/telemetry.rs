//! Application logging on `tracing` (text or JSON), never mixed with scan-result events.
//!
//! Text logs escape control characters in every field and message, so text from a peer (a
//! connector's or scanner's error body, a file name) cannot start a forged log line or move the
//! terminal's cursor. JSON logs are escaped by their encoder.

use std::fmt;

use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, Writer};

/// The field formatter of text logs: `name=value` pairs and the message, control characters
/// escaped (`\n`, `\u{1b}`, …).
pub fn text_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
        let text = crate::auth::relay::escape_controls(&format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// Installs the global subscriber. `RUST_LOG` wins over `level` when set.
pub fn init(level: &str, json: bool) {
    let level = match level {
        "warning" => "warn",
        other => other,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},actix_server=warn,actix_web=warn,hyper=warn,reqwest=warn,rustls=warn"
        ))
    });
    // Colour only for a person at a terminal: a file, a pipe or `docker logs` gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.fmt_fields(text_fields()).try_init()
    };
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn peer_text_cannot_forge_a_text_log_line() {
        let buf = Buf::default();
        let writer = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .fmt_fields(text_fields())
            .finish();
        tracing::subscriber::with_default(sub, || {
            let body = "oops\n2026-12-07T00:00:00Z  INFO forged: admin logged in\u{1b}[2J";
            tracing::warn!(error = %body, name = ?body, "upstream answered {}", body);
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains("error=oops\\u000a2026"), "{out}");
    }
}
