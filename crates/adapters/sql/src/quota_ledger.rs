//! Quotas and budgets decided in the database: every check is one conditional upsert of one row
//! (`INSERT … ON CONFLICT DO UPDATE … WHERE <still within the limit> RETURNING`, the same SQL on
//! Postgres and SQLite), so two concurrent calls can never both pass a check that only one may
//! pass. Within a
//! transaction the quota row is always locked before the budget row, in reserve and in release
//! alike, so concurrent transactions cannot deadlock on them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use tollgate_identity::StoreError;
use tollgate_kernel::{Micros, OrganizationId, Period};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome, UsageCounters};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::counter_rows::{
    add_to_budget, budget_insert, budget_key, budget_row, quota_insert, quota_key, quota_row,
};
use crate::entities::{budget_period, quota_counter, quota_lease, reservation};
use crate::errors::store_error;
use crate::operator_ceiling;
use crate::time::to_millis;

const PENDING: &str = "pending";
const SETTLED: &str = "settled";
const RELEASED: &str = "released";
/// Swept after its expiry: estimate given back, quota unit kept, still chargeable by a late
/// settlement.
const EXPIRED: &str = "expired";

/// Takes one unit of a day's quota: inserts the row at 1 or adds 1 to it, only while it is
/// under `limit` when there is one. Returns `used` after the change; no row means refused.
fn take_unit(org: Uuid, action: &str, day: i64, limit: Option<u32>) -> InsertStatement {
    let mut on_conflict = quota_key();
    on_conflict.value(
        quota_counter::Column::Used,
        Expr::col((quota_counter::Entity, quota_counter::Column::Used)).add(1),
    );
    if let Some(limit) = limit {
        on_conflict.action_and_where(
            Expr::col((quota_counter::Entity, quota_counter::Column::Used)).lt(i64::from(limit)),
        );
    }
    quota_insert(org, action, day, 1)
        .on_conflict(on_conflict)
        .returning_col(quota_counter::Column::Used)
        .to_owned()
}

async fn read_budget(
    txn: &DatabaseTransaction,
    org: Uuid,
    period: i64,
) -> Result<(Micros, Micros), StoreError> {
    let row = budget_period::Entity::find_by_id((org, period))
        .one(txn)
        .await
        .map_err(store_error)?;
    Ok(row.map_or((Micros::ZERO, Micros::ZERO), |r| {
        (Micros::new(r.spent_micros), Micros::new(r.reserved_micros))
    }))
}

async fn read_used(
    txn: &DatabaseTransaction,
    org: Uuid,
    action: &str,
    period: i64,
) -> Result<u32, StoreError> {
    let row = quota_counter::Entity::find_by_id((org, action.to_owned(), period))
        .one(txn)
        .await
        .map_err(store_error)?;
    Ok(row.map_or(0, |r| u32::try_from(r.used).unwrap_or(u32::MAX)))
}

impl SqlStore {
    /// Moves a reservation from status `from` to `to`; `None` when it was not in `from`, which
    /// makes every transition idempotent.
    async fn transition(
        txn: &DatabaseTransaction,
        id: ReservationId,
        from: &str,
        to: &str,
        actual: Option<Micros>,
        at: DateTime<Utc>,
    ) -> Result<Option<reservation::Model>, StoreError> {
        let mut update = reservation::Entity::update_many()
            .col_expr(reservation::Column::Status, Expr::value(to))
            .col_expr(reservation::Column::FinishedAt, Expr::value(to_millis(at)))
            .filter(reservation::Column::Id.eq(id.as_uuid()))
            .filter(reservation::Column::Status.eq(from));
        if let Some(actual) = actual {
            update = update.col_expr(reservation::Column::ActualMicros, Expr::value(actual.get()));
        }
        let finished = update.exec_with_returning(txn).await.map_err(store_error)?;
        Ok(finished.into_iter().next())
    }

    /// Charges `actual` for a reservation inside `txn`. A pending reservation gives its estimate
    /// back to the budget as its cost is added; one the sweeper already expired (a call that
    /// outlived the reservation's TTL, such as a long stream) had its estimate given back then,
    /// so only the cost is added: a late call is still charged. `None` when the reservation was
    /// already settled or released.
    pub(crate) async fn settle_in(
        txn: &DatabaseTransaction,
        id: ReservationId,
        actual: Micros,
        at: DateTime<Utc>,
    ) -> Result<Option<reservation::Model>, StoreError> {
        let (row, estimate_held) =
            match Self::transition(txn, id, PENDING, SETTLED, Some(actual), at).await? {
                Some(row) => (row, true),
                None => {
                    match Self::transition(txn, id, EXPIRED, SETTLED, Some(actual), at).await? {
                        Some(row) => (row, false),
                        None => return Ok(None),
                    }
                }
            };
        let mut update = budget_row(row.organization_id, row.month_start).col_expr(
            budget_period::Column::SpentMicros,
            Expr::col(budget_period::Column::SpentMicros).add(actual.get()),
        );
        if estimate_held {
            update = update.col_expr(
                budget_period::Column::ReservedMicros,
                Expr::col(budget_period::Column::ReservedMicros).sub(row.estimate_micros),
            );
        }
        update.exec(txn).await.map_err(store_error)?;
        Ok(Some(row))
    }

