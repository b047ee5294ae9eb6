//! Batches of lease-backed usage events: one transaction inserts the batch (a multi-row insert
//! that skips events already recorded, so a retried batch adds nothing), adds what it inserted
//! to each lease's settled totals, and moves that from the budget's hold to its spending. The
//! rollups follow the inserted rows (on Postgres, one statement trigger per insert).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use tollgate_billing::{LeasedEvent, LeasedEventStore};
use tollgate_kernel::{Period, StoreError};
use tollgate_quotas::{LeaseStatus, LeaseTotals, settlement_effect};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::counter_rows::add_to_budget;
use crate::entities::{budget_period, quota_lease, usage_event};
use crate::errors::store_error;
use crate::lease_ledger::totals_of;
use crate::time::to_millis;
use crate::usage_ledger::event_model;

/// The most rows per insert statement: 13 parameters each, well under SQLite's 32,766 and
/// Postgres's 65,535 parameters per statement.
const MAX_ROWS_PER_STATEMENT: usize = 512;

/// Splits `events` into runs of power-of-two lengths (512, 256, …, 1). Every distinct row count
/// is a distinct statement that each connection prepares and caches (a 256-row insert is tens
/// of kilobytes of compiled statement on SQLite): batches of any size then share at most ten
/// statements, where one statement per batch size grew the resident set by megabytes per run.
/// A full batch of the default size (512) is one statement.
fn fixed_size_chunks(events: &[LeasedEvent]) -> impl Iterator<Item = &[LeasedEvent]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = 1 << rest.len().min(MAX_ROWS_PER_STATEMENT).ilog2();
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Inserts the events not recorded yet, returning the ids of those it inserted.
fn insert_events(events: &[LeasedEvent]) -> sea_orm::sea_query::InsertStatement {
    usage_event::Entity::insert_many(
        events
            .iter()
            .map(|leased| event_model(leased.event.clone())),
    )
    .on_conflict(
        OnConflict::column(usage_event::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .into_query()
    .returning_col(usage_event::Column::Id)
    .to_owned()
}

/// Locks the batch's lease rows and budget rows in the order every lease transaction takes
/// them — per organisation in id order, its leases, then its budget rows — before the event
/// insert touches the rollup rows, as a per-call settlement does (budget, then rollups). A
/// top-up or renewal of one of these leases running at the same time then waits rather than
/// deadlocks. (SQLite has one writer: no such race.)
async fn lock_in_lease_order(
    txn: &DatabaseTransaction,
    events: &[LeasedEvent],
) -> Result<(), StoreError> {
    let mut rows: BTreeMap<Uuid, (BTreeSet<Uuid>, BTreeSet<i64>)> = BTreeMap::new();
    for LeasedEvent { event, lease } in events {
        let org = rows.entry(event.organization.as_uuid()).or_default();
        org.0.insert(lease.as_uuid());
        org.1.insert(to_millis(Period::utc_month(event.at).start()));
    }
    for (org, (leases, months)) in rows {
        quota_lease::Entity::find()
            .select_only()
            .column(quota_lease::Column::Id)
            .filter(quota_lease::Column::Id.is_in(leases))
            .order_by_asc(quota_lease::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .all(txn)
            .await
            .map_err(store_error)?;
        for month in months {
            budget_period::Entity::find_by_id((org, month))
                .lock_exclusive()
                .one(txn)
                .await
                .map_err(store_error)?;
        }
    }
    Ok(())
}

impl LeasedEventStore for SqlStore {
    async fn record_leased(&self, events: Vec<LeasedEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        let txn = self.begin_write().await?;
        if backend == DatabaseBackend::Postgres {
            lock_in_lease_order(&txn, &events).await?;
        }
        let mut inserted: HashSet<Uuid> = HashSet::with_capacity(events.len());
        for chunk in fixed_size_chunks(&events) {
            let rows = txn
                .query_all_raw(backend.build(&insert_events(chunk)))
                .await
                .map_err(store_error)?;
            for row in rows {
                inserted.insert(row.try_get::<Uuid>("", "id").map_err(store_error)?);
            }
        }
        // Per organisation and lease, in that order (the lock order of every lease transaction).
        let mut per_lease: BTreeMap<(Uuid, Uuid), (i64, i64, i64)> = BTreeMap::new();
        for LeasedEvent { event, lease } in &events {
            if inserted.contains(&event.id) {
                let month = to_millis(Period::utc_month(event.at).start());
                let entry = per_lease
                    .entry((event.organization.as_uuid(), lease.as_uuid()))
                    .or_insert((0, 0, month));
                entry.0 += 1;
                entry.1 += event.cost.get();
            }
        }
        for ((org, lease), (units, cost, event_month)) in per_lease {
            let updated = quota_lease::Entity::update_many()
                .col_expr(
                    quota_lease::Column::UnitsSettled,
                    Expr::col(quota_lease::Column::UnitsSettled).add(units),
                )
                .col_expr(
                    quota_lease::Column::MicrosSettled,
                    Expr::col(quota_lease::Column::MicrosSettled).add(cost),
                )
                .filter(quota_lease::Column::Id.eq(lease))
                .exec_with_returning(&txn)
                .await
                .map_err(store_error)?;
            let Some(row) = updated.into_iter().next() else {
                // No such lease (a holder bug): charge the cost so that it is not lost.
                tracing::error!(%lease, "usage events name an unknown lease; charged in full");
                add_to_budget(&txn, org, event_month, cost, 0).await?;
                continue;
            };
            let after = totals_of(&row);
            let before = LeaseTotals {
                units_settled: after
                    .units_settled
                    .saturating_sub(u64::try_from(units).unwrap_or(0)),
                micros_settled: after.micros_settled - cost,
                ..after
            };
            let status = LeaseStatus::parse(&row.status).unwrap_or(LeaseStatus::Returned);
            let (spent, reserved) = settlement_effect(status, &before, cost);
            add_to_budget(&txn, row.organization_id, row.month_start, spent, reserved).await?;
        }
        txn.commit().await.map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use tollgate_costing::{TokenUsage, UsageEvent};
    use tollgate_kernel::{Action, Micros, OrganizationId, UserId};
    use tollgate_quotas::LeaseId;

    use super::*;

    fn events(count: usize) -> Vec<LeasedEvent> {
        let event = UsageEvent {
            id: Uuid::nil(),
            organization: OrganizationId::new(),
            user: UserId::new(),
            key: None,
            action: Action::Chat,
            model: "gpt-4o-mini".into(),
            usage: TokenUsage::default(),
            cost: Micros::ZERO,
            price: Micros::ZERO,
            request_id: "r".into(),
            at: chrono::Utc::now(),
        };
        let lease = LeaseId::new();
        vec![LeasedEvent { event, lease }; count]
    }

    #[test]
    fn batches_of_any_size_are_inserted_in_at_most_ten_statement_shapes() {
        let mut shapes = HashSet::new();
        for count in 0..=1_200 {
            let batch = events(count);
            let sizes: Vec<usize> = fixed_size_chunks(&batch).map(<[_]>::len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), count);
            assert!(
                sizes
                    .iter()
                    .all(|size| size.is_power_of_two() && *size <= 512)
            );
            shapes.extend(sizes);
        }
        assert_eq!(shapes.len(), 10, "{shapes:?}");
        assert_eq!(fixed_size_chunks(&events(512)).count(), 1);
    }
}
