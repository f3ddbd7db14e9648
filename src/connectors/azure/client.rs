//! The blob service client (docs/reference/CONNECTORS.md, "Azure client and credentials"): a small
//! REST client on the project's reqwest (rustls) that signs with Shared Key, appends a SAS, or
//! sends an Entra bearer token; sends `x-ms-version` on every request; retries 408, 429, 5xx and
//! connection failures (3 tries in all); and turns every other answer into an [`AzFailure`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Response};

use super::credentials::{Auth, Resolved, redact};
use super::errors::AzFailure;
use super::sign::{ToSign, authorization};
use super::token::TokenCache;

/// Characters left as they are in a blob path: unreserved ones and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Characters left as they are in a query value: unreserved ones.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// Tries of one call on transient failures.
const TRIES: u32 = 3;

pub struct BlobClient {
    http: reqwest::Client,
    pub account: String,
    /// Blob service URL, without a trailing `/`.
    pub endpoint: String,
    base: url::Url,
    auth: Auth,
    api_version: String,
    tokens: Option<Arc<TokenCache>>,
}

/// One request before it is authorised.
pub struct Call {
    pub method: Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Call {
    pub fn new(method: Method, url: url::Url) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.into()));
        self
    }

    pub fn header_opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.header(k, v),
            None => self,
        }
    }

    pub fn body(mut self, content_type: &str, b: impl Into<Bytes>) -> Self {
        self.body = b.into();
        self.header("content-type", content_type)
    }
}

impl BlobClient {
    pub fn new(
        r: &Resolved,
        api_version: &str,
        verify: bool,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, super::errors::ClientBuildError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(format!("dsx-connect-connector/{} (azure_blob)", crate::VERSION));
        if !verify {
            tracing::warn!(
                "DSXCONNECTOR_AZURE_ENDPOINT_VERIFY=false: TLS certificates of the blob endpoint are not checked"
            );
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(ca) = ca_bundle {
            let certs = crate::tls::load_certificates(ca)
                .map_err(|e| super::errors::ClientBuildError::CaBundle(e.to_string()))?;
            b = b.tls_certs_merge(certs);
        }
        let http = b.build().map_err(super::errors::ClientBuildError::Http)?;
        let base = url::Url::parse(&r.endpoint).map_err(|_| super::errors::ClientBuildError::Endpoint)?;
        let tokens = match &r.auth {
            Auth::Entra(src) => Some(Arc::new(TokenCache::new(src.clone(), http.clone()))),
            _ => None,
        };
        Ok(Self {
            http,
            account: r.account.clone(),
            endpoint: r.endpoint.clone(),
            base,
            auth: r.auth.clone(),
            api_version: api_version.to_string(),
            tokens,
        })
    }

    /// `<endpoint>/<container>?<query>`.
    pub fn container_url(&self, container: &str, query: &[(&str, &str)]) -> url::Url {
        self.url(container, query)
    }

    /// `<endpoint>/<container>/<encoded name>?<query>`.
    pub fn blob_url(&self, container: &str, name: &str, query: &[(&str, &str)]) -> url::Url {
        self.url(&format!("{container}/{}", utf8_percent_encode(name, PATH)), query)
    }

    /// The URL a Copy Blob reads from: the blob URL, with the version and (under SAS) the SAS.
    pub fn copy_source(&self, container: &str, name: &str, version: Option<&str>) -> String {
        let q: Vec<(&str, &str)> = version.map(|v| vec![("versionid", v)]).unwrap_or_default();
        let mut u = self.blob_url(container, name, &q);
        if let Auth::Sas { token } = &self.auth {
            let joined = match u.query() {
                Some(q) if !q.is_empty() => format!("{q}&{}", token.expose()),
                _ => token.expose().to_string(),
            };
            u.set_query(Some(&joined));
        }
        u.to_string()
    }

    /// The endpoint URL with `/<path>` appended (already percent-encoded) and the query.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut u = self.base.clone();
        let joined = format!("{}/{path}", self.base.path().trim_end_matches('/'));
        u.set_path(&joined);
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY)))
            .collect();
        u.set_query((!q.is_empty()).then(|| q.join("&")).as_deref());
        u
    }

    /// Sends a call, retrying transient failures; answers below 300 come back, others fail.
    pub async fn send(&self, call: &Call) -> Result<Response, AzFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = self.send_once(call).await;
            match out {
                Ok(r) if r.status().as_u16() < 300 => return Ok(r),
                Ok(r) => {
                    let f = AzFailure::from_response(r, call.method == Method::HEAD).await;
                    if !f.transient || attempt >= TRIES {
                        return Err(f);
                    }
                }
                Err(f) => {
                    if !f.transient || attempt >= TRIES {
                        return Err(f);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1))).await;
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Response, AzFailure> {
        let mut url = call.url.clone();
        let mut headers = call.headers.clone();
        headers.push(("x-ms-version".into(), self.api_version.clone()));
        headers.push((
            "x-ms-date".into(),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        ));
        let mut authz = None;
        match &self.auth {
            Auth::SharedKey { key } => {
                authz = authorization(
                    &self.account,
                    key.expose(),
                    &ToSign {
                        method: call.method.as_str(),
                        url: &url,
                        headers: &headers,
                        content_length: call.body.len() as u64,
                    },
                );
            }
            Auth::Sas { token } => {
                let joined = match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{}", token.expose()),
                    _ => token.expose().to_string(),
                };
                url.set_query(Some(&joined));
            }
            Auth::Entra(_) => {
                if let Some(t) = &self.tokens {
                    authz = Some(format!("Bearer {}", t.token().await?));
                }
            }
        }
        let mut rb = self.http.request(call.method.clone(), url);
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(a) = authz {
            rb = rb.header("authorization", a);
        }
        if call.body.is_empty() {
            if matches!(call.method, Method::PUT) {
                // The service requires a length on every write, even an empty one.
                rb = rb.header("content-length", "0");
            }
        } else {
            rb = rb.body(call.body.clone());
        }
        rb.send()
            .await
            .map_err(|e| AzFailure::network(&redact(&crate::error_chain::error_chain(&e))))
    }
}