    pub(crate) async fn reservation_exists(
        txn: &DatabaseTransaction,
        id: ReservationId,
    ) -> Result<bool, StoreError> {
        let found = reservation::Entity::find_by_id(id.as_uuid())
            .one(txn)
            .await
            .map_err(store_error)?;
        Ok(found.is_some())
    }

    /// Charges a call whose reservation storage lost (a database crash after the reservation was
    /// committed without waiting for durability): one unit of the day's quota, the cost to the
    /// month's spend, and a settled reservation row so that it is charged once only.
    pub(crate) async fn charge_unreserved(
        txn: &DatabaseTransaction,
        event: &tollgate_costing::UsageEvent,
    ) -> Result<reservation::Model, StoreError> {
        let org = event.organization.as_uuid();
        let day = to_millis(Period::utc_day(event.at).start());
        let month = to_millis(Period::utc_month(event.at).start());
        let backend = txn.get_database_backend();
        let take_unit = take_unit(org, event.action.as_str(), day, None);
        txn.execute_raw(backend.build(&take_unit))
            .await
            .map_err(store_error)?;
        add_to_budget(txn, org, month, event.cost.get(), 0).await?;
        let at = to_millis(event.at);
        reservation::ActiveModel {
            id: Set(event.id),
            organization_id: Set(org),
            action: Set(event.action.as_str().to_owned()),
            day_start: Set(day),
            month_start: Set(month),
            estimate_micros: Set(0),
            actual_micros: Set(Some(event.cost.get())),
            status: Set(SETTLED.to_owned()),
            created_at: Set(at),
            expires_at: Set(at),
            finished_at: Set(Some(at)),
        }
        .insert(txn)
        .await
        .map_err(store_error)
    }

    /// Ends a pending reservation without a charge (`released` or `expired`), giving its
    /// estimate back and, when asked, its quota unit.
    async fn finish_unsettled(
        &self,
        id: ReservationId,
        status: &str,
        return_quota_unit: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = Self::transition(&txn, id, PENDING, status, None, at).await? else {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        };
        Self::give_back(&txn, &row, return_quota_unit).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    /// Expires a reservation only if it is still overdue when the update runs: a running call
    /// may have extended it since the sweeper listed it.
    async fn expire_if_overdue(
        &self,
        id: ReservationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let expired = reservation::Entity::update_many()
            .col_expr(reservation::Column::Status, Expr::value(EXPIRED))
            .col_expr(reservation::Column::FinishedAt, Expr::value(to_millis(now)))
            .filter(reservation::Column::Id.eq(id.as_uuid()))
            .filter(reservation::Column::Status.eq(PENDING))
            .filter(reservation::Column::ExpiresAt.lt(to_millis(now)))
            .exec_with_returning(&txn)
            .await
            .map_err(store_error)?;
        let Some(row) = expired.into_iter().next() else {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        };
        Self::give_back(&txn, &row, false).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn give_back(
        txn: &DatabaseTransaction,
        row: &reservation::Model,
        return_quota_unit: bool,
    ) -> Result<(), StoreError> {
        if return_quota_unit {
            quota_row(row.organization_id, &row.action, row.day_start)
                .col_expr(
                    quota_counter::Column::Used,
                    Expr::col(quota_counter::Column::Used).sub(1),
                )
                .filter(quota_counter::Column::Used.gt(0))
                .exec(txn)
                .await
                .map_err(store_error)?;
        }
        budget_row(row.organization_id, row.month_start)
            .col_expr(
                budget_period::Column::ReservedMicros,
                Expr::col(budget_period::Column::ReservedMicros).sub(row.estimate_micros),
            )
            .exec(txn)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

impl SqlStore {
    /// Postgres: the whole reservation in one call of `tollgate_reserve` (one round trip).
    async fn reserve_on_postgres(
        &self,
        request: &ReservationRequest,
    ) -> Result<ReserveOutcome, StoreError> {
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT outcome, used, spent, reserved FROM tollgate_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
                request.id.as_uuid().into(),
                request.organization.as_uuid().into(),
                request.action.as_str().into(),
                to_millis(request.day.start()).into(),
                i64::from(request.daily_limit).into(),
                to_millis(request.month.start()).into(),
                request.budget.map(|b| b.get()).into(),
                request.estimate.get().into(),
                to_millis(request.created_at).into(),
                to_millis(request.expires_at).into(),
            ],
        );
        let row = self
            .db
            .query_one_raw(statement)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::unavailable("tollgate_reserve returned no row"))?;
        let outcome: String = row.try_get("", "outcome").map_err(store_error)?;
        let used: i64 = row.try_get("", "used").map_err(store_error)?;
        let spent: i64 = row.try_get("", "spent").map_err(store_error)?;
        let reserved: i64 = row.try_get("", "reserved").map_err(store_error)?;
        let used = u32::try_from(used).unwrap_or(u32::MAX);
        Ok(match outcome.as_str() {
            "reserved" => ReserveOutcome::Reserved { daily_used: used },
            "quota" => ReserveOutcome::QuotaExceeded { used },
            _ => ReserveOutcome::BudgetExceeded {
                spent: Micros::new(spent),
                reserved: Micros::new(reserved),
            },
        })
    }

    /// Postgres: settle in one call of `tollgate_settle`.
    async fn settle_on_postgres(
        &self,
        id: ReservationId,
        actual: Micros,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT tollgate_settle($1, $2, $3) AS settled",
            [
                id.as_uuid().into(),
                actual.get().into(),
                to_millis(at).into(),
            ],
        );
        let row = self
            .db
            .query_one_raw(statement)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::unavailable("tollgate_settle returned no row"))?;
        row.try_get("", "settled").map_err(store_error)
    }
}

