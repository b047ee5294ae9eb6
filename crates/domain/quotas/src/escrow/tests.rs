use chrono::TimeZone;

use super::*;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn terms(budget: Option<i64>) -> LeaseTerms {
    LeaseTerms {
        day: Period::utc_day(at(0)),
        month: Period::utc_month(at(0)),
        daily_limit: 1_000,
        budget: budget.map(Micros::new),
    }
}

struct Fixture {
    escrow: Escrow,
    org: OrganizationId,
}

impl Fixture {
    fn new() -> Self {
        Self {
            escrow: Escrow::new(EscrowPolicy::default()),
            org: OrganizationId::new(),
        }
    }

    fn admit(&self, estimate: i64, now: DateTime<Utc>) -> Option<(ReservationId, LeasedAdmission)> {
        let call = ReservationId::new();
        self.escrow
            .try_admit(
                call,
                self.org,
                Action::Chat,
                terms(Some(1_000_000)),
                Micros::new(estimate),
                now,
            )
            .map(|admission| (call, admission))
    }

    /// Grants what is due with `grant` (units, micros).
    fn grant(&self, units: u32, micros: i64, now: DateTime<Utc>) -> Vec<GrantRequest> {
        let due = self.escrow.grants_due(now);
        let answers: Vec<_> = due
            .iter()
            .map(|request| {
                (
                    request.lease,
                    GrantOutcome::Granted {
                        units,
                        micros: Micros::new(micros),
                        daily_taken: units,
                    },
                )
            })
            .collect();
        self.escrow.granted(&answers, now);
        due
    }
}

#[test]
fn the_first_call_is_reserved_in_storage_and_asks_for_a_lease() {
    let fx = Fixture::new();
    assert!(fx.admit(100, at(0)).is_none());
    let due = fx.escrow.grants_due(at(0));
    assert_eq!(due.len(), 1);
    let request = &due[0];
    assert_eq!(request.sequence, 1);
    assert_eq!(request.organization, fx.org);
    assert_eq!(request.min_micros, Micros::new(100));
    assert!(request.units >= EscrowPolicy::default().min_units);
    assert_eq!(request.expires_at, at(30));
    // One grant in flight per lease: nothing more is due until it is answered.
    assert!(fx.escrow.grants_due(at(0)).is_empty());
}

#[test]
fn calls_draw_on_the_lease_until_it_cannot_cover_one_more() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(3, 250, at(0));
    let (_, first) = fx.admit(100, at(0)).expect("covered by the lease");
    assert!(fx.admit(100, at(0)).is_some());
    // 50 micro-dollars left: a call whose worst case is 100 goes to storage.
    assert!(fx.admit(100, at(0)).is_none());
    assert_eq!(fx.escrow.available(fx.org, Action::Chat), Some((1, 50)));
    assert_eq!(fx.escrow.in_flight(), 2);
    assert_eq!(first.daily_used, 1);
}

#[test]
fn settling_returns_the_unused_estimate_and_marks_the_event_for_the_batch() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(10, 1_000, at(0));
    let (call, admission) = fx.admit(100, at(0)).unwrap();
    assert_eq!(
        fx.escrow.finish(call, Micros::new(30)),
        Some(admission.lease)
    );
    assert_eq!(fx.escrow.available(fx.org, Action::Chat), Some((9, 970)));
    // Settled once: a second settlement of the same call is not the lease's.
    assert_eq!(fx.escrow.finish(call, Micros::new(30)), None);
    assert!(!fx.escrow.holds(call));
    // Unrecorded events keep the lease from being given back, however idle.
    assert!(
        fx.escrow
            .to_give_back(at(60), GiveBack::Everything)
            .is_empty()
    );
    fx.escrow.recorded(&[(admission.lease, 1)]);
    assert_eq!(
        fx.escrow.to_give_back(at(60), GiveBack::Everything),
        vec![admission.lease]
    );
}

#[test]
fn a_released_call_gives_its_unit_and_estimate_back_to_the_lease() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(10, 1_000, at(0));
    let (call, _) = fx.admit(100, at(0)).unwrap();
    assert!(fx.escrow.release(call));
    assert_eq!(fx.escrow.available(fx.org, Action::Chat), Some((10, 1_000)));
    assert!(!fx.escrow.release(call));
    assert!(!fx.escrow.release(ReservationId::new()));
}

#[test]
fn a_running_lease_is_topped_up_with_the_next_sequence_before_it_runs_dry() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(16, 1_600, at(0));
    for _ in 0..8 {
        fx.admit(100, at(0)).unwrap();
    }
    let due = fx.escrow.grants_due(at(0));
    assert_eq!(due.len(), 1, "half of the lease used: a top-up is due");
    assert_eq!(due[0].sequence, 2);
    // Storage did not answer: the same sequence is sent again, so a grant that did commit is
    // answered, not applied twice.
    fx.escrow.grants_failed(&[due[0].lease]);
    let again = fx.escrow.grants_due(at(0));
    assert_eq!(again[0].sequence, 2);
}

