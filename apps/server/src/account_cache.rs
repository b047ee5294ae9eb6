//! A short-lived in-process cache of accounts (user + organisation) for `GET /api/v1/me` and the
//! refresh path, so that a profile read is not a database round trip on every request.
//!
//! Changes made through this instance invalidate the entry at once; changes made on another
//! instance show here within [`ACCOUNT_CACHE_TTL`].

use std::time::Duration;

use moka::sync::Cache;
use tollgate_identity::ports::{AccountRepository, CreateAccountError, InvitationRedemption};
use tollgate_identity::{
    Account, EmailAddress, NewAccount, PasswordHash, Role, StoreError, UserCredentials,
};
use tollgate_kernel::UserId;

pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(1);

pub struct CachedAccounts<R> {
    inner: R,
    accounts: Cache<UserId, Account>,
}

impl<R> CachedAccounts<R> {
    pub fn new(inner: R) -> Self {
        let accounts = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ACCOUNT_CACHE_TTL)
            .build();
        Self { inner, accounts }
    }
}

impl<R: AccountRepository> AccountRepository for CachedAccounts<R> {
    async fn create_account(
        &self,
        account: NewAccount,
        invitation: Option<InvitationRedemption>,
    ) -> Result<Account, CreateAccountError> {
        self.inner.create_account(account, invitation).await
    }

    async fn find_credentials(
        &self,
        email: EmailAddress,
    ) -> Result<Option<UserCredentials>, StoreError> {
        // Login must see the current password hash: never cached.
        self.inner.find_credentials(email).await
    }

    async fn find_account(&self, user: UserId) -> Result<Option<Account>, StoreError> {
        if let Some(account) = self.accounts.get(&user) {
            return Ok(Some(account));
        }
        let found = self.inner.find_account(user).await?;
        if let Some(account) = &found {
            self.accounts.insert(user, account.clone());
        }
        Ok(found)
    }

    async fn set_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> Result<bool, StoreError> {
        let result = self.inner.set_password_hash(user, hash).await;
        self.accounts.invalidate(&user);
        result
    }

    async fn set_role(&self, user: UserId, role: Role) -> Result<(), StoreError> {
        let result = self.inner.set_role(user, role).await;
        self.accounts.invalidate(&user);
        result
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.inner.count_admins().await
    }
}
