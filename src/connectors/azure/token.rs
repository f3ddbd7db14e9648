//! Entra ID access tokens for the blob service (scope `https://storage.azure.com/.default`):
//! client secret and workload identity against the authority's v2.0 token endpoint, managed
//! identity against `IDENTITY_ENDPOINT` or the instance metadata service. A token is cached and
//! renewed five minutes before it expires.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use super::credentials::EntraSource;
use super::errors::AzFailure;

const SCOPE: &str = "https://storage.azure.com/.default";
const RESOURCE: &str = "https://storage.azure.com";
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Renew this long before expiry.
const EARLY: Duration = Duration::from_secs(300);

pub struct TokenCache {
    source: EntraSource,
    http: reqwest::Client,
    current: Mutex<Option<(String, Instant)>>,
}

fn token_failure(message: String) -> AzFailure {
    AzFailure {
        status: Some(401),
        code: Some("TokenFailed".into()),
        message,
        transient: false,
        unreachable: false,
        retry_after: None,
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn form(rb: reqwest::RequestBuilder, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    rb.header("content-type", "application/x-www-form-urlencoded")
        .body(encode(pairs))
}

fn with_query(base: &str, q: &[(&str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", encode(&pairs))
}

impl TokenCache {
    pub fn new(source: EntraSource, http: reqwest::Client) -> Self {
        Self {
            source,
            http,
            current: Mutex::new(None),
        }
    }

    /// A valid token, fetched when none is cached or the cached one is about to expire.
    pub async fn token(&self) -> Result<String, AzFailure> {
        let mut g = self.current.lock().await;
        if let Some((t, until)) = g.as_ref()
            && Instant::now() + EARLY < *until
        {
            return Ok(t.clone());
        }
        let (t, lifetime) = self.fetch().await?;
        *g = Some((t.clone(), Instant::now() + lifetime));
        Ok(t)
    }

    async fn fetch(&self) -> Result<(String, Duration), AzFailure> {
        let req = match &self.source {
            EntraSource::ClientSecret {
                authority,
                tenant,
                client_id,
                secret,
            } => form(
                self.http.post(format!("{authority}/{tenant}/oauth2/v2.0/token")),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", SCOPE),
                ],
            ),
            EntraSource::WorkloadIdentity {
                authority,
                tenant,
                client_id,
                token_file,
            } => {
                let assertion = tokio::fs::read_to_string(token_file)
                    .await
                    .map_err(|e| token_failure(format!("cannot read AZURE_FEDERATED_TOKEN_FILE: {e}")))?;
                form(
                    self.http.post(format!("{authority}/{tenant}/oauth2/v2.0/token")),
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.trim()),
                        ("scope", SCOPE),
                    ],
                )
            }
            EntraSource::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => {
                let mut q = vec![("resource", RESOURCE.to_string())];
                if let Some(c) = client_id {
                    q.push(("client_id", c.clone()));
                }
                match (endpoint, header) {
                    (Some(e), Some(h)) => {
                        q.push(("api-version", "2019-08-01".into()));
                        self.http.get(with_query(e, &q)).header("X-IDENTITY-HEADER", h.expose())
                    }
                    (Some(e), None) => {
                        q.push(("api-version", "2019-08-01".into()));
                        self.http.get(with_query(e, &q))
                    }
                    _ => {
                        q.push(("api-version", "2018-02-01".into()));
                        self.http.get(with_query(IMDS, &q)).header("Metadata", "true")
                    }
                }
            }
        };
        let resp = req.timeout(Duration::from_secs(30)).send().await.map_err(|e| {
            token_failure(format!(
                "the token endpoint is unreachable: {}",
                crate::error_chain::error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let why = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code")
                .to_string();
            return Err(token_failure(format!("the token endpoint answered {status} ({why})")));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| token_failure("the token endpoint answered without access_token".into()))?
            .to_string();
        let num = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        let lifetime = match body.get("expires_in").and_then(num) {
            Some(s) => Duration::from_secs(s),
            None => body
                .get("expires_on")
                .and_then(num)
                .map(|on| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    Duration::from_secs(on.saturating_sub(now))
                })
                .unwrap_or(Duration::from_secs(3600)),
        };
        Ok((token, lifetime))
    }
}
