//! Core → connector calls (docs/reference/CORE-API.md, "Calls to connectors"): one pooled client
//! per connector base URL, answers classified for retries.
//!
//! Where credentials go (docs/AUTH.md, "Pinning"): an item's calls carry the API key and the
//! DSX-HMAC signature of the connector it was pinned to at acceptance, and nothing when it was
//! pinned to no registered connector. Every client refuses redirects and resolves names through
//! the SSRF guard, so the address connected to is the address checked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::auth::relay;
use crate::auth::url_guard::{self, GuardedResolver};
use crate::config::Secret;
use crate::config::core::ConnectorClientSettings;
use crate::error_chain::caused_by;
use crate::failure::{ErrorClass, Failure, http_error_text};
use crate::model::{ConnectorUuid, ItemAction, ItemActionStatusResponse, Pin, ScanRequestModel, StatusKind};
use crate::registry_view::RegistryView;
use crate::trust::{OutboundRefusal, Trust};

/// Largest JSON answer accepted from a connector.
pub const MAX_JSON_ANSWER: usize = 1 << 20;

/// Why a proxied call produced no answer (the `<reason>` of a 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    ConnectError,
    ConnectTimeout,
    ReadTimeout,
    TlsError,
    InvalidResponse,
}

impl Unreachable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreachable::ConnectError => "ConnectError",
            Unreachable::ConnectTimeout => "ConnectTimeout",
            Unreachable::ReadTimeout => "ReadTimeout",
            Unreachable::TlsError => "TLSError",
            Unreachable::InvalidResponse => "InvalidResponse",
        }
    }

    fn of(e: &reqwest::Error) -> Self {
        if caused_by::<url_guard::Blocked>(e) {
            Unreachable::ConnectError
        } else if e.is_timeout() {
            if e.is_connect() {
                Unreachable::ConnectTimeout
            } else {
                Unreachable::ReadTimeout
            }
        } else if caused_by::<rustls::Error>(e) {
            Unreachable::TlsError
        } else if e.is_connect() {
            Unreachable::ConnectError
        } else {
            Unreachable::InvalidResponse
        }
    }
}

/// Which connector a proxied call goes to (its key is chosen by uuid, then name).
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub base: &'a str,
    pub uuid: Option<ConnectorUuid>,
    pub name: Option<&'a str>,
}

/// A proxied answer: status and body, or why there was none.
pub type ProxyAnswer = Result<(StatusCode, bytes::Bytes), Unreachable>;

/// The error text of a call the SSRF guard refused at connect time.
const BLOCKED_TEXT: &str = "blocked by DSXCONNECT_CONNECTORS__ALLOWED_URLS";

pub struct ConnectorClients {
    settings: ConnectorClientSettings,
    view: Arc<RegistryView>,
    trust: Arc<Trust>,
    /// One client (and connection pool) per connector origin, the least recently used dropped
    /// beyond [`CLIENTS_MAX`]: origins come from peers, so the cache must not grow with them.
    clients: Mutex<lru::LruCache<String, reqwest::Client>>,
    /// The TLS configuration every client clones (verifier, roots and session cache shared), so
    /// a client costs only its connection pool.
    tls: rustls::ClientConfig,
}

/// Connector origins with a client of their own at most.
pub const CLIENTS_MAX: usize = 128;

/// The credentials a call carries.
struct Credentials<'a> {
    api_key: Option<&'a Secret>,
    hmac: Option<crate::auth::hmac::HmacKey>,
}

impl Credentials<'_> {
    const NONE: Credentials<'static> = Credentials {
        api_key: None,
        hmac: None,
    };
}

impl ConnectorClients {
    pub fn new(settings: ConnectorClientSettings, view: Arc<RegistryView>, trust: Arc<Trust>) -> anyhow::Result<Self> {
        let tls = crate::tls::shared_client_config(settings.ca_bundle.as_deref(), settings.verify_tls)
            .map_err(|e| anyhow::anyhow!("DSXCONNECT_CONNECTORS__CA_BUNDLE: {e}"))?;
        Ok(Self {
            settings,
            view,
            trust,
            clients: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(CLIENTS_MAX).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            tls,
        })
    }

