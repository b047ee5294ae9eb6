//! Port contract tests of Tollgate's storage adapters: the rules every implementation of
//! `QuotaLedger`, `PlanDirectory`, `UsageLedger` and `IdempotencyStore` must keep, written once
//! and run against each adapter (`tollgate-memory`, and `tollgate-sql` on SQLite and Postgres).
//!
//! Each public function of [`quota_ledger`], [`usage_ledger`], [`idempotency`] and [`plans`] is
//! one test body, generic over a [`Subject`]: the adapter's store and a way to add an
//! organisation to it. A body panics when the adapter breaks the contract. Bodies spawn tasks
//! to race each other, so they run on a multi-thread tokio runtime. They use fixed instants
//! ([`T0`]), never the wall clock, so that no test depends on the time of day it runs at.
//!
//! An adapter's test crate runs every contract through [`for_each_contract!`], which names them
//! all, so a contract added here runs everywhere:
//!
//! ```ignore
//! struct Memory(MemoryStore);
//! impl Subject for Memory { /* store(), tenant() */ }
//!
//! macro_rules! on_memory {
//!     ($($module:ident :: $name:ident),* $(,)?) => {$(
//!         #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//!         async fn $name() {
//!             tollgate_contract_tests::$module::$name(Memory(MemoryStore::new())).await;
//!         }
//!     )*};
//! }
//! tollgate_contract_tests::for_each_contract!(on_memory);
//! ```

#![warn(missing_docs)]

pub mod idempotency;
pub mod lease_model;
pub mod leases;
pub mod plans;
pub mod quota_ledger;
pub mod usage_ledger;

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use tollgate_costing::{TokenUsage, UsageEvent};
use tollgate_kernel::{Micros, OrganizationId, Period, UserId};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReservationRequest};

/// An adapter under test.
pub trait Subject: Send + Sync + 'static {
    /// The adapter: implements the ports of the contracts it runs; clones share one state.
    type Store: Clone + Send + Sync + 'static;

    /// The store under test (a clone per task that a contract spawns).
    fn store(&self) -> Self::Store;

    /// A new organisation on the `free` plan with one member, known to the store's
    /// `PlanDirectory`.
    fn tenant(&self) -> impl Future<Output = Tenant> + Send;
}

/// An organisation made for one contract, and its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    /// The organisation.
    pub organization: OrganizationId,
    /// A user of it, who makes the recorded calls.
    pub user: UserId,
}

/// Runs `$run! { module::contract, … }` with every contract of this crate; see the crate
/// documentation. Each name is a test body taking the adapter's [`Subject`].
#[macro_export]
macro_rules! for_each_contract {
    ($run:ident) => {
        $run! {
            quota_ledger::a_reservation_takes_a_unit_and_its_estimate_and_settles_or_releases_once,
            quota_ledger::a_quota_refusal_takes_nothing,
            quota_ledger::a_budget_refusal_takes_nothing,
            quota_ledger::concurrent_reservations_never_pass_the_daily_quota,
            quota_ledger::concurrent_reservations_never_pass_the_budget,
            quota_ledger::concurrent_cycles_never_overspend_when_actuals_stay_within_estimates,
            quota_ledger::overshoots_are_recorded_and_bounded_by_the_admitted_overshoots,
            quota_ledger::the_sweeper_expires_overdue_reservations_and_a_late_settlement_charges,
            quota_ledger::the_sweeper_takes_only_pending_overdue_reservations_oldest_first,
            quota_ledger::days_months_and_actions_count_separately,
            quota_ledger::a_reservation_id_is_taken_once,
            quota_ledger::an_extended_reservation_outlives_its_first_expiry,
            usage_ledger::settle_and_record_changes_budget_and_ledger_together_once,
            usage_ledger::a_settlement_after_the_sweep_still_charges_and_records_once,
            usage_ledger::a_settlement_whose_reservation_storage_lost_charges_the_call_once,
            usage_ledger::a_released_reservation_is_not_charged,
            usage_ledger::concurrent_settlements_of_one_call_charge_it_once,
            usage_ledger::totals_sum_a_period_per_key_and_agree_with_the_budget,
            usage_ledger::a_call_that_straddles_months_counts_where_it_was_reserved_and_where_it_ended,
            idempotency::a_key_is_claimed_then_replayed_and_refuses_another_request,
            idempotency::an_abandoned_key_is_fresh_again,
            idempotency::an_expired_key_is_fresh_again,
            idempotency::keys_belong_to_their_organisation,
            idempotency::concurrent_claims_of_one_key_let_one_request_through,
            plans::an_organisation_has_its_plan_until_it_is_moved,
            leases::a_lease_holds_its_grant_until_its_events_are_recorded_and_it_is_returned,
            leases::a_retried_grant_grants_once,
            leases::grants_shrink_as_holders_share_the_remainder,
            leases::a_top_up_that_needs_no_budget_gets_units_when_the_budget_is_used_up,
            leases::concurrent_grants_and_reservations_never_pass_the_limits,
            leases::an_expired_lease_is_written_off_and_late_events_are_not_charged_twice,
            leases::the_operator_ceiling_refuses_what_other_organisations_used_up,
            leases::concurrent_admissions_of_many_organisations_never_pass_the_operator_ceiling,
        }
    };
}

