//! An organisation's usage events, a page at a time, newest first (the index on
//! `(organization_id, created_at)` serves it).

use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tollgate_billing::{EventCursor, UsageEventFilter, UsageEventReader};
use tollgate_costing::{TokenUsage, UsageEvent};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, StoreError, UserId};

use crate::connect::SqlStore;
use crate::entities::usage_event;
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

fn event_of(row: usage_event::Model) -> Result<UsageEvent, StoreError> {
    let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(UsageEvent {
        id: row.id,
        organization: OrganizationId::from_uuid(row.organization_id),
        user: UserId::from_uuid(row.user_id),
        key: row.key_id.map(ApiKeyId::from_uuid),
        action: Action::parse(&row.action).ok_or_else(|| {
            StoreError::unavailable(format!("unknown action {:?} in the ledger", row.action))
        })?,
        model: row.model,
        usage: TokenUsage {
            input_tokens: tokens(row.input_tokens),
            cached_input_tokens: tokens(row.cached_input_tokens),
            output_tokens: tokens(row.output_tokens),
        },
        cost: Micros::new(row.cost_micros),
        price: Micros::new(row.price_micros),
        request_id: row.request_id,
        at: from_millis(row.created_at),
    })
}

impl UsageEventReader for SqlStore {
    async fn usage_events(
        &self,
        organization: OrganizationId,
        filter: UsageEventFilter,
        before: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<UsageEvent>, StoreError> {
        let mut query = usage_event::Entity::find()
            .filter(usage_event::Column::OrganizationId.eq(organization.as_uuid()));
        if let Some(day) = filter.day {
            query = query
                .filter(usage_event::Column::CreatedAt.gte(to_millis(day.start())))
                .filter(usage_event::Column::CreatedAt.lt(to_millis(day.end())));
        }
        if let Some(key) = filter.key {
            query = query.filter(usage_event::Column::KeyId.eq(key.as_uuid()));
        }
        if let Some(action) = filter.action {
            query = query.filter(usage_event::Column::Action.eq(action.as_str()));
        }
        if let Some(cursor) = before {
            query = query.filter(
                Condition::any()
                    .add(usage_event::Column::CreatedAt.lt(cursor.at_millis))
                    .add(
                        Condition::all()
                            .add(usage_event::Column::CreatedAt.eq(cursor.at_millis))
                            .add(usage_event::Column::Id.lt(cursor.id)),
                    ),
            );
        }
        query
            .order_by_desc(usage_event::Column::CreatedAt)
            .order_by_desc(usage_event::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(event_of)
            .collect()
    }
}
