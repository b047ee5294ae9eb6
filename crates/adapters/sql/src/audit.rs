//! The audit log, and suspension (the one action that is only an audit-logged flag). Entries
//! are written by the transaction of what they record.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
};
use tollgate_identity::{AuditEntry, OrganizationAdmin, StoreError};
use tollgate_kernel::OrganizationId;

use crate::connect::SqlStore;
use crate::entities::organization;
use crate::errors::store_error;
use crate::raw_sql::statement;
use crate::time::{from_millis, to_millis};

/// Appends an entry to the audit log in `conn` (the caller's transaction).
pub(crate) async fn record_audit<C: ConnectionTrait>(
    conn: &C,
    actor: &str,
    action: &str,
    target: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute_raw(statement(
        conn.get_database_backend(),
        "INSERT INTO audit_log (\"at\", actor, action, target) VALUES ($1, $2, $3, $4)",
        [
            to_millis(at).into(),
            actor.into(),
            action.into(),
            target.into(),
        ],
    ))
    .await
    .map_err(store_error)?;
    Ok(())
}

impl OrganizationAdmin for SqlStore {
    async fn set_suspended(
        &self,
        organization: OrganizationId,
        suspended: bool,
        actor: String,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, StoreError> {
        let txn = self.begin_write().await?;
        let mut find = organization::Entity::find_by_id(organization.as_uuid());
        if self.backend() == DatabaseBackend::Postgres {
            find = find.lock_exclusive();
        }
        let Some(row) = find.one(&txn).await.map_err(store_error)? else {
            return Ok(None);
        };
        if row.suspended_at.is_some() == suspended {
            return Ok(Some(false));
        }
        organization::Entity::update_many()
            .col_expr(
                organization::Column::SuspendedAt,
                Expr::value(suspended.then(|| to_millis(at))),
            )
            .filter(organization::Column::Id.eq(organization.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let action = if suspended { "suspend" } else { "unsuspend" };
        record_audit(&txn, &actor, action, &organization.to_string(), at).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(Some(true))
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.backend(),
                "SELECT \"at\", actor, action, target FROM audit_log ORDER BY id DESC LIMIT $1",
                [i64::from(limit).into()],
            ))
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: from_millis(row.try_get("", "at").map_err(store_error)?),
                    actor: row.try_get("", "actor").map_err(store_error)?,
                    action: row.try_get("", "action").map_err(store_error)?,
                    target: row.try_get("", "target").map_err(store_error)?,
                })
            })
            .collect()
    }
}
