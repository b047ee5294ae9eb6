//! A model-based test of the lease protocol: several instances (each an [`Escrow`], a
//! [`LeaseKeeper`] and a [`SettlementQueue`]) admit, settle and release calls against one store,
//! top up, flush, renew, give back, crash and expire, in any order a property test generates.
//! After every step no more was served than the budget and the daily quota allow, counting the
//! calls of crashed instances at their worst case; at the end the ledger holds exactly the
//! events that were recorded, each once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use tollgate_billing::{LeasedEvent, LeasedEventStore, SettlementQueue};
use tollgate_costing::UsageLedger;
use tollgate_kernel::{Clock, FixedClock, Micros, OrganizationId, Period};
use tollgate_quotas::ports::{LeaseLedger, QuotaLedger};
use tollgate_quotas::{
    Action, Escrow, EscrowPolicy, GiveBack, LeaseKeeper, LeaseTerms, ReservationId,
    ReservationRequest, ReserveOutcome,
};

use crate::{Subject, T0, Tenant, counters_at, event};

/// The budget of the organisation under test.
pub const BUDGET: i64 = 20_000;
/// Its daily `analysis` quota.
pub const DAILY: u32 = 40;
const INSTANCES: usize = 3;

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// A call of worst case `estimate` arrives at `instance`.
    Admit {
        /// Which instance.
        instance: usize,
        /// Its worst-case cost.
        estimate: i64,
    },
    /// The `call`-th running call ends, costing `percent` % of its estimate.
    Settle {
        /// Index among running calls (modulo their number).
        call: usize,
        /// Its actual cost as a share of its estimate.
        percent: i64,
    },
    /// The `call`-th running call fails upstream and is released.
    Release {
        /// Index among running calls.
        call: usize,
    },
    /// The instance's keeper sends its top-ups.
    TopUp(usize),
    /// The instance writes its queued events.
    Flush(usize),
    /// The instance renews its leases and gives back the drained ones.
    GiveBack(usize),
    /// The instance dies: its queued events and running calls are lost; a new one replaces it.
    Crash(usize),
    /// Time passes.
    Advance(i64),
    /// Any instance's sweeper writes off overdue leases.
    Expire,
}

/// Sequences of steps.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0..INSTANCES, 100i64..1_500).prop_map(|(instance, estimate)| Op::Admit { instance, estimate }),
        4 => (any::<usize>(), 0i64..=100).prop_map(|(call, percent)| Op::Settle { call, percent }),
        1 => any::<usize>().prop_map(|call| Op::Release { call }),
        3 => (0..INSTANCES).prop_map(Op::TopUp),
        2 => (0..INSTANCES).prop_map(Op::Flush),
        1 => (0..INSTANCES).prop_map(Op::GiveBack),
        1 => (0..INSTANCES).prop_map(Op::Crash),
        1 => (1i64..40).prop_map(Op::Advance),
        1 => Just(Op::Expire),
    ];
    proptest::collection::vec(op, 1..80)
}

struct SharedClock(Arc<FixedClock>);

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

struct Instance<L> {
    escrow: Arc<Escrow>,
    keeper: LeaseKeeper<L, SharedClock>,
    queue: SettlementQueue,
    /// Settled lease-backed calls whose events wait in the queue.
    queued: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Running,
    Settled,
    Released,
}

struct Call {
    instance: usize,
    generation: usize,
    id: ReservationId,
    estimate: i64,
    actual: i64,
    leased: bool,
    state: CallState,
    recorded: bool,
}

