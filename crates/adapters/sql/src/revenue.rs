//! Revenue entries: paid invoices and refunded charges, recorded with the Stripe event that
//! reports them (`subscriptions.rs` writes them in the event's transaction).

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryTrait, Set,
};
use tollgate_billing::{Payment, Revenue, RevenueLedger};
use tollgate_kernel::{OrganizationId, Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::entities::{revenue_entry, stripe_customer};
use crate::errors::store_error;
use crate::time::to_millis;

const INVOICE: &str = "invoice";
const REFUND: &str = "refund";

/// Records `payment` in `txn` against the organisation of its customer, or `fallback` when the
/// customer is not known here. An invoice is recorded once; a refund keeps its charge's largest
/// refunded total. Returns false when no organisation could be found.
pub(crate) async fn record_payment(
    txn: &DatabaseTransaction,
    payment: &Payment,
    fallback: Option<Uuid>,
) -> Result<bool, StoreError> {
    let (id, kind, customer, cents, currency, at) = match payment {
        Payment::InvoicePaid {
            invoice,
            customer,
            cents,
            currency,
            at,
        } => (invoice, INVOICE, customer, cents, currency, at),
        Payment::Refunded {
            charge,
            customer,
            cents,
            currency,
            at,
        } => (charge, REFUND, customer, cents, currency, at),
    };
    let known = stripe_customer::Entity::find()
        .filter(stripe_customer::Column::CustomerId.eq(customer.as_str()))
        .one(txn)
        .await
        .map_err(store_error)?
        .map(|row| row.organization_id);
    let Some(organization) = known.or(fallback) else {
        return Ok(false);
    };
    let backend = txn.get_database_backend();
    let mut conflict = OnConflict::column(revenue_entry::Column::Id);
    if kind == REFUND {
        let larger = match backend {
            DatabaseBackend::Postgres => "GREATEST",
            _ => "MAX",
        };
        conflict.value(
            revenue_entry::Column::AmountCents,
            Expr::cust(format!(
                "{larger}(revenue_entries.amount_cents, excluded.amount_cents)"
            )),
        );
    } else {
        conflict.do_nothing();
    }
    let insert = revenue_entry::Entity::insert(revenue_entry::ActiveModel {
        id: Set(id.clone()),
        organization_id: Set(organization),
        kind: Set(kind.to_owned()),
        month_start: Set(to_millis(Period::utc_month(*at).start())),
        amount_cents: Set(*cents),
        currency: Set(currency.clone()),
    })
    .on_conflict(conflict.to_owned())
    .into_query();
    txn.execute_raw(backend.build(&insert))
        .await
        .map_err(store_error)?;
    Ok(true)
}

impl RevenueLedger for SqlStore {
    async fn revenue(
        &self,
        organization: OrganizationId,
        month: Period,
    ) -> Result<Revenue, StoreError> {
        let rows = revenue_entry::Entity::find()
            .filter(revenue_entry::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(revenue_entry::Column::MonthStart.eq(to_millis(month.start())))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut revenue = Revenue::default();
        for row in rows {
            if row.kind == REFUND {
                revenue.refunded_cents += row.amount_cents;
            } else {
                revenue.paid_cents += row.amount_cents;
            }
        }
        Ok(revenue)
    }
}
