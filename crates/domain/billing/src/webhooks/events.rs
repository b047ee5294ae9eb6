//! The events webhooks carry, and their bodies: `{"type", "timestamp", "data": {...}}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tollgate_kernel::{Action, OrganizationId};

/// The event types an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// 80 % or 100 % of a daily quota or of the monthly budget was reached.
    QuotaThresholdReached,
    /// The first call of a period refused for the monthly budget.
    BudgetExceeded,
    /// The organisation's plan or subscription status changed.
    SubscriptionUpdated,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 3] = [
        EventType::QuotaThresholdReached,
        EventType::BudgetExceeded,
        EventType::SubscriptionUpdated,
    ];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::QuotaThresholdReached => "quota.threshold_reached",
            EventType::BudgetExceeded => "budget.exceeded",
            EventType::SubscriptionUpdated => "subscription.updated",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One event for one organisation, with the key that makes it happen once.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// Whose.
    pub organization: OrganizationId,
    /// Its type.
    pub kind: EventType,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Unique per event: a second enqueue with it writes nothing.
    pub dedupe_key: String,
    /// `data`, beside `organization_id`.
    pub data: Value,
}

impl AlertEvent {
    /// A daily quota of `action` reached `percent` %.
    pub fn quota_threshold(
        organization: OrganizationId,
        action: Action,
        percent: u8,
        used: u64,
        limit: u64,
        period_end: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            organization,
            kind: EventType::QuotaThresholdReached,
            at,
            dedupe_key: format!(
                "quota:{}:{}:{percent}",
                action.as_str(),
                period_end.timestamp()
            ),
            data: json!({
                "kind": "quota",
                "action": action.as_str(),
                "threshold_percent": percent,
                "used": used,
                "limit": limit,
                "period_end": rfc3339(period_end),
            }),
        }
    }

    /// The monthly budget reached `percent` % (micro-dollars).
    pub fn budget_threshold(
        organization: OrganizationId,
        percent: u8,
        spent_micros: i64,
        limit_micros: i64,
        period_end: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            organization,
            kind: EventType::QuotaThresholdReached,
            at,
            dedupe_key: format!("budget:{}:{percent}", period_end.timestamp()),
            data: json!({
                "kind": "budget",
                "threshold_percent": percent,
                "used": spent_micros,
                "limit": limit_micros,
                "period_end": rfc3339(period_end),
            }),
        }
    }

    /// The first call of the month refused for the budget.
    pub fn budget_exceeded(
        organization: OrganizationId,
        spent_micros: i64,
        limit_micros: i64,
        period_end: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            organization,
            kind: EventType::BudgetExceeded,
            at,
            dedupe_key: format!("budget_exceeded:{}", period_end.timestamp()),
            data: json!({
                "kind": "budget",
                "used": spent_micros,
                "limit": limit_micros,
                "period_end": rfc3339(period_end),
            }),
        }
    }

    /// Change number `change` of the organisation's plan or subscription status.
    #[allow(clippy::too_many_arguments)]
    pub fn subscription_updated(
        organization: OrganizationId,
        change: i64,
        plan: &str,
        previous_plan: &str,
        status: Option<&str>,
        previous_status: Option<&str>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            organization,
            kind: EventType::SubscriptionUpdated,
            at,
            dedupe_key: format!("subscription:{change}"),
            data: json!({
                "plan": plan,
                "previous_plan": previous_plan,
                "status": status,
                "previous_status": previous_status,
            }),
        }
    }

    /// The body: `{"type", "timestamp", "data": {"organization_id", ...}}`.
    pub fn body(&self) -> String {
        let mut data = self.data.clone();
        if let Value::Object(map) = &mut data {
            map.insert(
                "organization_id".to_owned(),
                Value::String(self.organization.to_string()),
            );
        }
        json!({
            "type": self.kind.as_str(),
            "timestamp": rfc3339(self.at),
            "data": data,
        })
        .to_string()
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn bodies_follow_the_contract() {
        let org = OrganizationId::new();
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let event = AlertEvent::quota_threshold(org, Action::Chat, 80, 40, 50, end, at);
        let body: Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "quota.threshold_reached",
                "timestamp": "2026-11-30T10:00:00.000Z",
                "data": {
                    "organization_id": org.to_string(), "kind": "quota", "action": "chat",
                    "threshold_percent": 80, "used": 40, "limit": 50,
                    "period_end": "2026-12-01T00:00:00.000Z",
                }
            })
        );
        let budget = AlertEvent::budget_threshold(org, 100, 1_000, 1_000, end, at);
        assert_ne!(budget.dedupe_key, event.dedupe_key);
        assert_eq!(
            AlertEvent::budget_threshold(org, 100, 1_200, 1_000, end, at).dedupe_key,
            budget.dedupe_key,
            "one per threshold and period, whatever the figures"
        );
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("quota.other"), None);
    }
}
