use chrono::{DateTime, Utc};
use tollgate_kernel::{Micros, OrganizationId, Period};

use crate::action::Action;

tollgate_kernel::uuid_id!(
    /// One metered call's hold on a quota unit and a budget estimate; also its usage event's id.
    ReservationId);

/// What one reservation asks of storage, decided atomically: one unit of the day's quota and
/// `estimate` of the month's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub id: ReservationId,
    pub organization: OrganizationId,
    pub action: Action,
    pub day: Period,
    pub daily_limit: u32,
    pub month: Period,
    /// `None`: unlimited.
    pub budget: Option<Micros>,
    pub estimate: Micros,
    pub created_at: DateTime<Utc>,
    /// After this the sweeper releases the reservation if nobody settled it.
    pub expires_at: DateTime<Utc>,
}

/// A granted reservation; settle or release it exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub organization: OrganizationId,
    pub action: Action,
    pub day: Period,
    pub month: Period,
    pub estimate: Micros,
    pub expires_at: DateTime<Utc>,
    /// Quota units used today, this call included.
    pub daily_used: u32,
    pub daily_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved { daily_used: u32 },
    QuotaExceeded { used: u32 },
    BudgetExceeded { spent: Micros, reserved: Micros },
}

/// An organisation's counters for a day and a month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounters {
    pub daily_used: Vec<(Action, u32)>,
    pub spent: Micros,
    pub reserved: Micros,
}
