//! Sealing connector secrets at rest (docs/AUTH.md, "Secrets at rest"): with
//! `DSXCONNECT_AUTH__STORE_KEY_FILE`, a connector's HMAC secrets are stored as
//! `enc:v1:<base64(12-byte nonce ‖ AES-256-GCM ciphertext ‖ tag)>` with the connector's uuid as
//! associated data, so a copy of the database or of Redis alone yields no usable key, and a sealed
//! secret moved to another record does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::model::ConnectorUuid;

const PREFIX: &str = "enc:v1:";

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealed secret is stored but no store key is configured (DSXCONNECT_AUTH__STORE_KEY_FILE)")]
    NoKey,
    #[error("a sealed secret does not open with the configured store key")]
    Corrupt,
}

/// The store key: 32 bytes.
pub struct StoreKey(LessSafeKey);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(***)")
    }
}

/// Why a store key file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreKeyError {
    #[error("the store key must be 32 bytes or their base64")]
    Encoding,
    #[error("the store key must be 32 bytes, found {0}")]
    Length(usize),
    #[error("the store key is not a valid AES-256 key")]
    Invalid,
}

impl StoreKey {
    /// From a key file's content: 32 raw bytes, or their base64 (standard, padded or not).
    pub fn from_file_content(bytes: &[u8]) -> Result<Self, StoreKeyError> {
        let trimmed: &[u8] = match bytes.strip_suffix(b"\n") {
            Some(b) if b.len() != 32 => b.strip_suffix(b"\r").unwrap_or(b),
            _ => bytes,
        };
        let raw = if trimmed.len() == 32 {
            trimmed.to_vec()
        } else {
            let text = std::str::from_utf8(trimmed).map_err(|_| StoreKeyError::Encoding)?;
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text.trim().trim_end_matches('='))
                .map_err(|_| StoreKeyError::Encoding)?
        };
        if raw.len() != 32 {
            return Err(StoreKeyError::Length(raw.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| StoreKeyError::Invalid)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Seals `secret` for the record of `uuid`.
    pub fn seal(&self, uuid: &ConnectorUuid, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = secret.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(uuid.as_str().as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing of a short secret");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The secret of a stored value: sealed ones opened with `key`, others as they are.
pub fn open(key: Option<&StoreKey>, uuid: &ConnectorUuid, stored: &str) -> Result<String, SealError> {
    let Some(b64) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let key = key.ok_or(SealError::NoKey)?;
    let raw = STANDARD.decode(b64).map_err(|_| SealError::Corrupt)?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(SealError::Corrupt);
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
    let mut data = rest.to_vec();
    let plain = key
        .0
        .open_in_place(nonce, Aad::from(uuid.as_str().as_bytes()), &mut data)
        .map_err(|_| SealError::Corrupt)?;
    String::from_utf8(plain.to_vec()).map_err(|_| SealError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(last: u8) -> ConnectorUuid {
        ConnectorUuid::parse(&format!("3f0c2b2e-1111-4222-8333-4444555566{last:02x}")).unwrap()
    }

    fn key() -> StoreKey {
        StoreKey::from_file_content(&[7u8; 32]).unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_for_their_record_and_key() {
        let k = key();
        let a = uuid(0xa);
        let s = k.seal(&a, "c2VjcmV0");
        assert!(s.starts_with("enc:v1:") && !s.contains("c2VjcmV0"), "{s}");
        assert_ne!(s, k.seal(&a, "c2VjcmV0"), "a fresh nonce each time");
        assert_eq!(open(Some(&k), &a, &s).unwrap(), "c2VjcmV0");
        assert_eq!(
            open(Some(&k), &uuid(0xb), &s),
            Err(SealError::Corrupt),
            "bound to the uuid"
        );
        let other = StoreKey::from_file_content(&[8u8; 32]).unwrap();
        assert_eq!(open(Some(&other), &a, &s), Err(SealError::Corrupt));
        assert_eq!(open(None, &a, &s), Err(SealError::NoKey));
        assert_eq!(open(None, &a, "plain").unwrap(), "plain", "clear values stay readable");
        let mut flipped = s.clone();
        flipped.pop();
        flipped.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(open(Some(&k), &a, &flipped).is_err());
    }

    #[test]
    fn key_files_hold_32_bytes_raw_or_in_base64() {
        assert!(StoreKey::from_file_content(&[1u8; 32]).is_ok());
        let b64 = format!("{}\n", STANDARD.encode([2u8; 32]));
        assert!(StoreKey::from_file_content(b64.as_bytes()).is_ok());
        assert!(StoreKey::from_file_content(b"too short").is_err());
        assert!(StoreKey::from_file_content(STANDARD.encode([2u8; 16]).as_bytes()).is_err());
        assert_eq!(format!("{:?}", key()), "StoreKey(***)");
    }
}
