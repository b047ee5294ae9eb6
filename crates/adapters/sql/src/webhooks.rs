//! Webhook endpoints and the delivery outbox. Every endpoint query is scoped by organisation;
//! deliveries are claimed with `FOR UPDATE SKIP LOCKED` on Postgres, so two instances never
//! send one attempt.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Value};
use tollgate_billing::{
    AlertEvent, AttemptOutcome, DeliveryRecord, DeliveryStatus, DueDelivery, EventType,
    WebhookEndpoint, WebhookStore,
};
use tollgate_kernel::{OrganizationId, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::{execute, query_all, statement};
use crate::time::{from_millis, to_millis};

const ENDPOINT_COLUMNS: &str =
    "id, organization_id, url, secret, events, created_at, disabled_reason";

fn events_text(events: &Option<Vec<EventType>>) -> Option<String> {
    events.as_ref().map(|types| {
        types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn endpoint_of(row: &QueryResult) -> Result<WebhookEndpoint, StoreError> {
    let events: Option<String> = row.try_get("", "events").map_err(store_error)?;
    Ok(WebhookEndpoint {
        id: row.try_get("", "id").map_err(store_error)?,
        organization: OrganizationId::from_uuid(
            row.try_get("", "organization_id").map_err(store_error)?,
        ),
        url: row.try_get("", "url").map_err(store_error)?,
        secret: row.try_get("", "secret").map_err(store_error)?,
        events: events.map(|text| {
            text.split(',')
                .filter_map(EventType::parse)
                .collect::<Vec<_>>()
        }),
        created_at: from_millis(row.try_get("", "created_at").map_err(store_error)?),
        disabled_reason: row.try_get("", "disabled_reason").map_err(store_error)?,
    })
}

impl WebhookStore for SqlStore {
    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max: u32,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        // Counting under a lock of the organisation's row keeps two concurrent registrations
        // from both passing the limit.
        let lock = if self.backend() == DatabaseBackend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        txn.query_one_raw(statement(
            self.backend(),
            &format!("SELECT id FROM organizations WHERE id = $1{lock}"),
            [endpoint.organization.as_uuid().into()],
        ))
        .await
        .map_err(store_error)?;
        let live = txn
            .query_one_raw(statement(
                self.backend(),
                "SELECT COUNT(*) AS n FROM webhook_endpoints
                 WHERE organization_id = $1 AND disabled_reason IS NULL",
                [endpoint.organization.as_uuid().into()],
            ))
            .await
            .map_err(store_error)?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map_err(store_error)?
            .unwrap_or(0);
        if live >= i64::from(max) {
            return Ok(false);
        }
        execute(
            &txn,
            "INSERT INTO webhook_endpoints
                 (id, organization_id, url, secret, events, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            [
                endpoint.id.into(),
                endpoint.organization.as_uuid().into(),
                endpoint.url.as_str().into(),
                endpoint.secret.as_str().into(),
                events_text(&endpoint.events).into(),
                to_millis(endpoint.created_at).into(),
            ],
        )
        .await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn endpoints_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        query_all(
            &self.db,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                 WHERE organization_id = $1 ORDER BY created_at, id"
            ),
            [organization.as_uuid().into()],
        )
        .await?
        .iter()
        .map(endpoint_of)
        .collect()
    }

    async fn delete_endpoint(
        &self,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let deleted = execute(
            &txn,
            "DELETE FROM webhook_endpoints WHERE id = $1 AND organization_id = $2",
            [id.into(), organization.as_uuid().into()],
        )
        .await?;
        if deleted == 1 {
            execute(
                &txn,
                "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
                [id.into()],
            )
            .await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(deleted == 1)
    }

    async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: Uuid,
        secret: String,
        previous_until: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        // One statement: the old secret is read and moved where the new one is written, so two
        // concurrent rotations cannot both keep the same old secret.
        let rotated = match previous_until {
            Some(until) => {
                execute(
                    &self.db,
                    "UPDATE webhook_endpoints
                     SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4
                     WHERE id = $1 AND organization_id = $2",
                    [
                        id.into(),
                        organization.as_uuid().into(),
                        to_millis(until).into(),
                        secret.as_str().into(),
                    ],
                )
                .await?
            }
            None => {
                execute(
                    &self.db,
                    "UPDATE webhook_endpoints
                     SET previous_secret = NULL, previous_secret_expires_at = NULL, secret = $3
                     WHERE id = $1 AND organization_id = $2",
                    [
                        id.into(),
                        organization.as_uuid().into(),
                        secret.as_str().into(),
                    ],
                )
                .await?
            }
        };
        Ok(rotated == 1)
    }

    async fn deliveries_of(
        &self,
        organization: OrganizationId,
        id: Uuid,
        limit: u32,
    ) -> Result<Option<Vec<DeliveryRecord>>, StoreError> {
        let owned = query_all(
            &self.db,
            "SELECT id FROM webhook_endpoints WHERE id = $1 AND organization_id = $2",
            [id.into(), organization.as_uuid().into()],
        )
        .await?;
        if owned.is_empty() {
            return Ok(None);
        }
        let rows = query_all(
            &self.db,
            "SELECT webhook_id, event_type, attempts, status, last_error, created_at
                 FROM webhook_deliveries
                 WHERE endpoint_id = $1 AND organization_id = $2
                 ORDER BY created_at DESC, id DESC LIMIT $3",
            [
                id.into(),
                organization.as_uuid().into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("", "event_type").map_err(store_error)?;
                let status: String = row.try_get("", "status").map_err(store_error)?;
                let attempts: i32 = row.try_get("", "attempts").map_err(store_error)?;
                Ok(DeliveryRecord {
                    webhook_id: row.try_get("", "webhook_id").map_err(store_error)?,
                    event: EventType::parse(&kind).ok_or_else(|| {
                        StoreError::unavailable(format!("unknown event type {kind:?}"))
                    })?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    status: DeliveryStatus::parse(&status).ok_or_else(|| {
                        StoreError::unavailable(format!("unknown delivery status {status:?}"))
                    })?,
                    last_error: row.try_get("", "last_error").map_err(store_error)?,
                    created_at: from_millis(row.try_get("", "created_at").map_err(store_error)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    }

    async fn enqueue(&self, event: AlertEvent) -> Result<u32, StoreError> {
        let endpoints = query_all(
            &self.db,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                     WHERE organization_id = $1 AND disabled_reason IS NULL"
            ),
            [event.organization.as_uuid().into()],
        )
        .await?;
        let body = event.body();
        let at = to_millis(event.at);
        let mut written = 0;
        for row in &endpoints {
            let endpoint = endpoint_of(row)?;
            if endpoint
                .events
                .as_ref()
                .is_some_and(|types| !types.contains(&event.kind))
            {
                continue;
            }
            let webhook_id = format!("msg_{}", Uuid::now_v7().simple());
            let inserted = execute(
                &self.db,
                "INSERT INTO webhook_deliveries
                     (id, endpoint_id, organization_id, webhook_id, event_type, dedupe_key, body,
                      status, attempts, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)
                 ON CONFLICT DO NOTHING",
                [
                    Uuid::now_v7().into(),
                    endpoint.id.into(),
                    event.organization.as_uuid().into(),
                    webhook_id.into(),
                    event.kind.as_str().into(),
                    event.dedupe_key.as_str().into(),
                    body.as_str().into(),
                    at.into(),
                ],
            )
            .await?;
            written += u32::try_from(inserted).unwrap_or(0);
        }
        Ok(written)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        claimed_until: DateTime<Utc>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let skip_locked = if self.backend() == DatabaseBackend::Postgres {
            "FOR UPDATE OF d SKIP LOCKED"
        } else {
            ""
        };
        let claimed = query_all(
            &self.db,
            &format!(
                "UPDATE webhook_deliveries SET claimed_until = $3
                     WHERE id IN (
                         SELECT d.id FROM webhook_deliveries d
                         JOIN webhook_endpoints e ON e.id = d.endpoint_id
                         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                           AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
                           AND e.disabled_reason IS NULL
                         ORDER BY d.next_attempt_at LIMIT $2 {skip_locked})
                     RETURNING id, endpoint_id, webhook_id, body, attempts"
            ),
            [
                to_millis(now).into(),
                i64::from(limit).into(),
                to_millis(claimed_until).into(),
            ],
        )
        .await?;
        // The claimed deliveries' endpoints, in one read.
        let mut endpoints: Vec<Uuid> = claimed
            .iter()
            .map(|row| row.try_get("", "endpoint_id").map_err(store_error))
            .collect::<Result<_, _>>()?;
        endpoints.sort_unstable();
        endpoints.dedup();
        let targets = if endpoints.is_empty() {
            Vec::new()
        } else {
            let placeholders: Vec<String> =
                (1..=endpoints.len()).map(|n| format!("${n}")).collect();
            query_all(
                &self.db,
                &format!(
                    "SELECT id, url, secret, previous_secret, previous_secret_expires_at
                     FROM webhook_endpoints WHERE id IN ({})",
                    placeholders.join(", ")
                ),
                endpoints.iter().map(|id| Value::from(*id)),
            )
            .await?
        };
        let mut due = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let endpoint: Uuid = row.try_get("", "endpoint_id").map_err(store_error)?;
            let Some(target) = targets
                .iter()
                .find(|t| t.try_get::<Uuid>("", "id").is_ok_and(|id| id == endpoint))
            else {
                continue;
            };
            let attempts: i32 = row.try_get("", "attempts").map_err(store_error)?;
            // The previous secret signs only until its grace period ends.
            let previous_until: Option<i64> = target
                .try_get("", "previous_secret_expires_at")
                .map_err(store_error)?;
            let previous_secret: Option<String> = match previous_until {
                Some(until) if until > to_millis(now) => {
                    target.try_get("", "previous_secret").map_err(store_error)?
                }
                _ => None,
            };
            due.push(DueDelivery {
                id: row.try_get("", "id").map_err(store_error)?,
                endpoint,
                url: target.try_get("", "url").map_err(store_error)?,
                secret: target.try_get("", "secret").map_err(store_error)?,
                previous_secret,
                webhook_id: row.try_get("", "webhook_id").map_err(store_error)?,
                body: row.try_get("", "body").map_err(store_error)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            });
        }
        Ok(due)
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let at_millis = to_millis(at);
        match outcome {
            AttemptOutcome::Delivered => {
                execute(
                    &txn,
                    "UPDATE webhook_deliveries
                     SET status = 'delivered', attempts = attempts + 1, delivered_at = $2,
                         claimed_until = NULL, last_error = NULL
                     WHERE id = $1",
                    [id.into(), at_millis.into()],
                )
                .await?;
            }
            AttemptOutcome::Retry { at: next, error } => {
                execute(
                    &txn,
                    "UPDATE webhook_deliveries
                     SET attempts = attempts + 1, next_attempt_at = $2, claimed_until = NULL,
                         last_error = $3
                     WHERE id = $1",
                    [id.into(), to_millis(next).into(), error.into()],
                )
                .await?;
            }
            AttemptOutcome::Failed { error, disable } => {
                execute(
                    &txn,
                    "UPDATE webhook_deliveries
                     SET status = 'failed', attempts = attempts + 1, claimed_until = NULL,
                         last_error = $2
                     WHERE id = $1",
                    [id.into(), error.into()],
                )
                .await?;
                if let Some(reason) = disable {
                    execute(
                        &txn,
                        "UPDATE webhook_endpoints SET disabled_reason = $2, disabled_at = $3
                         WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1)
                           AND disabled_reason IS NULL",
                        [id.into(), reason.as_str().into(), at_millis.into()],
                    )
                    .await?;
                    execute(
                        &txn,
                        "UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL,
                             last_error = $2
                         WHERE endpoint_id = (SELECT endpoint_id FROM webhook_deliveries
                                              WHERE id = $1)
                           AND status = 'pending'",
                        [id.into(), format!("endpoint disabled: {reason}").into()],
                    )
                    .await?;
                }
            }
        }
        txn.commit().await.map_err(store_error)
    }

    async fn cursor(&self, name: &str) -> Result<i64, StoreError> {
        Ok(query_all(
            &self.db,
            "SELECT position FROM webhook_cursors WHERE name = $1",
            [name.into()],
        )
        .await?
        .first()
        .map(|row| row.try_get::<i64>("", "position"))
        .transpose()
        .map_err(store_error)?
        .unwrap_or(0))
    }

    async fn set_cursor(&self, name: &str, position: i64) -> Result<(), StoreError> {
        execute(
            &self.db,
            "INSERT INTO webhook_cursors (name, position) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [name.into(), position.into()],
        )
        .await?;
        Ok(())
    }
}
