//! A small client of the Cloud Storage JSON API v1 on the project's reqwest (rustls): the calls
//! the connector makes (list, get, media, delete, rewrite, metadata patch), each with the
//! generation preconditions it needs. Why our own: see docs/reference/CONNECTORS.md, "GCS
//! connector" (Google's storage crate speaks gRPC for these calls, which emulators lack).

use std::path::Path;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Auth;
use super::errors::GcsFailure;
use crate::retry::Backoff;

/// Characters left as they are in a path segment: the unreserved ones (so `/` is `%2F`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// Tries of one idempotent call on 408, 429, 5xx and connection errors.
const TRIES: u32 = 3;
/// Waits between those tries: 200 ms, 400 ms (at least the service's `Retry-After`, at most 2 s).
const RETRY: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));

/// Percent-encodes one path segment (an object or bucket name).
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Why the HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("DSXCONNECTOR_CA_BUNDLE")]
    CaBundle(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Builds the HTTP client toward one Google endpoint.
pub fn http_client(verify: bool, ca_bundle: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .user_agent(format!("dsx-connect-connector/{} (gcs)", crate::VERSION))
        .danger_accept_invalid_certs(!verify);
    if let Some(ca) = ca_bundle {
        let mut certs = crate::tls::load_certificates(ca).map_err(|e| ClientError::CaBundle(e.into()))?;
        for c in certs.drain(..) {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(ClientError::Http)
}

/// One page of objects.list.
#[derive(Debug, Default, Deserialize)]
pub struct ListPage {
    #[serde(default)]
    pub items: Vec<Listed>,
    #[serde(rename = "nextPageToken")]
    pub next_page_token: Option<String>,
}

/// An object as listed (only the fields asked for).
#[derive(Debug, Deserialize)]
pub struct Listed {
    pub name: String,
    /// A decimal string in the JSON API.
    pub size: Option<String>,
    /// A new one on every write of the name (the item identity, docs/SCAN-REUSE.md).
    #[serde(default)]
    pub generation: Option<String>,
}

/// The answer of one rewrite call.
#[derive(Debug, Deserialize)]
pub struct Rewrite {
    #[serde(default)]
    pub done: bool,
    #[serde(rename = "rewriteToken")]
    pub rewrite_token: Option<String>,
}

/// An authenticated JSON API client.
#[derive(Clone)]
pub struct GcsClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

impl GcsClient {
    pub fn new(http: reqwest::Client, base: &str, auth: Auth) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
        }
    }

    pub fn auth_mode(&self) -> &'static str {
        self.auth.mode
    }

    fn object_url(&self, bucket: &str, name: &str) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.base, segment(bucket), segment(name))
    }

    /// Sends a request built by `build` (called again for each try when `idempotent`), with the
    /// credentials' headers; non-success answers become failures.
    async fn send(
        &self,
        what: &str,
        idempotent: bool,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GcsFailure> {
        let mut failures = 0;
        loop {
            let headers = self.auth.headers().await?;
            let result = match build(&self.http).headers(headers).send().await {
                Err(e) => Err(GcsFailure::transport(what, &e)),
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    let body = r.bytes().await.unwrap_or_default();
                    Err(GcsFailure::answer(what, status, &headers, &body))
                }
            };
            let f = match result {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            failures += 1;
            if !idempotent || !f.transient || failures >= TRIES {
                return Err(f);
            }
            tokio::time::sleep(RETRY.delay_honouring(failures, f.retry_after, Duration::from_secs(2))).await;
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(what: &str, r: reqwest::Response) -> Result<T, GcsFailure> {
        let body = r
            .bytes()
            .await
            .map_err(|e| GcsFailure::transport(&format!("{what} (reading the answer)"), &e))?;
        serde_json::from_slice(&body).map_err(|e| GcsFailure::local(format!("{what}: unreadable answer: {e}")))
    }

    /// objects.list: one page of live objects under `prefix`.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        page_size: u32,
        token: Option<&str>,
    ) -> Result<ListPage, GcsFailure> {
        let url = format!("{}/storage/v1/b/{}/o", self.base, segment(bucket));
        let what = format!("objects.list gs://{bucket}/{prefix}");
        let r = self
            .send(&what, true, |h| {
                let mut q: Vec<(&str, String)> = vec![
                    ("prefix", prefix.to_string()),
                    ("maxResults", page_size.to_string()),
                    ("fields", "items(name,size,generation),nextPageToken".into()),
                ];
                if let Some(t) = token {
                    q.push(("pageToken", t.to_string()));
                }
                h.get(&url).query(&q)
            })
            .await?;
        Self::json(&what, r).await
    }

    /// objects.get: the object's resource (at `generation` when given).
    pub async fn get(&self, bucket: &str, name: &str, generation: Option<&str>) -> Result<Value, GcsFailure> {
        let url = self.object_url(bucket, name);
        let what = format!("objects.get gs://{bucket}/{name}");
        let r = self
            .send(&what, true, |h| {
                let req = h.get(&url);
                match generation {
                    Some(g) => req.query(&[("generation", g)]),
                    None => req,
                }
            })
            .await?;
        Self::json(&what, r).await
    }

    /// The object's bytes as stored (`Accept-Encoding: gzip`: no decompressive transcoding, so
    /// `Content-Length` is the stored length).
    pub async fn media(&self, bucket: &str, name: &str) -> Result<reqwest::Response, GcsFailure> {
        let url = self.object_url(bucket, name);
        let what = format!("media gs://{bucket}/{name}");
        self.send(&what, true, |h| {
            h.get(&url)
                .query(&[("alt", "media")])
                .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        })
        .await
    }

    /// objects.delete of exactly `generation` (or the live object).
    pub async fn delete(&self, bucket: &str, name: &str, generation: Option<&str>) -> Result<(), GcsFailure> {
        let url = self.object_url(bucket, name);
        let what = format!("objects.delete gs://{bucket}/{name}");
        self.send(&what, true, |h| {
            let req = h.delete(&url);
            match generation {
                Some(g) => req.query(&[("generation", g)]),
                None => req,
            }
        })
        .await
        .map(|_| ())
    }

    /// One objects.rewrite call toward a destination that must not exist yet
    /// (`ifGenerationMatch=0`); `body` is the destination's resource.
    #[allow(clippy::too_many_arguments)]
    pub async fn rewrite(
        &self,
        bucket: &str,
        name: &str,
        generation: Option<&str>,
        dest_bucket: &str,
        dest: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<Rewrite, GcsFailure> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_url(bucket, name),
            segment(dest_bucket),
            segment(dest)
        );
        let what = format!("objects.rewrite gs://{bucket}/{name} to gs://{dest_bucket}/{dest}");
        let r = self
            .send(&what, false, |h| {
                let mut q: Vec<(&str, &str)> = vec![("ifGenerationMatch", "0")];
                if let Some(g) = generation {
                    q.push(("sourceGeneration", g));
                }
                if let Some(t) = token {
                    q.push(("rewriteToken", t));
                }
                h.post(&url).query(&q).json(body)
            })
            .await?;
        Self::json(&what, r).await
    }

    /// objects.patch of custom metadata: the service merges the keys (a `null` value removes one).
    pub async fn patch_metadata(
        &self,
        bucket: &str,
        name: &str,
        generation: Option<&str>,
        metadata: &Map<String, Value>,
    ) -> Result<(), GcsFailure> {
        let url = self.object_url(bucket, name);
        let what = format!("objects.patch gs://{bucket}/{name}");
        let body = json!({ "metadata": metadata });
        self.send(&what, true, |h| {
            let req = h.patch(&url).json(&body);
            match generation {
                Some(g) => req.query(&[("generation", g)]),
                None => req,
            }
        })
        .await
        .map(|_| ())
    }

    /// A POST of JSON to `<base>/<path>` (the Pub/Sub REST calls), its answer as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, GcsFailure> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let what = format!("POST {path}");
        let r = self.send(&what, false, |h| h.post(&url).json(body)).await?;
        let bytes = r
            .bytes()
            .await
            .map_err(|e| GcsFailure::transport(&format!("{what} (reading the answer)"), &e))?;
        if bytes.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(&bytes).map_err(|e| GcsFailure::local(format!("{what}: unreadable answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("a/b c+d%é"), "a%2Fb%20c%2Bd%25%C3%A9");
        assert_eq!(segment("x-y_z.~"), "x-y_z.~");
    }
}
