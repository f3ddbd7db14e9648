//! The core's side of connector trust (docs/AUTH.md): which key a signature was made with,
//! whether its nonce is fresh, and which key the core signs its calls to a connector with.
//!
//! Keys come from this process's built-in connectors (always) and, with authentication on,
//! from the credential store. Store lookups are cached for at most [`KEY_CACHE_TTL`], so a
//! revocation through any API process takes effect everywhere within that time. A store that
//! cannot answer fails the request closed (503 `registry_unavailable`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::audit::ActorKind;
use crate::auth::builtin::BuiltinKeys;
use crate::auth::credentials::{CredentialRecord, CredentialState};
use crate::auth::hmac::{self, HmacKey, KeyLookup, Received, Reject, SignatureHeader};
use crate::auth::replay::ReplayCache;
use crate::auth::tokens::{self, Role};
use crate::backend::{CredentialStore, StoreError, TokenStore};
use crate::config::auth::AuthSettings;
use crate::model::ConnectorUuid;

/// Longest time a cached credential record is trusted.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached lookups kept before the cache is cleared (bounded memory whatever peers send).
const CACHE_MAX: usize = 10_000;

/// Why a signed call was refused.
#[derive(Debug)]
pub enum Refusal {
    /// `401 {"detail": reason}`.
    Signature(Reject),
    /// The credential store could not answer: fail closed.
    Unavailable(StoreError),
}

impl From<Reject> for Refusal {
    fn from(r: Reject) -> Self {
        Refusal::Signature(r)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Unavailable(e)
    }
}

/// A verified connector signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorPrincipal {
    pub uuid: ConnectorUuid,
    pub key_id: String,
    /// Signed with a key in its rotation grace period.
    pub with_prev: bool,
    /// One of this process's built-in connectors.
    pub builtin: bool,
}

type Cached = (Instant, Option<CredentialRecord>);

/// An operator: a user (browser session) or an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorPrincipal {
    pub role: Role,
    pub kind: ActorKind,
    /// The token's id, or the user's name.
    pub id: String,
    /// The token's name, or the user's name.
    pub name: String,
}

impl OperatorPrincipal {
    /// `token:<name>` or `user:<name>`, for "created by" and "revoked by" fields.
    pub fn label(&self) -> String {
        match self.kind {
            ActorKind::Token => format!("token:{}", self.name),
            _ => format!("user:{}", self.name),
        }
    }
}

/// How often `last_used_at` of a token is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

pub struct Trust {
    store: Arc<dyn CredentialStore>,
    tokens: Arc<dyn TokenStore>,
    token_cache: Mutex<HashMap<String, (Instant, Option<tokens::ApiToken>)>>,
    touched: Mutex<HashMap<String, Instant>>,
    builtin: Arc<BuiltinKeys>,
    settings: AuthSettings,
    replay: ReplayCache,
    by_key: Mutex<HashMap<String, Cached>>,
    by_uuid: Mutex<HashMap<String, Cached>>,
}

fn cached(map: &Mutex<HashMap<String, Cached>>, k: &str) -> Option<Option<CredentialRecord>> {
    let m = map.lock().ok()?;
    m.get(k)
        .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
        .map(|(_, r)| r.clone())
}

fn remember(map: &Mutex<HashMap<String, Cached>>, k: &str, r: Option<CredentialRecord>) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(k.to_string(), (Instant::now(), r));
    }
}

