//! Pieces the HTTP destinations share: the client, gzip bodies and answer classification.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::SendError;

/// Why a destination's HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the CA bundle cannot be used")]
    Ca(#[source] anyhow::Error),
    #[error("the HTTP client cannot be built")]
    Build(#[source] reqwest::Error),
}

/// An HTTP client with the destination's timeouts and trust settings.
pub fn client(
    connect_timeout: Duration,
    request_timeout: Duration,
    verify_tls: bool,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, ClientError> {
    client_builder(connect_timeout, request_timeout, verify_tls, ca_file)?
        .build()
        .map_err(ClientError::Build)
}

/// The builder of [`client`], for a destination that adds to it (the webhook's DNS guard).
pub fn client_builder(
    connect_timeout: Duration,
    request_timeout: Duration,
    verify_tls: bool,
    ca_file: Option<&Path>,
) -> Result<reqwest::ClientBuilder, ClientError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(format!("dsx-connect/{}", crate::VERSION))
        // A redirect would carry the destination's token to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(!verify_tls);
    if let Some(ca) = ca_file {
        let certs = crate::tls::load_certificates(ca).map_err(ClientError::Ca)?;
        b = b.tls_certs_only(certs);
    }
    Ok(b)
}

/// Gzip of a request body.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// The `Retry-After` of an answer.
pub fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    crate::retry::retry_after(resp.headers())
}

/// A transport error (connect, timeout, reset): retriable. The text names the kind only;
/// reqwest's own message could carry the URL's query.
pub fn transport_error(e: &reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SendError::retriable(format!("HTTP {kind}"))
}

/// The common status rule (docs/reference/SUPERLOG.md, "Retries and backoff"): 408, 429 and 5xx are
/// retriable, other 4xx permanent.
pub fn status_error(resp: &reqwest::Response, what: String) -> SendError {
    let s = resp.status().as_u16();
    let mut e = if s == 408 || s == 429 || s >= 500 {
        SendError::retriable(what)
    } else {
        SendError::permanent(what)
    };
    e.retry_after = retry_after(resp);
    e
}
