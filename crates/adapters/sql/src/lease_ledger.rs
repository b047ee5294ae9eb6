//! Leases in the database (docs/adr/0011-leases.md). A lease's units are added to the day's
//! `quota_counters.used` and its budget to the month's `budget_periods.reserved_micros` when it
//! is granted, so per-call reservations and other holders' grants see them; settlements move
//! its budget from reserved to spent, a return gives back what it did not use, and a write-off
//! counts that as spent.
//!
//! Every transaction here locks rows in one order — a lease, then its organisation's quota row,
//! then its budget row, organisations in id order — the order of per-call reservations too, so
//! concurrent instances do not deadlock. On SQLite each transaction starts with a write, which
//! takes the database's write lock before anything is read.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use tollgate_kernel::{Micros, StoreError};
use tollgate_quotas::ports::LeaseLedger;
use tollgate_quotas::{
    GrantOutcome, GrantRequest, LeaseId, LeaseStatus, LeaseTotals, budget_grant, grant_size,
    grant_under_ceiling,
};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::counter_rows::{
    add_to_budget, budget_insert, budget_key, budget_row, quota_insert, quota_key, quota_row,
};
use crate::entities::{budget_period, quota_counter, quota_lease};
use crate::errors::store_error;
use crate::operator_ceiling;
use crate::time::to_millis;

const ACTIVE: &str = "active";

pub(crate) fn totals_of(row: &quota_lease::Model) -> LeaseTotals {
    LeaseTotals {
        units_granted: u64::try_from(row.units_granted).unwrap_or(0),
        micros_granted: row.micros_granted,
        units_settled: u64::try_from(row.units_settled).unwrap_or(0),
        micros_settled: row.micros_settled,
    }
}

fn lease_row(id: Uuid) -> sea_orm::UpdateMany<quota_lease::Entity> {
    quota_lease::Entity::update_many().filter(quota_lease::Column::Id.eq(id))
}

/// The day's quota row and the month's budget row of a grant, created at zero and locked.
async fn locked_counters(
    txn: &DatabaseTransaction,
    request: &GrantRequest,
) -> Result<(i64, i64, i64), StoreError> {
    let org = request.organization.as_uuid();
    let day = to_millis(request.day.start());
    let month = to_millis(request.month.start());
    let backend = txn.get_database_backend();
    let quota = quota_insert(org, request.action.as_str(), day, 0)
        .on_conflict(quota_key().do_nothing().to_owned())
        .to_owned();
    txn.execute_raw(backend.build(&quota))
        .await
        .map_err(store_error)?;
    let used = quota_counter::Entity::find_by_id((org, request.action.as_str().to_owned(), day))
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(store_error)?
        .map_or(0, |row| row.used);
    let budget = budget_insert(org, month, 0, 0)
        .on_conflict(budget_key().do_nothing().to_owned())
        .to_owned();
    txn.execute_raw(backend.build(&budget))
        .await
        .map_err(store_error)?;
    let (spent, reserved) = budget_period::Entity::find_by_id((org, month))
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(store_error)?
        .map_or((0, 0), |row| (row.spent_micros, row.reserved_micros));
    Ok((used, spent, reserved))
}

/// Active leases of the organisation other than `except` that hold something, filtered further
/// by `filter` (the same day and action, or the same month).
async fn other_holders(
    txn: &DatabaseTransaction,
    org: Uuid,
    except: Uuid,
    filter: sea_orm::Condition,
) -> Result<u64, StoreError> {
    quota_lease::Entity::find()
        .filter(quota_lease::Column::OrganizationId.eq(org))
        .filter(quota_lease::Column::Status.eq(ACTIVE))
        .filter(quota_lease::Column::Id.ne(except))
        .filter(quota_lease::Column::Grants.gt(0))
        .filter(filter)
        .count(txn)
        .await
        .map_err(store_error)
}

