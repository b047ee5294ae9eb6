//! Subscriptions and handled Stripe events. Marking an event handled, recording the
//! subscription and setting the organisation's plan are one transaction: a crash applies an
//! event fully or not at all, and of concurrent deliveries of one event exactly one inserts the
//! mark and applies it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, Set,
};
use tollgate_billing::{
    Payment, Saved, Subscription, SubscriptionSnapshot, SubscriptionStatus, SubscriptionStore,
};
use tollgate_kernel::{OrganizationId, StoreError};

use crate::connect::SqlStore;
use crate::entities::{organization, stripe_customer, stripe_event, subscription};
use crate::errors::store_error;
use crate::revenue::record_payment;
use crate::subscription_changes::{PlanState, plan_state, record_change};
use crate::time::{from_millis, to_millis};

fn record_of(row: subscription::Model) -> Result<Subscription, StoreError> {
    let status = SubscriptionStatus::parse(&row.status).ok_or_else(|| {
        StoreError::unavailable(format!("unknown subscription status {:?}", row.status))
    })?;
    Ok(Subscription {
        snapshot: SubscriptionSnapshot {
            id: row.subscription_id,
            customer: row.customer_id,
            organization: OrganizationId::from_uuid(row.organization_id),
            status,
            price: row.price,
            current_period_end: from_millis(row.current_period_end),
        },
        plan: row.plan,
        past_due_since: row.past_due_since.map(from_millis),
    })
}

fn row_of(record: &Subscription, fetched_at: DateTime<Utc>) -> subscription::ActiveModel {
    let snapshot = &record.snapshot;
    subscription::ActiveModel {
        organization_id: Set(snapshot.organization.as_uuid()),
        subscription_id: Set(snapshot.id.clone()),
        customer_id: Set(snapshot.customer.clone()),
        status: Set(snapshot.status.as_str().to_owned()),
        price: Set(snapshot.price.clone()),
        plan: Set(record.plan.clone()),
        current_period_end: Set(to_millis(snapshot.current_period_end)),
        past_due_since: Set(record.past_due_since.map(to_millis)),
        fetched_at: Set(to_millis(fetched_at)),
    }
}

impl SubscriptionStore for SqlStore {
    async fn handled(&self, event: &str) -> Result<bool, StoreError> {
        Ok(stripe_event::Entity::find_by_id(event.to_owned())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .is_some())
    }

    async fn subscription_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Subscription>, StoreError> {
        subscription::Entity::find_by_id(organization.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(record_of)
            .transpose()
    }

    async fn save(
        &self,
        event: &str,
        record: Option<(Subscription, String)>,
        fetched_at: DateTime<Utc>,
        payment: Option<Payment>,
    ) -> Result<Saved, StoreError> {
        let backend = self.backend();
        let txn = self.begin_write().await?;
        let mark = stripe_event::Entity::insert(stripe_event::ActiveModel {
            id: Set(event.to_owned()),
            handled_at: Set(to_millis(Utc::now())),
        })
        .on_conflict(
            OnConflict::column(stripe_event::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
        let marked = txn
            .execute_raw(backend.build(&mark))
            .await
            .map_err(store_error)?;
        if marked.rows_affected() == 0 {
            txn.rollback().await.map_err(store_error)?;
            return Ok(Saved::Duplicate);
        }
        let subscriber = record
            .as_ref()
            .map(|(record, _)| record.snapshot.organization.as_uuid());
        if let Some((record, plan)) = record {
            let organization = record.snapshot.organization.as_uuid();
            let mut current = subscription::Entity::find_by_id(organization);
            if backend == DatabaseBackend::Postgres {
                current = current.lock_exclusive();
            }
            let stored = current.one(&txn).await.map_err(store_error)?;
            let newer = stored
                .as_ref()
                .is_none_or(|row| row.fetched_at <= to_millis(fetched_at));
            if newer {
                let before = plan_state(&txn, organization).await?;
                let upsert = subscription::Entity::insert(row_of(&record, fetched_at))
                    .on_conflict(
                        OnConflict::column(subscription::Column::OrganizationId)
                            .update_columns([
                                subscription::Column::SubscriptionId,
                                subscription::Column::CustomerId,
                                subscription::Column::Status,
                                subscription::Column::Price,
                                subscription::Column::Plan,
                                subscription::Column::CurrentPeriodEnd,
                                subscription::Column::PastDueSince,
                                subscription::Column::FetchedAt,
                            ])
                            .to_owned(),
                    )
                    .into_query();
                txn.execute_raw(backend.build(&upsert))
                    .await
                    .map_err(store_error)?;
                // A subscription made outside our Checkout (in the dashboard) still gives the
                // organisation its customer, for the portal.
                let customer = stripe_customer::Entity::insert(stripe_customer::ActiveModel {
                    organization_id: Set(organization),
                    customer_id: Set(record.snapshot.customer.clone()),
                    created_at: Set(to_millis(Utc::now())),
                })
                .on_conflict(
                    OnConflict::column(stripe_customer::Column::OrganizationId)
                        .do_nothing()
                        .to_owned(),
                )
                .into_query();
                txn.execute_raw(backend.build(&customer))
                    .await
                    .map_err(store_error)?;
                organization::Entity::update_many()
                    .col_expr(organization::Column::Plan, Expr::value(plan.as_str()))
                    .filter(organization::Column::Id.eq(organization))
                    .exec(&txn)
                    .await
                    .map_err(store_error)?;
                if let Some(before) = before {
                    let after = PlanState {
                        plan,
                        status: Some(record.snapshot.status.as_str().to_owned()),
                    };
                    record_change(&txn, organization, &before, &after, "stripe").await?;
                }
            }
        }
        // After the subscription's customer is recorded: a first invoice finds its organisation.
        let mut saved = Saved::Recorded;
        if let Some(payment) = &payment
            && !record_payment(&txn, payment, subscriber).await?
        {
            tracing::warn!(
                event,
                "a Stripe payment names a customer of no organisation here; not recorded as revenue"
            );
            saved = Saved::RecordedWithoutPayment;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(saved)
    }

    async fn lapsing(&self) -> Result<Vec<(Subscription, String)>, StoreError> {
        let rows = subscription::Entity::find()
            .filter(subscription::Column::Status.is_in(["past_due", "canceled"]))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let plans: std::collections::HashMap<_, _> = organization::Entity::find()
            .filter(organization::Column::Id.is_in(rows.iter().map(|row| row.organization_id)))
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|org| (org.id, org.plan))
            .collect();
        let mut lapsing = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(plan) = plans.get(&row.organization_id).cloned() {
                lapsing.push((record_of(row)?, plan));
            }
        }
        Ok(lapsing)
    }

    async fn change_plan(
        &self,
        organization: OrganizationId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let changed = organization::Entity::update_many()
            .col_expr(organization::Column::Plan, Expr::value(to))
            .filter(organization::Column::Id.eq(organization.as_uuid()))
            .filter(organization::Column::Plan.eq(from))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if changed.rows_affected == 1
            && let Some(after) = plan_state(&txn, organization.as_uuid()).await?
        {
            let before = PlanState {
                plan: from.to_owned(),
                ..after.clone()
            };
            record_change(&txn, organization.as_uuid(), &before, &after, "system").await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(changed.rows_affected == 1)
    }
}
