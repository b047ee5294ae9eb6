//! Organisations and the operator's administration as the HTTP layer sees them.

use async_trait::async_trait;
use tollgate_identity::Principal;
use tollgate_identity::ports::AccountRepository;
use tollgate_kernel::{Clock, OrganizationId};

/// The operator's administration of organisations as the HTTP layer sees it.
#[async_trait]
pub trait AdministrationApi: Send + Sync {
    async fn suspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError>;
    async fn unsuspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError>;
    async fn audit(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<tollgate_identity::AuditEntry>, tollgate_identity::AdministrationError>;
}

#[async_trait]
impl<O, C> AdministrationApi for tollgate_identity::Administration<O, C>
where
    O: tollgate_identity::OrganizationAdmin,
    C: Clock,
{
    async fn suspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::suspend(self, principal, organization).await
    }

    async fn unsuspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::unsuspend(self, principal, organization).await
    }

    async fn audit(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<tollgate_identity::AuditEntry>, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::audit(self, principal, limit).await
    }
}

/// Organisations and their members as the HTTP layer sees them.
#[async_trait]
pub trait OrganizationsApi: Send + Sync {
    async fn create(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<tollgate_identity::Organization, tollgate_identity::OrganizationError>;
    async fn list(
        &self,
        principal: &Principal,
    ) -> Result<Vec<tollgate_identity::Membership>, tollgate_identity::OrganizationError>;
    async fn members(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_identity::Member>, tollgate_identity::OrganizationError>;
    async fn add_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: &str,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<tollgate_identity::Added, tollgate_identity::OrganizationError>;
    async fn remove_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn set_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn transfer_ownership(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn set_spending_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn set_key_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        key: tollgate_kernel::ApiKeyId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<
        (OrganizationId, tollgate_identity::OrganizationRole),
        tollgate_identity::OrganizationError,
    >;
    async fn managed_scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<OrganizationId, tollgate_identity::OrganizationError>;
}

#[async_trait]
impl<O, A, C> OrganizationsApi for tollgate_identity::Organizations<O, A, C>
where
    O: tollgate_identity::OrganizationRepository,
    A: AccountRepository,
    C: Clock,
{
    async fn create(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<tollgate_identity::Organization, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::create(self, principal, name).await
    }

    async fn list(
        &self,
        principal: &Principal,
    ) -> Result<Vec<tollgate_identity::Membership>, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::list(self, principal).await
    }

    async fn members(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_identity::Member>, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::members(self, principal, organization).await
    }

    async fn add_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: &str,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<tollgate_identity::Added, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::add_member(self, principal, organization, email, role)
            .await
    }

    async fn remove_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::remove_member(self, principal, organization, user).await
    }

    async fn set_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::set_role(self, principal, organization, user, role).await
    }

    async fn transfer_ownership(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::transfer_ownership(self, principal, organization, user)
            .await
    }

    async fn set_spending_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::set_spending_cap(
            self,
            principal,
            organization,
            cap_micros,
        )
        .await
    }

    async fn set_key_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        key: tollgate_kernel::ApiKeyId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::set_key_cap(
            self,
            principal,
            organization,
            key,
            cap_micros,
        )
        .await
    }

    async fn scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<
        (OrganizationId, tollgate_identity::OrganizationRole),
        tollgate_identity::OrganizationError,
    > {
        tollgate_identity::Organizations::scope(self, principal, requested).await
    }

    async fn managed_scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<OrganizationId, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::managed_scope(self, principal, requested).await
    }
}
