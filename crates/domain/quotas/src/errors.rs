use chrono::{DateTime, Utc};
use tollgate_kernel::{Micros, PlanId};

use crate::service::RateDecision;
use tollgate_kernel::Action;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a plan catalogue cannot be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A plan that is not built in lacks a field.
    #[error("plan {plan}: {field} is required for a plan that is not built in")]
    MissingField {
        /// The plan's id.
        plan: String,
        /// The missing field's configuration name.
        field: &'static str,
    },
    /// A daily quota names an action that does not exist.
    #[error(
        "plan {plan}: unknown action {action:?} in daily_quota (known: analysis, comparison, chat)"
    )]
    UnknownAction {
        /// The plan's id.
        plan: String,
        /// The name configured.
        action: String,
    },
    /// A value is out of range or contradicts another.
    #[error("plan {plan}: {reason}")]
    Invalid {
        /// The plan's id.
        plan: String,
        /// What is wrong.
        reason: String,
    },
    /// The catalogue has no [`PlanCatalog::DEFAULT_PLAN`](crate::PlanCatalog::DEFAULT_PLAN).
    #[error("the catalogue must contain the default plan \"free\"")]
    MissingDefault,
}

/// Why a metered call was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The organisation does not exist.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The organisation is suspended.
    #[error("the organization is suspended")]
    Suspended,
    /// The plan has no quota for the action.
    #[error("the {action} action is not included in the {plan} plan")]
    ActionNotInPlan {
        /// The action asked for.
        action: Action,
        /// The organisation's plan id.
        plan: PlanId,
    },
    /// The rate limit refused the call.
    #[error("rate limit of {} requests per minute exceeded", decision.limit)]
    RateLimited {
        /// The limiter's answer, for the `Retry-After` and `RateLimit` headers.
        decision: RateDecision,
    },
    /// Today's quota for the action is used up.
    #[error("daily {action} quota of {limit} calls is used up")]
    QuotaExceeded {
        /// The action asked for.
        action: Action,
        /// The plan's daily quota for it.
        limit: u32,
        /// Units used today.
        used: u32,
        /// The end of the UTC day.
        resets_at: DateTime<Utc>,
    },
    /// The call's estimate does not fit in what is left of the month's budget.
    #[error("monthly AI budget of {limit} is used up")]
    BudgetExceeded {
        /// The plan's monthly budget.
        limit: Micros,
        /// Cost settled this month.
        spent: Micros,
        /// Estimates of calls in flight.
        reserved: Micros,
        /// The end of the UTC month.
        resets_at: DateTime<Utc>,
    },
    /// The API key's own monthly spending cap cannot hold the call's estimate.
    #[error("this API key's monthly spending cap of {limit} is used up")]
    KeyCapExceeded {
        /// The key's cap.
        limit: Micros,
        /// What its calls cost this month.
        spent: Micros,
        /// Estimates of its calls in flight.
        reserved: Micros,
        /// The end of the UTC month.
        resets_at: DateTime<Utc>,
    },
    /// The operator's monthly ceiling on AI cost across all organisations is reached: no
    /// organisation's call is admitted until the month ends or the ceiling is raised.
    #[error("the service's monthly AI capacity is used up; calls resume {resets_at}")]
    OperatorCeilingReached {
        /// The end of the UTC month.
        resets_at: DateTime<Utc>,
    },
    /// The rate limiter did not answer and the policy is
    /// [`LimiterFailure::Closed`](crate::LimiterFailure::Closed).
    #[error("the rate limiter is unavailable")]
    LimiterUnavailable(#[source] Cause),
    /// Storage failed, or the organisation is on a plan the catalogue does not know.
    #[error("admitting the call failed")]
    Unexpected(#[source] Cause),
}

impl From<tollgate_kernel::StoreError> for AdmitError {
    fn from(error: tollgate_kernel::StoreError) -> Self {
        Self::Unexpected(Box::new(error))
    }
}
