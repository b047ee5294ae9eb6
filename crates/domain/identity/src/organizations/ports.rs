//! The port of [`Organizations`](super::Organizations).

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{ApiKeyId, OrganizationId, UserId};

use super::{ChangeOutcome, Membership};
use crate::email::EmailAddress;
use crate::errors::StoreError;
use crate::models::{Organization, OrganizationRole};
use crate::secret::TokenHash;

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their e-mail address.
    pub email: EmailAddress,
    /// Their role.
    pub role: OrganizationRole,
    /// Since when.
    pub joined_at: DateTime<Utc>,
}

/// A change of an organisation's members, applied by storage in one transaction with the
/// organisation's row locked, so the rules about owners hold under concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// Add `user` as `role` (not to a personal organisation; not twice).
    Add {
        /// Who.
        user: UserId,
        /// As what.
        role: OrganizationRole,
    },
    /// Remove `user`; an owner only `by_owner` (or themselves), never the last one.
    Remove {
        /// Who.
        user: UserId,
        /// Whether the change is made by an owner (or by the user leaving).
        by_owner: bool,
    },
    /// Set `user`'s role; an owner's only `by_owner`, never leaving no owner.
    SetRole {
        /// Who.
        user: UserId,
        /// The new role.
        role: OrganizationRole,
        /// Whether the change is made by an owner.
        by_owner: bool,
    },
    /// `to` (a member) becomes owner and `from` admin.
    Transfer {
        /// The owner handing over.
        from: UserId,
        /// The member taking over.
        to: UserId,
    },
}

/// Organisations and their members.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OrganizationRepository: Send + Sync + 'static {
    /// Stores `organization` with `owner` as its owner, in one transaction.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn create_organization(
        &self,
        organization: Organization,
        owner: UserId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organisations `user` belongs to, with their role, personal one first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn organizations_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<Membership>, StoreError>> + Send;

    /// `user`'s role in `organization`, if a member.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn role_in(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<OrganizationRole>, StoreError>> + Send;

    /// The members of `organization`, owners first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn members_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Vec<Member>, StoreError>> + Send;

    /// Stores an invitation for `email` to join `organization` as `role` when they sign up
    /// with the token hashed as `token_hash`, audited as `invited_by`'s; `Personal` or
    /// `NoOrganization` when it cannot be joined.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing was stored.
    #[allow(clippy::too_many_arguments)]
    fn invite_to_organization(
        &self,
        organization: OrganizationId,
        email: EmailAddress,
        role: OrganizationRole,
        token_hash: TokenHash,
        invited_by: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ChangeOutcome, StoreError>> + Send;

    /// Sets (or, with `None`, lifts) the organisation's monthly spending cap in micro-dollars,
    /// recording `actor`'s change in the audit log in the same transaction; false when the
    /// organisation does not exist.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing changed.
    fn set_spending_cap(
        &self,
        organization: OrganizationId,
        cap_micros: Option<i64>,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets (or lifts) the monthly spending cap of the organisation's API key `key`, audited as
    /// `actor`'s; false when the organisation has no such key.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing changed.
    fn set_key_cap(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
        cap_micros: Option<i64>,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Applies `change`, made by `actor` at `at`, enforcing its rules in the transaction and
    /// recording it in the audit log there.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing changed.
    fn change_membership(
        &self,
        organization: OrganizationId,
        change: MembershipChange,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ChangeOutcome, StoreError>> + Send;
}