#[test]
fn near_the_limit_no_lease_is_asked_for_a_while_and_calls_are_reserved_one_by_one() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    let due = fx.escrow.grants_due(at(0));
    fx.escrow
        .granted(&[(due[0].lease, GrantOutcome::Exhausted)], at(0));
    assert!(fx.admit(100, at(0)).is_none());
    assert!(fx.escrow.grants_due(at(0)).is_empty(), "no lease asked for");
    // After `exhausted_for` a lease is tried again (a plan upgrade, a new month).
    assert!(fx.admit(100, at(2)).is_none());
    assert_eq!(fx.escrow.grants_due(at(2)).len(), 1);
}

#[test]
fn a_lease_refused_a_top_up_is_used_up_before_calls_go_to_storage() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(2, 200, at(0));
    fx.admit(100, at(0)).unwrap();
    let due = fx.escrow.grants_due(at(0));
    assert_eq!(due.len(), 1, "half used: a top-up is asked for");
    fx.escrow
        .granted(&[(due[0].lease, GrantOutcome::Exhausted)], at(0));
    // The last unit it holds still serves a call: nothing it holds is stranded.
    assert!(fx.admit(100, at(0)).is_some());
    assert!(fx.admit(100, at(0)).is_none());
    assert!(fx.escrow.grants_due(at(0)).is_empty());
}

#[test]
fn a_plan_change_stops_calls_drawing_on_the_lease_granted_under_the_old_terms() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(10, 1_000, at(0));
    let lower = LeaseTerms {
        budget: Some(Micros::new(500)),
        ..terms(Some(1_000_000))
    };
    let call = ReservationId::new();
    let leased = fx
        .escrow
        .try_admit(call, fx.org, Action::Chat, lower, Micros::new(100), at(0));
    assert!(leased.is_none(), "reserved in storage under the new terms");
    let old = fx.escrow.held();
    assert_eq!(old.len(), 1);
    assert_eq!(
        fx.escrow.to_give_back(at(0), GiveBack::Closed),
        old,
        "the old lease goes back"
    );
}

#[test]
fn a_lease_written_off_by_storage_is_never_given_back() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(10, 1_000, at(0));
    let held = fx.escrow.held();
    fx.escrow.lost(&held);
    assert!(fx.admit(100, at(0)).is_none());
    assert!(
        fx.escrow
            .to_give_back(at(60), GiveBack::Everything)
            .is_empty()
    );
    assert!(!fx.escrow.held().contains(&held[0]));
}

#[test]
fn an_idle_lease_is_given_back_and_a_busy_one_is_kept() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(10, 1_000, at(0));
    let (call, _) = fx.admit(100, at(0)).unwrap();
    assert!(
        fx.escrow
            .to_give_back(at(5), GiveBack::ClosedOrIdle)
            .is_empty()
    );
    // Idle, but a call is still running on it.
    assert!(
        fx.escrow
            .to_give_back(at(20), GiveBack::ClosedOrIdle)
            .is_empty()
    );
    assert!(fx.escrow.release(call));
    let back = fx.escrow.to_give_back(at(20), GiveBack::ClosedOrIdle);
    assert_eq!(back.len(), 1);
    fx.escrow.given_back(&back);
    assert_eq!(fx.escrow.lease_count(), 0);
}

#[test]
fn an_unlimited_budget_leases_units_only() {
    let fx = Fixture::new();
    let unlimited = terms(None);
    let admit = || {
        fx.escrow.try_admit(
            ReservationId::new(),
            fx.org,
            Action::Chat,
            unlimited,
            Micros::new(1_000_000),
            at(0),
        )
    };
    assert!(admit().is_none());
    fx.grant(2, 0, at(0));
    assert!(admit().is_some());
    assert!(admit().is_some());
    assert!(admit().is_none(), "units are still counted");
}

#[test]
fn a_lease_out_of_units_but_holding_a_worst_case_asks_for_units_alone() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(1, 250, at(0));
    let (call, _) = fx.admit(100, at(0)).expect("covered by the lease");
    fx.escrow.finish(call, Micros::new(40));
    // No unit left, 210 micro-dollars held: the next call goes to storage and the top-up needs
    // no budget, so that storage grants units even when the organisation has none left.
    assert!(fx.admit(100, at(0)).is_none());
    let due = fx.escrow.grants_due(at(0));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].min_micros, Micros::new(0));
}

#[test]
fn a_lease_short_of_one_worst_case_asks_only_for_what_it_lacks() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(3, 130, at(0));
    assert!(fx.admit(100, at(0)).is_some());
    // 30 held, a worst case of 100: the top-up must bring at least 70.
    assert!(fx.admit(100, at(0)).is_none());
    let due = fx.escrow.grants_due(at(0));
    assert_eq!(due[0].min_micros, Micros::new(70));
}

#[test]
fn calls_the_lease_cannot_take_do_not_keep_it_from_going_idle() {
    let fx = Fixture::new();
    fx.admit(100, at(0));
    fx.grant(1, 1_000, at(0));
    let (call, admission) = fx.admit(100, at(0)).expect("covered by the lease");
    fx.escrow.finish(call, Micros::new(40));
    fx.escrow.recorded(&[(admission.lease, 1)]);
    // Callers keep retrying calls the lease cannot take (no unit left) for 20 s: the lease
    // last took a call at 0 s, so it is idle from 10 s on and is given back.
    for second in 1..=20 {
        assert!(fx.admit(100, at(second)).is_none());
    }
    assert_eq!(
        fx.escrow.to_give_back(at(20), GiveBack::ClosedOrIdle),
        vec![admission.lease],
        "given back while refused calls go on"
    );
}
