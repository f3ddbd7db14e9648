//! Browser sessions (docs/AUTH.md, "Sessions"): a random id in an HttpOnly cookie, stored only
//! as its SHA-256 digest with the user, role, how they signed in and a CSRF token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tokens::Role;

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Password,
    Oidc,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Oidc => "oidc",
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 hex of the cookie value.
    pub sha256: String,
    pub user: String,
    pub role: Role,
    pub method: Method,
    pub csrf: String,
    /// Epoch seconds.
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub idle_secs: i64,
    pub max_secs: i64,
}

impl Session {
    /// When the session ends if it is not used again (idle), capped by its absolute end.
    pub fn expires_at(&self, l: Lifetimes) -> i64 {
        (self.last_seen_at + l.idle_secs).min(self.created_at + l.max_secs)
    }

    pub fn expired(&self, now: i64, l: Lifetimes) -> bool {
        now >= self.expires_at(l)
    }
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 hex of a cookie value (or any other secret kept only as a digest).
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new session: the cookie value (shown once, to the browser) and the record to store.
pub fn create(user: &str, role: Role, method: Method, now: i64) -> (String, Session) {
    let id = random_secret();
    let rec = Session {
        sha256: digest(&id),
        user: user.to_string(),
        role,
        method,
        csrf: random_secret(),
        created_at: now,
        last_seen_at: now,
    };
    (id, rec)
}

/// Whether a cookie value has the shape of one of our session ids (43 base64url characters).
pub fn looks_like_id(v: &str) -> bool {
    v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_stored_as_digests() {
        let (a, ra) = create("alice", Role::Admin, Method::Password, 100);
        let (b, _) = create("alice", Role::Admin, Method::Password, 100);
        assert_ne!(a, b);
        assert!(looks_like_id(&a));
        assert_eq!(ra.sha256, digest(&a));
        assert_ne!(ra.sha256, a);
        assert_eq!(ra.csrf.len(), 43);
        assert!(!looks_like_id("short"));
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let l = Lifetimes {
            idle_secs: 10,
            max_secs: 100,
        };
        let (_, mut s) = create("alice", Role::Viewer, Method::Oidc, 0);
        assert!(!s.expired(9, l));
        assert!(s.expired(10, l));
        s.last_seen_at = 95;
        assert_eq!(s.expires_at(l), 100);
        assert!(s.expired(100, l));
    }
}
