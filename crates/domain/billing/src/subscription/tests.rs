use super::*;

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::hours(hours)
}

fn snapshot(status: SubscriptionStatus) -> SubscriptionSnapshot {
    SubscriptionSnapshot {
        id: "sub_1".into(),
        customer: "cus_1".into(),
        organization: OrganizationId::new(),
        status,
        price: Some("price_pro".into()),
        current_period_end: at(24 * 30),
    }
}

fn record(status: SubscriptionStatus, now: DateTime<Utc>) -> Subscription {
    Subscription::apply(None, snapshot(status), Some("pro".into()), now)
}

#[test]
fn trialing_and_active_subscriptions_give_their_plan() {
    let rules = SubscriptionRules::default();
    for status in [SubscriptionStatus::Trialing, SubscriptionStatus::Active] {
        assert_eq!(record(status, at(0)).effective_plan(&rules, at(1)), "pro");
    }
}

#[test]
fn past_due_keeps_the_plan_for_the_grace_period_then_falls_back() {
    let rules = SubscriptionRules::default();
    let past_due = record(SubscriptionStatus::PastDue, at(0));
    assert_eq!(past_due.effective_plan(&rules, at(71)), "pro");
    assert_eq!(past_due.effective_plan(&rules, at(72)), "free");
    assert_eq!(past_due.next_change(&rules), Some(at(72)));
}

#[test]
fn the_grace_period_runs_from_when_it_first_went_past_due() {
    let rules = SubscriptionRules::default();
    let first = record(SubscriptionStatus::PastDue, at(0));
    let again = Subscription::apply(
        Some(&first),
        first.snapshot.clone(),
        Some("pro".into()),
        at(48),
    );
    assert_eq!(again.past_due_since, Some(at(0)));
    assert_eq!(again.effective_plan(&rules, at(73)), "free");
    let paid = Subscription::apply(
        Some(&again),
        snapshot(SubscriptionStatus::Active),
        Some("pro".into()),
        at(50),
    );
    assert_eq!(paid.past_due_since, None);
    let late_again = Subscription::apply(
        Some(&paid),
        snapshot(SubscriptionStatus::PastDue),
        Some("pro".into()),
        at(100),
    );
    assert_eq!(
        late_again.past_due_since,
        Some(at(100)),
        "a new grace period"
    );
}

#[test]
fn a_canceled_subscription_keeps_its_plan_until_the_paid_period_ends() {
    let rules = SubscriptionRules::default();
    let canceled = record(SubscriptionStatus::Canceled, at(0));
    assert_eq!(canceled.effective_plan(&rules, at(24 * 30 - 1)), "pro");
    assert_eq!(canceled.effective_plan(&rules, at(24 * 30)), "free");
}

#[test]
fn a_price_no_plan_is_sold_under_gives_the_fallback_plan() {
    let rules = SubscriptionRules::default();
    let unknown = Subscription::apply(None, snapshot(SubscriptionStatus::Active), None, at(0));
    assert_eq!(unknown.effective_plan(&rules, at(1)), "free");
}

#[test]
fn stripe_statuses_are_read() {
    assert_eq!(
        SubscriptionStatus::parse("past_due"),
        Some(SubscriptionStatus::PastDue)
    );
    assert_eq!(
        SubscriptionStatus::parse("incomplete_expired"),
        Some(SubscriptionStatus::Canceled)
    );
    assert_eq!(SubscriptionStatus::parse("weird"), None);
    for status in [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Canceled,
    ] {
        assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
    }
}
