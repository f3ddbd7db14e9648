//! Connector credential records and the registration rules (docs/AUTH.md, "Enrollment").
//!
//! One record per connector uuid holds its key (and the previous key during a rotation grace
//! period) and its pinned identity: the url and name it enrolled with. Which registrations are
//! accepted, and what they change, is decided here as a pure function of the stored record and
//! the request, so both store engines and every API process apply the same rules.

use serde::{Deserialize, Serialize};

use super::hmac::{HmacKey, KeyLookup};
use crate::model::ConnectorUuid;

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    Enrolled,
    /// Unregistered by the connector itself; its key stays valid for the grace period.
    Released,
    /// Keys deleted by an admin; the next registration with the same identity re-enrolls.
    Reset,
    /// Refused for good until an admin forgets the record.
    Revoked,
}

impl CredentialState {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialState::Enrolled => "enrolled",
            CredentialState::Released => "released",
            CredentialState::Reset => "reset",
            CredentialState::Revoked => "revoked",
        }
    }
}

/// A connector's credentials and pinned identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub uuid: ConnectorUuid,
    pub state: CredentialState,
    pub hmac_key_id: Option<String>,
    pub hmac_secret: Option<String>,
    pub prev_key_id: Option<String>,
    pub prev_secret: Option<String>,
    /// Epoch seconds until which the previous key still verifies inbound.
    pub prev_valid_until: Option<i64>,
    pub url: String,
    pub name: String,
    pub enrolled_at: i64,
    pub key_issued_at: i64,
    pub last_registration_at: i64,
    pub rotate_pending: bool,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    /// Bumped by every write: a write names the version it read, so concurrent registrations
    /// in several API processes cannot overwrite each other.
    #[serde(default)]
    pub version: u64,
}

impl std::fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("uuid", &self.uuid)
            .field("state", &self.state)
            .field("hmac_key_id", &self.hmac_key_id)
            .field("prev_key_id", &self.prev_key_id)
            .field("url", &self.url)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl CredentialRecord {
    /// A new enrolled record with a fresh key.
    pub fn enroll(uuid: &ConnectorUuid, url: &str, name: &str, now: i64) -> (Self, HmacKey) {
        let key = HmacKey::generate();
        let rec = Self {
            uuid: uuid.clone(),
            state: CredentialState::Enrolled,
            hmac_key_id: Some(key.key_id.clone()),
            hmac_secret: Some(key.secret().to_string()),
            prev_key_id: None,
            prev_secret: None,
            prev_valid_until: None,
            url: url.to_string(),
            name: name.to_string(),
            enrolled_at: now,
            key_issued_at: now,
            last_registration_at: now,
            rotate_pending: false,
            revoked_at: None,
            revoked_by: None,
            version: 0,
        };
        (rec, key)
    }

    /// The current key.
    pub fn key(&self) -> Option<HmacKey> {
        Some(HmacKey::new(self.hmac_key_id.clone()?, self.hmac_secret.clone()?))
    }

    /// The previous key while its grace period lasts.
    pub fn prev_key(&self, now: i64) -> Option<HmacKey> {
        if self.prev_valid_until.is_some_and(|t| t > now) {
            Some(HmacKey::new(self.prev_key_id.clone()?, self.prev_secret.clone()?))
        } else {
            None
        }
    }

    /// Resolves one of this record's key ids for inbound verification.
    pub fn lookup(&self, key_id: &str, now: i64) -> KeyLookup {
        let mine = self.hmac_key_id.as_deref() == Some(key_id) || self.prev_key_id.as_deref() == Some(key_id);
        if !mine {
            return KeyLookup::Unknown;
        }
        if self.state == CredentialState::Revoked {
            return KeyLookup::Revoked;
        }
        let key = self
            .key()
            .filter(|k| k.key_id == key_id)
            .or_else(|| self.prev_key(now).filter(|k| k.key_id == key_id));
        match key {
            Some(k) => KeyLookup::Active {
                secret: k.secret().to_string(),
                owner: self.uuid.to_string(),
            },
            None => KeyLookup::Unknown,
        }
    }

    /// Whether `key_id` is this record's previous (grace) key.
    pub fn is_prev(&self, key_id: &str) -> bool {
        self.prev_key_id.as_deref() == Some(key_id) && self.hmac_key_id.as_deref() != Some(key_id)
    }

    /// Issues a new key; the current one becomes the previous, valid inbound for `grace_secs`.
    pub fn rotate(&mut self, now: i64, grace_secs: u64) -> HmacKey {
        let key = HmacKey::generate();
        self.retire_current(now, grace_secs);
        self.hmac_key_id = Some(key.key_id.clone());
        self.hmac_secret = Some(key.secret().to_string());
        self.key_issued_at = now;
        self.rotate_pending = false;
        key
    }

    /// Moves the current key to the previous slot for `grace_secs` (rotation, unregistration).
    fn retire_current(&mut self, now: i64, grace_secs: u64) {
        if let (Some(id), Some(secret)) = (self.hmac_key_id.take(), self.hmac_secret.take()) {
            self.prev_key_id = Some(id);
            self.prev_secret = Some(secret);
            self.prev_valid_until = Some(now.saturating_add(i64::try_from(grace_secs).unwrap_or(i64::MAX)));
        }
    }

    fn same_identity(&self, url: &str, name: &str) -> bool {
        self.url == url && self.name == name
    }

    /// The key ids this record makes resolvable (for the key-id index of a store).
    pub fn key_ids(&self) -> Vec<String> {
        self.hmac_key_id
            .iter()
            .chain(self.prev_key_id.iter())
            .cloned()
            .collect()
    }
}