    fn client(&self, base: &str) -> reqwest::Client {
        let origin = url::Url::parse(base)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| base.to_string());
        let mut map = match self.clients.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        // An evicted client is dropped here, and with it its pool and idle connections.
        map.get_or_insert(origin, || {
            reqwest::Client::builder()
                .tcp_nodelay(true)
                .connect_timeout(self.settings.connect_timeout)
                .read_timeout(self.settings.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(GuardedResolver::new(Arc::clone(&self.settings.allowed_urls))))
                .pool_max_idle_per_host(256)
                .user_agent(format!("dsx-connect/{}", crate::VERSION))
                .tls_backend_preconfigured(self.tls.clone())
                .build()
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "building a connector client failed; using defaults");
                    reqwest::Client::new()
                })
        })
        .clone()
    }

    /// Origins with a cached client (bounded by [`CLIENTS_MAX`]).
    pub fn cached_clients(&self) -> usize {
        self.clients.lock().map_or(0, |m| m.len())
    }

    /// API key for a connector: by uuid, else by name, else the global key
    /// (docs/reference/CORE-API.md, "Connector API keys").
    pub fn key_for(&self, uuid: Option<&ConnectorUuid>, name: Option<&str>) -> Option<&Secret> {
        let by = |k: Option<&str>| k.and_then(|k| self.settings.api_keys.get(&k.to_ascii_lowercase()));
        by(uuid.map(ConnectorUuid::as_str))
            .or_else(|| by(name))
            .or(self.settings.api_key.as_ref())
    }

    /// Credentials of the registered connector `uuid` (none for no connector). With
    /// authentication on, a connector without a usable key is not called at all.
    async fn credentials(&self, uuid: Option<&ConnectorUuid>, name: Option<&str>) -> Result<Credentials<'_>, Failure> {
        let Some(uuid) = uuid else {
            return Ok(Credentials::NONE);
        };
        let hmac = self.trust.outbound_key(uuid).await.map_err(|r| match r {
            OutboundRefusal::Revoked => Failure::new(ErrorClass::ConnectorClient, "connector revoked"),
            OutboundRefusal::NoKey => Failure::new(ErrorClass::ConnectorClient, "connector credentials unavailable"),
            OutboundRefusal::Unavailable(e) => Failure::from_error(ErrorClass::StoreUnavailable, e),
        })?;
        Ok(Credentials {
            api_key: self.key_for(Some(uuid), name),
            hmac,
        })
    }

    /// Credentials of an item's pinned connector.
    async fn pinned(&self, pin: &Pin) -> Result<Credentials<'_>, Failure> {
        let name = pin
            .connector_uuid
            .as_ref()
            .and_then(|u| self.view.get(u))
            .map(|m| m.name);
        self.credentials(pin.connector_uuid.as_ref(), name.as_deref()).await
    }

    /// Where an item's calls go: the pinned url, or for one of this process's built-in
    /// connectors its current url (it may have restarted on another loopback port; only this
    /// process can register it, so its registration cannot be re-pointed by a peer).
    pub fn destination(&self, pin: &Pin) -> String {
        pin.connector_uuid
            .as_ref()
            .filter(|u| self.trust.builtin().is_builtin(u))
            .and_then(|u| self.view.get(u))
            .and_then(|m| m.url)
            .unwrap_or_else(|| pin.url.clone())
    }

    /// A request to `<base>/<segment>` with its credentials and body; the signature covers the
    /// exact bytes sent.
    fn request(
        &self,
        method: Method,
        base: &str,
        segment: &str,
        creds: &Credentials<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::RequestBuilder, Failure> {
        let url = format!("{}/{segment}", base.trim_end_matches('/'));
        url_guard::check_literal(&url, &self.settings.allowed_urls)
            .map_err(|_| Failure::new(ErrorClass::ConnectorClient, BLOCKED_TEXT))?;
        let mut r = crate::request_id::attach(self.client(base).request(method.clone(), &url));
        if let Some(k) = creds.api_key {
            r = r.header("x-api-key", k.expose());
        }
        if let Some(key) = &creds.hmac {
            let target = crate::auth::hmac::target_of(&url);
            let auth = key.authorization(method.as_str(), &target, body.as_deref().unwrap_or_default());
            r = r.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(b) = body {
            r = r.header(reqwest::header::CONTENT_TYPE, "application/json").body(b);
        }
        Ok(r)
    }

    /// `POST <url>/read_file`: the response, or a classified failure ("read_file answers"). The
    /// caller streams the body of a 200.
    pub async fn read_file(&self, pin: &Pin, req: &ScanRequestModel) -> Result<reqwest::Response, Failure> {
        let creds = self.pinned(pin).await?;
        let body = json_bytes(req)?;
        let resp = self
            .request(Method::POST, &self.destination(pin), "read_file", &creds, Some(body))?
            .send()
            .await
            .map_err(connection_failure)?;
        let status = resp.status();
        if status == StatusCode::OK {
            return Ok(resp);
        }
        Err(self.classify(pin, resp).await)
    }

    /// `PUT <url>/item_action` ("item_action answers"). An invalid 2xx body becomes an error-status
    /// answer, not a failure: the verdict is kept and the item counts as processed.
    pub async fn item_action(&self, pin: &Pin, req: &ScanRequestModel) -> Result<ItemActionStatusResponse, Failure> {
        let creds = self.pinned(pin).await?;
        let body = json_bytes(req)?;
        let resp = self
            .request(Method::PUT, &self.destination(pin), "item_action", &creds, Some(body))?
            .send()
            .await
            .map_err(connection_failure)?;
        if !resp.status().is_success() {
            return Err(self.classify(pin, resp).await);
        }
        let body = read_capped(resp, MAX_JSON_ANSWER).await.map_err(connection_failure)?;
        Ok(match serde_json::from_slice::<ItemActionStatusResponse>(&body) {
            Ok(a) => a,
            Err(e) => ItemActionStatusResponse::new(
                StatusKind::Error,
                "Invalid response from item_action endpoint",
                ItemAction::NotImplemented,
            )
            .with_description(e.to_string()),
        })
    }

    /// `PUT <url>/result_tag`: the item's scan result for connectors that record it on the
    /// item (capability `result_tags`).
    pub async fn result_tag(
        &self,
        pin: &Pin,
        req: &ScanRequestModel,
        result: &str,
        reason: Option<&str>,
    ) -> Result<(), Failure> {
        let creds = self.pinned(pin).await?;
        let mut body = serde_json::to_value(req).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("result".into(), result.into());
            o.insert("reason".into(), reason.into());
        }
        let body = json_bytes(&body)?;
        let resp = self
            .request(Method::PUT, &self.destination(pin), "result_tag", &creds, Some(body))?
            .send()
            .await
            .map_err(connection_failure)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.classify(pin, resp).await)
        }
    }

    /// A proxied call (`full_scan`, `estimate`, `repo_check`, `config`, `healthz`, `readyz`).
    pub async fn proxy(
        &self,
        method: Method,
        to: Target<'_>,
        segment: &str,
        query: &str,
        timeout: Option<Duration>,
    ) -> ProxyAnswer {
        let path = if query.is_empty() {
            segment.to_string()
        } else {
            format!("{segment}?{query}")
        };
        let creds = self
            .credentials(to.uuid.as_ref(), to.name)
            .await
            .map_err(|_| Unreachable::ConnectError)?;
        let mut r = self
            .request(method, to.base, &path, &creds, None)
            .map_err(|_| Unreachable::ConnectError)?;
        if let Some(t) = timeout {
            r = r.timeout(t);
        }
        let resp = r.send().await.map_err(|e| Unreachable::of(&e))?;
        let status = resp.status();
        let body = read_capped(resp, MAX_JSON_ANSWER + 1)
            .await
            .map_err(|e| Unreachable::of(&e))?;
        if body.len() > MAX_JSON_ANSWER {
            return Err(Unreachable::InvalidResponse);
        }
        Ok((status, body))
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<bytes::Bytes, reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() >= cap {
            buf.truncate(cap);
            break;
        }
    }
    Ok(buf.freeze())
}

