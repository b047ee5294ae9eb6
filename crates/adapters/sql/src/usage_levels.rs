//! Usage levels for quota alerts: today's calls per organisation and action, and the month's
//! cost, from the rollups — only of organisations with a live webhook endpoint, the only ones
//! an alert can reach (so the pass costs nothing where no one listens).

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use tollgate_billing::{OrganizationLevels, UsageLevels};
use tollgate_kernel::{Action, Micros, OrganizationId, Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::statement;
use crate::time::to_millis;

impl UsageLevels for SqlStore {
    async fn levels(
        &self,
        day: Period,
        month: Period,
    ) -> Result<Vec<OrganizationLevels>, StoreError> {
        let query = |sql: &'static str, period: Period| {
            statement(
                self.backend(),
                sql,
                [
                    to_millis(period.start()).into(),
                    to_millis(period.end()).into(),
                ],
            )
        };
        let monthly = self
            .db
            .query_all_raw(query(
                "SELECT r.organization_id, o.plan,
                        CAST(SUM(r.cost_micros) AS BIGINT) AS cost
                 FROM usage_rollups r JOIN organizations o ON o.id = r.organization_id
                 WHERE r.day_start >= $1 AND r.day_start < $2
                   AND r.organization_id IN (SELECT organization_id FROM webhook_endpoints
                                             WHERE disabled_reason IS NULL)
                 GROUP BY r.organization_id, o.plan",
                month,
            ))
            .await
            .map_err(store_error)?;
        let mut levels: BTreeMap<Uuid, OrganizationLevels> = BTreeMap::new();
        for row in &monthly {
            let organization: Uuid = row.try_get("", "organization_id").map_err(store_error)?;
            levels.insert(
                organization,
                OrganizationLevels {
                    organization: OrganizationId::from_uuid(organization),
                    plan: row.try_get("", "plan").map_err(store_error)?,
                    requests_today: Vec::new(),
                    cost_month: Micros::new(row.try_get("", "cost").map_err(store_error)?),
                },
            );
        }
        let daily = self
            .db
            .query_all_raw(query(
                "SELECT organization_id, action, CAST(SUM(requests) AS BIGINT) AS requests
                 FROM usage_rollups WHERE day_start >= $1 AND day_start < $2
                 GROUP BY organization_id, action",
                day,
            ))
            .await
            .map_err(store_error)?;
        for row in &daily {
            let organization: Uuid = row.try_get("", "organization_id").map_err(store_error)?;
            let action: String = row.try_get("", "action").map_err(store_error)?;
            let requests: i64 = row.try_get("", "requests").map_err(store_error)?;
            if let (Some(entry), Some(action)) =
                (levels.get_mut(&organization), Action::parse(&action))
            {
                entry
                    .requests_today
                    .push((action, u64::try_from(requests).unwrap_or(0)));
            }
        }
        Ok(levels.into_values().collect())
    }
}
