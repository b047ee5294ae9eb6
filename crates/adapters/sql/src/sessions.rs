use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use tollgate_identity::ports::{ConsumeOutcome, SessionRepository};
use tollgate_identity::{RefreshTokenRecord, SessionId, SessionRecord, StoreError, TokenHash};
use tollgate_kernel::{OrganizationId, UserId};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::entities::{refresh_token, session};
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

impl From<session::Model> for SessionRecord {
    fn from(model: session::Model) -> Self {
        SessionRecord {
            id: SessionId::from_uuid(model.id),
            user_id: UserId::from_uuid(model.user_id),
            organization_id: OrganizationId::from_uuid(model.organization_id),
            created_at: from_millis(model.created_at),
            revoked_at: model.revoked_at.map(from_millis),
        }
    }
}

impl From<refresh_token::Model> for RefreshTokenRecord {
    fn from(model: refresh_token::Model) -> Self {
        RefreshTokenRecord {
            hash: TokenHash::from_stored(model.token_hash),
            session_id: SessionId::from_uuid(model.session_id),
            issued_at: from_millis(model.issued_at),
            expires_at: from_millis(model.expires_at),
            consumed_at: model.consumed_at.map(from_millis),
        }
    }
}

fn token_model(token: &RefreshTokenRecord) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        token_hash: Set(token.hash.as_str().to_owned()),
        session_id: Set(token.session_id.as_uuid()),
        issued_at: Set(to_millis(token.issued_at)),
        expires_at: Set(to_millis(token.expires_at)),
        consumed_at: Set(token.consumed_at.map(to_millis)),
    }
}

impl SessionRepository for SqlStore {
    async fn start_session(
        &self,
        session: SessionRecord,
        first_token: RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        session::ActiveModel {
            id: Set(session.id.as_uuid()),
            user_id: Set(session.user_id.as_uuid()),
            organization_id: Set(session.organization_id.as_uuid()),
            created_at: Set(to_millis(session.created_at)),
            revoked_at: Set(session.revoked_at.map(to_millis)),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        token_model(&first_token)
            .insert(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn consume_refresh_token(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, StoreError> {
        let at = to_millis(now);
        // One conditional UPDATE decides the race: the database lets exactly one of any number
        // of concurrent callers see a live row (of a live session) and flip it.
        let live_sessions = Query::select()
            .column(session::Column::Id)
            .from(session::Entity)
            .and_where(session::Column::RevokedAt.is_null())
            .to_owned();
        let consumed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::ConsumedAt, Expr::value(at))
            .filter(refresh_token::Column::TokenHash.eq(hash.as_str()))
            .filter(refresh_token::Column::ConsumedAt.is_null())
            .filter(refresh_token::Column::ExpiresAt.gt(at))
            .filter(refresh_token::Column::SessionId.in_subquery(live_sessions))
            .exec(&self.db)
            .await
            .map_err(store_error)?
            .rows_affected
            == 1;
        let Some(token) = refresh_token::Entity::find_by_id(hash.as_str())
            .one(&self.db)
            .await
            .map_err(store_error)?
        else {
            return Ok(ConsumeOutcome::Unknown);
        };
        if !consumed && token.consumed_at.is_some() {
            return Ok(ConsumeOutcome::AlreadyConsumed(SessionId::from_uuid(
                token.session_id,
            )));
        }
        if !consumed && token.expires_at <= at {
            return Ok(ConsumeOutcome::Expired);
        }
        let session = session::Entity::find_by_id(token.session_id)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::unavailable("refresh token without session"))?;
        Ok(if consumed {
            ConsumeOutcome::Consumed(session.into())
        } else {
            ConsumeOutcome::SessionRevoked
        })
    }

    async fn add_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        token_model(&token)
            .insert(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(refresh_token::Entity::find_by_id(hash.as_str())
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(RefreshTokenRecord::from))
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<(), StoreError> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(to_millis(at)))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let live: Vec<Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::UserId.eq(user.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(to_millis(at)))
            .filter(session::Column::UserId.eq(user.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(live.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn sessions_revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::RevokedAt.gte(to_millis(since)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(ids.into_iter().map(SessionId::from_uuid).collect())
    }
}
