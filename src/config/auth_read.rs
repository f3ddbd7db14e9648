//! Reads the core's authentication settings through their declarations (`auth_table`).

use super::auth::{AuthSettings, LoginSettings};
use super::auth_table::*;
use crate::settings_source::{Secret, Source};

/// An enrollment token: 16–256 printable ASCII characters without space or comma.
fn valid_token(t: &str) -> bool {
    (16..=256).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

pub fn read(s: &mut Source, warnings: &mut Vec<String>) -> AuthSettings {
    let enabled = s.flag(&AUTH__ENABLED);
    let allow_unauthenticated = s.flag(&ALLOW_UNAUTHENTICATED);
    if allow_unauthenticated && !enabled {
        warnings
            .push("DSXCONNECT_ALLOW_UNAUTHENTICATED=true: anyone who can reach this address can control scans".into());
    }
    let mut tokens: Vec<String> = Vec::new();
    if let Some(t) = s.secret_of(&AUTH__ENROLLMENT_TOKEN) {
        tokens.push(t.expose().trim().to_string());
    }
    if let Some(list) = s.secret_of(&AUTH__ENROLLMENT_TOKENS) {
        tokens.extend(list.expose().split(',').map(|t| t.trim().to_string()));
    }
    if let Some(path) = s.text(&AUTH__ENROLLMENT_TOKENS_FILE) {
        match std::fs::read_to_string(path.trim()) {
            Ok(text) => tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with('#'))
                    .map(str::to_string),
            ),
            Err(e) => s.error(
                AUTH__ENROLLMENT_TOKENS_FILE.key,
                format!("cannot read the token file: {}", e.kind()),
            ),
        }
    }
    tokens.retain(|t| !t.is_empty());
    if tokens.iter().any(|t| !valid_token(t)) {
        s.error(
            AUTH__ENROLLMENT_TOKEN.key,
            "every enrollment token must be 16-256 printable ASCII characters without spaces or commas",
        );
    }
    tokens.sort();
    tokens.dedup();
    let public_url = s.http_url(&PUBLIC_URL);
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
        hmac_max_skew: s.int(&AUTH__HMAC_MAX_SKEW) as u64,
        rotation_grace_secs: s.int(&AUTH__ROTATION_GRACE_SECS) as u64,
        key_max_age_days: s.int(&AUTH__KEY_MAX_AGE_DAYS) as u64,
        legacy_connectors: s.flag(&AUTH__LEGACY_CONNECTORS),
        forget_after_days: s.int(&AUTH__FORGET_AFTER_DAYS) as u64,
        nonce_cache_max: s.int(&AUTH__NONCE_CACHE_MAX) as usize,
        token_default_days: s.int(&AUTH__TOKEN_DEFAULT_DAYS) as u64,
        public_url: public_url.clone(),
        allowed_hosts: s
            .text(&ALLOWED_HOSTS)
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
    let path = s.text(&AUTH__STORE_KEY_FILE)?;
    match std::fs::read(path.trim()) {
        Ok(bytes) => match crate::auth::seal::StoreKey::from_file_content(&bytes) {
            Ok(k) => Some(std::sync::Arc::new(k)),
            Err(e) => {
                s.error(AUTH__STORE_KEY_FILE.key, e.to_string());
                None
            }
        },
        Err(e) => {
            s.error(
                AUTH__STORE_KEY_FILE.key,
                format!("cannot read the key file: {}", e.kind()),
            );
            None
        }
    }
}

fn read_login(s: &mut Source) -> LoginSettings {
    let bootstrap_password = s.secret_of(&AUTH__BOOTSTRAP_ADMIN_PASSWORD);
    let bootstrap_user = s.text_or_default(&AUTH__BOOTSTRAP_ADMIN_USERNAME);
    let bootstrap_admin = match bootstrap_password {
        Some(pw) => match (
            crate::auth::users::normalise_username(&bootstrap_user),
            crate::auth::users::check_password(pw.expose()),
        ) {
            (Ok(u), Ok(())) => Some((u, pw)),
            (Err(e), _) | (_, Err(e)) => {
                s.error(AUTH__BOOTSTRAP_ADMIN_PASSWORD.key, e.to_string());
                None
            }
        },
        None => None,
    };
    let mut trusted_proxies = Vec::new();
    for part in s.text(&TRUSTED_PROXIES).unwrap_or_default().split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        match p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => s.error(TRUSTED_PROXIES.key, format!("{p:?} is not an address or CIDR range")),
        }
    }
    let session_idle_secs = s.int(&AUTH__SESSION_IDLE_SECS);
    LoginSettings {
        session_idle_secs,
        session_max_secs: s.int(&AUTH__SESSION_MAX_SECS).max(session_idle_secs),
        max_failures: s.int(&AUTH__LOGIN_MAX_FAILURES) as u32,
        ip_max_failures: s.int(&AUTH__LOGIN_IP_MAX_FAILURES) as u32,
        window_secs: s.int(&AUTH__LOGIN_WINDOW_SECS),
        lockout_secs: s.int(&AUTH__LOCKOUT_SECS),
        audit_retain: s.int(&AUTH__AUDIT_RETAIN) as usize,
        audit_retain_days: s.int(&AUTH__AUDIT_RETAIN_DAYS) as u32,
        audit_coalesce_secs: s.int(&AUTH__AUDIT_COALESCE_SECS) as u64,
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
