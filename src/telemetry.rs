//! Application logging on `tracing` (text or JSON), never mixed with scan-result events.

use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
