//! Operator identity (docs/AUTH.md, "Users and sessions"): password logins with per-account and
//! per-address limits, browser sessions with idle and absolute ends, and the user changes that
//! must end sessions at once. Used by the HTTP layer and by the `user` command, over whichever
//! store is configured, so replicas and the CLI agree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::hmac::now_secs;
use crate::auth::sessions::{self, Lifetimes, Method, Session};
use crate::auth::tokens::Role;
use crate::auth::users::{self, User};
use crate::backend::Cause;
use crate::backend::StoreError;
use crate::backend::identity::{AttemptStore, SessionStore, UserStore};
use crate::config::auth::LoginSettings;

/// How often a session's last use is written at most (idle expiry is this much coarser), and
/// never less often than a third of the idle time.
const TOUCH_EVERY: Duration = Duration::from_secs(15);
/// Remembered touches before the map is cleared (bounded whatever clients send).
const TOUCHED_MAX: usize = 10_000;

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled account (one answer for all three).
    #[error("invalid credentials")]
    Invalid {
        /// This failure locked the account or blocked the address (audited once).
        locked_now: bool,
    },
    /// The account is locked or the address blocked: retry after this many seconds.
    #[error("too many attempts")]
    Locked { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a user change was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user_exists")]
    Exists,
    #[error("user_not_found")]
    NotFound,
    /// The change would leave no administrator.
    #[error("last_admin")]
    LastAdmin,
    #[error(transparent)]
    Invalid(#[from] crate::auth::users::CredentialRule),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

pub struct Identity {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    attempts: Arc<dyn AttemptStore>,
    settings: LoginSettings,
    /// An OIDC mapping can yield `admin`, so removing the last local admin is allowed.
    oidc_admin: bool,
    touched: Mutex<HashMap<String, Instant>>,
}

impl Identity {
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        attempts: Arc<dyn AttemptStore>,
        settings: LoginSettings,
        oidc_admin: bool,
    ) -> Self {
        Self {
            users,
            sessions,
            attempts,
            settings,
            oidc_admin,
            touched: Mutex::default(),
        }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            idle_secs: self.settings.session_idle_secs,
            max_secs: self.settings.session_max_secs,
        }
    }

    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// Checks a password login and opens a session: the cookie value and its record.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<(String, Session), LoginError> {
        let name = users::normalise_username(username).unwrap_or_else(|_| username.to_ascii_lowercase());
        let now = now_secs();
        let user_key = format!("user:{name}");
        let ip_key = ip.map(|ip| format!("ip:{ip}"));
        let mut locked = self.attempts.locked_for(&user_key, now).await?;
        if let Some(k) = &ip_key {
            locked = locked.max(self.attempts.locked_for(k, now).await?);
        }
        if let Some(retry_after) = locked {
            return Err(LoginError::Locked { retry_after });
        }
        let user = self.users.user(&name).await?;
        let pw = password.to_string();
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        // Argon2 is deliberately slow: off the async threads.
        let verified = tokio::task::spawn_blocking(move || match stored {
            Some(h) => users::verify_password(&h, &pw),
            None => users::verify_unknown(&pw),
        })
        .await
        .map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let user = match user {
            Some(u) if verified.ok && !u.disabled => u,
            _ => return Err(self.failed(&user_key, ip_key.as_deref(), now).await?),
        };
        self.attempts.clear_failures(&user_key).await?;
        if verified.needs_rehash {
            let mut u = user.clone();
            let pw = password.to_string();
            u.password_hash = tokio::task::spawn_blocking(move || users::hash_password(&pw))
                .await
                .map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            self.users.update_user(&u).await?;
        }
        Ok(self.open_session(&user.username, user.role, Method::Password).await?)
    }

    /// Counts a failed login; the error to answer with.
    async fn failed(&self, user_key: &str, ip_key: Option<&str>, now: i64) -> Result<LoginError, StoreError> {
        let s = &self.settings;
        let mut locked_now = false;
        if self.attempts.count_failure(user_key, now, s.window_secs).await? >= s.max_failures {
            self.attempts.lock(user_key, now, s.lockout_secs).await?;
            self.attempts.clear_failures(user_key).await?;
            locked_now = true;
        }
        if let Some(k) = ip_key {
            locked_now |= self.count_address_failure(k, now).await?;
        }
        Ok(LoginError::Invalid { locked_now })
    }

    /// Counts a failure from an address (logins and invalid enrollment tokens); true when this
    /// one blocked it.
    pub async fn count_address_failure(&self, ip_key: &str, now: i64) -> Result<bool, StoreError> {
        let s = &self.settings;
        if self.attempts.count_failure(ip_key, now, s.window_secs).await? >= s.ip_max_failures {
            self.attempts.lock(ip_key, now, s.lockout_secs).await?;
            self.attempts.clear_failures(ip_key).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Seconds an address stays blocked, if it is.
    pub async fn address_blocked(&self, ip: &str) -> Result<Option<i64>, StoreError> {
        self.attempts.locked_for(&format!("ip:{ip}"), now_secs()).await
    }

    /// Opens a session for a user who proved who they are.
    pub async fn open_session(&self, user: &str, role: Role, method: Method) -> Result<(String, Session), StoreError> {
        let (id, s) = sessions::create(user, role, method, now_secs());
        self.sessions.put_session(&s, s.expires_at(self.lifetimes())).await?;
        Ok((id, s))
    }

    /// The live session a cookie value names; an expired one is deleted. `touch` records the use
    /// (every request but event streams, which must not keep an idle session alive).
    pub async fn session(&self, cookie: &str, touch: bool) -> Result<Option<Session>, StoreError> {
        if !sessions::looks_like_id(cookie) {
            return Ok(None);
        }
        let sha = sessions::digest(cookie);
        let Some(s) = self.sessions.session(&sha).await? else {
            return Ok(None);
        };
        let now = now_secs();
        let l = self.lifetimes();
        if s.expired(now, l) {
            self.sessions.delete_session(&sha).await?;
            return Ok(None);
        }
        if touch && self.touch_due(&sha) {
            let mut next = s.clone();
            next.last_seen_at = now;
            self.sessions.touch_session(&sha, now, next.expires_at(l)).await?;
            return Ok(Some(next));
        }
        Ok(Some(s))
    }

    /// Whether a session (by digest) is still live; a store failure counts as live (an event
    /// stream is not cut because Redis blinked; the next request decides).
    pub async fn session_alive(&self, sha256: &str) -> bool {
        match self.sessions.session(sha256).await {
            Ok(Some(s)) => !s.expired(now_secs(), self.lifetimes()),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    fn touch_due(&self, sha: &str) -> bool {
        self.touched.lock().is_ok_and(|mut m| {
            if m.len() >= TOUCHED_MAX {
                m.clear();
            }
            let every = TOUCH_EVERY.min(Duration::from_secs(self.settings.session_idle_secs.max(0) as u64 / 3));
            let due = m.get(sha).is_none_or(|at| at.elapsed() >= every);
            if due {
                m.insert(sha.to_string(), Instant::now());
            }
            due
        })
    }

    pub async fn logout(&self, sha256: &str) -> Result<(), StoreError> {
        self.sessions.delete_session(sha256).await
    }

    /// Ends every session of `user` (all browsers); the number ended.
    pub async fn logout_everywhere(&self, user: &str) -> Result<u64, StoreError> {
        self.sessions.delete_user_sessions(user).await
    }

    /// Creates a user (password already checked against the length rule here too).
    pub async fn create_user(&self, username: &str, password: &str, role: Role) -> Result<User, UserError> {
        let name = users::normalise_username(username).map_err(UserError::Invalid)?;
        users::check_password(password).map_err(UserError::Invalid)?;
        let pw = password.to_string();
        let hash = tokio::task::spawn_blocking(move || users::hash_password(&pw))
            .await
            .map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let now = now_secs();
        let u = User {
            username: name,
            role,
            disabled: false,
            password_hash: hash,
            created_at: now,
            updated_at: now,
            password_changed_at: now,
        };
        if !self.users.add_user(&u).await? {
            return Err(UserError::Exists);
        }
        Ok(u)
    }

    /// Whether another enabled administrator than `name` exists (or OIDC can yield one).
    async fn another_admin(&self, name: &str) -> Result<bool, StoreError> {
        if self.oidc_admin {
            return Ok(true);
        }
        Ok(self
            .users
            .users()
            .await?
            .iter()
            .any(|u| u.username != name && u.role == Role::Admin && !u.disabled))
    }

    /// Changes a user; a new password, role or disabled state ends their sessions at once.
    pub async fn update_user(&self, username: &str, change: UserChange) -> Result<User, UserError> {
        let name = users::normalise_username(username).map_err(|_| UserError::NotFound)?;
        let mut u = self.users.user(&name).await?.ok_or(UserError::NotFound)?;
        let demoted = change.role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true);
        if u.role == Role::Admin && !u.disabled && demoted && !self.another_admin(&name).await? {
            return Err(UserError::LastAdmin);
        }
        let now = now_secs();
        if let Some(pw) = &change.password {
            users::check_password(pw).map_err(UserError::Invalid)?;
            let pw = pw.clone();
            u.password_hash = tokio::task::spawn_blocking(move || users::hash_password(&pw))
                .await
                .map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            u.password_changed_at = now;
        }
        if let Some(r) = change.role {
            u.role = r;
        }
        if let Some(d) = change.disabled {
            u.disabled = d;
        }
        u.updated_at = now;
        if !self.users.update_user(&u).await? {
            return Err(UserError::NotFound);
        }
        self.sessions.delete_user_sessions(&u.username).await?;
        Ok(u)
    }

    /// Removes a user and ends their sessions.
    pub async fn delete_user(&self, username: &str) -> Result<(), UserError> {
        let name = users::normalise_username(username).map_err(|_| UserError::NotFound)?;
        let u = self.users.user(&name).await?.ok_or(UserError::NotFound)?;
        if u.role == Role::Admin && !u.disabled && !self.another_admin(&name).await? {
            return Err(UserError::LastAdmin);
        }
        if !self.users.delete_user(&name).await? {
            return Err(UserError::NotFound);
        }
        self.sessions.delete_user_sessions(&name).await?;
        Ok(())
    }

    /// At start: creates the configured first administrator when that user does not exist, and
    /// says so when nobody could administer the core.
    pub async fn bootstrap(&self) -> Result<(), StoreError> {
        if let Some((name, pw)) = &self.settings.bootstrap_admin {
            match self.create_user(name, pw.expose(), Role::Admin).await {
                Ok(_) => tracing::info!(user = %name, "created the bootstrap administrator"),
                Err(UserError::Exists) => {}
                Err(UserError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "the bootstrap administrator was not created"),
            }
        }
        let any_admin = self
            .users
            .users()
            .await?
            .iter()
            .any(|u| u.role == Role::Admin && !u.disabled);
        if !any_admin && !self.oidc_admin {
            tracing::warn!("no administrator: create one with \"dsx-connect user add <name> --role admin\"");
        }
        Ok(())
    }
}
