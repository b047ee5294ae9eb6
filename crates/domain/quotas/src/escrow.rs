//! [`Escrow`]: one instance's leases, held in memory. A call admitted against a lease takes a
//! unit and its worst-case cost from the lease alone — no storage, no await — and gives back the
//! difference when it settles. The escrow decides when a lease needs topping up, when it is idle
//! and may be given back, and when its organisation is near its limit and must go back to exact
//! per-call reservations; [`LeaseKeeper`](crate::LeaseKeeper) carries those decisions to storage.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tollgate_kernel::{Action, Micros, OrganizationId, Period};

use crate::lease::{GrantOutcome, GrantRequest, LeaseId};
use crate::reservation::ReservationId;

/// How leases are sized and kept.
#[derive(Debug, Clone)]
pub struct EscrowPolicy {
    /// The instance's name, recorded with its leases.
    pub holder: String,
    /// How much of the recent traffic a lease should cover: a top-up is asked for when half of
    /// it is left, so a lease runs dry only if a top-up takes longer than half of this.
    pub horizon: Duration,
    /// The fewest units a lease asks for.
    pub min_units: u32,
    /// The most units a lease asks for at once.
    pub max_units: u32,
    /// A lease without calls for this long is given back.
    pub idle_after: Duration,
    /// Leases expire this long after their last renewal; the keeper renews well within it.
    pub lease_ttl: Duration,
    /// After storage said too little is left to lease, how long calls of the organisation are
    /// reserved one by one before a lease is asked for again.
    pub exhausted_for: Duration,
    /// The operator's monthly ceiling on AI cost across all organisations; `None`: none.
    pub operator_ceiling: Option<Micros>,
}

impl Default for EscrowPolicy {
    fn default() -> Self {
        Self {
            holder: "tollgate".to_owned(),
            horizon: Duration::seconds(2),
            min_units: 8,
            max_units: 1_000_000,
            idle_after: Duration::seconds(10),
            lease_ttl: Duration::seconds(30),
            exhausted_for: Duration::seconds(1),
            operator_ceiling: None,
        }
    }
}

/// The plan's terms a lease was granted under; a call under other terms (a plan change, a new
/// day or month) does not draw on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// The UTC day of the units.
    pub day: Period,
    /// The UTC month of the budget.
    pub month: Period,
    /// The plan's daily quota for the action.
    pub daily_limit: u32,
    /// The plan's monthly budget; `None`: unlimited.
    pub budget: Option<Micros>,
}

/// A call admitted against a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasedAdmission {
    /// The lease drawn on.
    pub lease: LeaseId,
    /// The day's units taken in storage by every holder, less what this lease has not used: an
    /// upper bound of the units used, for the quota headers.
    pub daily_used: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopUp {
    Idle,
    Wanted,
    InFlight,
}

#[derive(Debug)]
struct LocalLease {
    key: (OrganizationId, Action),
    terms: LeaseTerms,
    /// Grants confirmed by storage.
    granted_sequence: u32,
    /// A grant sent and not confirmed: retried with the same sequence.
    pending_sequence: Option<u32>,
    units_left: u64,
    micros_left: i64,
    /// Admitted, not yet settled or released.
    in_flight: u32,
    /// Settled here, not yet recorded in storage.
    unflushed: u32,
    /// New calls may draw on it.
    open: bool,
    /// Storage no longer holds it active (written off): never given back.
    lost: bool,
    top_up: TopUp,
    last_admit: DateTime<Utc>,
    window_start: DateTime<Utc>,
    window_admits: u64,
    /// Admits per second over the last full window.
    rate: u64,
    /// The largest estimate seen, to size the budget part of a grant.
    estimate: i64,
    daily_taken: u32,
}

impl LocalLease {
    fn wanted_units(&self, policy: &EscrowPolicy) -> u64 {
        let per_horizon = self.rate.max(self.window_admits)
            * u64::try_from(policy.horizon.num_milliseconds()).unwrap_or(0)
            / 1_000;
        per_horizon.clamp(u64::from(policy.min_units), u64::from(policy.max_units))
    }

    fn wanted_micros(&self, policy: &EscrowPolicy) -> i64 {
        let units = i64::try_from(self.wanted_units(policy)).unwrap_or(i64::MAX);
        self.estimate.max(1).saturating_mul(units)
    }

    fn low(&self, policy: &EscrowPolicy) -> bool {
        self.units_left * 2 < self.wanted_units(policy)
            || (self.terms.budget.is_some() && self.micros_left * 2 < self.wanted_micros(policy))
    }

    fn drained(&self) -> bool {
        self.in_flight == 0 && self.unflushed == 0 && self.top_up != TopUp::InFlight
    }

