use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tollgate_identity::StoreError;
use tollgate_kernel::{OrganizationId, PlanId};
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory};

use crate::connect::SqlStore;
use crate::entities::organization;
use crate::errors::store_error;

impl PlanDirectory for SqlStore {
    async fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<OrganizationPlan>, StoreError> {
        Ok(organization::Entity::find_by_id(organization.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(|org| OrganizationPlan {
                plan: org.plan.into(),
                suspended: org.suspended_at.is_some(),
            }))
    }

    async fn set_plan(
        &self,
        organization: OrganizationId,
        plan: PlanId,
    ) -> Result<bool, StoreError> {
        let result = organization::Entity::update_many()
            .col_expr(organization::Column::Plan, Expr::value(plan.as_str()))
            .filter(organization::Column::Id.eq(organization.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }
}