fn json_bytes(v: &impl serde::Serialize) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(v).map_err(|e| Failure::caused(ErrorClass::BadPayload, "unserialisable request", e))
}

fn connection_failure(e: reqwest::Error) -> Failure {
    if caused_by::<url_guard::Blocked>(&e) {
        return Failure::new(ErrorClass::ConnectorClient, BLOCKED_TEXT);
    }
    Failure::caused(ErrorClass::ConnectorConnection, "connector unreachable", e)
}

/// Classifies a non-200 answer of `read_file` / non-2xx of `item_action` ("read_file answers").
async fn status_failure(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let retry_after = crate::retry::retry_after(resp.headers());
    let body = read_capped(resp, 4096).await.unwrap_or_default();
    answer_failure(status, &relay::error_text(&body), retry_after)
}

/// The failure of a connector's error answer `status` with `message`: a connector's own
/// trouble (408, 429, 5xx) is retried, a refusal is not. Also for the answers of a built-in
/// connector read in-process (`local_open.rs`), so both ways classify alike.
pub fn answer_failure(status: StatusCode, message: &str, retry_after: Option<Duration>) -> Failure {
    let class = match status.as_u16() {
        408 | 429 | 500..=599 => ErrorClass::ConnectorServer,
        _ => ErrorClass::ConnectorClient,
    };
    Failure::new(class, http_error_text(status, message)).with_retry_after(retry_after)
}

impl ConnectorClients {
    /// A connector that refuses the core's signature right after the core issued it a new key
    /// may not have installed that key yet (the registration answer is in flight): within the
    /// rotation grace period its 401 is retried; later it is final (docs/AUTH.md, "Rotation").
    async fn classify(&self, pin: &Pin, resp: reqwest::Response) -> Failure {
        if resp.status() != StatusCode::UNAUTHORIZED {
            return status_failure(resp).await;
        }
        let body = read_capped(resp, 4096).await.unwrap_or_default();
        let detail = relay::error_text(&body);
        let grace = i64::try_from(self.trust.settings().rotation_grace_secs).unwrap_or(i64::MAX);
        let rotated = match pin.connector_uuid.as_ref() {
            Some(u) => self
                .trust
                .record(u)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| crate::auth::hmac::now_secs().saturating_sub(r.key_issued_at) <= grace),
            None => false,
        };
        if rotated {
            Failure::new(
                ErrorClass::ConnectorServer,
                format!("connector rejected signature after a key rotation: {detail}"),
            )
        } else {
            Failure::new(
                ErrorClass::ConnectorClient,
                format!("connector rejected signature: {detail}"),
            )
        }
    }
}
