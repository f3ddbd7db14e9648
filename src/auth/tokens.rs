//! Operator roles and API tokens (docs/AUTH.md, "API tokens").
//!
//! A token is `dsx_` + 43 base64url characters (32 random bytes), shown once when it is created
//! and stored only as its SHA-256 digest, so a copy of the store reveals no usable token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Operator roles, ordered: a higher role may do everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A role name that is none of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, operator or admin")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// The prefix every API token starts with.
pub const TOKEN_PREFIX: &str = "dsx_";
const TOKEN_LEN: usize = 47;

/// A stored API token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The token's first 8 characters, to recognise it in a list.
    pub prefix: String,
    pub created_by: String,
    /// Epoch seconds.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// SHA-256 hex of the token.
    pub sha256: String,
}

impl ApiToken {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// SHA-256 hex of a presented token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a presented bearer value has the shape of one of our tokens.
pub fn looks_like_token(t: &str) -> bool {
    t.len() == TOKEN_LEN
        && t.starts_with(TOKEN_PREFIX)
        && t[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A token name: `[A-Za-z0-9._-]{1,64}`.
pub fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Creates a token: the secret to show once, and the record to store.
pub fn create(name: &str, role: Role, created_by: &str, now: i64, lifetime_secs: Option<u64>) -> (String, ApiToken) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let mut id = [0u8; 6];
    rand::rng().fill_bytes(&mut id);
    let rec = ApiToken {
        id: hex::encode(id),
        name: name.to_string(),
        role,
        prefix: token[..8].to_string(),
        created_by: created_by.to_string(),
        created_at: now,
        expires_at: lifetime_secs.map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))),
        last_used_at: None,
        sha256: digest(&token),
    };
    (token, rec)
}

/// A token lifetime that is not `<N>d`, `<N>h` or `never`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid lifetime {0:?}: expected <N>d, <N>h or never")]
pub struct InvalidLifetime(pub String);

/// `--expires`: `<N>d`, `<N>h` or `never` → seconds (`None` = never).
pub fn parse_lifetime(s: &str) -> Result<Option<u64>, InvalidLifetime> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let invalid = || InvalidLifetime(s.to_string());
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| invalid())?;
    match unit {
        "d" if n > 0 => Ok(Some(n * 86_400)),
        "h" if n > 0 => Ok(Some(n * 3600)),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape_and_are_stored_as_digests() {
        let (t, rec) = create("ci", Role::Viewer, "cli", 100, Some(3600));
        assert_eq!(t.len(), 47);
        assert!(looks_like_token(&t));
        assert_eq!(rec.prefix, &t[..8]);
        assert_eq!(rec.sha256, digest(&t));
        assert!(!serde_json::to_string(&rec).unwrap().contains(&t[4..]));
        assert!(!rec.expired(3699) && rec.expired(3700));
        assert!(!looks_like_token("dsx_short"));
    }

    #[test]
    fn lifetimes_and_roles_parse() {
        assert_eq!(parse_lifetime("30d"), Ok(Some(30 * 86_400)));
        assert_eq!(parse_lifetime("12h"), Ok(Some(12 * 3600)));
        assert_eq!(parse_lifetime("never"), Ok(None));
        assert!(parse_lifetime("0d").is_err() && parse_lifetime("5m").is_err());
        assert_eq!("Operator".parse::<Role>(), Ok(Role::Operator));
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert!(valid_name("nightly-ci.v2") && !valid_name("bad name"));
    }
}
