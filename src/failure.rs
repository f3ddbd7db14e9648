//! Classified failures and the retry policy (docs/reference/CORE-API.md, "Retries").
//! A top-level module because the engines report failures in these classes and the pipeline,
//! the metrics and the connector client read them: none of those owns the other.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::config::core::WorkerSettings;
use crate::retry::{Backoff, Jitter};

/// Error classes; their names are part of the DLQ contract (`meta.error_class`, reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    ConnectorConnection,
    ConnectorServer,
    ConnectorClient,
    DsxaConnection,
    DsxaTimeout,
    DsxaServer,
    DsxaClient,
    DsxaAuth,
    DsxaBadResponse,
    ClamdConnection,
    ClamdError,
    StoreUnavailable,
    BadPayload,
    Unknown,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectorConnection => "connector_connection",
            ErrorClass::ConnectorServer => "connector_server",
            ErrorClass::ConnectorClient => "connector_client",
            ErrorClass::DsxaConnection => "dsxa_connection",
            ErrorClass::DsxaTimeout => "dsxa_timeout",
            ErrorClass::DsxaServer => "dsxa_server",
            ErrorClass::DsxaClient => "dsxa_client",
            ErrorClass::DsxaAuth => "dsxa_auth",
            ErrorClass::DsxaBadResponse => "dsxa_bad_response",
            ErrorClass::ClamdConnection => "clamd_connection",
            ErrorClass::ClamdError => "clamd_error",
            ErrorClass::StoreUnavailable => "store_unavailable",
            ErrorClass::BadPayload => "bad_payload",
            ErrorClass::Unknown => "unknown_error",
        }
    }

    /// Whether this class is retried, given the configured toggles.
    pub fn is_retriable(self, w: &WorkerSettings) -> bool {
        match self {
            ErrorClass::ConnectorConnection => w.retry_connector_connection_errors,
            ErrorClass::ConnectorServer => w.retry_connector_server_errors,
            ErrorClass::ConnectorClient => w.retry_connector_client_errors,
            ErrorClass::DsxaConnection => w.retry_dsxa_connection_errors,
            ErrorClass::DsxaTimeout => w.retry_dsxa_timeout_errors,
            ErrorClass::DsxaServer => w.retry_dsxa_server_errors,
            ErrorClass::DsxaClient | ErrorClass::DsxaAuth => w.retry_dsxa_client_errors,
            ErrorClass::ClamdConnection | ErrorClass::ClamdError | ErrorClass::StoreUnavailable => true,
            ErrorClass::DsxaBadResponse | ErrorClass::BadPayload | ErrorClass::Unknown => false,
        }
    }

    /// The DLQ reason when this class is not retried.
    pub fn no_retry_reason(self) -> String {
        match self {
            ErrorClass::BadPayload => "bad_payload".into(),
            ErrorClass::Unknown => "unknown_error".into(),
            other => format!("{}_no_retry", other.as_str()),
        }
    }

    /// Base delay before the first retry: the most specific per-class base that is set.
    fn backoff_base(self, w: &WorkerSettings) -> f64 {
        let server = matches!(self, ErrorClass::ConnectorServer | ErrorClass::DsxaServer);
        let connector = matches!(
            self,
            ErrorClass::ConnectorConnection | ErrorClass::ConnectorServer | ErrorClass::ConnectorClient
        );
        let engine = matches!(
            self,
            ErrorClass::DsxaConnection
                | ErrorClass::DsxaTimeout
                | ErrorClass::DsxaServer
                | ErrorClass::DsxaClient
                | ErrorClass::DsxaAuth
                | ErrorClass::DsxaBadResponse
                | ErrorClass::ClamdConnection
                | ErrorClass::ClamdError
        );
        server
            .then_some(w.server_error_retry_backoff_base)
            .flatten()
            .or(connector.then_some(w.connector_retry_backoff_base).flatten())
            .or(engine.then_some(w.dsxa_retry_backoff_base).flatten())
            .unwrap_or(w.retry_backoff_base_secs)
    }
}

