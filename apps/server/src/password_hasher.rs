//! Runs argon2 on tokio's blocking pool: one hash takes tens of milliseconds of CPU, which would
//! otherwise stall every other request on the same executor thread.

use std::sync::Arc;

use tollgate_identity::ports::PasswordHasher;
use tollgate_identity::{Argon2Passwords, Password, PasswordHash, StoreError};

#[derive(Clone)]
pub struct BlockingArgon2 {
    inner: Arc<Argon2Passwords>,
}

impl BlockingArgon2 {
    pub fn new(memory_kib: u32) -> Self {
        Self {
            inner: Arc::new(Argon2Passwords::new(memory_kib, 2)),
        }
    }
}

impl PasswordHasher for BlockingArgon2 {
    async fn hash(&self, password: Password) -> Result<PasswordHash, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.hash(&password))
            .await
            .map_err(StoreError::unavailable)?
            .map_err(StoreError::unavailable)
    }

    async fn verify(&self, password: Password, hash: Option<PasswordHash>) -> bool {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => inner.verify(&password, &hash),
            None => {
                inner.verify_decoy(&password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}
