use sea_orm::sea_query::{Alias, Expr, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};
use tollgate_costing::{UsageEvent, UsageLedger, UsageTotals};
use tollgate_kernel::{ApiKeyId, Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::ReservationId;
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::entities::{usage_event, usage_rollup};
use crate::errors::store_error;
use crate::time::to_millis;

/// `SUM` of a BIGINT column is NUMERIC on Postgres; cast it back so both databases return i64.
fn sum_as_bigint(column: usage_event::Column) -> SimpleExpr {
    Func::cast_as(Func::sum(Expr::col(column)), Alias::new("BIGINT")).into()
}

fn rollup_sum(column: usage_rollup::Column) -> SimpleExpr {
    Func::cast_as(Func::sum(Expr::col(column)), Alias::new("BIGINT")).into()
}

/// Key (nil for access-token calls), requests, cost, price.
type RollupTotalsRow = (Uuid, Option<i64>, Option<i64>, Option<i64>);

/// Key (none for access-token calls), requests, cost, price.
type KeyTotalsRow = (Option<Uuid>, i64, Option<i64>, Option<i64>);

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn event_model(event: UsageEvent) -> usage_event::ActiveModel {
    usage_event::ActiveModel {
        id: Set(event.id),
        organization_id: Set(event.organization.as_uuid()),
        user_id: Set(event.user.as_uuid()),
        key_id: Set(event.key.map(|key| key.as_uuid())),
        action: Set(event.action.as_str().to_owned()),
        model: Set(event.model),
        input_tokens: Set(tokens(event.usage.input_tokens)),
        cached_input_tokens: Set(tokens(event.usage.cached_input_tokens)),
        output_tokens: Set(tokens(event.usage.output_tokens)),
        cost_micros: Set(event.cost.get()),
        price_micros: Set(event.price.get()),
        request_id: Set(event.request_id),
        created_at: Set(to_millis(event.at)),
    }
}

impl SqlStore {
    async fn settle_and_record_on_postgres(&self, event: UsageEvent) -> Result<bool, StoreError> {
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT tollgate_settle_and_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) AS settled",
            [
                event.id.into(),
                event.cost.get().into(),
                to_millis(event.at).into(),
                event.user.as_uuid().into(),
                event.key.map(|key| key.as_uuid()).into(),
                event.model.into(),
                tokens(event.usage.input_tokens).into(),
                tokens(event.usage.cached_input_tokens).into(),
                tokens(event.usage.output_tokens).into(),
                event.price.get().into(),
                event.request_id.into(),
                event.organization.as_uuid().into(),
                event.action.as_str().into(),
                to_millis(Period::utc_day(event.at).start()).into(),
                to_millis(Period::utc_month(event.at).start()).into(),
            ],
        );
        let row = self
            .db
            .query_one_raw(statement)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::unavailable("tollgate_settle_and_record returned no row"))?;
        row.try_get("", "settled").map_err(store_error)
    }
}

