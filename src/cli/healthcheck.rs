//! `dsx-connect healthcheck`: a container health check that needs no curl in the image.
//!
//! It asks one readiness URL and turns the answer into an exit code (0 ready, 1 anything else),
//! printing the reason on stderr, so `HEALTHCHECK` and compose `healthcheck:` can use the
//! binary itself.

use std::time::Duration;

use clap::Args;

use crate::config::Settings;
use crate::config::core::Listener;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The readiness URL to ask. Default: this host's core, from the same settings the service
    /// reads (`DSXCONNECT_PORT`, `DSXCONNECT_USE_TLS`): `http(s)://127.0.0.1:<port>/dsx-connect/api/v1/readyz`.
    /// For a connector: `http://127.0.0.1:<port>/<name>/readyz`.
    #[arg(long, value_name = "URL", env = "DSXCONNECT_HEALTHCHECK_URL")]
    pub url: Option<String>,
    /// Longest wait for the answer, in seconds.
    #[arg(
        long,
        default_value_t = 5.0,
        value_name = "SECS",
        env = "DSXCONNECT_HEALTHCHECK_TIMEOUT"
    )]
    pub timeout: f64,
    /// Accept any TLS certificate (a loopback check of a service whose certificate names
    /// another host).
    #[arg(long, env = "DSXCONNECT_HEALTHCHECK_INSECURE")]
    pub insecure: bool,
}

/// The default URL: the local core's readiness route, on loopback when it listens everywhere.
fn default_url(settings: &Settings) -> String {
    let host = match settings.listen_host(Listener::Api).as_str() {
        "0.0.0.0" | "::" | "" => "127.0.0.1".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    let scheme = if settings.use_tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}/dsx-connect/api/v1/readyz", settings.port)
}

/// Asks the URL; `Ok(0)` when it answers 200, `Ok(1)` otherwise (with the reason on stderr).
pub async fn run(settings: &Settings, args: HealthcheckArgs) -> anyhow::Result<i32> {
    let url = args.url.unwrap_or_else(|| default_url(settings));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout.clamp(0.1, 300.0)))
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(args.insecure)
        .build()?;
    match client.get(&url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => Ok(0),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.chars().take(512).filter(|c| !c.is_control()).collect();
            eprintln!("dsx-connect healthcheck: {url} answered {status}: {body}");
            Ok(1)
        }
        Err(e) => {
            eprintln!(
                "dsx-connect healthcheck: {url}: {}",
                crate::error_chain::error_chain(&e.without_url())
            );
            Ok(1)
        }
    }
}
