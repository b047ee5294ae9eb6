use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use tollgate_identity::{Role, StoreError};
use tollgate_kernel::{OrganizationId, UserId};
use tollgate_keys::ports::{ApiKeyRepository, InsertKeyError};
use tollgate_keys::{ApiKey, ApiKeyId, ApiKeyRecord, Environment, KeyEnd, KeyHash, KeyName};

use crate::connect::SqlStore;
use crate::entities::{api_key, organization, user};
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

impl TryFrom<api_key::Model> for ApiKey {
    type Error = StoreError;

    fn try_from(model: api_key::Model) -> Result<Self, Self::Error> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(model.id),
            organization_id: OrganizationId::from_uuid(model.organization_id),
            created_by: UserId::from_uuid(model.created_by),
            name: KeyName::parse(&model.name).map_err(StoreError::unavailable)?,
            environment: Environment::parse(&model.environment).ok_or_else(|| {
                StoreError::unavailable(format!("unknown environment {:?}", model.environment))
            })?,
            prefix: model.prefix,
            created_at: from_millis(model.created_at),
            expires_at: model.expires_at.map(from_millis),
            revoked_at: model.revoked_at.map(from_millis),
            last_used_at: model.last_used_at.map(from_millis),
        })
    }
}

fn active_model(key: &ApiKey, hash: &KeyHash) -> api_key::ActiveModel {
    api_key::ActiveModel {
        id: Set(key.id.as_uuid()),
        organization_id: Set(key.organization_id.as_uuid()),
        created_by: Set(key.created_by.as_uuid()),
        name: Set(key.name.as_str().to_owned()),
        environment: Set(key.environment.as_str().to_owned()),
        prefix: Set(key.prefix.clone()),
        key_hash: Set(hash.as_str().to_owned()),
        created_at: Set(to_millis(key.created_at)),
        expires_at: Set(key.expires_at.map(to_millis)),
        revoked_at: Set(key.revoked_at.map(to_millis)),
        last_used_at: Set(key.last_used_at.map(to_millis)),
    }
}

/// Live at `now`: neither revoked nor expired.
fn live_at(now: i64) -> Condition {
    Condition::all()
        .add(
            Condition::any()
                .add(api_key::Column::RevokedAt.is_null())
                .add(api_key::Column::RevokedAt.gt(now)),
        )
        .add(
            Condition::any()
                .add(api_key::Column::ExpiresAt.is_null())
                .add(api_key::Column::ExpiresAt.gt(now)),
        )
}

impl ApiKeyRepository for SqlStore {
    async fn insert_within_cap(
        &self,
        key: ApiKey,
        hash: KeyHash,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(), InsertKeyError> {
        let txn = self.begin_write().await?;
        // A no-op write to the organisation row first: it takes the row lock on Postgres and the
        // write lock on SQLite, so concurrent creations for one organisation count one by one.
        organization::Entity::update_many()
            .col_expr(
                organization::Column::Plan,
                Expr::col(organization::Column::Plan),
            )
            .filter(organization::Column::Id.eq(key.organization_id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let live = api_key::Entity::find()
            .filter(api_key::Column::OrganizationId.eq(key.organization_id.as_uuid()))
            .filter(live_at(to_millis(now)))
            .count(&txn)
            .await
            .map_err(store_error)?;
        if live >= u64::from(cap) {
            txn.rollback().await.map_err(store_error)?;
            return Err(InsertKeyError::CapReached);
        }
        active_model(&key, &hash)
            .insert(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        // One round trip: the key with its creator's role and its organisation's suspension.
        let query = Query::select()
            .column((api_key::Entity, Asterisk))
            .column((user::Entity, user::Column::Role))
            .column((organization::Entity, organization::Column::SuspendedAt))
            .from(api_key::Entity)
            .inner_join(
                user::Entity,
                Expr::col((user::Entity, user::Column::Id))
                    .equals((api_key::Entity, api_key::Column::CreatedBy)),
            )
            .inner_join(
                organization::Entity,
                Expr::col((organization::Entity, organization::Column::Id))
                    .equals((api_key::Entity, api_key::Column::OrganizationId)),
            )
            .and_where(Expr::col((api_key::Entity, api_key::Column::KeyHash)).eq(hash.as_str()))
            .to_owned();
        let statement = self.db.get_database_backend().build(&query);
        let Some(row) = self
            .db
            .query_one_raw(statement)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let role: String = row.try_get("", "role").map_err(store_error)?;
        let suspended_at: Option<i64> = row.try_get("", "suspended_at").map_err(store_error)?;
        let model = api_key::Model::from_query_result(&row, "").map_err(store_error)?;
        Ok(Some(ApiKeyRecord {
            hash: KeyHash::from_stored(model.key_hash.clone()),
            key: model.try_into()?,
            creator_role: Role::parse(&role).unwrap_or(Role::User),
            organization_suspended: suspended_at.is_some(),
        }))
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<ApiKey>, StoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::OrganizationId.eq(organization.as_uuid()))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
    ) -> Result<Option<ApiKey>, StoreError> {
        api_key::Entity::find_by_id(id.as_uuid())
            .filter(api_key::Column::OrganizationId.eq(organization.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(ApiKey::try_from)
            .transpose()
    }

    async fn revoke(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(to_millis(at)))
            .filter(api_key::Column::Id.eq(id.as_uuid()))
            .filter(api_key::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(self.find(organization, id).await?.is_some())
    }

    async fn rotate(
        &self,
        old: ApiKeyId,
        old_end: KeyEnd,
        replacement: ApiKey,
        replacement_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let (column, at) = match old_end {
            KeyEnd::RevokeAt(at) => (api_key::Column::RevokedAt, at),
            KeyEnd::ExpireAt(at) => (api_key::Column::ExpiresAt, at),
        };
        let ended = api_key::Entity::update_many()
            .col_expr(column, Expr::value(to_millis(at)))
            .filter(api_key::Column::Id.eq(old.as_uuid()))
            .filter(api_key::Column::OrganizationId.eq(replacement.organization_id.as_uuid()))
            .filter(live_at(to_millis(now)))
            .exec(&txn)
            .await
            .map_err(store_error)?
            .rows_affected
            == 1;
        if !ended {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        active_model(&replacement, &replacement_hash)
            .insert(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn rewrite_hash(
        &self,
        id: ApiKeyId,
        old: KeyHash,
        new: KeyHash,
    ) -> Result<bool, StoreError> {
        // Conditional on the old hash: of two requests re-hashing one key, one writes.
        let rewritten = api_key::Entity::update_many()
            .col_expr(api_key::Column::KeyHash, Expr::value(new.as_str()))
            .filter(api_key::Column::Id.eq(id.as_uuid()))
            .filter(api_key::Column::KeyHash.eq(old.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_error)?
            .rows_affected;
        Ok(rewritten == 1)
    }

    async fn record_last_used(
        &self,
        uses: Vec<(ApiKeyId, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        for (id, at) in uses {
            let at = to_millis(at);
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(at))
                .filter(api_key::Column::Id.eq(id.as_uuid()))
                .filter(
                    Condition::any()
                        .add(api_key::Column::LastUsedAt.is_null())
                        .add(api_key::Column::LastUsedAt.lt(at)),
                )
                .exec(&txn)
                .await
                .map_err(store_error)?;
        }
        txn.commit().await.map_err(store_error)
    }
}
