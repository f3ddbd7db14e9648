//! Local users (docs/AUTH.md, "Users"): names, password rules and Argon2id hashes.
//!
//! Hashes are PHC strings with the parameters inside, so raising the cost later only needs a
//! re-hash at the next successful login ([`Verified::needs_rehash`]). A login for an unknown
//! name is checked against a dummy hash of the same cost, so timing does not reveal which names
//! exist.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::tokens::Role;

/// Argon2id memory cost in KiB (OWASP's second recommended set: 19 MiB, 2 passes).
pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;
const HASH_LEN: usize = 32;
const SALT_LEN: usize = 16;

pub const PASSWORD_MIN_BYTES: usize = 12;
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// A stored user: the hash, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub password_hash: String,
    /// Epoch seconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub password_changed_at: i64,
}

/// Why a user name or password is refused (shown to whoever typed it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRule {
    #[error("username must be 1-64 characters: a letter or digit, then letters, digits, '.', '_', '@' or '-'")]
    Username,
    #[error("password must have at least {} bytes", PASSWORD_MIN_BYTES)]
    PasswordTooShort,
    #[error("password must have at most {} bytes", PASSWORD_MAX_BYTES)]
    PasswordTooLong,
}

/// Lower-cases a name and checks `^[a-z0-9][a-z0-9._@-]{0,63}$`.
pub fn normalise_username(name: &str) -> Result<String, CredentialRule> {
    let n = name.trim().to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b));
    if ok { Ok(n) } else { Err(CredentialRule::Username) }
}

/// Checks the length rule (12–1024 bytes).
pub fn check_password(pw: &str) -> Result<(), CredentialRule> {
    if pw.len() < PASSWORD_MIN_BYTES {
        Err(CredentialRule::PasswordTooShort)
    } else if pw.len() > PASSWORD_MAX_BYTES {
        Err(CredentialRule::PasswordTooLong)
    } else {
        Ok(())
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(HASH_LEN)).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of a new Argon2id hash of `pw` with a fresh 16-byte salt.
pub fn hash_password(pw: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    hasher()
        .hash_password(pw.as_bytes(), &salt)
        .expect("hashing with valid parameters")
        .to_string()
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The hash uses weaker parameters (or another algorithm) than today's: re-hash it.
    pub needs_rehash: bool,
}

/// Checks `pw` against a stored PHC string (any Argon2 variant the string names).
pub fn verify_password(stored: &str, pw: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: true,
        };
    };
    let ok = Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m").is_some_and(|m| m >= ARGON2_M_KIB)
        && parsed.params.get_decimal("t").is_some_and(|t| t >= ARGON2_T);
    Verified {
        ok,
        needs_rehash: !current,
    }
}

/// Spends the time of one verification for a name that does not exist, and fails.
pub fn verify_unknown(pw: &str) -> Verified {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("dsx-connect dummy password for timing"));
    verify_password(dummy, pw);
    Verified {
        ok: false,
        needs_rehash: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_checked() {
        assert_eq!(normalise_username("Alice").unwrap(), "alice");
        assert_eq!(normalise_username("ops.team@corp-1").unwrap(), "ops.team@corp-1");
        for bad in ["", ".alice", "al ice", "al/ice", &"a".repeat(65), "ålice"] {
            assert!(normalise_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_a_length_rule() {
        assert!(check_password("short").is_err());
        assert!(check_password("twelve bytes").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn hashes_are_argon2id_with_the_documented_cost() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(
            verify_password(&h, "correct horse battery"),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!verify_password(&h, "correct horse batterx").ok);
        assert!(!verify_unknown("correct horse battery").ok);
    }

    #[test]
    fn weaker_hashes_verify_and_ask_for_a_rehash() {
        let params = Params::new(4096, 1, 1, Some(32)).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse battery", &SaltString::encode_b64(&[7u8; 16]).unwrap())
            .unwrap()
            .to_string();
        let v = verify_password(&weak, "correct horse battery");
        assert!(v.ok && v.needs_rehash);
        assert!(!verify_password("not a phc string", "x").ok);
    }
}
