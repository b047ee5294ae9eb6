//! Usage day by day, read from the usage rollups (what the usage endpoint reads, one row per
//! organisation, day, action and key): one grouped statement, so a series of 90 days costs one
//! round trip whatever the number of calls.

use sea_orm::Value;
use tollgate_billing::{DailyUsageReader, DayTotals};
use tollgate_kernel::{Micros, OrganizationId, Period, StoreError};

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::query_all;
use crate::time::{from_millis, to_millis};

impl DailyUsageReader for SqlStore {
    async fn daily_totals(
        &self,
        organization: Option<OrganizationId>,
        days: Period,
    ) -> Result<Vec<DayTotals>, StoreError> {
        // Periods are whole UTC days, so their bounds are rollup day starts.
        let mut values: Vec<Value> =
            vec![to_millis(days.start()).into(), to_millis(days.end()).into()];
        let only = match organization {
            Some(organization) => {
                values.push(organization.as_uuid().into());
                "AND organization_id = $3"
            }
            None => "",
        };
        let rows = query_all(
            &self.db,
            &format!(
                "SELECT day_start,
                        CAST(SUM(requests) AS BIGINT) AS requests,
                        CAST(SUM(cost_micros) AS BIGINT) AS cost,
                        CAST(SUM(price_micros) AS BIGINT) AS price
                 FROM usage_rollups
                 WHERE day_start >= $1 AND day_start < $2 {only}
                 GROUP BY day_start
                 ORDER BY day_start"
            ),
            values,
        )
        .await?;
        rows.iter()
            .map(|row| {
                let int = |column: &str| row.try_get::<i64>("", column).map_err(store_error);
                let requests = int("requests")?;
                Ok(DayTotals {
                    day_start: from_millis(int("day_start")?),
                    requests: u64::try_from(requests).map_err(|_| {
                        StoreError::unavailable(format!("negative request count: {requests}"))
                    })?,
                    cost: Micros::new(int("cost")?),
                    price: Micros::new(int("price")?),
                })
            })
            .collect()
    }
}
