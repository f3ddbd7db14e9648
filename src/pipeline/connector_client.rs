//! Core → connector calls (CORE-API §4): one pooled client per connector base URL, the API key
//! chosen per connector, answers classified for retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::failure::{ErrorClass, Failure, http_error_text, retry_after_secs};
use crate::actors::registry_view::RegistryView;
use crate::config::Secret;
use crate::config::core::ConnectorClientSettings;
use crate::model::{ItemAction, ItemActionStatusResponse, ScanRequestModel, StatusKind};
use crate::scanner::dsxa::error_chain;

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
        let chain = error_chain(e).to_ascii_lowercase();
        if e.is_timeout() {
            if e.is_connect() {
                Unreachable::ConnectTimeout
            } else {
                Unreachable::ReadTimeout
            }
        } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake") {
            Unreachable::TlsError
        } else if e.is_connect() {
            Unreachable::ConnectError
        } else {
            Unreachable::InvalidResponse
        }
    }
}

/// Which connector a proxied call goes to (its key is chosen by uuid, then name).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub base: &'a str,
    pub uuid: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// A proxied answer: status and body, or why there was none.
pub type ProxyAnswer = Result<(StatusCode, bytes::Bytes), Unreachable>;

pub struct ConnectorClients {
    settings: ConnectorClientSettings,
    view: Arc<RegistryView>,
    clients: Mutex<HashMap<String, reqwest::Client>>,
    ca: Vec<reqwest::Certificate>,
}

impl ConnectorClients {
    pub fn new(settings: ConnectorClientSettings, view: Arc<RegistryView>) -> anyhow::Result<Self> {
        let ca = match &settings.ca_bundle {
            Some(p) => crate::tls::load_certificates(p)
                .map_err(|e| anyhow::anyhow!("DSXCONNECT_CONNECTORS__CA_BUNDLE: {e}"))?,
            None => Vec::new(),
        };
        Ok(Self {
            settings,
            view,
            clients: Mutex::new(HashMap::new()),
            ca,
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
        map.entry(origin)
            .or_insert_with(|| {
                let mut b = reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .connect_timeout(self.settings.connect_timeout)
                    .read_timeout(self.settings.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(256)
                    .user_agent(format!("dsx-connect/{}", crate::VERSION))
                    .danger_accept_invalid_certs(!self.settings.verify_tls);
                if !self.ca.is_empty() {
                    b = b.tls_certs_merge(self.ca.clone());
                }
                b.build().unwrap_or_else(|e| {
                    tracing::error!(error = %e, "building a connector client failed; using defaults");
                    reqwest::Client::new()
                })
            })
            .clone()
    }

    /// Key for a connector: by uuid, else by name, else the global key (§4.5).
    pub fn key_for(&self, uuid: Option<&str>, name: Option<&str>) -> Option<&Secret> {
        let by = |k: Option<&str>| k.and_then(|k| self.settings.api_keys.get(&k.to_ascii_lowercase()));
        by(uuid).or_else(|| by(name)).or(self.settings.api_key.as_ref())
    }

    /// The key for a scan request's connector (falling back to the registered connector whose
    /// url equals `connector_url`).
    fn key_for_request(&self, req: &ScanRequestModel, base: &str) -> Option<&Secret> {
        let (mut uuid, mut name) = (
            req.connector.as_ref().and_then(|c| c.uuid.clone()),
            req.connector.as_ref().map(|c| c.name.clone()),
        );
        if uuid.is_none()
            && let Some(m) = self.view.by_url(base)
        {
            uuid = m.uuid;
            name = Some(m.name);
        }
        self.key_for(uuid.as_deref(), name.as_deref())
    }

    fn request(&self, method: Method, base: &str, segment: &str, key: Option<&Secret>) -> reqwest::RequestBuilder {
        let url = format!("{}/{segment}", base.trim_end_matches('/'));
        let mut r = self.client(base).request(method, url);
        if let Some(k) = key {
            r = r.header("x-api-key", k.expose());
        }
        r
    }

    /// `POST <url>/read_file`: the response, or a classified failure (§4.3). The caller streams
    /// the body of a 200.
    pub async fn read_file(&self, base: &str, req: &ScanRequestModel) -> Result<reqwest::Response, Failure> {
        let key = self.key_for_request(req, base);
        let resp = self
            .request(Method::POST, base, "read_file", key)
            .json(req)
            .send()
            .await
            .map_err(connection_failure)?;
        let status = resp.status();
        if status == StatusCode::OK {
            return Ok(resp);
        }
        Err(status_failure(resp).await)
    }

    /// `PUT <url>/item_action` (§4.4). An invalid 2xx body becomes an error-status answer, not
    /// a failure: the verdict is kept and the item counts as processed.
    pub async fn item_action(&self, base: &str, req: &ScanRequestModel) -> Result<ItemActionStatusResponse, Failure> {
        let key = self.key_for_request(req, base);
        let resp = self
            .request(Method::PUT, base, "item_action", key)
            .json(req)
            .send()
            .await
            .map_err(connection_failure)?;
        if !resp.status().is_success() {
            return Err(status_failure(resp).await);
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
        base: &str,
        req: &ScanRequestModel,
        result: &str,
        reason: Option<&str>,
    ) -> Result<(), Failure> {
        let key = self.key_for_request(req, base);
        let mut body = serde_json::to_value(req).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("result".into(), result.into());
            o.insert("reason".into(), reason.into());
        }
        let resp = self
            .request(Method::PUT, base, "result_tag", key)
            .json(&body)
            .send()
            .await
            .map_err(connection_failure)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_failure(resp).await)
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
        let key = self.key_for(to.uuid, to.name);
        let mut r = self.request(method, to.base, &path, key);
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

fn connection_failure(e: reqwest::Error) -> Failure {
    Failure::new(
        ErrorClass::ConnectorConnection,
        format!("connector unreachable: {}", error_chain(&e)),
    )
}

/// Classifies a non-200 answer of `read_file` / non-2xx of `item_action` (§4.3).
async fn status_failure(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let retry_after = retry_after_secs(resp.headers().get(reqwest::header::RETRY_AFTER));
    let body = read_capped(resp, 4096).await.unwrap_or_default();
    let text = http_error_text(status, &String::from_utf8_lossy(&body));
    let class = match status.as_u16() {
        408 | 429 | 500..=599 => ErrorClass::ConnectorServer,
        _ => ErrorClass::ConnectorClient,
    };
    Failure::new(class, text).with_retry_after(retry_after)
}