/// Runs `ops` against `subject`'s store and checks the invariants; panics when one breaks.
pub async fn run<S: Subject>(subject: &S, ops: Vec<Op>)
where
    S::Store: QuotaLedger + LeaseLedger + LeasedEventStore + UsageLedger,
{
    let store = subject.store();
    let tenant: Tenant = subject.tenant().await;
    let org: OrganizationId = tenant.organization;
    let clock = Arc::new(FixedClock::new(T0));
    let fresh = || {
        let escrow = Arc::new(Escrow::new(EscrowPolicy::default()));
        Instance {
            keeper: LeaseKeeper::new(escrow.clone(), subject.store(), SharedClock(clock.clone())),
            escrow,
            queue: SettlementQueue::new(16),
            queued: Vec::new(),
        }
    };
    let mut instances: Vec<Instance<S::Store>> = (0..INSTANCES).map(|_| fresh()).collect();
    let mut generations = [0usize; INSTANCES];
    let mut calls: Vec<Call> = Vec::new();
    let running = |calls: &Vec<Call>| -> Vec<usize> {
        (0..calls.len())
            .filter(|i| calls[*i].state == CallState::Running)
            .collect()
    };

    for op in ops {
        let now = clock.now();
        match op {
            Op::Admit { instance, estimate } => {
                let id = ReservationId::new();
                let terms = LeaseTerms {
                    day: Period::utc_day(now),
                    month: Period::utc_month(now),
                    daily_limit: DAILY,
                    budget: Some(Micros::new(BUDGET)),
                };
                let leased = instances[instance]
                    .escrow
                    .try_admit(id, org, Action::Analysis, terms, Micros::new(estimate), now)
                    .is_some();
                let admitted = leased || {
                    let request = ReservationRequest {
                        id,
                        organization: org,
                        action: Action::Analysis,
                        day: terms.day,
                        daily_limit: DAILY,
                        month: terms.month,
                        budget: terms.budget,
                        ceiling: None,
                        estimate: Micros::new(estimate),
                        created_at: now,
                        expires_at: now + Duration::minutes(5),
                    };
                    matches!(
                        store.reserve(request).await.expect("reserve"),
                        ReserveOutcome::Reserved { .. }
                    )
                };
                if admitted {
                    calls.push(Call {
                        instance,
                        generation: generations[instance],
                        id,
                        estimate,
                        actual: 0,
                        leased,
                        state: CallState::Running,
                        recorded: false,
                    });
                }
            }
            Op::Settle { .. } | Op::Release { .. } if running(&calls).is_empty() => {}
            Op::Settle { call, percent } => {
                let open = running(&calls);
                let index = open[call % open.len()];
                let c = &mut calls[index];
                if c.generation != generations[c.instance] {
                    continue; // its instance died: it never settles
                }
                c.actual = c.estimate * percent / 100;
                c.state = CallState::Settled;
                let usage = event(tenant, c.id, c.actual, c.actual * 2, now);
                if c.leased {
                    let owner = &mut instances[c.instance];
                    let lease = owner
                        .escrow
                        .finish(c.id, Micros::new(c.actual))
                        .expect("leased");
                    owner.queue.push(LeasedEvent {
                        event: usage,
                        lease,
                    });
                    owner.queued.push(index);
                } else {
                    assert!(store.settle_and_record(usage).await.expect("settle"));
                    c.recorded = true;
                }
            }
            Op::Release { call } => {
                let open = running(&calls);
                let index = open[call % open.len()];
                let c = &mut calls[index];
                if c.generation != generations[c.instance] {
                    continue;
                }
                c.state = CallState::Released;
                if c.leased {
                    assert!(instances[c.instance].escrow.release(c.id));
                } else {
                    assert!(store.release(c.id, true, now).await.expect("release"));
                }
            }
            Op::TopUp(i) => {
                instances[i].keeper.top_up().await.expect("top up");
            }
            Op::Flush(i) => {
                let instance = &mut instances[i];
                while !instance.queue.is_empty() {
                    instance
                        .queue
                        .flush(&store, &instance.escrow)
                        .await
                        .expect("flush");
                }
                for index in instance.queued.drain(..) {
                    calls[index].recorded = true;
                }
            }
            Op::GiveBack(i) => {
                instances[i].keeper.renew().await.expect("renew");
                instances[i]
                    .keeper
                    .give_back(GiveBack::ClosedOrIdle)
                    .await
                    .expect("give back");
            }
            Op::Crash(i) => {
                instances[i] = fresh();
                generations[i] += 1;
            }
            Op::Advance(seconds) => clock.advance(Duration::seconds(seconds)),
            Op::Expire => {
                instances[0].keeper.expire(100).await.expect("expire");
            }
        }
        check_limits(&calls);
        let counters = counters_at(&store, org, T0).await;
        assert!(
            counters.spent <= BUDGET,
            "spent {} over the budget",
            counters.spent
        );
    }

    // Every live instance records what it queued: the ledger then holds exactly the recorded
    // events, each once.
    for instance in &mut instances {
        while !instance.queue.is_empty() {
            instance
                .queue
                .flush(&store, &instance.escrow)
                .await
                .expect("flush");
        }
        for index in instance.queued.drain(..) {
            calls[index].recorded = true;
        }
    }
    let recorded: Vec<&Call> = calls.iter().filter(|c| c.recorded).collect();
    let totals = store
        .totals(org, Period::utc_month(T0))
        .await
        .expect("totals");
    assert_eq!(
        totals.requests,
        recorded.len() as u64,
        "each recorded call once"
    );
    let cost: i64 = recorded.iter().map(|c| c.actual).sum();
    assert_eq!(totals.cost, Micros::new(cost));
    let spent = counters_at(&store, org, T0).await.spent;
    assert!(
        spent >= cost,
        "spent {spent} below the recorded cost {cost}"
    );
}

/// Served calls — running ones at their worst case, settled ones at their cost, those of dead
/// instances included — never pass the budget or the daily quota.
fn check_limits(calls: &[Call]) {
    let served: i64 = calls
        .iter()
        .map(|c| match c.state {
            CallState::Running => c.estimate,
            CallState::Settled => c.actual,
            CallState::Released => 0,
        })
        .sum();
    assert!(served <= BUDGET, "served {served} over the budget {BUDGET}");
    let units = calls
        .iter()
        .filter(|c| c.state != CallState::Released)
        .count();
    assert!(
        units <= DAILY as usize,
        "{units} calls over the daily quota {DAILY}"
    );
}

/// Runs `cases` generated sequences against `subject` (a fresh organisation each), printing the
/// sequence that breaks an invariant. Async-friendly: no shrinking, a seed per run.
pub async fn run_cases<S: Subject>(subject: &S, cases: u32)
where
    S::Store: QuotaLedger + LeaseLedger + LeasedEventStore + UsageLedger,
{
    use futures::FutureExt as _;
    use proptest::strategy::ValueTree as _;
    let mut runner = proptest::test_runner::TestRunner::default();
    for case in 0..cases {
        let sequence = ops().new_tree(&mut runner).expect("a sequence").current();
        let outcome = std::panic::AssertUnwindSafe(run(subject, sequence.clone()))
            .catch_unwind()
            .await;
        if let Err(panic) = outcome {
            eprintln!("case {case} broke an invariant; steps: {sequence:#?}");
            std::panic::resume_unwind(panic);
        }
    }
}