    /// A lease not granted yet, asking for its first grant.
    fn asked_for(
        key: (OrganizationId, Action),
        terms: LeaseTerms,
        estimate: Micros,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            key,
            terms,
            granted_sequence: 0,
            pending_sequence: None,
            units_left: 0,
            micros_left: 0,
            in_flight: 0,
            unflushed: 0,
            open: true,
            lost: false,
            top_up: TopUp::Wanted,
            last_admit: now,
            window_start: now,
            window_admits: 1,
            rate: 0,
            estimate: estimate.get(),
            daily_taken: 0,
        }
    }

    /// Takes a unit and `estimate` for a call when the lease covers it.
    /// What the next call's worst case needs beyond the budget the lease holds.
    fn budget_needed(&self) -> i64 {
        (self.estimate - self.micros_left).max(0)
    }

    fn take(&mut self, estimate: Micros) -> bool {
        let covers = self.units_left >= 1
            && (self.terms.budget.is_none() || self.micros_left >= estimate.get());
        if covers {
            self.units_left -= 1;
            self.micros_left -= estimate.get();
            self.in_flight += 1;
        }
        covers
    }

    /// The day's units all holders took, less what this lease has not used.
    fn daily_used(&self) -> u32 {
        u32::try_from(u64::from(self.daily_taken).saturating_sub(self.units_left))
            .unwrap_or(u32::MAX)
    }
}

#[derive(Debug, Default)]
struct State {
    leases: HashMap<LeaseId, LocalLease>,
    current: HashMap<(OrganizationId, Action), LeaseId>,
    calls: HashMap<ReservationId, (LeaseId, i64)>,
    per_call_until: HashMap<(OrganizationId, Action), DateTime<Utc>>,
    /// Leases whose top-up is wanted: the keeper's every tick reads these, not every lease.
    wanted: HashSet<LeaseId>,
    /// Leases that admit no more calls: given back (or forgotten) once drained.
    closed: HashSet<LeaseId>,
}

impl State {
    /// Lease `id` admits no more calls; `lost`: storage wrote it off, so it is never given back.
    fn close(&mut self, id: LeaseId, lost: bool) {
        let Some(lease) = self.leases.get_mut(&id) else {
            return;
        };
        lease.open = false;
        lease.lost |= lost;
        if self.current.get(&lease.key) == Some(&id) {
            self.current.remove(&lease.key);
        }
        self.closed.insert(id);
    }

    fn forget(&mut self, id: LeaseId) {
        if let Some(lease) = self.leases.remove(&id)
            && self.current.get(&lease.key) == Some(&id)
        {
            self.current.remove(&lease.key);
        }
        self.wanted.remove(&id);
        self.closed.remove(&id);
    }
}

/// Which leases [`Escrow::to_give_back`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveBack {
    /// Those closed (a plan change, a new day or month): cheap, every keeper tick.
    Closed,
    /// Those closed, and those without calls for `idle_after`: every renewal.
    ClosedOrIdle,
    /// Every lease: at shutdown.
    Everything,
}

/// One instance's leases and the calls admitted against them.
#[derive(Debug, Default)]
pub struct Escrow {
    policy: EscrowPolicy,
    state: Mutex<State>,
    /// Woken whenever storage answers grants (or fails to).
    answered: tokio::sync::Notify,
}