impl QuotaLedger for SqlStore {
    async fn reserve(&self, request: ReservationRequest) -> Result<ReserveOutcome, StoreError> {
        // Under an operator ceiling the reservation also takes the ceiling's lock and reads the
        // month's total, which the server-side function does not do.
        if self.backend() == DatabaseBackend::Postgres && request.ceiling.is_none() {
            return self.reserve_on_postgres(&request).await;
        }
        let org = request.organization.as_uuid();
        let action = request.action.as_str();
        let day = to_millis(request.day.start());
        let month = to_millis(request.month.start());
        let estimate = request.estimate.get();
        let backend = self.db.get_database_backend();
        let txn = self.begin_write().await?;
        if request.ceiling.is_some() {
            operator_ceiling::lock(&txn).await?;
        }

        // One statement takes the unit: insert the day's row at 1, or add 1 to it only while it
        // is under the limit. No row back (or a fresh row over a zero limit) means it is spent.
        let take_unit = take_unit(org, action, day, Some(request.daily_limit));
        let used: Option<i64> = match txn
            .query_one_raw(backend.build(&take_unit))
            .await
            .map_err(store_error)?
        {
            Some(row) => Some(row.try_get("", "used").map_err(store_error)?),
            None => None,
        };
        let Some(used) = used.filter(|u| *u <= i64::from(request.daily_limit)) else {
            let used = read_used(&txn, org, action, day).await?;
            txn.rollback().await.map_err(store_error)?;
            return Ok(ReserveOutcome::QuotaExceeded {
                used: Ord::min(used, request.daily_limit),
            });
        };

        // Likewise for the budget: reserve the estimate only while spent + reserved stays within
        // the limit (a fresh row is checked on what it was inserted with).
        let mut on_conflict = budget_key();
        on_conflict.value(
            budget_period::Column::ReservedMicros,
            Expr::col((budget_period::Entity, budget_period::Column::ReservedMicros)).add(estimate),
        );
        if let Some(limit) = request.budget {
            on_conflict.action_and_where(
                Expr::col((budget_period::Entity, budget_period::Column::SpentMicros))
                    .add(Expr::col((
                        budget_period::Entity,
                        budget_period::Column::ReservedMicros,
                    )))
                    .add(estimate)
                    .lte(limit.get()),
            );
        }
        let reserve_budget = budget_insert(org, month, 0, estimate)
            .on_conflict(on_conflict)
            .returning(Query::returning().columns([
                budget_period::Column::SpentMicros,
                budget_period::Column::ReservedMicros,
            ]))
            .to_owned();
        let after: Option<(i64, i64)> = match txn
            .query_one_raw(backend.build(&reserve_budget))
            .await
            .map_err(store_error)?
        {
            Some(row) => Some((
                row.try_get("", "spent_micros").map_err(store_error)?,
                row.try_get("", "reserved_micros").map_err(store_error)?,
            )),
            None => None,
        };
        let within_budget = match (after, request.budget) {
            (Some((spent, reserved)), Some(limit)) => spent.saturating_add(reserved) <= limit.get(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !within_budget {
            let (spent, reserved) = match after {
                // A fresh row inserted over the limit: report it as it was before this call.
                Some((spent, reserved)) => (Micros::new(spent), Micros::new(reserved - estimate)),
                None => read_budget(&txn, org, month).await?,
            };
            txn.rollback().await.map_err(store_error)?;
            return Ok(ReserveOutcome::BudgetExceeded { spent, reserved });
        }
        if let Some(ceiling) = request.ceiling
            && operator_ceiling::month_total(&txn, month).await? > ceiling.get()
        {
            txn.rollback().await.map_err(store_error)?;
            return Ok(ReserveOutcome::CeilingReached);
        }

        reservation::ActiveModel {
            id: Set(request.id.as_uuid()),
            organization_id: Set(org),
            action: Set(action.to_owned()),
            day_start: Set(day),
            month_start: Set(month),
            estimate_micros: Set(estimate),
            actual_micros: Set(None),
            status: Set(PENDING.to_owned()),
            created_at: Set(to_millis(request.created_at)),
            expires_at: Set(to_millis(request.expires_at)),
            finished_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(ReserveOutcome::Reserved {
            daily_used: u32::try_from(used).unwrap_or(u32::MAX),
        })
    }

    async fn settle(
        &self,
        id: ReservationId,
        actual: Micros,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.backend() == DatabaseBackend::Postgres {
            return self.settle_on_postgres(id, actual, at).await;
        }
        let txn = self.begin_write().await?;
        if Self::settle_in(&txn, id, actual, at).await?.is_none() {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn release(
        &self,
        id: ReservationId,
        return_quota_unit: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.finish_unsettled(id, RELEASED, return_quota_unit, at)
            .await
    }

    async fn extend(&self, id: ReservationId, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = reservation::Entity::update_many()
            .col_expr(
                reservation::Column::ExpiresAt,
                Expr::value(to_millis(until)),
            )
            .filter(reservation::Column::Id.eq(id.as_uuid()))
            .filter(reservation::Column::Status.eq(PENDING))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn release_expired(&self, now: DateTime<Utc>, max: u32) -> Result<u32, StoreError> {
        let expired: Vec<Uuid> = reservation::Entity::find()
            .select_only()
            .column(reservation::Column::Id)
            .filter(reservation::Column::Status.eq(PENDING))
            .filter(reservation::Column::ExpiresAt.lt(to_millis(now)))
            .order_by_asc(reservation::Column::ExpiresAt)
            .limit(u64::from(max))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut released = 0;
        for id in expired {
            if self
                .expire_if_overdue(ReservationId::from_uuid(id), now)
                .await?
            {
                released += 1;
            }
        }
        Ok(released)
    }

    async fn usage(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> Result<UsageCounters, StoreError> {
        counters_in(&self.db, organization, day, month).await
    }
}

/// The organisation's quota counters for `day` and budget for `month`, read through `conn` (the
/// pool, or a transaction for a consistent snapshot).
pub(crate) async fn counters_in<C: ConnectionTrait>(
    conn: &C,
    organization: OrganizationId,
    day: Period,
    month: Period,
) -> Result<UsageCounters, StoreError> {
    let org = organization.as_uuid();
    let counters = quota_counter::Entity::find()
        .filter(quota_counter::Column::OrganizationId.eq(org))
        .filter(quota_counter::Column::PeriodStart.eq(to_millis(day.start())))
        .all(conn)
        .await
        .map_err(store_error)?;
    // Leases hold units and budget for calls not made yet: what they have not settled is not
    // usage (it still counts against the limits while they are active).
    let leases = quota_lease::Entity::find()
        .filter(quota_lease::Column::OrganizationId.eq(org))
        .filter(quota_lease::Column::Status.eq("active"))
        .all(conn)
        .await
        .map_err(store_error)?;
    let unused_units = |action: &str| -> i64 {
        leases
            .iter()
            .filter(|l| l.action == action && l.day_start == to_millis(day.start()))
            .map(|l| Ord::max(l.units_granted - l.units_settled, 0))
            .sum()
    };
    let unused_micros: i64 = leases
        .iter()
        .filter(|l| l.month_start == to_millis(month.start()))
        .map(|l| Ord::max(l.micros_granted - l.micros_settled, 0))
        .sum();
    let daily_used = counters
        .into_iter()
        .filter_map(|c| {
            let used = Ord::max(c.used - unused_units(&c.action), 0);
            Action::parse(&c.action).map(|a| (a, u32::try_from(used).unwrap_or(u32::MAX)))
        })
        .collect();
    let budget = budget_period::Entity::find_by_id((org, to_millis(month.start())))
        .one(conn)
        .await
        .map_err(store_error)?;
    let (spent, reserved) = budget.map_or((Micros::ZERO, Micros::ZERO), |b| {
        (
            Micros::new(b.spent_micros),
            Micros::new(Ord::max(b.reserved_micros - unused_micros, 0)),
        )
    });
    Ok(UsageCounters {
        daily_used,
        spent,
        reserved,
    })
}
