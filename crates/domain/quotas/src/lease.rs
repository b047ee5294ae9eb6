//! Leases (the escrow method): a slice of an organisation's remaining daily quota units and
//! monthly budget, taken from storage by one instance so that it can admit calls in memory.
//! Storage keeps `settled + outstanding leases + per-call reservations ≤ limit` at every moment;
//! see docs/adr/0011-leases.md.

use chrono::{DateTime, Utc};
use tollgate_kernel::{Action, Micros, OrganizationId, Period};

tollgate_kernel::uuid_id!(
    /// One lease; chosen by the instance that holds it, so a retried grant cannot grant twice.
    LeaseId);

/// What one grant asks of storage: add up to `units` and `micros` to lease `lease` (creating it
/// on its first grant), never more than the sizing rule ([`grant_size`]) allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// The lease, chosen by its holder.
    pub lease: LeaseId,
    /// 1 for the lease's first grant, then one more per top-up: a retried grant (same sequence)
    /// is answered with what the first attempt granted, and grants nothing more.
    pub sequence: u32,
    /// The instance holding it (for operators reading the table).
    pub holder: String,
    /// Whose quota and budget.
    pub organization: OrganizationId,
    /// Whose daily quota the units are.
    pub action: Action,
    /// The UTC day of the units.
    pub day: Period,
    /// The plan's daily quota for the action.
    pub daily_limit: u32,
    /// The UTC month of the micros.
    pub month: Period,
    /// The plan's monthly budget; `None`: unlimited.
    pub budget: Option<Micros>,
    /// The operator's monthly ceiling across all organisations; `None`: none.
    pub ceiling: Option<Micros>,
    /// Units wanted.
    pub units: u32,
    /// Budget wanted.
    pub micros: Micros,
    /// Below this much budget the lease is not worth having: what its next call's worst case
    /// needs beyond what the lease still holds; 0 when it holds enough (units alone may then be
    /// granted, see [`budget_grant`]).
    pub min_micros: Micros,
    /// When storage may write the lease off unless its holder renews it.
    pub expires_at: DateTime<Utc>,
}

/// What storage granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Added to the lease.
    Granted {
        /// Quota units added.
        units: u32,
        /// Budget added.
        micros: Micros,
        /// The day's quota units taken in storage after the grant (all holders, all calls).
        daily_taken: u32,
    },
    /// Too little is left to share: the organisation's calls are reserved one by one (exact)
    /// until more is left — after a plan upgrade, the next day or the next month.
    Exhausted,
    /// The lease is no longer active (written off, returned): start a new one.
    Closed,
}

/// The sizing rule of grants, the same in every adapter: at most `wanted`, at most a half of
/// what remains divided among `holders` (the demarcation protocol's R/(2n): a grant never takes
/// what the other holders need to proceed), in whole multiples of `min` (one call's worth), and
/// nothing when that is less than `min`. Whole calls keep a lease from stranding a remainder
/// that, with what is left outside it, would have paid for one more call.
pub fn grant_size(wanted: u64, min: u64, remaining: u64, holders: u64) -> Option<u64> {
    let min = min.max(1);
    let share = remaining / (2 * holders.max(1));
    let size = wanted.min(share) / min * min;
    (size >= min).then_some(size)
}

/// The budget a grant gives: `computed` (from [`grant_size`] and [`grant_under_ceiling`]), or
/// none at all when the lease needs none to take its next call (`min` is 0: it still holds a
/// worst case) — a lease that ran out of units but not of budget gets units alone, rather than
/// being refused while the budget it holds goes unused.
pub fn budget_grant(computed: Option<u64>, min: u64) -> Option<u64> {
    if min == 0 {
        Some(computed.unwrap_or(0))
    } else {
        computed
    }
}

/// A grant's budget under the operator's monthly ceiling: the organisation's own share
/// (`org_share`, from [`grant_size`]) and no more than [`grant_size`] gives of what is left
/// under the ceiling, shared among every lease of the month (`holders`, this one included).
pub fn grant_under_ceiling(
    org_share: Option<u64>,
    wanted: u64,
    min: u64,
    ceiling_left: u64,
    holders: u64,
) -> Option<u64> {
    let ceiling_share = grant_size(wanted, min, ceiling_left, holders)?;
    org_share.map(|share| share.min(ceiling_share))
}

