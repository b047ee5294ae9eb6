use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tollgate_identity::{AuthMethod, OrganizationRole, Principal, StoreError};
use tollgate_kernel::{Clock, OrganizationId};

use crate::errors::{CreateKeyError, KeyAuthError, ListKeysError, ManageKeyError};
use crate::format::{ApiKeySecret, Environment, parse_key};
use crate::hashing::{KeyHash, KeyHasher};
use crate::last_used::LastUsedTracker;
use crate::models::{ApiKey, ApiKeyId, ApiKeyRecord, CreatedKey, KeyEnd, KeyName};
use crate::ports::{ApiKeyRepository, InsertKeyError, MembershipDirectory};

/// The tunable limits of API keys.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// Live keys an organisation may hold; one more is refused.
    pub max_keys_per_organization: u32,
    /// Longest grace period a rotation may give the old key.
    pub max_grace: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            max_keys_per_organization: 50,
            max_grace: Duration::days(30),
        }
    }
}

/// Creates, lists, revokes, rotates and verifies API keys.
pub struct ApiKeyService<R, M, C> {
    keys: R,
    members: M,
    clock: C,
    hasher: KeyHasher,
    last_used: Arc<LastUsedTracker>,
    policy: KeyPolicy,
}

impl<R, M, C> ApiKeyService<R, M, C>
where
    R: ApiKeyRepository,
    M: MembershipDirectory,
    C: Clock,
{
    /// The service over its ports. `hasher` holds the pepper; `last_used` is shared with the
    /// task that calls [`flush_last_used`](Self::flush_last_used).
    pub fn new(
        keys: R,
        members: M,
        clock: C,
        hasher: KeyHasher,
        last_used: Arc<LastUsedTracker>,
        policy: KeyPolicy,
    ) -> Self {
        Self {
            keys,
            members,
            clock,
            hasher,
            last_used,
            policy,
        }
    }

    /// Creates a key in `organization` (default: the caller's). The secret is returned only here.
    pub async fn create(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        name: &str,
        environment: Environment,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CreatedKey, CreateKeyError> {
        let name = KeyName::parse(name)?;
        let (organization, _) =
            self.membership(principal, organization)
                .await
                .map_err(|e| match e {
                    Membership::NotFound => CreateKeyError::OrganizationNotFound,
                    Membership::Store(e) => e.into(),
                })?;
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(CreateKeyError::ExpiryInPast);
        }
        let secret = ApiKeySecret::generate(environment);
        let key = ApiKey {
            id: ApiKeyId::new(),
            organization_id: organization,
            created_by: principal.user_id,
            name,
            environment,
            prefix: secret.display_prefix(),
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let cap = self.policy.max_keys_per_organization;
        match self
            .keys
            .insert_within_cap(key.clone(), self.hasher.hash(secret.expose()), cap, now)
            .await
        {
            Ok(()) => Ok(CreatedKey { key, secret }),
            Err(InsertKeyError::CapReached) => Err(CreateKeyError::CapReached { cap }),
            Err(InsertKeyError::Store(e)) => Err(e.into()),
        }
    }

    /// Every key of the organisation (members share them), without secrets.
    pub async fn list(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ApiKey>, ListKeysError> {
        let (organization, _) =
            self.membership(principal, organization)
                .await
                .map_err(|e| match e {
                    Membership::NotFound => ListKeysError::OrganizationNotFound,
                    Membership::Store(e) => e.into(),
                })?;
        Ok(self.keys.list(organization).await?)
    }

    /// Revokes one key; every other key keeps working.
    pub async fn revoke(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
    ) -> Result<(), ManageKeyError> {
        let key = self.manageable_key(principal, organization, id).await?;
        self.keys
            .revoke(key.organization_id, key.id, self.clock.now())
            .await?;
        Ok(())
    }

    /// Issues a replacement with the same name, environment and expiry; the old key keeps
    /// working for `grace` (revoked at once when zero).
    pub async fn rotate(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
        grace: Duration,
    ) -> Result<CreatedKey, ManageKeyError> {
        if grace < Duration::zero() || grace > self.policy.max_grace {
            return Err(ManageKeyError::InvalidGrace {
                max: self.policy.max_grace.num_seconds(),
            });
        }
        let old = self.manageable_key(principal, organization, id).await?;
        let now = self.clock.now();
        if !old.is_live(now) {
            return Err(ManageKeyError::NotLive);
        }
        let old_end = if grace.is_zero() {
            KeyEnd::RevokeAt(now)
        } else {
            let end = now + grace;
            KeyEnd::ExpireAt(old.expires_at.map_or(end, |at| at.min(end)))
        };
        let secret = ApiKeySecret::generate(old.environment);
        let replacement = ApiKey {
            id: ApiKeyId::new(),
            created_by: principal.user_id,
            prefix: secret.display_prefix(),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            ..old.clone()
        };
        let hash = self.hasher.hash(secret.expose());
        if !self
            .keys
            .rotate(old.id, old_end, replacement.clone(), hash, now)
            .await?
        {
            return Err(ManageKeyError::NotLive);
        }
        Ok(CreatedKey {
            key: replacement,
            secret,
        })
    }

    /// Verifies a presented key: shape and checksum first (no look-up), then the peppered hash,
    /// revocation, expiry and the organisation's suspension.
    ///
    /// A key not found under the current pepper is looked up under each previous one (a pepper
    /// rotation); one found there and accepted is re-hashed under the current pepper
    /// ([`ApiKeyRepository::rewrite_hash`]), so after one use it no longer needs the previous
    /// pepper. The re-hash is best effort: if it fails the key is still accepted, and the next
    /// use tries again.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, KeyAuthError> {
        parse_key(presented).map_err(|_| KeyAuthError::Malformed)?;
        let hash = self.hasher.hash(presented);
        let (record, stale) = match self.find_by_hash(&hash).await? {
            Some(record) => (record, None),
            None => self
                .find_under_previous_peppers(presented)
                .await?
                .map(|(record, old)| (record, Some(old)))
                .ok_or(KeyAuthError::Unknown)?,
        };
        let now = self.clock.now();
        if record.key.revoked_at.is_some_and(|at| at <= now) {
            return Err(KeyAuthError::Revoked);
        }
        if record.key.expires_at.is_some_and(|at| at <= now) {
            return Err(KeyAuthError::Expired);
        }
        if record.organization_suspended {
            return Err(KeyAuthError::Suspended);
        }
        if let Some(old) = stale {
            // Best effort (see above): an error here leaves the old hash, found again next time.
            let _ = self.keys.rewrite_hash(record.key.id, old, hash).await;
        }
        self.last_used.touch(record.key.id, now);
        Ok(Principal {
            user_id: record.key.created_by,
            organization_id: record.key.organization_id,
            role: record.creator_role,
            session_id: None,
            key_id: Some(record.key.id),
            method: AuthMethod::ApiKey,
        })
    }

    /// The key stored under `hash`, compared again in constant time.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .keys
            .find_by_hash(hash.clone())
            .await?
            .filter(|record| record.hash.matches(hash)))
    }

    /// The key stored under `presented`'s hash by one of the previous peppers, with that hash.
    async fn find_under_previous_peppers(
        &self,
        presented: &str,
    ) -> Result<Option<(ApiKeyRecord, KeyHash)>, StoreError> {
        for old in self.hasher.previous_hashes(presented) {
            if let Some(record) = self.find_by_hash(&old).await? {
                return Ok(Some((record, old)));
            }
        }
        Ok(None)
    }

    /// Writes the pending `last_used_at` updates; the application calls it periodically.
    pub async fn flush_last_used(&self) -> Result<usize, tollgate_identity::StoreError> {
        let batch = self.last_used.drain(self.clock.now());
        let written = batch.len();
        if written > 0 {
            self.keys.record_last_used(batch).await?;
        }
        Ok(written)
    }

    /// The organisation a request acts on and the caller's role in it. An API key is bound to
    /// its organisation; anyone else must be a member. Not a member reads as "not found", so
    /// that no one learns which organisations exist.
    async fn membership(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
    ) -> Result<(OrganizationId, OrganizationRole), Membership> {
        let organization = organization.unwrap_or(principal.organization_id);
        if principal.key_id.is_some() && organization != principal.organization_id {
            return Err(Membership::NotFound);
        }
        match self.members.role_in(organization, principal.user_id).await {
            Ok(Some(role)) => Ok((organization, role)),
            Ok(None) => Err(Membership::NotFound),
            Err(e) => Err(Membership::Store(e)),
        }
    }

    async fn manageable_key(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
    ) -> Result<ApiKey, ManageKeyError> {
        let (organization, role) = self
            .membership(principal, organization)
            .await
            .map_err(|e| match e {
                Membership::NotFound => ManageKeyError::NotFound,
                Membership::Store(e) => e.into(),
            })?;
        let key = self
            .keys
            .find(organization, id)
            .await?
            .ok_or(ManageKeyError::NotFound)?;
        let may_manage = matches!(role, OrganizationRole::Owner | OrganizationRole::Admin)
            || key.created_by == principal.user_id;
        if !may_manage {
            return Err(ManageKeyError::Forbidden);
        }
        Ok(key)
    }
}

enum Membership {
    NotFound,
    Store(tollgate_identity::StoreError),
}

#[cfg(test)]
mod tests;
