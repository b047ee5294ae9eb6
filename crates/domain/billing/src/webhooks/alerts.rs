//! [`Alerts`]: finds what webhooks report — thresholds crossed, a budget's first refusal, a
//! subscription change — and enqueues it. Each event carries a key that makes it once per
//! threshold and period (or per change) in storage, so passes may repeat and instances may
//! race without a second delivery.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tollgate_kernel::{Action, Clock, Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::PlanCatalog;

use super::events::AlertEvent;
use super::store::WebhookStore;
use crate::subscription_changes::SubscriptionChangeLog;

/// The thresholds reported, in percent.
const THRESHOLDS: [u8; 2] = [80, 100];

/// The cursor name of the subscription-change log.
const SUBSCRIPTION_CURSOR: &str = "subscription_changes";

/// One organisation's usage so far, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationLevels {
    /// Whose.
    pub organization: OrganizationId,
    /// Its plan.
    pub plan: String,
    /// Calls recorded today per action.
    pub requests_today: Vec<(Action, u64)>,
    /// What its calls cost this month.
    pub cost_month: Micros,
}

/// Reads usage levels.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UsageLevels: Send + Sync + 'static {
    /// Every organisation with usage this month that may receive alerts (has a live webhook
    /// endpoint), with today's calls and the month's cost.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn levels(
        &self,
        day: Period,
        month: Period,
    ) -> impl Future<Output = Result<Vec<OrganizationLevels>, StoreError>> + Send;
}

/// Finds and enqueues webhook events.
pub struct Alerts<S, U, L, C> {
    store: S,
    usage: U,
    changes: L,
    catalog: Arc<PlanCatalog>,
    clock: Arc<C>,
    /// Budget refusals reported from this instance: (organisation, month end). The first
    /// refusal of a period writes; the rest of the flood does not reach storage.
    refusals: Mutex<HashSet<(OrganizationId, i64)>>,
}

impl<S: WebhookStore, U: UsageLevels, L: SubscriptionChangeLog, C: Clock> Alerts<S, U, L, C> {
    /// Alerts over `store`, reading `usage` and the subscription `changes` against the plans of
    /// `catalog`.
    pub fn new(store: S, usage: U, changes: L, catalog: Arc<PlanCatalog>, clock: Arc<C>) -> Self {
        Self {
            store,
            usage,
            changes,
            catalog,
            clock,
            refusals: Mutex::new(HashSet::new()),
        }
    }

    /// Enqueues every 80 % and 100 % threshold of a daily quota or the monthly budget that an
    /// organisation's recorded usage has reached; returns the deliveries written.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; the next pass finds the same thresholds.
    pub async fn check_thresholds(&self) -> Result<u32, StoreError> {
        let now = self.clock.now();
        let (day, month) = (Period::utc_day(now), Period::utc_month(now));
        let mut written = 0;
        for levels in self.usage.levels(day, month).await? {
            for event in self.crossed(&levels, day, month, now) {
                written += self.store.enqueue(event).await?;
            }
        }
        Ok(written)
    }

    fn crossed(
        &self,
        levels: &OrganizationLevels,
        day: Period,
        month: Period,
        now: DateTime<Utc>,
    ) -> Vec<AlertEvent> {
        let Some(plan) = self.catalog.get(&levels.plan) else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for &(action, used) in &levels.requests_today {
            let Some(limit) = plan.daily_limit(action).map(u64::from).filter(|l| *l > 0) else {
                continue;
            };
            for percent in THRESHOLDS {
                if u128::from(used) * 100 >= u128::from(limit) * u128::from(percent) {
                    events.push(AlertEvent::quota_threshold(
                        levels.organization,
                        action,
                        percent,
                        used,
                        limit,
                        day.end(),
                        now,
                    ));
                }
            }
        }
        if let Some(budget) = plan.monthly_budget.limit().filter(|b| b.get() > 0) {
            let spent = levels.cost_month.get();
            for percent in THRESHOLDS {
                if i128::from(spent) * 100 >= i128::from(budget.get()) * i128::from(percent) {
                    events.push(AlertEvent::budget_threshold(
                        levels.organization,
                        percent,
                        spent,
                        budget.get(),
                        month.end(),
                        now,
                    ));
                }
            }
        }
        events
    }

    /// Reports a call refused for the monthly budget: the period's first refusal becomes a
    /// `budget.exceeded` event; later ones (here, or on another instance) write nothing new.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; a later refusal tries again.
    pub async fn budget_refused(
        &self,
        organization: OrganizationId,
        spent: Micros,
        limit: Micros,
        period_end: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = (organization, period_end.timestamp());
        if self
            .refusals
            .lock()
            .map(|seen| seen.contains(&key))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let event = AlertEvent::budget_exceeded(
            organization,
            spent.get(),
            limit.get(),
            period_end,
            self.clock.now(),
        );
        self.store.enqueue(event).await?;
        if let Ok(mut seen) = self.refusals.lock() {
            seen.insert(key);
        }
        Ok(())
    }

    /// Enqueues a `subscription.updated` event for each subscription change not yet followed,
    /// and moves the cursor past them; returns the deliveries written.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; the cursor stays, and the events are enqueued again
    /// (once each) on the next pass.
    pub async fn follow_subscription_changes(&self) -> Result<u32, StoreError> {
        let cursor = self.store.cursor(SUBSCRIPTION_CURSOR).await?;
        let changes = self.changes.changes_after(cursor, 100).await?;
        let mut written = 0;
        let mut last = cursor;
        for change in changes {
            written += self
                .store
                .enqueue(AlertEvent::subscription_updated(
                    change.organization,
                    change.id,
                    &change.plan_after,
                    &change.plan_before,
                    change.status_after.map(|s| s.as_str()),
                    change.status_before.map(|s| s.as_str()),
                    change.at,
                ))
                .await?;
            last = change.id;
        }
        if last != cursor {
            self.store.set_cursor(SUBSCRIPTION_CURSOR, last).await?;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests;
