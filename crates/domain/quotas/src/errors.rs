use chrono::{DateTime, Utc};
use tollgate_kernel::Micros;

use crate::action::Action;
use crate::service::RateDecision;

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("plan {plan}: {field} is required for a plan that is not built in")]
    MissingField { plan: String, field: &'static str },
    #[error(
        "plan {plan}: unknown action {action:?} in daily_quota (known: analysis, comparison, chat)"
    )]
    UnknownAction { plan: String, action: String },
    #[error("plan {plan}: {reason}")]
    Invalid { plan: String, reason: String },
    #[error("the catalogue must contain the default plan \"free\"")]
    MissingDefault,
}

/// Why a metered call was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("the organization is suspended")]
    Suspended,
    #[error("the {action} action is not included in the {plan} plan")]
    ActionNotInPlan { action: Action, plan: String },
    #[error("rate limit of {} requests per minute exceeded", decision.limit)]
    RateLimited { decision: RateDecision },
    #[error("daily {action} quota of {limit} calls is used up")]
    QuotaExceeded {
        action: Action,
        limit: u32,
        used: u32,
        resets_at: DateTime<Utc>,
    },
    #[error("monthly AI budget of {limit} is used up")]
    BudgetExceeded {
        limit: Micros,
        spent: Micros,
        reserved: Micros,
        resets_at: DateTime<Utc>,
    },
    #[error("the rate limiter is unavailable")]
    LimiterUnavailable(#[source] Cause),
    #[error("admitting the call failed")]
    Unexpected(#[source] Cause),
}

impl From<tollgate_identity::StoreError> for AdmitError {
    fn from(error: tollgate_identity::StoreError) -> Self {
        Self::Unexpected(Box::new(error))
    }
}
