use sea_orm::EntityTrait;
use tollgate_identity::{OrganizationRole, StoreError};
use tollgate_kernel::{OrganizationId, UserId};
use tollgate_keys::ports::MembershipDirectory;

use crate::connect::SqlStore;
use crate::entities::membership;
use crate::errors::store_error;

impl MembershipDirectory for SqlStore {
    async fn role_in(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrganizationRole>, StoreError> {
        let found = membership::Entity::find_by_id((organization.as_uuid(), user.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(found.and_then(|m| OrganizationRole::parse(&m.role)))
    }
}
