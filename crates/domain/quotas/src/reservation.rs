use chrono::{DateTime, Utc};
use tollgate_kernel::{Micros, OrganizationId, Period};

use tollgate_kernel::Action;

tollgate_kernel::uuid_id!(
    /// One metered call's hold on a quota unit and a budget estimate; also its usage event's id.
    ReservationId);

/// What one reservation asks of storage, decided atomically: one unit of the day's quota and
/// `estimate` of the month's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    /// The reservation's id.
    pub id: ReservationId,
    /// Whose quota and budget.
    pub organization: OrganizationId,
    /// Whose daily quota.
    pub action: Action,
    /// The UTC day the quota unit counts in.
    pub day: Period,
    /// The plan's daily quota for the action.
    pub daily_limit: u32,
    /// The UTC month the estimate counts in.
    pub month: Period,
    /// `None`: unlimited.
    pub budget: Option<Micros>,
    /// The operator's monthly ceiling on AI cost across all organisations (spent and reserved
    /// in `month`, leases included); `None`: none.
    pub ceiling: Option<Micros>,
    /// The call's worst-case cost.
    pub estimate: Micros,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// After this the sweeper releases the reservation if nobody settled it.
    pub expires_at: DateTime<Utc>,
}

/// A granted reservation; settle or release it exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Its id; the call's usage event carries it.
    pub id: ReservationId,
    /// Whose quota and budget.
    pub organization: OrganizationId,
    /// The action whose quota unit was taken.
    pub action: Action,
    /// The UTC day of the quota unit.
    pub day: Period,
    /// The UTC month of the estimate.
    pub month: Period,
    /// What was reserved of the budget.
    pub estimate: Micros,
    /// When the sweeper may release it.
    pub expires_at: DateTime<Utc>,
    /// Quota units used today, this call included.
    pub daily_used: u32,
    /// The plan's daily quota for the action.
    pub daily_limit: u32,
}

/// What [`QuotaLedger::reserve`](crate::ports::QuotaLedger::reserve) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// The quota unit is taken and the estimate reserved.
    Reserved {
        /// Quota units used today, this call included.
        daily_used: u32,
    },
    /// Today's quota is used up; nothing was taken.
    QuotaExceeded {
        /// Quota units used today.
        used: u32,
    },
    /// The estimate does not fit in the budget; nothing was taken, not even the quota unit.
    BudgetExceeded {
        /// Cost settled this month.
        spent: Micros,
        /// Estimates of calls in flight this month.
        reserved: Micros,
    },
    /// The estimate does not fit under the operator's ceiling; nothing was taken.
    CeilingReached,
}

/// An organisation's counters for a day and a month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounters {
    /// Quota units used in the day, per action; an action not used may be absent. Units that
    /// active leases hold unused are not counted (they still count against the limit).
    pub daily_used: Vec<(Action, u32)>,
    /// Cost settled in the month (with the unused part of leases written off after a crash).
    pub spent: Micros,
    /// Estimates of calls in flight in the month reserved one by one; budget that active leases
    /// hold is not counted (it still counts against the limit).
    pub reserved: Micros,
}
