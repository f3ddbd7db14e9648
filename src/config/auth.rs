//! Authentication settings of the core (`DSXCONNECT_AUTH__*`, `DSXCONNECT_ALLOW_UNAUTHENTICATED`;
//! docs/AUTH.md).

use serde_json::{Value, json};

use crate::settings_source::{Secret, Source};

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

    pub fn view(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "enrollment_tokens": if self.enrollment_tokens.is_empty() { Value::Null } else { json!("***") },
            "hmac_max_skew": self.hmac_max_skew,
            "rotation_grace_secs": self.rotation_grace_secs,
            "key_max_age_days": self.key_max_age_days,
            "legacy_connectors": self.legacy_connectors,
            "forget_after_days": self.forget_after_days,
            "nonce_cache_max": self.nonce_cache_max,
            "token_default_days": self.token_default_days,
            "public_url": self.public_url.as_ref().map(|u| u.to_string()),
            "allowed_hosts": self.allowed_hosts,
            "session_idle_secs": self.login.session_idle_secs,
            "session_max_secs": self.login.session_max_secs,
            "login_max_failures": self.login.max_failures,
            "login_ip_max_failures": self.login.ip_max_failures,
            "login_window_secs": self.login.window_secs,
            "lockout_secs": self.login.lockout_secs,
            "audit_retain": self.login.audit_retain,
            "audit_retain_days": self.login.audit_retain_days,
            "audit_coalesce_secs": self.login.audit_coalesce_secs,
            "bootstrap_admin": self.login.bootstrap_admin.as_ref().map(|(u, _)| json!({"username": u, "password": "***"})),
            "trusted_proxies": self.login.trusted_proxies.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "oidc": self.oidc.as_ref().map(super::oidc::OidcSettings::view),
            "store_key": self.store_key.as_ref().map(|_| "***"),
        })
    }
}

