use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use tollgate_costing::{IdempotencyBegin, IdempotencyStore};
use tollgate_kernel::{OrganizationId, StoreError};

use crate::connect::SqlStore;
use crate::entities::idempotency_key;
use crate::errors::store_error;
use crate::time::to_millis;

impl SqlStore {
    /// Inserts the claim unless the key exists; true when this call inserted it.
    async fn claim(
        &self,
        org: uuid::Uuid,
        key: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            organization_id: Set(org),
            key: Set(key.to_owned()),
            request_hash: Set(hash.to_owned()),
            status_code: Set(None),
            response_body: Set(None),
            created_at: Set(to_millis(now)),
            completed_at: Set(None),
        })
        .on_conflict_do_nothing_on([
            idempotency_key::Column::OrganizationId,
            idempotency_key::Column::Key,
        ])
        .exec_without_returning(&self.db)
        .await
        .map_err(store_error)?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
    }
}

impl IdempotencyStore for SqlStore {
    async fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        request_hash: String,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        let org = organization.as_uuid();
        // An expired claim no longer counts: drop it, then claim as usual.
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::OrganizationId.eq(org))
            .filter(idempotency_key::Column::Key.eq(key.as_str()))
            .filter(idempotency_key::Column::CreatedAt.lt(to_millis(expired_before)))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        if self.claim(org, &key, &request_hash, now).await? {
            return Ok(IdempotencyBegin::Fresh);
        }
        let Some(existing) = idempotency_key::Entity::find_by_id((org, key.clone()))
            .one(&self.db)
            .await
            .map_err(store_error)?
        else {
            // Abandoned between our insert and our read: claim again.
            return Ok(if self.claim(org, &key, &request_hash, now).await? {
                IdempotencyBegin::Fresh
            } else {
                IdempotencyBegin::InProgress
            });
        };
        if existing.request_hash != request_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        Ok(match (existing.status_code, existing.response_body) {
            (Some(status), Some(body)) => IdempotencyBegin::Replay {
                status: u16::try_from(status).unwrap_or(200),
                body,
            },
            _ => IdempotencyBegin::InProgress,
        })
    }

    async fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        idempotency_key::Entity::update_many()
            .col_expr(
                idempotency_key::Column::StatusCode,
                Expr::value(i32::from(status)),
            )
            .col_expr(idempotency_key::Column::ResponseBody, Expr::value(body))
            .col_expr(
                idempotency_key::Column::CompletedAt,
                Expr::value(to_millis(at)),
            )
            .filter(idempotency_key::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn abandon(&self, organization: OrganizationId, key: String) -> Result<(), StoreError> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::CompletedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