/// Who signed a registration (after verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub uuid: ConnectorUuid,
    /// Signed with the previous (grace) key.
    pub with_prev: bool,
}

/// Rotation settings that the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub grace_secs: u64,
    /// Keys older than this are replaced at the next signed registration; 0 = never.
    pub key_max_age_secs: u64,
    /// Return the current key to an unsigned same-identity registration (original connectors
    /// that lost their in-memory key).
    pub legacy_connectors: bool,
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Refused {
        status: u16,
        detail: &'static str,
    },
    Accepted {
        /// The record to store (its `version` is the one read).
        record: Box<CredentialRecord>,
        /// Credentials for the answer.
        credentials: Option<HmacKey>,
        /// An unsigned refresh of an enrolled connector: only its presence is renewed.
        presence_only: bool,
        /// The signed connector moved (url or name changed).
        identity_changed: bool,
    },
}

/// Applies the registration rules (the table of docs/AUTH.md, "Enrollment") to `existing` for a
/// request about `uuid` with `url` and `name`, signed by `signer` (already verified) or not.
pub fn register(
    existing: Option<&CredentialRecord>,
    uuid: &ConnectorUuid,
    url: &str,
    name: &str,
    signer: Option<&Signer>,
    now: i64,
    rules: Rules,
) -> Registration {
    use CredentialState::*;
    let refuse = |status, detail| Registration::Refused { status, detail };
    if let Some(s) = signer
        && &s.uuid != uuid
    {
        return refuse(403, "identity_mismatch");
    }
    let Some(rec) = existing else {
        return match signer {
            // A signature resolves to an existing record; without one there is nothing to bind.
            Some(_) => refuse(403, "identity_mismatch"),
            None => {
                let (record, key) = CredentialRecord::enroll(uuid, url, name, now);
                Registration::Accepted {
                    record: Box::new(record),
                    credentials: Some(key),
                    presence_only: false,
                    identity_changed: false,
                }
            }
        };
    };
    let mut rec = rec.clone();
    match (rec.state, signer) {
        (Revoked, _) => refuse(403, "connector_revoked"),
        (Enrolled, Some(s)) => {
            let identity_changed = !rec.same_identity(url, name);
            rec.url = url.to_string();
            rec.name = name.to_string();
            rec.last_registration_at = now;
            let old = rules.key_max_age_secs > 0
                && now.saturating_sub(rec.key_issued_at) >= i64::try_from(rules.key_max_age_secs).unwrap_or(i64::MAX);
            let credentials = if rec.rotate_pending || old {
                Some(rec.rotate(now, rules.grace_secs))
            } else if s.with_prev {
                // The answer carrying the new key was lost: hand it over again.
                rec.key()
            } else {
                None
            };
            Registration::Accepted {
                record: Box::new(rec),
                credentials,
                presence_only: false,
                identity_changed,
            }
        }
        (Released, Some(s)) if s.with_prev => {
            rec.state = Enrolled;
            rec.url = url.to_string();
            rec.name = name.to_string();
            rec.last_registration_at = now;
            let key = rec.rotate(now, rules.grace_secs);
            Registration::Accepted {
                record: Box::new(rec),
                credentials: Some(key),
                presence_only: false,
                identity_changed: false,
            }
        }
        (Released | Reset, Some(_)) => refuse(401, "unknown_key_id"),
        (Released | Reset, None) if rec.same_identity(url, name) => {
            rec.state = Enrolled;
            rec.last_registration_at = now;
            let key = rec.rotate(now, rules.grace_secs);
            Registration::Accepted {
                record: Box::new(rec),
                credentials: Some(key),
                presence_only: false,
                identity_changed: false,
            }
        }
        (Released | Reset, None) => refuse(409, "connector_identity_conflict"),
        (Enrolled, None) if rec.same_identity(url, name) => {
            rec.last_registration_at = now;
            let credentials = if rules.legacy_connectors { rec.key() } else { None };
            Registration::Accepted {
                record: Box::new(rec),
                credentials,
                presence_only: true,
                identity_changed: false,
            }
        }
        (Enrolled, None) => refuse(401, "signature_required"),
    }
}

