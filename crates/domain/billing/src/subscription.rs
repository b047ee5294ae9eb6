//! Subscriptions: what an organisation pays for, as the payment provider last said, and the plan
//! that follows from it.
//!
//! Payment events arrive twice, late and out of order, and Stripe's `created` has one-second
//! resolution, so events are never ordered by time. On each subscription event the host fetches
//! the subscription's *current* state from the provider (Stripe's recommended pattern) and
//! applies that snapshot. Snapshots carry the provider's own account of the subscription, so
//! applying the latest fetched one is right whichever event triggered it; an event already
//! applied (by id) is not applied again.

use chrono::{DateTime, Duration, Utc};
use tollgate_kernel::OrganizationId;

/// A subscription's status as the provider reports it, reduced to what changes the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// In a free trial: the plan applies.
    Trialing,
    /// Paid up: the plan applies.
    Active,
    /// A payment failed: the plan applies for the grace period, then Free.
    PastDue,
    /// Ended (or never completed): the plan applies until the paid period ends, then Free.
    Canceled,
}

impl SubscriptionStatus {
    /// Reads Stripe's status names; `incomplete` and `incomplete_expired` were never paid and
    /// `unpaid` is past due beyond Stripe's own retries: they give no plan, like `canceled`
    /// with its period over.
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "trialing" => Some(Self::Trialing),
            "active" => Some(Self::Active),
            "past_due" => Some(Self::PastDue),
            "canceled" | "unpaid" | "incomplete" | "incomplete_expired" | "paused" => {
                Some(Self::Canceled)
            }
            _ => None,
        }
    }

    /// The name used in storage and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }
}

/// A subscription as fetched from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    /// The provider's subscription id (`sub_…`).
    pub id: String,
    /// The provider's customer id (`cus_…`).
    pub customer: String,
    /// Whose subscription it is.
    pub organization: OrganizationId,
    /// Its status.
    pub status: SubscriptionStatus,
    /// The price subscribed to (it names the plan, through configuration).
    pub price: Option<String>,
    /// When the paid period ends.
    pub current_period_end: DateTime<Utc>,
}

/// An organisation's subscription as recorded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The last snapshot applied.
    pub snapshot: SubscriptionSnapshot,
    /// The plan its price maps to (`None`: a price no plan is sold under).
    pub plan: Option<String>,
    /// When this record first saw it past due (kept while it stays past due).
    pub past_due_since: Option<DateTime<Utc>>,
}

/// How subscription states map to plans.
#[derive(Debug, Clone)]
pub struct SubscriptionRules {
    /// The plan of an organisation without a paying subscription.
    pub fallback_plan: String,
    /// How long a past-due subscription keeps its plan.
    pub grace: Duration,
}

impl Default for SubscriptionRules {
    fn default() -> Self {
        Self {
            fallback_plan: "free".to_owned(),
            grace: Duration::days(3),
        }
    }
}

impl Subscription {
    /// The record after `snapshot` is applied at `now` to `previous` (if any), with `plan` the
    /// plan its price maps to.
    pub fn apply(
        previous: Option<&Subscription>,
        snapshot: SubscriptionSnapshot,
        plan: Option<String>,
        now: DateTime<Utc>,
    ) -> Subscription {
        let past_due_since = match snapshot.status {
            SubscriptionStatus::PastDue => Some(
                previous
                    .filter(|p| p.snapshot.id == snapshot.id)
                    .and_then(|p| p.past_due_since)
                    .unwrap_or(now),
            ),
            _ => None,
        };
        Subscription {
            snapshot,
            plan,
            past_due_since,
        }
    }

    /// The plan the organisation is on at `now`.
    pub fn effective_plan(&self, rules: &SubscriptionRules, now: DateTime<Utc>) -> String {
        let fallback = || rules.fallback_plan.clone();
        let Some(plan) = self.plan.clone() else {
            return fallback();
        };
        match self.snapshot.status {
            SubscriptionStatus::Trialing | SubscriptionStatus::Active => plan,
            SubscriptionStatus::PastDue => {
                let since = self.past_due_since.unwrap_or(now);
                if now < since + rules.grace {
                    plan
                } else {
                    fallback()
                }
            }
            SubscriptionStatus::Canceled => {
                if now < self.snapshot.current_period_end {
                    plan
                } else {
                    fallback()
                }
            }
        }
    }

    /// When the effective plan will change by itself if nothing else happens (the end of a
    /// grace period or of a canceled subscription's paid period): the host re-evaluates then.
    pub fn next_change(&self, rules: &SubscriptionRules) -> Option<DateTime<Utc>> {
        match self.snapshot.status {
            SubscriptionStatus::PastDue => self.past_due_since.map(|since| since + rules.grace),
            SubscriptionStatus::Canceled => Some(self.snapshot.current_period_end),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
