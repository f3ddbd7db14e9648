//! Entra ID access tokens for the blob service (scope `https://storage.azure.com/.default`):
//! client secret and workload identity against the authority's v2.0 token endpoint, managed
//! identity against `IDENTITY_ENDPOINT` or the instance metadata service. A token is cached and
//! renewed five minutes before it expires (half way through a lifetime under ten minutes); an
//! endpoint's answer is read up to 64 KiB, and of an error only its OAuth error code is kept.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use super::credentials::EntraSource;
use super::errors::AzFailure;

const SCOPE: &str = "https://storage.azure.com/.default";
const RESOURCE: &str = "https://storage.azure.com";
/// Renew this long before expiry.
const EARLY: Duration = Duration::from_secs(300);

/// Largest token endpoint answer read (an access token is a few kB).
const MAX_ANSWER: usize = 64 * 1024;

/// The answer's body, at most [`MAX_ANSWER`] bytes (what a peer sends beyond is not read); a
/// body cut by the network is what arrived of it.
async fn read_answer(mut resp: reqwest::Response) -> Vec<u8> {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() >= room {
            break;
        }
    }
    buf
}

/// The OAuth error code of an error answer (`invalid_client`, …), for logs and the repository
/// check: only a short lower-case word is taken from the peer, never its free text.
fn error_code(body: &Value) -> &str {
    match body.get("error").and_then(Value::as_str) {
        Some(c) if !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => c,
        Some(_) => "unrecognised error code",
        None => "no error code",
    }
}

/// How long after it was fetched a token is renewed: five minutes before it expires, or half
/// way through a lifetime shorter than ten minutes (managed-identity endpoints hand out cached
/// tokens that may have only minutes left, which must not be fetched again on every request).
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(EARLY.min(lifetime / 2))
}

pub struct TokenCache {
    source: EntraSource,
    http: reqwest::Client,
    /// The token and when to renew it.
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

    /// A valid token, fetched when none is cached or the cached one is due for renewal.
    pub async fn token(&self) -> Result<String, AzFailure> {
        let mut g = self.current.lock().await;
        if let Some((t, renew_at)) = g.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(t.clone());
        }
        let (t, lifetime) = self.fetch().await?;
        *g = Some((t.clone(), Instant::now() + renew_after(lifetime)));
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
                imds,
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
                        self.http.get(with_query(imds, &q)).header("Metadata", "true")
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
        let body: Value = serde_json::from_slice(&read_answer(resp).await).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(token_failure(format!(
                "the token endpoint answered {status} ({})",
                error_code(&body)
            )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_renewed_five_minutes_early_or_half_way() {
        let s = Duration::from_secs;
        assert_eq!(renew_after(s(3600)), s(3300));
        assert_eq!(renew_after(s(304)), s(152));
        assert_eq!(renew_after(s(900)), s(600));
        assert_eq!(renew_after(s(120)), s(60));
        assert_eq!(renew_after(s(0)), s(0));
    }

    #[test]
    fn only_oauth_error_words_are_kept_from_an_answer() {
        assert_eq!(error_code(&json!({"error": "invalid_client"})), "invalid_client");
        assert_eq!(
            error_code(&json!({"error": "bad\nlog line: secret=x"})),
            "unrecognised error code"
        );
        assert_eq!(error_code(&json!({"error": "x".repeat(65)})), "unrecognised error code");
        assert_eq!(error_code(&json!({"message": "no"})), "no error code");
        assert_eq!(error_code(&Value::Null), "no error code");
    }
}