/// The amounts of one lease as storage records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseTotals {
    /// Units granted in all.
    pub units_granted: u64,
    /// Budget granted in all.
    pub micros_granted: i64,
    /// Calls recorded against the lease.
    pub units_settled: u64,
    /// Their cost.
    pub micros_settled: i64,
}

impl LeaseTotals {
    /// The budget a settlement of `cost` moves out of the lease's hold: the part still within
    /// what was granted (a call may cost more than its estimate).
    pub fn within_grant(&self, cost: i64) -> i64 {
        let before = self.micros_settled.min(self.micros_granted);
        let after = (self.micros_settled + cost).min(self.micros_granted);
        (after - before).max(0)
    }

    /// The budget the lease still holds: granted, not yet settled.
    pub fn outstanding_micros(&self) -> i64 {
        (self.micros_granted - self.micros_settled).max(0)
    }

    /// The quota units the lease still holds.
    pub fn outstanding_units(&self) -> u64 {
        self.units_granted.saturating_sub(self.units_settled)
    }
}

/// A lease's standing in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Held; its holder admits against it.
    Active,
    /// Given back by its holder: what it did not use went back to the quota and the budget.
    Returned,
    /// Not renewed in time (its holder died or lost storage): its unsettled budget was counted
    /// as spent — the provider may have served calls whose events never arrived — and its units
    /// stay used.
    Expired,
}

impl LeaseStatus {
    /// The name storage keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Returned => "returned",
            Self::Expired => "expired",
        }
    }

    /// The status named `raw` in storage.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "returned" => Some(Self::Returned),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// What a settlement of `cost` against a lease of `status` does to the month's budget row:
/// (change of spent, change of reserved). The hold of an active lease becomes spending; an
/// expired lease's unsettled hold was written off as spent already, so only a cost beyond its
/// grant adds; a returned lease holds nothing, so the cost is added in full.
pub fn settlement_effect(status: LeaseStatus, totals: &LeaseTotals, cost: i64) -> (i64, i64) {
    let within = totals.within_grant(cost);
    match status {
        LeaseStatus::Active => (cost, -within),
        LeaseStatus::Expired => (cost - within, 0),
        LeaseStatus::Returned => (cost, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_that_needs_no_budget_gets_units_alone_and_one_that_does_gets_its_share() {
        assert_eq!(budget_grant(None, 0), Some(0));
        assert_eq!(budget_grant(Some(500), 0), Some(500));
        assert_eq!(budget_grant(None, 100), None);
        assert_eq!(budget_grant(Some(500), 100), Some(500));
    }

    #[test]
    fn a_grant_takes_at_most_half_the_remainder_shared_among_holders() {
        assert_eq!(grant_size(1_000, 1, 10_000, 1), Some(1_000));
        assert_eq!(grant_size(1_000, 1, 1_000, 1), Some(500));
        assert_eq!(grant_size(1_000, 1, 1_000, 4), Some(125));
        // Near the limit nothing is leased: calls are reserved one by one.
        assert_eq!(grant_size(1_000, 10, 30, 2), None);
        assert_eq!(grant_size(1_000, 0, 1, 1), None);
        // Whole calls of 300: a share of 500 grants one call's worth, not 500.
        assert_eq!(grant_size(1_000, 300, 1_000, 1), Some(300));
    }

    #[test]
    fn only_the_part_of_a_cost_within_the_grant_leaves_the_hold() {
        let totals = LeaseTotals {
            micros_granted: 100,
            micros_settled: 90,
            ..LeaseTotals::default()
        };
        assert_eq!(totals.within_grant(5), 5);
        assert_eq!(totals.within_grant(30), 10);
        assert_eq!(totals.outstanding_micros(), 10);
        assert_eq!(
            settlement_effect(LeaseStatus::Active, &totals, 30),
            (30, -10)
        );
        assert_eq!(
            settlement_effect(LeaseStatus::Expired, &totals, 30),
            (20, 0)
        );
        assert_eq!(
            settlement_effect(LeaseStatus::Returned, &totals, 30),
            (30, 0)
        );
    }

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for status in [
            LeaseStatus::Active,
            LeaseStatus::Returned,
            LeaseStatus::Expired,
        ] {
            assert_eq!(LeaseStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(LeaseStatus::parse("pending"), None);
    }
}