impl Escrow {
    /// An escrow holding nothing yet.
    pub fn new(policy: EscrowPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::default()),
            answered: tokio::sync::Notify::new(),
        }
    }

    /// Its policy.
    pub fn policy(&self) -> &EscrowPolicy {
        &self.policy
    }

    /// Admits call `call` of `estimate` against the organisation's lease for `terms`, or returns
    /// `None`: the call must be reserved in storage (and a lease is asked for, unless the
    /// organisation is near its limit).
    pub fn try_admit(
        &self,
        call: ReservationId,
        organization: OrganizationId,
        action: Action,
        terms: LeaseTerms,
        estimate: Micros,
        now: DateTime<Utc>,
    ) -> Option<LeasedAdmission> {
        let key = (organization, action);
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(id) = state.current.get(&key).copied() {
            let lease = state.leases.get_mut(&id).expect("current leases are held");
            if lease.terms == terms && lease.open {
                lease.estimate = lease.estimate.max(estimate.get());
                let taken = lease.take(estimate);
                count_admit(lease, now, taken);
                if lease.top_up == TopUp::Idle && (!taken || lease.low(&self.policy)) {
                    lease.top_up = TopUp::Wanted;
                    state.wanted.insert(id);
                }
                if !taken {
                    return None;
                }
                let daily_used = lease.daily_used();
                state.calls.insert(call, (id, estimate.get()));
                return Some(LeasedAdmission {
                    lease: id,
                    daily_used,
                });
            }
            // Granted under other terms (a plan change, a new day or month): no more calls on it.
            state.close(id, false);
        }
        if state
            .per_call_until
            .get(&key)
            .is_some_and(|until| *until > now)
        {
            return None;
        }
        state.per_call_until.remove(&key);
        let id = LeaseId::new();
        state
            .leases
            .insert(id, LocalLease::asked_for(key, terms, estimate, now));
        state.current.insert(key, id);
        state.wanted.insert(id);
        None
    }

    /// Gives a lease-backed call's unit and estimate back to its lease (the call produced
    /// nothing). False when the call was not admitted against a lease here.
    pub fn release(&self, call: ReservationId) -> bool {
        let mut state = self.lock();
        let Some((id, estimate)) = state.calls.remove(&call) else {
            return false;
        };
        if let Some(lease) = state.leases.get_mut(&id) {
            lease.units_left += 1;
            lease.micros_left += estimate;
            lease.in_flight -= 1;
        }
        true
    }

    /// Settles a lease-backed call at `actual` in memory (the lease gets back what the estimate
    /// held beyond it) and returns its lease, whose storage record the event must update.
    /// `None` when the call was not admitted against a lease here.
    pub fn finish(&self, call: ReservationId, actual: Micros) -> Option<LeaseId> {
        let mut state = self.lock();
        let (id, estimate) = state.calls.remove(&call)?;
        if let Some(lease) = state.leases.get_mut(&id) {
            lease.micros_left += estimate - actual.get();
            lease.in_flight -= 1;
            lease.unflushed += 1;
        }
        Some(id)
    }

    /// Whether `call` was admitted against a lease here and is still running.
    pub fn holds(&self, call: ReservationId) -> bool {
        self.lock().calls.contains_key(&call)
    }

    /// `recorded` events of each lease are now in storage.
    pub fn recorded(&self, recorded: &[(LeaseId, u32)]) {
        let mut state = self.lock();
        for (id, count) in recorded {
            if let Some(lease) = state.leases.get_mut(id) {
                lease.unflushed = lease.unflushed.saturating_sub(*count);
            }
        }
    }

    /// The grants to send now: one per lease that asked for a top-up and has none in flight.
    pub fn grants_due(&self, now: DateTime<Utc>) -> Vec<GrantRequest> {
        let mut state = self.lock();
        let State {
            leases,
            per_call_until,
            wanted,
            ..
        } = &mut *state;
        let mut due = Vec::new();
        wanted.retain(|id| {
            let Some(lease) = leases.get_mut(id).filter(|lease| lease.open && !lease.lost) else {
                return false;
            };
            if per_call_until
                .get(&lease.key)
                .is_some_and(|until| *until > now)
            {
                return true; // near the limit: asked for again later
            }
            let sequence = lease.pending_sequence.unwrap_or(lease.granted_sequence + 1);
            lease.pending_sequence = Some(sequence);
            lease.top_up = TopUp::InFlight;
            due.push(GrantRequest {
                lease: *id,
                sequence,
                holder: self.policy.holder.clone(),
                organization: lease.key.0,
                action: lease.key.1,
                day: lease.terms.day,
                daily_limit: lease.terms.daily_limit,
                month: lease.terms.month,
                budget: lease.terms.budget,
                ceiling: self.policy.operator_ceiling,
                units: u32::try_from(lease.wanted_units(&self.policy)).unwrap_or(u32::MAX),
                micros: Micros::new(lease.wanted_micros(&self.policy)),
                min_micros: Micros::new(lease.budget_needed()),
                expires_at: now + self.policy.lease_ttl,
            });
            false
        });
        due
    }

    /// Applies storage's answers to [`grants_due`](Self::grants_due).
    pub fn granted(&self, answers: &[(LeaseId, GrantOutcome)], now: DateTime<Utc>) {
        let mut state = self.lock();
        for (id, outcome) in answers {
            let Some(lease) = state.leases.get_mut(id) else {
                continue;
            };
            lease.top_up = TopUp::Idle;
            let sequence = lease.pending_sequence.take();
            let key = lease.key;
            match *outcome {
                GrantOutcome::Granted {
                    units,
                    micros,
                    daily_taken,
                } => {
                    lease.granted_sequence = sequence.unwrap_or(lease.granted_sequence);
                    lease.units_left += u64::from(units);
                    lease.micros_left += micros.get();
                    lease.daily_taken = daily_taken;
                }
                GrantOutcome::Exhausted => {
                    // Near the limit: no more top-ups for a while. What the lease still holds
                    // is used up here (as exact as reserving it call by call); beyond it calls
                    // are reserved one by one.
                    state
                        .per_call_until
                        .insert(key, now + self.policy.exhausted_for);
                }
                GrantOutcome::Closed => state.close(*id, true),
            }
        }
        drop(state);
        self.answered.notify_waiters();
    }

    /// Waits until the grant in flight for the organisation's current lease (if any) is
    /// answered; returns whether there was one. The keeper answers every grant it sends —
    /// granted or failed — so this does not wait longer than one storage round trip.
    pub async fn grant_answered(&self, organization: OrganizationId, action: Action) -> bool {
        let answered = self.answered.notified();
        let mut answered = std::pin::pin!(answered);
        answered.as_mut().enable();
        let in_flight = {
            let state = self.lock();
            state
                .current
                .get(&(organization, action))
                .and_then(|id| state.leases.get(id))
                .is_some_and(|lease| lease.top_up == TopUp::InFlight)
        };
        if in_flight {
            answered.await;
        }
        in_flight
    }

    /// Storage did not answer the grants of `leases`: they are asked for again with the same
    /// sequence, so a grant that did commit is not granted twice.
    pub fn grants_failed(&self, leases: &[LeaseId]) {
        let mut state = self.lock();
        for id in leases {
            if let Some(lease) = state.leases.get_mut(id) {
                lease.top_up = TopUp::Wanted;
                state.wanted.insert(*id);
            }
        }
        drop(state);
        self.answered.notify_waiters();
    }

    /// Leases storage holds for this instance: to renew.
    pub fn held(&self) -> Vec<LeaseId> {
        self.lock()
            .leases
            .iter()
            .filter(|(_, lease)| lease.granted_sequence > 0 && !lease.lost)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Storage no longer holds `leases` active (written off): stop admitting against them.
    pub fn lost(&self, leases: &[LeaseId]) {
        let mut state = self.lock();
        for id in leases {
            state.close(*id, true);
        }
    }

    /// Leases to give back now: closed (a plan change, a new day, near the limit) or idle, with
    /// every call admitted against them settled and recorded. They stop admitting; call
    /// [`given_back`](Self::given_back) once storage took them back (when it did not answer,
    /// they are listed again next time).
    /// Leases that storage never granted, or that it lost, are forgotten here.
    pub fn to_give_back(&self, now: DateTime<Utc>, which: GiveBack) -> Vec<LeaseId> {
        let mut state = self.lock();
        let candidates: Vec<LeaseId> = match which {
            GiveBack::Closed => state.closed.iter().copied().collect(),
            GiveBack::ClosedOrIdle | GiveBack::Everything => state.leases.keys().copied().collect(),
        };
        let mut back = Vec::new();
        for id in candidates {
            let lease = &state.leases[&id];
            let idle = now - lease.last_admit >= self.policy.idle_after;
            let listed = match which {
                GiveBack::Closed => true,
                GiveBack::ClosedOrIdle => !lease.open || idle,
                GiveBack::Everything => true,
            };
            if !listed || !lease.drained() {
                continue;
            }
            let never_granted = lease.granted_sequence == 0 && lease.pending_sequence.is_none();
            if never_granted || lease.lost {
                state.forget(id);
            } else {
                state.close(id, false);
                back.push(id);
            }
        }
        back
    }

    /// `leases` were given back: forget them.
    pub fn given_back(&self, leases: &[LeaseId]) {
        let mut state = self.lock();
        for id in leases {
            state.forget(*id);
        }
    }

    /// Units and budget held in memory, for tests and metrics: (units left, micros left) of the
    /// open lease of `organization` and `action`.
    pub fn available(&self, organization: OrganizationId, action: Action) -> Option<(u64, i64)> {
        let state = self.lock();
        let id = state.current.get(&(organization, action))?;
        let lease = &state.leases[id];
        Some((lease.units_left, lease.micros_left))
    }

    /// Lease-backed calls admitted and not yet settled or released.
    pub fn in_flight(&self) -> usize {
        self.lock().calls.len()
    }

    /// Leases held (granted and not lost), for tests and metrics.
    pub fn lease_count(&self) -> usize {
        self.held().len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts demand for the lease's size; only a call the lease took keeps it from going idle, so
/// that calls refused elsewhere do not pin budget the lease cannot use.
fn count_admit(lease: &mut LocalLease, now: DateTime<Utc>, taken: bool) {
    if taken {
        lease.last_admit = now;
    }
    if now - lease.window_start >= Duration::seconds(1) {
        lease.rate = lease.window_admits;
        lease.window_admits = 0;
        lease.window_start = now;
    }
    lease.window_admits += 1;
}

#[cfg(test)]
mod tests;
