//! A credential store that seals connector secrets on their way in and opens them on their way
//! out (docs/AUTH.md, "Secrets at rest"), in front of either engine.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::credentials::CredentialRecord;
use crate::auth::seal::{self, StoreKey};
use crate::backend::Cause;
use crate::backend::{CredentialStore, StoreError, StoreResult};
use crate::model::ConnectorUuid;

pub struct SealedCredentials {
    inner: Arc<dyn CredentialStore>,
    key: Option<Arc<StoreKey>>,
}

impl SealedCredentials {
    /// Without a key, records are written in clear and sealed ones refused on reading.
    pub fn new(inner: Arc<dyn CredentialStore>, key: Option<Arc<StoreKey>>) -> Self {
        Self { inner, key }
    }

    fn open(&self, rec: Option<CredentialRecord>) -> StoreResult<Option<CredentialRecord>> {
        let Some(mut r) = rec else { return Ok(None) };
        let key = self.key.as_deref();
        for s in [&mut r.hmac_secret, &mut r.prev_secret] {
            if let Some(v) = s.as_mut() {
                *v = seal::open(key, &r.uuid, v).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            }
        }
        Ok(Some(r))
    }
}

#[async_trait]
impl CredentialStore for SealedCredentials {
    async fn credential(&self, uuid: &ConnectorUuid) -> StoreResult<Option<CredentialRecord>> {
        self.open(self.inner.credential(uuid).await?)
    }

    async fn credential_by_key(&self, key_id: &str) -> StoreResult<Option<CredentialRecord>> {
        self.open(self.inner.credential_by_key(key_id).await?)
    }

    async fn put_credential(&self, rec: &CredentialRecord, read: Option<u64>) -> StoreResult<bool> {
        let Some(key) = &self.key else {
            return self.inner.put_credential(rec, read).await;
        };
        let mut sealed = rec.clone();
        let uuid = sealed.uuid.clone();
        for s in [&mut sealed.hmac_secret, &mut sealed.prev_secret] {
            if let Some(v) = s.as_mut()
                && !seal::is_sealed(v)
            {
                *v = key.seal(&uuid, v);
            }
        }
        self.inner.put_credential(&sealed, read).await
    }

    async fn delete_credential(&self, uuid: &ConnectorUuid) -> StoreResult<()> {
        self.inner.delete_credential(uuid).await
    }

    async fn credentials(&self) -> StoreResult<Vec<CredentialRecord>> {
        let mut out = Vec::new();
        for r in self.inner.credentials().await? {
            if let Some(r) = self.open(Some(r))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn first_use(&self, key_id: &str, nonce: &str, ttl_secs: u64) -> StoreResult<Option<bool>> {
        self.inner.first_use(key_id, nonce, ttl_secs).await
    }
}
