//! What a blob service answer means for our answers (docs/reference/CONNECTORS.md, "Azure
//! locations and error mapping"): its status and `x-ms-error-code`, whether trying again later
//! can help, and the service's `Retry-After`.

use reqwest::Response;

use super::credentials::redact;

/// A call that did not succeed.
#[derive(Debug, Clone)]
pub struct AzFailure {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    /// Network trouble, timeouts, throttling and 5xx: the same call may work later.
    pub transient: bool,
    /// The request never got an answer (connection refused, DNS, timeout).
    pub unreachable: bool,
    /// The service's `Retry-After`, seconds.
    pub retry_after: Option<u64>,
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("DSXCONNECTOR_CA_BUNDLE: {0}")]
    CaBundle(String),
    #[error("DSXCONNECTOR_AZURE_ENDPOINT_URL: the blob endpoint is no valid URL")]
    Endpoint,
    #[error("cannot build the blob service HTTP client")]
    Http(#[source] reqwest::Error),
}

impl AzFailure {
    pub fn network(message: &str) -> Self {
        Self {
            status: None,
            code: None,
            message: message.to_string(),
            transient: true,
            unreachable: true,
            retry_after: None,
        }
    }

    /// A failure of ours (no service answer), never transient.
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            status: None,
            code: None,
            message: message.into(),
            transient: false,
            unreachable: false,
            retry_after: None,
        }
    }

    /// Reads the status, `x-ms-error-code` (else the XML `<Code>`) and message of an answer.
    pub async fn from_response(r: Response, head: bool) -> Self {
        let status = r.status().as_u16();
        let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut code = header("x-ms-error-code");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let body = if head {
            String::new()
        } else {
            r.text().await.unwrap_or_default()
        };
        let xml_message = roxmltree::Document::parse(&body).ok().and_then(|d| {
            if code.is_none() {
                code = d
                    .descendants()
                    .find(|n| n.has_tag_name("Code"))
                    .and_then(|n| n.text())
                    .map(str::to_string);
            }
            d.descendants()
                .find(|n| n.has_tag_name("Message"))
                .and_then(|n| n.text())
                .map(|m| m.lines().next().unwrap_or("").to_string())
        });
        let message = match (&code, xml_message) {
            (Some(c), Some(m)) => format!("{status} {c}: {m}"),
            (Some(c), None) => format!("{status} {c}"),
            (None, _) => format!("HTTP {status}"),
        };
        let throttled = status == 429 || status == 408 || status >= 500;
        Self {
            status: Some(status),
            code,
            message: redact(&message),
            transient: throttled,
            unreachable: false,
            retry_after,
        }
    }

    pub fn is_code(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    pub fn blob_not_found(&self) -> bool {
        self.status == Some(404) && !self.is_code(&["ContainerNotFound"])
    }

    pub fn container_not_found(&self) -> bool {
        self.is_code(&["ContainerNotFound"])
    }

    /// 429, 503 `ServerBusy`, 500 `OperationTimedOut`: the service asks us to slow down.
    pub fn throttled(&self) -> bool {
        self.status == Some(429)
            || (self.status == Some(503))
            || (self.status == Some(500) && self.is_code(&["OperationTimedOut"]))
    }

    pub fn auth(&self) -> bool {
        self.status == Some(403)
            || self.status == Some(401)
            || self.is_code(&[
                "AuthenticationFailed",
                "AuthorizationFailure",
                "AuthorizationPermissionMismatch",
            ])
    }

    /// The account refuses blob index tags (e.g. `FeatureNotSupportedForAccount`).
    pub fn tags_unsupported(&self) -> bool {
        matches!(self.status, Some(400) | Some(409)) && self.code.as_deref().is_some_and(|c| c.contains("NotSupported"))
    }

    pub fn archived(&self) -> bool {
        self.is_code(&["BlobArchived"])
    }

    pub fn immutable(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.starts_with("BlobImmutableDueTo"))
    }

    pub fn bad_version(&self) -> bool {
        self.status == Some(400) && self.is_code(&["InvalidHeaderValue"])
    }
}