/// Unregistration signed by the connector itself: the record is released and its key stays
/// valid for the grace period (late `enqueue_done`, queued items).
pub fn release(rec: &CredentialRecord, now: i64, grace_secs: u64) -> CredentialRecord {
    let mut r = rec.clone();
    if r.state == CredentialState::Enrolled {
        r.state = CredentialState::Released;
        r.retire_current(now, grace_secs);
    }
    r
}

/// An admin's revocation: every key of the record is refused from now on.
pub fn revoke(rec: &CredentialRecord, now: i64, by: &str) -> CredentialRecord {
    let mut r = rec.clone();
    r.state = CredentialState::Revoked;
    r.revoked_at = Some(now);
    r.revoked_by = Some(by.to_string());
    r
}

/// An admin's reset: keys deleted at once; the same identity re-enrolls unsigned.
pub fn reset(rec: &CredentialRecord) -> CredentialRecord {
    let mut r = rec.clone();
    r.state = CredentialState::Reset;
    r.hmac_key_id = None;
    r.hmac_secret = None;
    r.prev_key_id = None;
    r.prev_secret = None;
    r.prev_valid_until = None;
    r.rotate_pending = false;
    r
}

/// An admin's rotation request, delivered at the next signed registration.
pub fn request_rotation(rec: &CredentialRecord) -> CredentialRecord {
    let mut r = rec.clone();
    r.rotate_pending = true;
    r
}

