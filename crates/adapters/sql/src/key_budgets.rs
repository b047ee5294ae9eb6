//! Per-key caps: a key's month spend (`key_spend`) and the estimates of its calls in flight
//! (`key_reservations`). A reservation is taken under the key's spend row lock (Postgres;
//! SQLite has one writer) and counts while pending and unexpired, so a crash heals by itself.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction};
use tollgate_billing::{KeyBudgets, KeyReservation};
use tollgate_kernel::{ApiKeyId, Micros, Period, StoreError};
use tollgate_quotas::ReservationId;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::{execute, query_value, statement};
use crate::time::to_millis;

async fn reserve_in(
    txn: &DatabaseTransaction,
    key: ApiKeyId,
    month: Period,
    reservation: ReservationId,
    estimate: Micros,
    cap: Micros,
    expires_at: DateTime<Utc>,
) -> Result<KeyReservation, StoreError> {
    let (key, month) = (key.as_uuid(), to_millis(month.start()));
    execute(
        txn,
        "INSERT INTO key_spend (key_id, month_start, spent_micros) VALUES ($1, $2, 0)
         ON CONFLICT (key_id, month_start) DO NOTHING",
        [key.into(), month.into()],
    )
    .await?;
    let lock = if txn.get_database_backend() == DatabaseBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let spent = query_value::<_, Option<i64>>(
        txn,
        &format!(
            "SELECT spent_micros AS value FROM key_spend
             WHERE key_id = $1 AND month_start = $2{lock}"
        ),
        [key.into(), month.into()],
    )
    .await?
    .flatten()
    .unwrap_or(0);
    let reserved = query_value::<_, Option<i64>>(
        txn,
        "SELECT CAST(COALESCE(SUM(estimate_micros), 0) AS BIGINT) AS value
         FROM key_reservations
         WHERE key_id = $1 AND month_start = $2 AND status = 'pending' AND expires_at > $3",
        [key.into(), month.into(), to_millis(Utc::now()).into()],
    )
    .await?
    .flatten()
    .unwrap_or(0);
    if i128::from(spent) + i128::from(reserved) + i128::from(estimate.get()) > i128::from(cap.get())
    {
        return Ok(KeyReservation::Exceeded {
            spent: Micros::new(spent),
            reserved: Micros::new(reserved),
        });
    }
    execute(
        txn,
        "INSERT INTO key_reservations
             (id, key_id, month_start, estimate_micros, status, expires_at)
         VALUES ($1, $2, $3, $4, 'pending', $5)",
        [
            reservation.as_uuid().into(),
            key.into(),
            month.into(),
            estimate.get().into(),
            to_millis(expires_at).into(),
        ],
    )
    .await?;
    Ok(KeyReservation::Reserved)
}

impl KeyBudgets for SqlStore {
    async fn cap_of(&self, key: ApiKeyId) -> Result<Option<Micros>, StoreError> {
        Ok(query_value::<_, Option<i64>>(
            &self.db,
            "SELECT monthly_cap_micros AS value FROM api_keys WHERE id = $1",
            [key.as_uuid().into()],
        )
        .await?
        .flatten()
        .map(Micros::new))
    }

    async fn reserve(
        &self,
        key: ApiKeyId,
        month: Period,
        reservation: ReservationId,
        estimate: Micros,
        cap: Micros,
        expires_at: DateTime<Utc>,
    ) -> Result<KeyReservation, StoreError> {
        let txn = self.begin_write().await?;
        let outcome = reserve_in(&txn, key, month, reservation, estimate, cap, expires_at).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn settle(&self, reservation: ReservationId, actual: Micros) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let row = txn
            .query_one_raw(statement(
                self.backend(),
                "UPDATE key_reservations SET status = 'settled'
                 WHERE id = $1 AND status = 'pending'
                 RETURNING key_id, month_start",
                [reservation.as_uuid().into()],
            ))
            .await
            .map_err(store_error)?;
        if let Some(row) = row {
            let key: uuid::Uuid = row.try_get("", "key_id").map_err(store_error)?;
            let month: i64 = row.try_get("", "month_start").map_err(store_error)?;
            execute(
                &txn,
                "UPDATE key_spend SET spent_micros = spent_micros + $3
                 WHERE key_id = $1 AND month_start = $2",
                [key.into(), month.into(), actual.get().into()],
            )
            .await?;
        }
        txn.commit().await.map_err(store_error)
    }

    async fn release(&self, reservation: ReservationId) -> Result<(), StoreError> {
        execute(
            &self.db,
            "UPDATE key_reservations SET status = 'released' WHERE id = $1 AND status = 'pending'",
            [reservation.as_uuid().into()],
        )
        .await?;
        Ok(())
    }

    async fn keep_alive(
        &self,
        reservation: ReservationId,
        lifetime: chrono::Duration,
    ) -> Result<(), StoreError> {
        execute(
            &self.db,
            "UPDATE key_reservations SET expires_at = $2
             WHERE id = $1 AND status = 'pending' AND expires_at < $2",
            [
                reservation.as_uuid().into(),
                to_millis(Utc::now() + lifetime).into(),
            ],
        )
        .await?;
        Ok(())
    }
}
