//! The log of subscription changes (plan or status), written by every transaction that changes
//! an organisation's plan or subscription status, and read in id order.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, QuerySelect};
use tollgate_billing::{SubscriptionChange, SubscriptionChangeLog, SubscriptionStatus};
use tollgate_kernel::{OrganizationId, StoreError};
use uuid::Uuid;

use crate::audit::record_audit;
use crate::connect::SqlStore;
use crate::entities::{organization, subscription};
use crate::errors::store_error;
use crate::raw_sql::statement;
use crate::time::{from_millis, to_millis};

/// An organisation's plan and subscription status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanState {
    pub plan: String,
    pub status: Option<String>,
}

/// The organisation's plan and subscription status as `conn` sees them; `None` if it does
/// not exist.
pub(crate) async fn plan_state<C: ConnectionTrait>(
    conn: &C,
    organization: Uuid,
) -> Result<Option<PlanState>, StoreError> {
    let mut find = organization::Entity::find_by_id(organization);
    // Concurrent plan changes of one organisation log their changes in the order they make them.
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        find = find.lock_exclusive();
    }
    let Some(org) = find.one(conn).await.map_err(store_error)? else {
        return Ok(None);
    };
    let status = subscription::Entity::find_by_id(organization)
        .one(conn)
        .await
        .map_err(store_error)?
        .map(|row| row.status);
    Ok(Some(PlanState {
        plan: org.plan,
        status,
    }))
}

/// Records the change from `before` to `after` in `conn`, when there is one; a plan change
/// also goes to the audit log as `actor`'s.
pub(crate) async fn record_change<C: ConnectionTrait>(
    conn: &C,
    organization: Uuid,
    before: &PlanState,
    after: &PlanState,
    actor: &str,
) -> Result<(), StoreError> {
    if before == after {
        return Ok(());
    }
    if before.plan != after.plan {
        record_audit(
            conn,
            actor,
            "plan_change",
            &format!("{organization} {} -> {}", before.plan, after.plan),
            Utc::now(),
        )
        .await?;
    }
    conn.execute_raw(statement(
        conn.get_database_backend(),
        "INSERT INTO subscription_changes
             (organization_id, plan_before, plan_after, status_before, status_after, \"at\")
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            organization.into(),
            before.plan.as_str().into(),
            after.plan.as_str().into(),
            before.status.clone().into(),
            after.status.clone().into(),
            to_millis(Utc::now()).into(),
        ],
    ))
    .await
    .map_err(store_error)?;
    Ok(())
}

impl SubscriptionChangeLog for SqlStore {
    async fn changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionChange>, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.backend(),
                "SELECT id, organization_id, plan_before, plan_after, status_before,
                        status_after, \"at\"
                 FROM subscription_changes WHERE id > $1 ORDER BY id LIMIT $2",
                [after.into(), i64::from(limit).into()],
            ))
            .await
            .map_err(store_error)?;
        let status = |text: Option<String>| text.as_deref().and_then(SubscriptionStatus::parse);
        rows.iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id").map_err(store_error)?;
                Ok(SubscriptionChange {
                    id: i64::from(id),
                    organization: OrganizationId::from_uuid(
                        row.try_get::<Uuid>("", "organization_id")
                            .map_err(store_error)?,
                    ),
                    plan_before: row.try_get("", "plan_before").map_err(store_error)?,
                    plan_after: row.try_get("", "plan_after").map_err(store_error)?,
                    status_before: status(row.try_get("", "status_before").map_err(store_error)?),
                    status_after: status(row.try_get("", "status_after").map_err(store_error)?),
                    at: from_millis(row.try_get("", "at").map_err(store_error)?),
                })
            })
            .collect()
    }
}
