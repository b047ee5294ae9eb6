use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, NotSet, QueryFilter, QuerySelect, Set};
use tollgate_identity::ports::LoginAttemptLog;
use tollgate_identity::{EmailAddress, LoginFailures, LoginSource, StoreError};

use crate::connect::SqlStore;
use crate::entities::login_failure;
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

/// Failures older than this are of no use to any lockout window and are pruned.
const KEEP_FAILURES: Duration = Duration::days(1);

impl LoginAttemptLog for SqlStore {
    async fn failures_since(
        &self,
        email: EmailAddress,
        source: LoginSource,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        let row: Option<(i64, Option<i64>)> = login_failure::Entity::find()
            .select_only()
            .column_as(
                Expr::expr(Func::count(Expr::col(login_failure::Column::Id))),
                "count",
            )
            .column_as(
                Expr::expr(Func::min(Expr::col(login_failure::Column::At))),
                "oldest",
            )
            .filter(login_failure::Column::Email.eq(email.as_str()))
            .filter(login_failure::Column::Source.eq(source.as_str()))
            .filter(login_failure::Column::At.gte(to_millis(since)))
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(store_error)?;
        let (count, oldest) = row.unwrap_or((0, None));
        Ok(LoginFailures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: oldest.map(from_millis),
        })
    }

    async fn record_failure(
        &self,
        email: EmailAddress,
        source: LoginSource,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        login_failure::ActiveModel {
            id: NotSet,
            email: Set(email.as_str().to_owned()),
            source: Set(source.as_str().to_owned()),
            at: Set(to_millis(at)),
        }
        .insert(&self.db)
        .await
        .map_err(store_error)?;
        login_failure::Entity::delete_many()
            .filter(login_failure::Column::Email.eq(email.as_str()))
            .filter(login_failure::Column::At.lt(to_millis(at - KEEP_FAILURES)))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn clear_failures(
        &self,
        email: EmailAddress,
        source: LoginSource,
    ) -> Result<(), StoreError> {
        login_failure::Entity::delete_many()
            .filter(login_failure::Column::Email.eq(email.as_str()))
            .filter(login_failure::Column::Source.eq(source.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn clear_all_failures(&self, email: EmailAddress) -> Result<(), StoreError> {
        login_failure::Entity::delete_many()
            .filter(login_failure::Column::Email.eq(email.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
