//! Authentication settings of the core (`DSXCONNECT_AUTH__*`, `DSXCONNECT_ALLOW_UNAUTHENTICATED`;
//! docs/AUTH.md): the typed values. Their declarations are in `auth_table`, their reader in
//! `auth_read`.

use crate::settings_source::Secret;

/// Connector trust and protected mode.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `AUTH__ENABLED`: connectors must enroll and sign; operator routes need a principal.
    pub enabled: bool,
    /// `ALLOW_UNAUTHENTICATED`: serve without authentication on a non-loopback address.
    pub allow_unauthenticated: bool,
    /// Every valid enrollment token (from `AUTH__ENROLLMENT_TOKEN[S][_FILE]`).
    pub enrollment_tokens: Vec<Secret>,
    /// Seconds a signature's timestamp may differ from the clock.
    pub hmac_max_skew: u64,
    /// Seconds a replaced key still verifies inbound.
    pub rotation_grace_secs: u64,
    /// Keys older than this are replaced at the next signed registration; 0 = never.
    pub key_max_age_days: u64,
    /// Return the current key to unsigned same-identity registrations (original connectors).
    pub legacy_connectors: bool,
    /// Credential records without a registration for this long are deleted (not revoked ones).
    pub forget_after_days: u64,
    /// Live entries of the embedded backend's replay cache.
    pub nonce_cache_max: usize,
    /// Lifetime of an API token created without `--expires`.
    pub token_default_days: u64,
    /// `PUBLIC_URL`: where users reach the UI (Host and Origin checks).
    pub public_url: Option<url::Url>,
    /// `ALLOWED_HOSTS`: more `host[:port]` values for the Host check (`*` disables it).
    pub allowed_hosts: Vec<String>,
    /// Browser sessions, login limits, the audit trail and the first administrator.
    pub login: LoginSettings,
    /// `AUTH__STORE_KEY_FILE`: seals connector secrets at rest.
    pub store_key: Option<std::sync::Arc<crate::auth::seal::StoreKey>>,
    /// Single sign-on (`AUTH__OIDC__*`), when `AUTH__OIDC__ISSUER` is set.
    pub oidc: Option<super::oidc::OidcSettings>,
}

/// Sessions, login limits, audit retention and bootstrap (docs/AUTH.md, "Users and sessions").
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `AUTH__SESSION_IDLE_SECS`: a session unused this long ends.
    pub session_idle_secs: i64,
    /// `AUTH__SESSION_MAX_SECS`: a session ends this long after login, used or not.
    pub session_max_secs: i64,
    /// `AUTH__LOGIN_MAX_FAILURES`: consecutive failures that lock an account.
    pub max_failures: u32,
    /// `AUTH__LOGIN_IP_MAX_FAILURES`: failures from one address that block it.
    pub ip_max_failures: u32,
    /// `AUTH__LOGIN_WINDOW_SECS`: failures older than this are forgotten.
    pub window_secs: i64,
    /// `AUTH__LOCKOUT_SECS`: how long a lock lasts.
    pub lockout_secs: i64,
    /// `AUTH__AUDIT_RETAIN`: audit records kept at most.
    pub audit_retain: usize,
    /// `AUTH__AUDIT_RETAIN_DAYS`: older audit records are purged.
    pub audit_retain_days: u32,
    /// `AUTH__AUDIT_COALESCE_SECS`: repeated refusals within this window become one record.
    pub audit_coalesce_secs: u64,
    /// `AUTH__BOOTSTRAP_ADMIN_USERNAME` / `_PASSWORD[_FILE]`: created at start when no such user exists.
    pub bootstrap_admin: Option<(String, Secret)>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl AuthSettings {
    /// Seconds a key may live before the next signed registration replaces it (0 = never).
    pub fn key_max_age_secs(&self) -> u64 {
        self.key_max_age_days.saturating_mul(86_400)
    }
}