/// The instant the contracts happen at: mid-day, mid-month, in whole milliseconds (what the SQL
/// adapter keeps).
pub const T0: DateTime<Utc> = match DateTime::from_timestamp_millis(1_795_262_400_000) {
    // 2026-11-21T12:00:00Z
    Some(at) => at,
    None => DateTime::<Utc>::MIN_UTC,
};

/// A reservation of one `analysis` unit and `estimate` against `budget` (`None`: unlimited),
/// made at [`T0`] for T0's day and month, expiring five minutes later.
pub fn request(
    organization: OrganizationId,
    daily_limit: u32,
    budget: Option<i64>,
    estimate: i64,
) -> ReservationRequest {
    ReservationRequest {
        id: ReservationId::new(),
        organization,
        action: Action::Analysis,
        day: Period::utc_day(T0),
        daily_limit,
        month: Period::utc_month(T0),
        budget: budget.map(Micros::new),
        ceiling: None,
        estimate: Micros::new(estimate),
        created_at: T0,
        expires_at: T0 + Duration::minutes(5),
    }
}

/// An organisation's `analysis` units of a day and its budget of a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// `analysis` units taken that day.
    pub used: u32,
    /// Micro-dollars spent that month.
    pub spent: i64,
    /// Micro-dollars reserved that month.
    pub reserved: i64,
}

/// [`Counters`] of `organization` for the day and month of `at`.
///
/// # Panics
/// When storage fails.
pub async fn counters_at<L: QuotaLedger>(
    ledger: &L,
    organization: OrganizationId,
    at: DateTime<Utc>,
) -> Counters {
    let counters = ledger
        .usage(organization, Period::utc_day(at), Period::utc_month(at))
        .await
        .expect("usage");
    Counters {
        used: counters
            .daily_used
            .iter()
            .find(|(action, _)| *action == Action::Analysis)
            .map_or(0, |(_, used)| *used),
        spent: counters.spent.get(),
        reserved: counters.reserved.get(),
    }
}

/// [`Counters`] of `organization` for [`T0`]'s day and month.
///
/// # Panics
/// When storage fails.
pub async fn counters<L: QuotaLedger>(ledger: &L, organization: OrganizationId) -> Counters {
    counters_at(ledger, organization, T0).await
}

/// The usage event of an `analysis` call by `tenant` that settles reservation `id`, ending at
/// `at`, without an API key.
pub fn event(
    tenant: Tenant,
    id: ReservationId,
    cost: i64,
    price: i64,
    at: DateTime<Utc>,
) -> UsageEvent {
    UsageEvent {
        id: id.as_uuid(),
        organization: tenant.organization,
        user: tenant.user,
        key: None,
        action: Action::Analysis,
        model: "gpt-4o-mini".to_owned(),
        usage: TokenUsage {
            input_tokens: 100,
            cached_input_tokens: 0,
            output_tokens: 50,
        },
        cost: Micros::new(cost),
        price: Micros::new(price),
        request_id: format!("req-{id}"),
        at,
    }
}

/// A value in `low..high` that varies with `seed`, the same on every run (a test that fails
/// fails again).
pub(crate) fn spread(seed: u64, low: i64, high: i64) -> i64 {
    // SplitMix64's finaliser: consecutive seeds give unrelated values.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let width = u64::try_from(high - low).unwrap_or(1).max(1);
    low + i64::try_from(z % width).unwrap_or(0)
}