async fn grant_one(
    txn: &DatabaseTransaction,
    request: &GrantRequest,
    now: i64,
) -> Result<GrantOutcome, StoreError> {
    let id = request.lease.as_uuid();
    let org = request.organization.as_uuid();
    let day = to_millis(request.day.start());
    let month = to_millis(request.month.start());
    let backend = txn.get_database_backend();
    let create = quota_lease::Entity::insert(quota_lease::ActiveModel {
        id: Set(id),
        holder: Set(request.holder.clone()),
        organization_id: Set(org),
        action: Set(request.action.as_str().to_owned()),
        day_start: Set(day),
        month_start: Set(month),
        grants: Set(0),
        units_granted: Set(0),
        micros_granted: Set(0),
        last_units: Set(0),
        last_micros: Set(0),
        units_settled: Set(0),
        micros_settled: Set(0),
        status: Set(ACTIVE.to_owned()),
        expires_at: Set(to_millis(request.expires_at)),
        created_at: Set(now),
        finished_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(quota_lease::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .into_query();
    txn.execute_raw(backend.build(&create))
        .await
        .map_err(store_error)?;
    let Some(lease) = quota_lease::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(store_error)?
    else {
        return Ok(GrantOutcome::Closed);
    };
    let sequence = i64::from(request.sequence);
    if lease.status != ACTIVE || lease.organization_id != org {
        return Ok(GrantOutcome::Closed);
    }
    let (used, spent, reserved) = locked_counters(txn, request).await?;
    if lease.grants == sequence {
        // A retry of a grant that committed: answer it again, grant nothing more.
        return Ok(GrantOutcome::Granted {
            units: u32::try_from(lease.last_units).unwrap_or(0),
            micros: Micros::new(lease.last_micros),
            daily_taken: u32::try_from(used).unwrap_or(u32::MAX),
        });
    }
    if lease.grants != sequence - 1 {
        return Ok(GrantOutcome::Closed);
    }
    let unit_holders = other_holders(
        txn,
        org,
        id,
        sea_orm::Condition::all()
            .add(quota_lease::Column::Action.eq(request.action.as_str()))
            .add(quota_lease::Column::DayStart.eq(day)),
    )
    .await?;
    let units_left = u64::try_from(i64::from(request.daily_limit) - used).unwrap_or(0);
    let units = grant_size(u64::from(request.units), 1, units_left, unit_holders + 1);
    let micros = match request.budget {
        None => Some(u64::try_from(request.micros.get()).unwrap_or(0)),
        Some(limit) => {
            let budget_holders = other_holders(
                txn,
                org,
                id,
                sea_orm::Condition::all().add(quota_lease::Column::MonthStart.eq(month)),
            )
            .await?;
            grant_size(
                u64::try_from(request.micros.get()).unwrap_or(0),
                u64::try_from(request.min_micros.get()).unwrap_or(0),
                u64::try_from(limit.get() - spent - reserved).unwrap_or(0),
                budget_holders + 1,
            )
        }
    };
    let micros = match request.ceiling {
        None => micros,
        Some(ceiling) => {
            let left = ceiling.get() - operator_ceiling::month_total(txn, month).await?;
            grant_under_ceiling(
                micros,
                u64::try_from(request.micros.get()).unwrap_or(0),
                u64::try_from(request.min_micros.get()).unwrap_or(0),
                u64::try_from(left).unwrap_or(0),
                operator_ceiling::month_holders(txn, month, id).await? + 1,
            )
        }
    };
    let micros = budget_grant(micros, u64::try_from(request.min_micros.get()).unwrap_or(0));
    let (Some(units), Some(micros)) = (units, micros) else {
        if lease.grants == 0 {
            lease_row(id)
                .col_expr(quota_lease::Column::Status, Expr::value("returned"))
                .col_expr(quota_lease::Column::FinishedAt, Expr::value(now))
                .exec(txn)
                .await
                .map_err(store_error)?;
        }
        return Ok(GrantOutcome::Exhausted);
    };
    let units = i64::try_from(units).unwrap_or(i64::MAX);
    let micros = i64::try_from(micros).unwrap_or(i64::MAX);
    quota_row(org, request.action.as_str(), day)
        .col_expr(
            quota_counter::Column::Used,
            Expr::col(quota_counter::Column::Used).add(units),
        )
        .exec(txn)
        .await
        .map_err(store_error)?;
    budget_row(org, month)
        .col_expr(
            budget_period::Column::ReservedMicros,
            Expr::col(budget_period::Column::ReservedMicros).add(micros),
        )
        .exec(txn)
        .await
        .map_err(store_error)?;
    lease_row(id)
        .col_expr(quota_lease::Column::Grants, Expr::value(sequence))
        .col_expr(
            quota_lease::Column::UnitsGranted,
            Expr::col(quota_lease::Column::UnitsGranted).add(units),
        )
        .col_expr(
            quota_lease::Column::MicrosGranted,
            Expr::col(quota_lease::Column::MicrosGranted).add(micros),
        )
        .col_expr(quota_lease::Column::LastUnits, Expr::value(units))
        .col_expr(quota_lease::Column::LastMicros, Expr::value(micros))
        .col_expr(
            quota_lease::Column::ExpiresAt,
            Expr::value(to_millis(request.expires_at)),
        )
        .exec(txn)
        .await
        .map_err(store_error)?;
    Ok(GrantOutcome::Granted {
        units: u32::try_from(units).unwrap_or(u32::MAX),
        micros: Micros::new(micros),
        daily_taken: u32::try_from(used + units).unwrap_or(u32::MAX),
    })
}

/// Closes an active lease as `status` (returned or expired) and applies what that means to its
/// counters. `None` when it was not active (or, with `overdue_at`, no longer overdue).
async fn close_lease(
    txn: &DatabaseTransaction,
    id: Uuid,
    status: LeaseStatus,
    at: i64,
    overdue_at: Option<i64>,
) -> Result<Option<quota_lease::Model>, StoreError> {
    let mut update = lease_row(id)
        .col_expr(quota_lease::Column::Status, Expr::value(status.as_str()))
        .col_expr(quota_lease::Column::FinishedAt, Expr::value(at))
        .filter(quota_lease::Column::Status.eq(ACTIVE));
    if let Some(now) = overdue_at {
        update = update.filter(quota_lease::Column::ExpiresAt.lt(now));
    }
    let Some(row) = update
        .exec_with_returning(txn)
        .await
        .map_err(store_error)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let totals = totals_of(&row);
    let micros = totals.outstanding_micros();
    match status {
        LeaseStatus::Returned => {
            let units = i64::try_from(totals.outstanding_units()).unwrap_or(i64::MAX);
            if units > 0 {
                quota_row(row.organization_id, &row.action, row.day_start)
                    .col_expr(
                        quota_counter::Column::Used,
                        Expr::col(quota_counter::Column::Used).sub(units),
                    )
                    .filter(quota_counter::Column::Used.gte(units))
                    .exec(txn)
                    .await
                    .map_err(store_error)?;
            }
            add_to_budget(txn, row.organization_id, row.month_start, 0, -micros).await?;
        }
        // Written off: the holder may have served calls whose events never arrived.
        LeaseStatus::Expired => {
            add_to_budget(txn, row.organization_id, row.month_start, micros, -micros).await?;
        }
        LeaseStatus::Active => {}
    }
    Ok(Some(row))
}

/// `ids`' organisations, for locking in organisation order.
async fn in_lock_order(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let mut rows: Vec<(Uuid, Uuid)> = quota_lease::Entity::find()
        .select_only()
        .column(quota_lease::Column::OrganizationId)
        .column(quota_lease::Column::Id)
        .filter(quota_lease::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(txn)
        .await
        .map_err(store_error)?;
    rows.sort();
    Ok(rows)
}

impl LeaseLedger for SqlStore {
    async fn grant(&self, requests: Vec<GrantRequest>) -> Result<Vec<GrantOutcome>, StoreError> {
        let now = to_millis(Utc::now());
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by_key(|&i| {
            let request = &requests[i];
            (request.organization, request.action.as_str(), request.lease)
        });
        let txn = self.begin_write().await?;
        if requests.iter().any(|request| request.ceiling.is_some()) {
            operator_ceiling::lock(&txn).await?;
        }
        let mut outcomes = vec![GrantOutcome::Closed; requests.len()];
        for i in order {
            outcomes[i] = grant_one(&txn, &requests[i], now).await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(outcomes)
    }

    async fn renew(
        &self,
        leases: Vec<LeaseId>,
        until: DateTime<Utc>,
    ) -> Result<Vec<LeaseId>, StoreError> {
        let mut still_active = std::collections::HashSet::new();
        for chunk in leases.chunks(500) {
            let renewed = quota_lease::Entity::update_many()
                .col_expr(
                    quota_lease::Column::ExpiresAt,
                    Expr::value(to_millis(until)),
                )
                .filter(quota_lease::Column::Id.is_in(chunk.iter().map(LeaseId::as_uuid)))
                .filter(quota_lease::Column::Status.eq(ACTIVE))
                .exec_with_returning(&self.db)
                .await
                .map_err(store_error)?;
            still_active.extend(renewed.into_iter().map(|row| row.id));
        }
        Ok(leases
            .into_iter()
            .filter(|lease| !still_active.contains(&lease.as_uuid()))
            .collect())
    }

    async fn give_back(&self, leases: Vec<LeaseId>, at: DateTime<Utc>) -> Result<u32, StoreError> {
        let ids: Vec<Uuid> = leases.iter().map(LeaseId::as_uuid).collect();
        let txn = self.begin_write().await?;
        // A write first: SQLite's write lock before the read below.
        lease_row(Uuid::nil())
            .col_expr(quota_lease::Column::Status, Expr::value(ACTIVE))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let mut returned = 0;
        for (_, id) in in_lock_order(&txn, &ids).await? {
            if close_lease(&txn, id, LeaseStatus::Returned, to_millis(at), None)
                .await?
                .is_some()
            {
                returned += 1;
            }
        }
        txn.commit().await.map_err(store_error)?;
        Ok(returned)
    }

    async fn expire_leases(&self, now: DateTime<Utc>, max: u32) -> Result<u32, StoreError> {
        let now = to_millis(now);
        let overdue: Vec<(Uuid, Uuid)> = quota_lease::Entity::find()
            .select_only()
            .column(quota_lease::Column::OrganizationId)
            .column(quota_lease::Column::Id)
            .filter(quota_lease::Column::Status.eq(ACTIVE))
            .filter(quota_lease::Column::ExpiresAt.lt(now))
            .order_by_asc(quota_lease::Column::OrganizationId)
            .order_by_asc(quota_lease::Column::Id)
            .limit(u64::from(max))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        if overdue.is_empty() {
            return Ok(0);
        }
        let txn = self.begin_write().await?;
        let mut expired = 0;
        for (_, id) in overdue {
            if close_lease(&txn, id, LeaseStatus::Expired, now, Some(now))
                .await?
                .is_some()
            {
                expired += 1;
            }
        }
        txn.commit().await.map_err(store_error)?;
        Ok(expired)
    }
}