/// An enrollment token: 16–256 printable ASCII characters without space or comma.
fn valid_token(t: &str) -> bool {
    (16..=256).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

pub fn read(s: &mut Source, warnings: &mut Vec<String>) -> AuthSettings {
    let enabled = s.bool_or("AUTH__ENABLED", false);
    let allow_unauthenticated = s.bool_or("ALLOW_UNAUTHENTICATED", false);
    if allow_unauthenticated && !enabled {
        warnings
            .push("DSXCONNECT_ALLOW_UNAUTHENTICATED=true: anyone who can reach this address can control scans".into());
    }
    let mut tokens: Vec<String> = Vec::new();
    if let Some(t) = s.secret_or_file("AUTH__ENROLLMENT_TOKEN") {
        tokens.push(t.expose().trim().to_string());
    }
    if let Some(list) = s.secret("AUTH__ENROLLMENT_TOKENS") {
        tokens.extend(list.expose().split(',').map(|t| t.trim().to_string()));
    }
    if let Some(path) = s.string("AUTH__ENROLLMENT_TOKENS_FILE") {
        match std::fs::read_to_string(path.trim()) {
            Ok(text) => tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with('#'))
                    .map(str::to_string),
            ),
            Err(e) => s.error(
                "AUTH__ENROLLMENT_TOKENS_FILE",
                format!("cannot read the token file: {}", e.kind()),
            ),
        }
    }
    tokens.retain(|t| !t.is_empty());
    if tokens.iter().any(|t| !valid_token(t)) {
        s.error(
            "AUTH__ENROLLMENT_TOKEN",
            "every enrollment token must be 16-256 printable ASCII characters without spaces or commas",
        );
    }
    tokens.sort();
    tokens.dedup();
    let public_url = s.http_url_opt("PUBLIC_URL");
    if enabled && tokens.is_empty() {
        warnings.push("no enrollment token: external connectors cannot enroll".into());
    }
    for key in [
        "AUTH__JWT_SECRET",
        "AUTH__JWT_AUDIENCE",
        "AUTH__JWT_ISSUER",
        "AUTH__JWT_TTL",
    ] {
        s.ignored(key, "kept for compatibility with the original");
    }
    AuthSettings {
        enabled,
        allow_unauthenticated,
        enrollment_tokens: tokens.into_iter().map(Secret::new).collect(),
        hmac_max_skew: s.int_in("AUTH__HMAC_MAX_SKEW", 60, 5, 600) as u64,
        rotation_grace_secs: s.int_in("AUTH__ROTATION_GRACE_SECS", 300, 0, 86_400) as u64,
        key_max_age_days: s.int_in("AUTH__KEY_MAX_AGE_DAYS", 30, 0, 3650) as u64,
        legacy_connectors: s.bool_or("AUTH__LEGACY_CONNECTORS", false),
        forget_after_days: s.int_in("AUTH__FORGET_AFTER_DAYS", 30, 1, 3650) as u64,
        nonce_cache_max: s.int_in("AUTH__NONCE_CACHE_MAX", 500_000, 1000, 100_000_000) as usize,
        token_default_days: s.int_in("AUTH__TOKEN_DEFAULT_DAYS", 90, 1, 3650) as u64,
        public_url: public_url.clone(),
        allowed_hosts: s
            .string("ALLOWED_HOSTS")
            .map(|l| {
                l.split(',')
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        login: read_login(s),
        store_key: read_store_key(s),
        oidc: super::oidc::read(s, public_url.as_ref()),
    }
}

fn read_store_key(s: &mut Source) -> Option<std::sync::Arc<crate::auth::seal::StoreKey>> {
    let path = s.string("AUTH__STORE_KEY_FILE")?;
    match std::fs::read(path.trim()) {
        Ok(bytes) => match crate::auth::seal::StoreKey::from_file_content(&bytes) {
            Ok(k) => Some(std::sync::Arc::new(k)),
            Err(e) => {
                s.error("AUTH__STORE_KEY_FILE", e.to_string());
                None
            }
        },
        Err(e) => {
            s.error(
                "AUTH__STORE_KEY_FILE",
                format!("cannot read the key file: {}", e.kind()),
            );
            None
        }
    }
}

fn read_login(s: &mut Source) -> LoginSettings {
    let bootstrap_password = s.secret_or_file("AUTH__BOOTSTRAP_ADMIN_PASSWORD");
    let bootstrap_user = s.string_or("AUTH__BOOTSTRAP_ADMIN_USERNAME", "admin");
    let bootstrap_admin = match bootstrap_password {
        Some(pw) => match (
            crate::auth::users::normalise_username(&bootstrap_user),
            crate::auth::users::check_password(pw.expose()),
        ) {
            (Ok(u), Ok(())) => Some((u, pw)),
            (Err(e), _) | (_, Err(e)) => {
                s.error("AUTH__BOOTSTRAP_ADMIN_PASSWORD", e.to_string());
                None
            }
        },
        None => None,
    };
    let mut trusted_proxies = Vec::new();
    for part in s.string("TRUSTED_PROXIES").unwrap_or_default().split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        match p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => s.error("TRUSTED_PROXIES", format!("{p:?} is not an address or CIDR range")),
        }
    }
    let session_idle_secs = s.int_in("AUTH__SESSION_IDLE_SECS", 1800, 1, 7 * 86_400);
    LoginSettings {
        session_idle_secs,
        session_max_secs: s
            .int_in("AUTH__SESSION_MAX_SECS", 43_200, 1, 30 * 86_400)
            .max(session_idle_secs),
        max_failures: s.int_in("AUTH__LOGIN_MAX_FAILURES", 5, 1, 1000) as u32,
        ip_max_failures: s.int_in("AUTH__LOGIN_IP_MAX_FAILURES", 20, 1, 100_000) as u32,
        window_secs: s.int_in("AUTH__LOGIN_WINDOW_SECS", 900, 1, 86_400),
        lockout_secs: s.int_in("AUTH__LOCKOUT_SECS", 900, 1, 86_400),
        audit_retain: s.int_in("AUTH__AUDIT_RETAIN", 100_000, 100, 100_000_000) as usize,
        audit_retain_days: s.int_in("AUTH__AUDIT_RETAIN_DAYS", 90, 1, 3650) as u32,
        audit_coalesce_secs: s.int_in("AUTH__AUDIT_COALESCE_SECS", 60, 1, 3600) as u64,
        bootstrap_admin,
        trusted_proxies,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::Settings;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&env, None)
            .map(|l| l.settings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tokens_come_from_every_source_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one");
        std::fs::write(&one, "token-from-file-0001\n").unwrap();
        let many = dir.path().join("many");
        std::fs::write(&many, "# comment\n\ntoken-from-list-file-2\n").unwrap();
        let s = load(&[
            ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN_FILE", one.to_str().unwrap()),
            (
                "DSXCONNECT_AUTH__ENROLLMENT_TOKENS",
                "token-from-list-00001, token-from-list-00002",
            ),
            ("DSXCONNECT_AUTH__ENROLLMENT_TOKENS_FILE", many.to_str().unwrap()),
        ])
        .unwrap();
        let got: Vec<&str> = s.auth.enrollment_tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(
            got,
            [
                "token-from-file-0001",
                "token-from-list-00001",
                "token-from-list-00002",
                "token-from-list-file-2"
            ]
        );
        let e = load(&[("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", "short-15-chars!")]).unwrap_err();
        assert!(e.contains("16-256 printable ASCII"), "{e}");
        let e = load(&[
            ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", "a-long-enough-token"),
            ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN_FILE", one.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn skew_bounds_are_enforced() {
        assert!(load(&[("DSXCONNECT_AUTH__HMAC_MAX_SKEW", "4")]).is_err());
        assert!(load(&[("DSXCONNECT_AUTH__HMAC_MAX_SKEW", "601")]).is_err());
        assert_eq!(
            load(&[("DSXCONNECT_AUTH__HMAC_MAX_SKEW", "120")])
                .unwrap()
                .auth
                .hmac_max_skew,
            120
        );
    }

    #[test]
    fn every_core_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, v: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("{v}\n")).unwrap();
            p.display().to_string()
        };
        let redis = file("redis", "redis://:hunter2@127.0.0.1:6379/0");
        let token = file("token", "dsxa-token-1");
        let pw = file("pw", "scan-password-1");
        let key = file("key", "connector-key-1");
        let s = load(&[
            ("DSXCONNECT_REDIS_URL_FILE", redis.as_str()),
            ("DSXCONNECT_SCANNER__AUTH_TOKEN_FILE", token.as_str()),
            ("DSXCONNECT_SCANNER__SCAN_PASSWORD_FILE", pw.as_str()),
            ("DSXCONNECT_CONNECTORS__API_KEY_FILE", key.as_str()),
        ])
        .unwrap();
        assert_eq!(
            s.redis_url.as_ref().unwrap().expose(),
            "redis://:hunter2@127.0.0.1:6379/0"
        );
        assert_eq!(s.scanner.auth_token.as_ref().unwrap().expose(), "dsxa-token-1");
        assert_eq!(s.scanner.scan_password.as_ref().unwrap().expose(), "scan-password-1");
        assert_eq!(s.connectors.api_key.as_ref().unwrap().expose(), "connector-key-1");
        assert!(!s.view().to_string().contains("hunter2"));
    }

    #[test]
    fn config_view_hides_tokens() {
        let s = load(&[("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", "a-long-enough-token")]).unwrap();
        let v = s.view();
        assert_eq!(v["auth"]["enrollment_tokens"], "***");
        assert!(!v.to_string().contains("a-long-enough-token"));
    }
}