impl UsageLedger for SqlStore {
    async fn settle_and_record(&self, event: UsageEvent) -> Result<bool, StoreError> {
        if self.backend() == DatabaseBackend::Postgres {
            return self.settle_and_record_on_postgres(event).await;
        }
        let txn = self.begin_write().await?;
        let id = ReservationId::from_uuid(event.id);
        let row = match Self::settle_in(&txn, id, event.cost, event.at).await? {
            Some(row) => row,
            None if Self::reservation_exists(&txn, id).await? => {
                txn.rollback().await.map_err(store_error)?;
                return Ok(false);
            }
            None => Self::charge_unreserved(&txn, &event).await?,
        };
        let mut model = event_model(event);
        model.organization_id = Set(row.organization_id);
        model.action = Set(row.action);
        model.insert(&txn).await.map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn totals(
        &self,
        organization: OrganizationId,
        period: Period,
    ) -> Result<UsageTotals, StoreError> {
        totals_in(&self.db, organization, period).await
    }
}

/// The usage ledger's totals for `period`, read through `conn`.
pub(crate) async fn totals_in<C: ConnectionTrait>(
    conn: &C,
    organization: OrganizationId,
    period: Period,
) -> Result<UsageTotals, StoreError> {
    // The rollups, one row per day, action and key: a read that grows with days and keys, not
    // with calls. Periods are whole UTC days, so their bounds are day starts.
    let rows: Vec<RollupTotalsRow> = usage_rollup::Entity::find()
        .select_only()
        .column(usage_rollup::Column::KeyId)
        .column_as(rollup_sum(usage_rollup::Column::Requests), "requests")
        .column_as(rollup_sum(usage_rollup::Column::CostMicros), "cost")
        .column_as(rollup_sum(usage_rollup::Column::PriceMicros), "price")
        .filter(usage_rollup::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(usage_rollup::Column::DayStart.gte(to_millis(period.start())))
        .filter(usage_rollup::Column::DayStart.lt(to_millis(period.end())))
        .group_by(usage_rollup::Column::KeyId)
        .into_tuple()
        .all(conn)
        .await
        .map_err(store_error)?;
    Ok(sum_rows(rows.into_iter().map(
        |(key, requests, cost, price)| {
            (
                (!key.is_nil()).then_some(key),
                requests.unwrap_or(0),
                cost,
                price,
            )
        },
    )))
}

/// The same totals summed from the events themselves: what the rollups must agree with.
pub(crate) async fn ledger_totals_in<C: ConnectionTrait>(
    conn: &C,
    organization: OrganizationId,
    period: Period,
) -> Result<UsageTotals, StoreError> {
    let rows: Vec<KeyTotalsRow> = usage_event::Entity::find()
        .select_only()
        .column(usage_event::Column::KeyId)
        .column_as(
            Expr::expr(Func::count(Expr::col(usage_event::Column::Id))),
            "requests",
        )
        .column_as(sum_as_bigint(usage_event::Column::CostMicros), "cost")
        .column_as(sum_as_bigint(usage_event::Column::PriceMicros), "price")
        .filter(usage_event::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(usage_event::Column::CreatedAt.gte(to_millis(period.start())))
        .filter(usage_event::Column::CreatedAt.lt(to_millis(period.end())))
        .group_by(usage_event::Column::KeyId)
        .into_tuple()
        .all(conn)
        .await
        .map_err(store_error)?;
    Ok(sum_rows(rows.into_iter()))
}

fn sum_rows(rows: impl Iterator<Item = KeyTotalsRow>) -> UsageTotals {
    let mut totals = UsageTotals::default();
    for (key, requests, cost, price) in rows {
        let requests = u64::try_from(requests).unwrap_or(0);
        let cost = Micros::new(cost.unwrap_or(0));
        totals.requests += requests;
        totals.cost = totals.cost.checked_add(cost).unwrap_or(totals.cost);
        totals.price = totals
            .price
            .checked_add(Micros::new(price.unwrap_or(0)))
            .unwrap_or(totals.price);
        if let Some(key) = key {
            totals
                .per_key
                .push((ApiKeyId::from_uuid(key), requests, cost));
        }
    }
    totals
}

impl SqlStore {
    /// The reconcile path: empties the rollups and rolls the ledger up again, in one
    /// transaction (readers see the old rollups or the new, never a half). Once the retention
    /// purge deleted usage events, only the days from its cutoff on are rebuilt: the rollups of
    /// earlier days are all that is left of them, and are kept as they are.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing changed).
    pub async fn rebuild_usage_rollups(&self) -> Result<(), StoreError> {
        let since = self.ledger_purged_before().await?;
        let txn = self.begin_write().await?;
        let mut delete = usage_rollup::Entity::delete_many();
        if let Some(since) = since {
            delete = delete.filter(usage_rollup::Column::DayStart.gte(since));
        }
        delete.exec(&txn).await.map_err(store_error)?;
        txn.execute_unprepared(&tollgate_migrations::roll_up_usage_since(
            self.backend(),
            since,
        ))
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    /// Whether an organisation's rollups for `period` agree with its ledger to the micro-dollar.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn usage_rollups_agree(
        &self,
        organization: OrganizationId,
        period: Period,
    ) -> Result<bool, StoreError> {
        let mut rolled = totals_in(&self.db, organization, period).await?;
        let mut ledger = ledger_totals_in(&self.db, organization, period).await?;
        rolled.per_key.sort();
        ledger.per_key.sort();
        Ok(rolled == ledger)
    }
}
