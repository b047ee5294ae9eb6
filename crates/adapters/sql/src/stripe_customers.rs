//! Organisations' Stripe customers. The first one recorded stays: of two checkouts racing for
//! a new organisation, both end up with the same customer (Stripe's idempotency key makes the
//! two creations one customer anyway).

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, QueryTrait, Set};
use tollgate_billing::CustomerStore;
use tollgate_kernel::{OrganizationId, StoreError};

use crate::connect::SqlStore;
use crate::entities::stripe_customer;
use crate::errors::store_error;
use crate::time::to_millis;

impl CustomerStore for SqlStore {
    async fn customer_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<String>, StoreError> {
        Ok(stripe_customer::Entity::find_by_id(organization.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(|row| row.customer_id))
    }

    async fn keep_customer(
        &self,
        organization: OrganizationId,
        customer: &str,
    ) -> Result<String, StoreError> {
        let insert = stripe_customer::Entity::insert(stripe_customer::ActiveModel {
            organization_id: Set(organization.as_uuid()),
            customer_id: Set(customer.to_owned()),
            created_at: Set(to_millis(Utc::now())),
        })
        .on_conflict(
            OnConflict::column(stripe_customer::Column::OrganizationId)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
        self.db
            .execute_raw(self.backend().build(&insert))
            .await
            .map_err(store_error)?;
        self.customer_of(organization)
            .await?
            .ok_or_else(|| StoreError::unavailable("the customer just recorded is missing"))
    }
}
