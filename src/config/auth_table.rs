//! Declarations of the core's authentication settings (`DSXCONNECT_AUTH__*` and the Host,
//! proxy and protected-mode settings, docs/AUTH.md); read by `config::auth`, shown under
//! `auth` in `GET /config` (`core_table::VIEW` orders them).

use serde_json::{Value, json};

use super::core::Settings;
use crate::settings_source::setting::{Flag, HttpUrl, Int, SecretText, Section, Setting, Text};

type Auth<K> = Setting<K, Settings>;

pub const ALLOW_UNAUTHENTICATED: Auth<Flag> = Setting::new(
    "ALLOW_UNAUTHENTICATED",
    Flag(false),
    Section::Auth,
    "serve without authentication on a non-loopback `HOST` (protected mode, `docs/AUTH.md`); warns at start and shows in `GET /config`",
)
.shown("allow_unauthenticated", |s| json!(s.auth.allow_unauthenticated));
pub const AUTH__ENABLED: Auth<Flag> = Setting::new(
    "AUTH__ENABLED",
    Flag(false),
    Section::Auth,
    "connectors enroll and sign; operator routes need a session or an API token (`docs/AUTH.md`)",
)
.shown("auth.enabled", |s| json!(s.auth.enabled));
pub const AUTH__ENROLLMENT_TOKEN: Auth<SecretText> = Setting::new(
    "AUTH__ENROLLMENT_TOKEN",
    SecretText::FILE,
    Section::Auth,
    "an enrollment token, 16–256 printable characters without spaces or commas",
)
.shown("auth.enrollment_tokens", |s| {
    if s.auth.enrollment_tokens.is_empty() {
        Value::Null
    } else {
        json!("***")
    }
});
pub const AUTH__ENROLLMENT_TOKENS: Auth<SecretText> = Setting::new(
    "AUTH__ENROLLMENT_TOKENS",
    SecretText { file: false },
    Section::Auth,
    "more enrollment tokens, comma-separated",
);
pub const AUTH__ENROLLMENT_TOKENS_FILE: Auth<Text> = Setting::new(
    "AUTH__ENROLLMENT_TOKENS_FILE",
    Text(None),
    Section::Auth,
    "a file of enrollment tokens, one per line, `#` comments",
);
pub const AUTH__HMAC_MAX_SKEW: Auth<Int> = Setting::new(
    "AUTH__HMAC_MAX_SKEW",
    Int::with_default(60, 5, 600),
    Section::Auth,
    "seconds a DSX-HMAC timestamp may differ from the clock",
)
.shown("auth.hmac_max_skew", |s| json!(s.auth.hmac_max_skew));
pub const AUTH__ROTATION_GRACE_SECS: Auth<Int> = Setting::new(
    "AUTH__ROTATION_GRACE_SECS",
    Int::with_default(300, 0, 86_400),
    Section::Auth,
    "a replaced connector key still verifies inbound this many seconds",
)
.shown("auth.rotation_grace_secs", |s| json!(s.auth.rotation_grace_secs));
pub const AUTH__KEY_MAX_AGE_DAYS: Auth<Int> = Setting::new(
    "AUTH__KEY_MAX_AGE_DAYS",
    Int::with_default(30, 0, 3650),
    Section::Auth,
    "older keys are replaced at the next signed registration (0 = never)",
)
.shown("auth.key_max_age_days", |s| json!(s.auth.key_max_age_days));
pub const AUTH__LEGACY_CONNECTORS: Auth<Flag> = Setting::new(
    "AUTH__LEGACY_CONNECTORS",
    Flag(false),
    Section::Auth,
    "return the current key to unsigned same-identity registrations (original connectors that lost their key); lets any token holder who knows a uuid obtain that key",
)
.shown("auth.legacy_connectors", |s| json!(s.auth.legacy_connectors));
pub const AUTH__FORGET_AFTER_DAYS: Auth<Int> = Setting::new(
    "AUTH__FORGET_AFTER_DAYS",
    Int::with_default(30, 1, 3650),
    Section::Auth,
    "credential records of connectors that have not registered for this many days are deleted hourly (never revoked ones) and audited as `connector.forget` by `system`",
)
.shown("auth.forget_after_days", |s| json!(s.auth.forget_after_days));
pub const AUTH__NONCE_CACHE_MAX: Auth<Int> = Setting::new(
    "AUTH__NONCE_CACHE_MAX",
    Int::with_default(500_000, 1000, 100_000_000),
    Section::Auth,
    "live replay-cache entries of the embedded backend",
)
.shown("auth.nonce_cache_max", |s| json!(s.auth.nonce_cache_max));
pub const AUTH__TOKEN_DEFAULT_DAYS: Auth<Int> = Setting::new(
    "AUTH__TOKEN_DEFAULT_DAYS",
    Int::with_default(90, 1, 3650),
    Section::Auth,
    "lifetime in days of `dsx-connect token create` without `--expires`",
)
.shown("auth.token_default_days", |s| json!(s.auth.token_default_days));
pub const PUBLIC_URL: Auth<HttpUrl> = Setting::new(
    "PUBLIC_URL",
    HttpUrl,
    Section::Auth,
    "the absolute URL users reach the UI at; its host is allowed by the Host check and its origin by the CSRF check",
)
.shown("auth.public_url", |s| {
    json!(s.auth.public_url.as_ref().map(|u| u.to_string()))
});
pub const ALLOWED_HOSTS: Auth<Text> = Setting::new(
    "ALLOWED_HOSTS",
    Text(None),
    Section::Auth,
    "more `host[:port]` values for the Host check, comma-separated; `*` turns it off (docs/AUTH.md, \"Browsers\")",
)
.shown("auth.allowed_hosts", |s| json!(s.auth.allowed_hosts));
pub const AUTH__SESSION_IDLE_SECS: Auth<Int> = Setting::new(
    "AUTH__SESSION_IDLE_SECS",
    Int::with_default(1800, 1, 7 * 86_400),
    Section::Auth,
    "a browser session ends after this many seconds without a request",
)
.shown("auth.session_idle_secs", |s| json!(s.auth.login.session_idle_secs));
pub const AUTH__SESSION_MAX_SECS: Auth<Int> = Setting::new(
    "AUTH__SESSION_MAX_SECS",
    Int::with_default(43_200, 1, 30 * 86_400),
    Section::Auth,
    "a browser session ends this many seconds after login (at least `SESSION_IDLE_SECS`)",
)
.shown("auth.session_max_secs", |s| json!(s.auth.login.session_max_secs));
pub const AUTH__LOGIN_MAX_FAILURES: Auth<Int> = Setting::new(
    "AUTH__LOGIN_MAX_FAILURES",
    Int::with_default(5, 1, 1000),
    Section::Auth,
    "consecutive failed logins that lock a user name",
)
.shown("auth.login_max_failures", |s| json!(s.auth.login.max_failures));
pub const AUTH__LOGIN_IP_MAX_FAILURES: Auth<Int> = Setting::new(
    "AUTH__LOGIN_IP_MAX_FAILURES",
    Int::with_default(20, 1, 100_000),
    Section::Auth,
    "failed logins and invalid enrollment tokens that block an address",
)
.shown("auth.login_ip_max_failures", |s| json!(s.auth.login.ip_max_failures));
pub const AUTH__LOGIN_WINDOW_SECS: Auth<Int> = Setting::new(
    "AUTH__LOGIN_WINDOW_SECS",
    Int::with_default(900, 1, 86_400),
    Section::Auth,
    "failures older than this many seconds are forgotten",
)
.shown("auth.login_window_secs", |s| json!(s.auth.login.window_secs));
pub const AUTH__LOCKOUT_SECS: Auth<Int> = Setting::new(
    "AUTH__LOCKOUT_SECS",
    Int::with_default(900, 1, 86_400),
    Section::Auth,
    "how many seconds a lock lasts",
)
.shown("auth.lockout_secs", |s| json!(s.auth.login.lockout_secs));
pub const AUTH__AUDIT_RETAIN: Auth<Int> = Setting::new(
    "AUTH__AUDIT_RETAIN",
    Int::with_default(100_000, 100, 100_000_000),
    Section::Auth,
    "audit records kept at most",
)
.shown("auth.audit_retain", |s| json!(s.auth.login.audit_retain));
pub const AUTH__AUDIT_RETAIN_DAYS: Auth<Int> = Setting::new(
    "AUTH__AUDIT_RETAIN_DAYS",
    Int::with_default(90, 1, 3650),
    Section::Auth,
    "audit records older than this many days are purged",
)
.shown("auth.audit_retain_days", |s| json!(s.auth.login.audit_retain_days));
pub const AUTH__AUDIT_COALESCE_SECS: Auth<Int> = Setting::new(
    "AUTH__AUDIT_COALESCE_SECS",
    Int::with_default(60, 1, 3600),
    Section::Auth,
    "repeated refusals (same actor, action, detail) within this many seconds become one record with a `count`",
)
.shown("auth.audit_coalesce_secs", |s| json!(s.auth.login.audit_coalesce_secs));
pub const AUTH__BOOTSTRAP_ADMIN_USERNAME: Auth<Text> = Setting::new(
    "AUTH__BOOTSTRAP_ADMIN_USERNAME",
    Text(Some("admin")),
    Section::Auth,
    "the administrator created at start when `BOOTSTRAP_ADMIN_PASSWORD` is set and no such user exists",
);
pub const AUTH__BOOTSTRAP_ADMIN_PASSWORD: Auth<SecretText> = Setting::new(
    "AUTH__BOOTSTRAP_ADMIN_PASSWORD",
    SecretText::FILE,
    Section::Auth,
    "the bootstrap administrator's password",
)
.shown("auth.bootstrap_admin", |s| {
    json!(
        s.auth
            .login
            .bootstrap_admin
            .as_ref()
            .map(|(u, _)| json!({"username": u, "password": "***"}))
    )
});
pub const TRUSTED_PROXIES: Auth<Text> = Setting::new(
    "TRUSTED_PROXIES",
    Text(None),
    Section::Auth,
    "comma list of addresses and CIDR ranges; the client address comes from `X-Forwarded-For` only when the peer is one of them",
)
.shown("auth.trusted_proxies", |s| {
    json!(s.auth.login.trusted_proxies.iter().map(|n| n.to_string()).collect::<Vec<_>>())
});
pub const AUTH__STORE_KEY_FILE: Auth<Text> = Setting::new(
    "AUTH__STORE_KEY_FILE",
    Text(None),
    Section::Auth,
    "a file with 32 bytes (raw or base64): connector HMAC secrets are stored sealed (`enc:v1:…`, AES-256-GCM bound to the connector's uuid); without it they are stored in clear (a warning on Redis) — secret",
)
.shown("auth.store_key", |s| json!(s.auth.store_key.as_ref().map(|_| "***")));