impl Trust {
    pub fn new(
        store: Arc<dyn CredentialStore>,
        tokens: Arc<dyn TokenStore>,
        builtin: Arc<BuiltinKeys>,
        settings: AuthSettings,
    ) -> Self {
        let replay = ReplayCache::new(settings.hmac_max_skew, settings.nonce_cache_max);
        Self {
            store,
            tokens,
            token_cache: Mutex::default(),
            touched: Mutex::default(),
            builtin,
            settings,
            replay,
            by_key: Mutex::default(),
            by_uuid: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn builtin(&self) -> &BuiltinKeys {
        &self.builtin
    }

    pub fn store(&self) -> &Arc<dyn CredentialStore> {
        &self.store
    }

    /// Forgets cached lookups of a record this process just changed.
    pub fn invalidate(&self, rec: &CredentialRecord) {
        for map in [&self.by_key, &self.by_uuid] {
            if let Ok(mut m) = map.lock() {
                m.remove(rec.uuid.as_str());
                for k in rec.key_ids() {
                    m.remove(&k);
                }
            }
        }
    }

    async fn record_by_key(&self, key_id: &str) -> Result<Option<CredentialRecord>, StoreError> {
        if let Some(r) = cached(&self.by_key, key_id) {
            return Ok(r);
        }
        let r = self.store.credential_by_key(key_id).await?;
        remember(&self.by_key, key_id, r.clone());
        Ok(r)
    }

    /// The credential record of `uuid` (cached for at most [`KEY_CACHE_TTL`]).
    pub async fn record(&self, uuid: &ConnectorUuid) -> Result<Option<CredentialRecord>, StoreError> {
        if let Some(r) = cached(&self.by_uuid, uuid.as_str()) {
            return Ok(r);
        }
        let r = self.store.credential(uuid).await?;
        remember(&self.by_uuid, uuid.as_str(), r.clone());
        Ok(r)
    }

    /// Verifies a signed request (steps 1–8 of the verification order): built-in keys always,
    /// enrolled connectors' keys when authentication is on; then the nonce, once.
    pub async fn verify(&self, header: Option<&[u8]>, req: Received<'_>) -> Result<ConnectorPrincipal, Refusal> {
        let parsed = SignatureHeader::parse(header.ok_or(Reject::MissingHmac)?)?;
        let now = hmac::now_secs();
        let builtin = self.builtin.lookup(&parsed.key_id);
        let (lookup, with_prev, is_builtin) = match builtin {
            KeyLookup::Active { .. } => (builtin, false, true),
            _ if self.settings.enabled => match self.record_by_key(&parsed.key_id).await? {
                Some(rec) => (rec.lookup(&parsed.key_id, now), rec.is_prev(&parsed.key_id), false),
                None => (KeyLookup::Unknown, false, false),
            },
            _ => (KeyLookup::Unknown, false, false),
        };
        let v = hmac::verify(header, req, now, self.settings.hmac_max_skew, None, |_| lookup)?;
        let ttl = self.settings.hmac_max_skew.saturating_mul(2).saturating_add(1);
        match self.store.first_use(&v.key_id, &v.nonce, ttl).await? {
            Some(true) => {}
            Some(false) => return Err(Reject::ReplayedRequest.into()),
            None => self.replay.check(&v.key_id, &v.nonce, now)?,
        }
        // Every key's owner is a record's or a built-in connector's uuid.
        let uuid = ConnectorUuid::parse(&v.owner).map_err(|_| Reject::UnknownKeyId)?;
        Ok(ConnectorPrincipal {
            uuid,
            key_id: v.key_id,
            with_prev,
            builtin: is_builtin,
        })
    }

    /// Deletes the credential records of connectors that have not registered for `days` —
    /// never a revoked one, whose record keeps that connector locked out. The uuids forgotten.
    pub async fn forget_stale(&self, days: u64, now: i64) -> Result<Vec<ConnectorUuid>, StoreError> {
        let cutoff = now.saturating_sub(i64::try_from(days).unwrap_or(i64::MAX / 86_400).saturating_mul(86_400));
        let mut gone = Vec::new();
        for rec in self.store.credentials().await? {
            if rec.state != CredentialState::Revoked && rec.last_registration_at < cutoff {
                self.store.delete_credential(&rec.uuid).await?;
                self.invalidate(&rec);
                gone.push(rec.uuid);
            }
        }
        Ok(gone)
    }

    /// Forgets every cached token lookup (a token was revoked through this process: effective
    /// here at once, elsewhere within [`KEY_CACHE_TTL`]).
    pub fn forget_tokens(&self) {
        if let Ok(mut m) = self.token_cache.lock() {
            m.clear();
        }
    }

    /// Resolves `Authorization: Bearer <token>`: `Ok(None)` for an unknown, expired or revoked
    /// token (a revocation in any process is seen within [`KEY_CACHE_TTL`]).
    pub async fn bearer(&self, token: &str) -> Result<Option<OperatorPrincipal>, StoreError> {
        if !tokens::looks_like_token(token) {
            return Ok(None);
        }
        let sha = tokens::digest(token);
        let hit = self.token_cache.lock().ok().and_then(|m| {
            m.get(&sha)
                .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
                .map(|(_, t)| t.clone())
        });
        let rec = match hit {
            Some(r) => r,
            None => {
                let r = self.tokens.token_by_digest(&sha).await?;
                if let Ok(mut m) = self.token_cache.lock() {
                    if m.len() >= CACHE_MAX {
                        m.clear();
                    }
                    m.insert(sha, (Instant::now(), r.clone()));
                }
                r
            }
        };
        let now = hmac::now_secs();
        let Some(t) = rec.filter(|t| !t.expired(now)) else {
            return Ok(None);
        };
        let due = self.touched.lock().is_ok_and(|mut m| {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            let due = m.get(&t.id).is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
            if due {
                m.insert(t.id.clone(), Instant::now());
            }
            due
        });
        if due && let Err(e) = self.tokens.touch_token(&t.id, now).await {
            tracing::debug!(error = %e, "recording a token's last use failed");
        }
        Ok(Some(OperatorPrincipal {
            role: t.role,
            kind: ActorKind::Token,
            id: t.id,
            name: t.name,
        }))
    }

    /// The key the core signs its calls to connector `uuid` with: a built-in connector's, or
    /// with authentication on an enrolled connector's current key. `Err` when authentication is
    /// on and the connector has no usable key (revoked, reset, forgotten): it must not be called.
    pub async fn outbound_key(&self, uuid: &ConnectorUuid) -> Result<Option<HmacKey>, OutboundRefusal> {
        if let Some(k) = self.builtin.key(uuid) {
            return Ok(Some(k));
        }
        if !self.settings.enabled {
            return Ok(None);
        }
        let rec = self.record(uuid).await.map_err(OutboundRefusal::Unavailable)?;
        match rec {
            Some(r) if r.state == CredentialState::Revoked => Err(OutboundRefusal::Revoked),
            Some(r) => match r.key().or_else(|| r.prev_key(hmac::now_secs())) {
                Some(k) => Ok(Some(k)),
                None => Err(OutboundRefusal::NoKey),
            },
            None => Err(OutboundRefusal::NoKey),
        }
    }
}

/// Why the core will not call a pinned connector.
#[derive(Debug)]
pub enum OutboundRefusal {
    Revoked,
    NoKey,
    Unavailable(StoreError),
}