/// Whether `given` equals one of the valid enrollment tokens, compared as SHA-256 digests in
/// constant time against every token (no early exit, no length leak).
pub fn enrollment_token_valid(given: &[u8], valid: &[&str]) -> bool {
    use sha2::{Digest, Sha256};
    let g = Sha256::digest(given);
    valid.iter().fold(false, |found, t| {
        let d = Sha256::digest(t.as_bytes());
        let same = g.iter().zip(d.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        found | same
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u() -> ConnectorUuid {
        ConnectorUuid::parse("3f0c2b2e-1111-4222-8333-444455556666").unwrap()
    }
    const RULES: Rules = Rules {
        grace_secs: 300,
        key_max_age_secs: 30 * 86_400,
        legacy_connectors: false,
    };

    fn enrolled() -> (CredentialRecord, HmacKey) {
        CredentialRecord::enroll(&u(), "http://c:1/fs", "fs", 1000)
    }

    fn accepted(r: Registration) -> (CredentialRecord, Option<HmacKey>, bool) {
        match r {
            Registration::Accepted {
                record,
                credentials,
                presence_only,
                ..
            } => (*record, credentials, presence_only),
            other => panic!("refused: {other:?}"),
        }
    }

    fn signed(with_prev: bool) -> Signer {
        Signer { uuid: u(), with_prev }
    }

    #[test]
    fn r1_a_new_uuid_enrolls_with_a_key() {
        let (rec, key, presence) = accepted(register(None, &u(), "http://c:1/fs", "fs", None, 5, RULES));
        assert_eq!(rec.state, CredentialState::Enrolled);
        assert_eq!(rec.key(), key);
        assert!(!presence);
    }

    #[test]
    fn r7_r8_unsigned_refreshes_keep_the_identity() {
        let (rec, _) = enrolled();
        let (_, creds, presence) = accepted(register(Some(&rec), &u(), "http://c:1/fs", "fs", None, 2000, RULES));
        assert!(creds.is_none() && presence, "R7: presence only, no key");
        let legacy = Rules {
            legacy_connectors: true,
            ..RULES
        };
        let (_, creds, _) = accepted(register(Some(&rec), &u(), "http://c:1/fs", "fs", None, 2000, legacy));
        assert_eq!(creds, rec.key(), "legacy: the current key");
        assert_eq!(
            register(Some(&rec), &u(), "http://evil:1/fs", "fs", None, 2000, RULES),
            Registration::Refused {
                status: 401,
                detail: "signature_required"
            }
        );
    }

    #[test]
    fn r3_signed_refresh_may_move_and_rotates_when_due() {
        let (rec, key) = enrolled();
        match register(
            Some(&rec),
            &u(),
            "http://new:1/fs",
            "fs",
            Some(&signed(false)),
            2000,
            RULES,
        ) {
            Registration::Accepted {
                record,
                credentials,
                identity_changed,
                ..
            } => {
                assert_eq!(record.url, "http://new:1/fs");
                assert!(identity_changed && credentials.is_none());
            }
            other => panic!("{other:?}"),
        }
        let pending = request_rotation(&rec);
        let (after, creds, _) = accepted(register(
            Some(&pending),
            &u(),
            &rec.url,
            "fs",
            Some(&signed(false)),
            2000,
            RULES,
        ));
        let new = creds.expect("a new key");
        assert_ne!(new.key_id, key.key_id);
        assert_eq!(
            after.prev_key(2000),
            Some(key.clone()),
            "the old key verifies during the grace"
        );
        assert_eq!(after.prev_key(2300), None);
        assert!(matches!(after.lookup(&key.key_id, 2100), KeyLookup::Active { .. }));
        assert_eq!(after.lookup(&key.key_id, 2301), KeyLookup::Unknown);
        // A registration signed with the grace key gets the current key again.
        let (_, again, _) = accepted(register(
            Some(&after),
            &u(),
            &rec.url,
            "fs",
            Some(&signed(true)),
            2001,
            RULES,
        ));
        assert_eq!(again, Some(new));
        // An old key is replaced at the next signed registration.
        let old_now = 1000 + 30 * 86_400;
        let (_, creds, _) = accepted(register(
            Some(&rec),
            &u(),
            &rec.url,
            "fs",
            Some(&signed(false)),
            old_now,
            RULES,
        ));
        assert!(creds.is_some());
    }

    #[test]
    fn r4_r5_r6_released_and_reset_records() {
        let (rec, key) = enrolled();
        let released = release(&rec, 2000, 300);
        assert_eq!(released.state, CredentialState::Released);
        assert!(released.is_prev(&key.key_id));
        let (back, creds, _) = accepted(register(
            Some(&released),
            &u(),
            "http://x:1/fs",
            "fs",
            Some(&signed(true)),
            2100,
            RULES,
        ));
        assert_eq!(back.state, CredentialState::Enrolled);
        assert!(creds.is_some(), "R4");
        let (_, creds, _) = accepted(register(Some(&released), &u(), &rec.url, "fs", None, 2100, RULES));
        assert!(creds.is_some(), "R5");
        assert_eq!(
            register(Some(&released), &u(), "http://evil:1/fs", "fs", None, 2100, RULES),
            Registration::Refused {
                status: 409,
                detail: "connector_identity_conflict"
            },
            "R6"
        );
        let was_reset = reset(&rec);
        assert_eq!(was_reset.lookup(&key.key_id, 2000), KeyLookup::Unknown);
        let (_, creds, _) = accepted(register(Some(&was_reset), &u(), &rec.url, "fs", None, 2100, RULES));
        assert!(creds.is_some(), "reset → re-enrolls");
    }

    #[test]
    fn r2_revoked_records_refuse_everything() {
        let (rec, key) = enrolled();
        let r = revoke(&rec, 2000, "admin");
        assert_eq!(r.lookup(&key.key_id, 2000), KeyLookup::Revoked);
        assert_eq!(
            register(Some(&r), &u(), &rec.url, "fs", None, 2001, RULES),
            Registration::Refused {
                status: 403,
                detail: "connector_revoked"
            }
        );
    }

    #[test]
    fn a_signature_binds_the_uuid() {
        let (rec, _) = enrolled();
        let other = Signer {
            uuid: ConnectorUuid::parse("0a0a0a0a-1111-4222-8333-444455556666").unwrap(),
            with_prev: false,
        };
        assert_eq!(
            register(Some(&rec), &u(), &rec.url, "fs", Some(&other), 2000, RULES),
            Registration::Refused {
                status: 403,
                detail: "identity_mismatch"
            }
        );
    }

    #[test]
    fn enrollment_tokens_match_exactly() {
        let valid = ["token-one-0000000000", "token-two-0000000000"];
        assert!(enrollment_token_valid(b"token-two-0000000000", &valid));
        assert!(!enrollment_token_valid(b"token-two-000000000", &valid));
        assert!(!enrollment_token_valid(b"dev-enroll", &valid));
        assert!(!enrollment_token_valid(b"", &[]));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let (rec, key) = enrolled();
        assert!(!format!("{rec:?}").contains(key.secret()));
    }
}
