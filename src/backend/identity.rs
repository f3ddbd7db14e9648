//! Operator identity in the store (docs/AUTH.md, "Store layout"): users, browser sessions,
//! pending OIDC logins, login-failure counters and the audit trail. Both engines implement
//! these; API replicas share them, so a lock or a logout holds everywhere at once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::auth::audit::{AuditQuery, AuditRecord};
use crate::auth::sessions::Session;
use crate::auth::users::User;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; false when the name is taken.
    async fn add_user(&self, u: &User) -> StoreResult<bool>;
    /// Replaces an existing user's record; false when there is no such user.
    async fn update_user(&self, u: &User) -> StoreResult<bool>;
    async fn user(&self, name: &str) -> StoreResult<Option<User>>;
    /// Every user, by name.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// False when there was no such user.
    async fn delete_user(&self, name: &str) -> StoreResult<bool>;
}

/// What a pending OIDC login must remember between the redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcPending {
    pub verifier: String,
    pub nonce: String,
    pub created_at: i64,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session that ends at `expires_at` (epoch seconds) unless touched.
    async fn put_session(&self, s: &Session, expires_at: i64) -> StoreResult<()>;
    async fn session(&self, sha256: &str) -> StoreResult<Option<Session>>;
    /// Records a use: `last_seen_at = now`, the end moves to `expires_at`.
    async fn touch_session(&self, sha256: &str, now: i64, expires_at: i64) -> StoreResult<()>;
    async fn delete_session(&self, sha256: &str) -> StoreResult<()>;
    /// Ends every session of a user; the number ended.
    async fn delete_user_sessions(&self, user: &str) -> StoreResult<u64>;
    async fn put_oidc_pending(&self, state_sha: &str, p: &OidcPending, ttl_secs: i64) -> StoreResult<()>;
    /// Takes a pending login once: a second take of the same state finds nothing.
    async fn take_oidc_pending(&self, state_sha: &str) -> StoreResult<Option<OidcPending>>;
}

/// Failure counters and locks, keyed `user:<name>` or `ip:<address>`.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Counts one failure; the count restarts when `window_secs` passed since the first.
    async fn count_failure(&self, key: &str, now: i64, window_secs: i64) -> StoreResult<u32>;
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;
    async fn lock(&self, key: &str, now: i64, secs: i64) -> StoreResult<()>;
    /// Seconds left on a lock, if any.
    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends a record (its `id` is assigned here and returned), keeping at most `retain`.
    async fn append_audit(&self, rec: &AuditRecord, retain: usize) -> StoreResult<i64>;
    /// Matching records, newest first, at most `q.limit`.
    async fn audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes records older than `before_ms`; the number deleted.
    async fn purge_audit(&self, before_ms: i64) -> StoreResult<u64>;
}