/// A classified failure of one stage. Its text (the DLQ's `error_details`, the retry's error)
/// is derived here, once: our own words, then the chain of the error that caused the failure,
/// bounded and with control characters escaped because peers' text reaches it. The error itself
/// stays reachable as the source.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: ErrorClass,
    /// What failed, in our words; the whole text when no error caused the failure.
    context: Option<Cow<'static, str>>,
    cause: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    /// A `Retry-After` the peer asked for.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure described in our own words, with no error behind it.
    pub fn new(class: ErrorClass, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            class,
            context: Some(message.into()),
            cause: None,
            retry_after: None,
        }
    }

    /// A failure caused by `e`, said as the error chain alone.
    pub fn from_error(class: ErrorClass, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            class,
            context: None,
            cause: Some(Arc::new(e)),
            retry_after: None,
        }
    }

    /// A failure caused by `e` while doing `context`: said as `context: <error chain>`.
    pub fn caused(
        class: ErrorClass,
        context: impl Into<Cow<'static, str>>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            class,
            context: Some(context.into()),
            cause: Some(Arc::new(e)),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    /// The failure's text, as dead letters and logs show it.
    pub fn message(&self) -> String {
        let chain = self
            .cause
            .as_deref()
            .map(|e| crate::auth::relay::sanitize(&crate::error_chain::error_chain(e)));
        match (&self.context, chain) {
            (Some(c), Some(chain)) => format!("{c}: {chain}"),
            (Some(c), None) => c.to_string(),
            (None, Some(chain)) => chain,
            (None, None) => self.class.as_str().to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.class, self.message())
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Delay before attempt n+1 after `failures` failures: `min(base·2^(n−1), max)`, jittered
/// uniformly in `[d/2, d]`, raised to a peer's `Retry-After` (capped at the maximum).
pub fn backoff(class: ErrorClass, failures: u32, retry_after: Option<Duration>, w: &WorkerSettings) -> Duration {
    let max = Duration::from_secs_f64(w.retry_backoff_max_secs.max(0.0));
    Backoff::new(Duration::from_secs_f64(class.backoff_base(w).max(0.0)), max)
        .jitter(Jitter::Half)
        .delay_honouring(failures, retry_after, max)
}

/// `HTTP <code> <reason>[: <body>]`, the peer's body bounded and its controls escaped
/// (docs/AUTH.md, "Relaying connector answers").
pub fn http_error_text(status: reqwest::StatusCode, body: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    let body = crate::auth::relay::sanitize(body);
    if body.trim().is_empty() {
        format!("HTTP {} {reason}", status.as_u16())
    } else {
        format!("HTTP {} {reason}: {body}", status.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let w = Settings::defaults().workers;
        for n in 1..=3 {
            let d = backoff(ErrorClass::ConnectorServer, n, None, &w).as_secs_f64();
            let full = 2.0 * 2f64.powi(n as i32 - 1);
            assert!(d >= full / 2.0 && d <= full, "{n}: {d}");
        }
        let d = backoff(ErrorClass::DsxaServer, 20, None, &w).as_secs_f64();
        assert!((150.0..=300.0).contains(&d));
        let d = backoff(ErrorClass::DsxaServer, 1, Some(Duration::from_secs(10)), &w);
        assert_eq!(d, Duration::from_secs(10));
    }

    #[test]
    fn per_class_bases_apply_in_order() {
        let mut w = Settings::defaults().workers;
        w.connector_retry_backoff_base = Some(10.0);
        w.server_error_retry_backoff_base = Some(40.0);
        assert_eq!(ErrorClass::ConnectorConnection.backoff_base(&w), 10.0);
        assert_eq!(ErrorClass::ConnectorServer.backoff_base(&w), 40.0);
        assert_eq!(ErrorClass::ClamdError.backoff_base(&w), 2.0);
    }

    #[test]
    fn the_text_is_derived_once_from_the_context_and_the_error_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused\nhere");
        let f = Failure::caused(ErrorClass::ClamdConnection, "cannot connect to clamd at h:1", io);
        assert_eq!(f.message(), "cannot connect to clamd at h:1: refused\\u000ahere");
        assert!(std::error::Error::source(&f).is_some(), "the error stays the source");
        assert_eq!(
            Failure::new(ErrorClass::BadPayload, "no verdict").message(),
            "no verdict"
        );
        let bare = Failure::from_error(ErrorClass::Unknown, std::io::Error::other("gone"));
        assert_eq!(bare.message(), "gone");
    }

    #[test]
    fn client_errors_are_not_retried_by_default() {
        let w = Settings::defaults().workers;
        assert!(!ErrorClass::ConnectorClient.is_retriable(&w));
        assert!(!ErrorClass::DsxaAuth.is_retriable(&w));
        assert!(ErrorClass::DsxaServer.is_retriable(&w));
        assert_eq!(
            ErrorClass::ConnectorClient.no_retry_reason(),
            "connector_client_no_retry"
        );
    }
}
