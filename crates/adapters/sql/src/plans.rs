use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tollgate_identity::StoreError;
use tollgate_kernel::{OrganizationId, PlanId};
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory};

use crate::connect::SqlStore;
use crate::entities::organization;
use crate::errors::store_error;
use crate::subscription_changes::{PlanState, plan_state, record_change};

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
                spending_cap: org.spending_cap_micros.map(tollgate_kernel::Micros::new),
            }))
    }

    async fn set_plan(
        &self,
        organization: OrganizationId,
        plan: PlanId,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let Some(before) = plan_state(&txn, organization.as_uuid()).await? else {
            return Ok(false);
        };
        organization::Entity::update_many()
            .col_expr(organization::Column::Plan, Expr::value(plan.as_str()))
            .filter(organization::Column::Id.eq(organization.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let after = PlanState {
            plan: plan.as_str().to_owned(),
            ..before.clone()
        };
        record_change(&txn, organization.as_uuid(), &before, &after, "operator").await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }
}
