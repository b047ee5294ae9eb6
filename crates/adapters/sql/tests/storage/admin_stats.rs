//! The dashboard's figures: counts, today's usage, and per organisation the month's cost, paid
//! revenue net of refunds and usage charges — each agreeing with the reader it must match
//! (usage totals, revenue ledger, meter ledger), and nothing of another day or month — with
//! each organisation's name, plan and suspension.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tollgate_billing::{
    AdminStatsService, CustomerStore, HoldReason, MeterLedgerReader, MeterOutbox, Payment,
    RevenueLedger, StatsReader, SubscriptionStore, UsageChange, UsageChangeOutcome,
    meter_identifier,
};
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_identity::OrganizationAdmin;
use tollgate_kernel::{Action, FixedClock, Micros, OrganizationId, Period, PlanId};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The day the figures are read for, in the month they are read for.
const TODAY: &str = "2026-03-15T12:00:00Z";

async fn call(store: &SqlStore, organization: OrganizationId, cost: i64, price: i64, when: &str) {
    let event = UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: tollgate_kernel::UserId::new(),
        key: None,
        action: Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(cost),
        price: Micros::new(price),
        request_id: "r".into(),
        at: at(when),
    };
    assert!(store.settle_and_record(event).await.unwrap());
}

/// Aggregates the organisation's grown usage of `month` into the meter event of `window`.
async fn bill(
    store: &SqlStore,
    organization: OrganizationId,
    month: Period,
    window: i64,
) -> (String, UsageChangeOutcome) {
    let window = month.start() + Duration::seconds(window);
    let identifier = meter_identifier(organization, month, window);
    let outcome = store
        .record_usage_change(UsageChange {
            organization,
            month,
            window,
            identifier: identifier.clone(),
            metered_plans: Arc::new(vec!["pro".to_owned()]),
            at: at(TODAY),
        })
        .await
        .unwrap();
    (identifier, outcome)
}

async fn pay(store: &SqlStore, event: &str, payment: Payment) {
    store.save(event, None, now(), Some(payment)).await.unwrap();
}

fn invoice(id: &str, customer: &str, cents: i64, when: &str) -> Payment {
    Payment::InvoicePaid {
        invoice: id.into(),
        customer: customer.into(),
        cents,
        currency: "usd".into(),
        at: at(when),
    }
}

fn refund(id: &str, customer: &str, cents: i64, when: &str) -> Payment {
    Payment::Refunded {
        charge: id.into(),
        customer: customer.into(),
        cents,
        currency: "usd".into(),
        at: at(when),
    }
}

both_backends!(
    figures_agree_with_the_usage_revenue_and_meter_books,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await.organization.id;
        let bob = create(&store, "bob@example.com").await.organization.id;
        let carol = create(&store, "carol@example.com").await.organization.id;
        // Dave has nothing this month: counted, but no row.
        create(&store, "dave@example.com").await;
        assert!(store.change_plan(alice, "free", "pro").await.unwrap());
        store.keep_customer(alice, "cus_alice").await.unwrap();
        store.keep_customer(bob, "cus_bob").await.unwrap();
        store.keep_customer(carol, "cus_carol").await.unwrap();
        let day = Period::utc_day(at(TODAY));
        let month = Period::utc_month(at(TODAY));
        let february = Period::utc_month(at("2026-02-01T00:00:00Z"));

        // Alice, metered: one window sent, one held, one pending; February's is not March's.
        call(&store, alice, 5_000, 9_000, "2026-02-28T23:59:59.999Z").await;
        let (_, last_month) = bill(&store, alice, february, 10).await;
        assert_eq!(last_month, UsageChangeOutcome::Billed(9_000));
        call(&store, alice, 1_000, 3_000, "2026-03-01T00:00:00Z").await;
        let (sent, outcome) = bill(&store, alice, month, 10).await;
        assert_eq!(outcome, UsageChangeOutcome::Billed(3_000));
        store.mark_sent(&sent, at(TODAY)).await.unwrap();
        call(&store, alice, 400, 1_200, "2026-03-15T00:00:00Z").await;
        let (held, outcome) = bill(&store, alice, month, 20).await;
        assert_eq!(outcome, UsageChangeOutcome::Billed(1_200));
        store.hold(&held, HoldReason::TooOld).await.unwrap();
        call(&store, alice, 17, 34, "2026-03-15T23:59:59.999Z").await;
        let (_, outcome) = bill(&store, alice, month, 30).await;
        assert_eq!(outcome, UsageChangeOutcome::Billed(34));

        // Bob, on Free: usage not billed by the meter, an invoice paid and partly refunded.
        call(&store, bob, 250, 500, "2026-03-15T08:00:00Z").await;
        call(&store, bob, 99, 300, "2026-03-31T23:59:59.999Z").await;
        call(&store, bob, 7, 7, "2026-04-01T00:00:00Z").await;
        let (_, outcome) = bill(&store, bob, month, 10).await;
        assert_eq!(outcome, UsageChangeOutcome::NotBilled(800));
        pay(
            &store,
            "evt_1",
            invoice("in_b1", "cus_bob", 2_000, "2026-03-03T00:00:00Z"),
        )
        .await;
        pay(
            &store,
            "evt_2",
            refund("ch_b1", "cus_bob", 500, "2026-03-03T00:00:00Z"),
        )
        .await;
        pay(
            &store,
            "evt_3",
            invoice("in_b0", "cus_bob", 7_777, "2026-02-03T00:00:00Z"),
        )
        .await;

        // Carol: no usage, and refunds of the month larger than its invoices.
        pay(
            &store,
            "evt_4",
            invoice("in_c1", "cus_carol", 100, "2026-03-20T00:00:00Z"),
        )
        .await;
        pay(
            &store,
            "evt_5",
            refund("ch_c1", "cus_carol", 300, "2026-03-05T00:00:00Z"),
        )
        .await;

        // Bob is suspended: the dashboard says so beside his figures.
        assert_eq!(
            store
                .set_suspended(bob, true, "root".into(), now())
                .await
                .unwrap(),
            Some(true)
        );
        let profile = |email: &str, plan: &str, suspended: bool| {
            Some(tollgate_billing::OrganizationProfile {
                name: format!("{email}'s organization"),
                plan: PlanId::new(plan),
                suspended,
            })
        };

        let figures = store.figures(day, month).await.unwrap();
        assert_eq!((figures.users, figures.organizations), (4, 4));
        assert_eq!(figures.requests_today, 3, "alice's two and bob's first");
        assert_eq!(figures.cost_today, Micros::new(400 + 17 + 250));
        let mut per_organization = figures.per_organization.clone();
        per_organization.sort_by_key(|o| o.organization);
        let mut expected = vec![
            tollgate_billing::OrganizationMonth {
                organization: alice,
                profile: profile("alice@example.com", "pro", false),
                cost_month: Micros::new(1_000 + 400 + 17),
                paid_net_cents: 0,
                usage_charges: Micros::new(3_000 + 1_200 + 34),
            },
            tollgate_billing::OrganizationMonth {
                organization: bob,
                profile: profile("bob@example.com", "free", true),
                cost_month: Micros::new(250 + 99),
                paid_net_cents: 1_500,
                usage_charges: Micros::ZERO,
            },
            tollgate_billing::OrganizationMonth {
                organization: carol,
                profile: profile("carol@example.com", "free", false),
                cost_month: Micros::ZERO,
                paid_net_cents: -200,
                usage_charges: Micros::ZERO,
            },
        ];
        expected.sort_by_key(|o| o.organization);
        assert_eq!(per_organization, expected);

        // The same micro-dollars as the usage endpoint, the revenue ledger and reconcile.
        let books = store.meter_ledger(month).await.unwrap();
        for figure in &figures.per_organization {
            let totals = store.totals(figure.organization, month).await.unwrap();
            assert_eq!(figure.cost_month, totals.cost);
            let revenue = store.revenue(figure.organization, month).await.unwrap();
            assert_eq!(figure.paid_net_cents, revenue.net_cents());
            let billed = books
                .iter()
                .find(|b| b.organization == figure.organization)
                .map_or(0, |b| b.sent_micros + b.pending_micros + b.held_micros);
            assert_eq!(figure.usage_charges, Micros::new(billed));
        }
        let alice_books = books.iter().find(|b| b.organization == alice).unwrap();
        assert_eq!(
            (
                alice_books.sent_micros,
                alice_books.pending_micros,
                alice_books.held_micros
            ),
            (3_000, 34, 1_200)
        );

        // And through the service, at noon of that day.
        let service = AdminStatsService::new(store.clone(), Arc::new(FixedClock::new(at(TODAY))));
        let stats = service.stats(2).await.unwrap();
        assert_eq!(stats.cost_month, Micros::new(1_417 + 349));
        assert_eq!(
            stats.revenue_month,
            Micros::new(4_234 + 15_000_000 - 2_000_000)
        );
        assert_eq!(stats.margin_month, Micros::new(4_234 + 13_000_000 - 1_766));
        let spenders: Vec<_> = stats.top_spenders.iter().map(|o| o.organization).collect();
        assert_eq!(spenders, [alice, bob]);
        let unprofitable: Vec<_> = stats.unprofitable.iter().map(|o| o.organization).collect();
        assert_eq!(unprofitable, [carol]);
    }
);

both_backends!(an_empty_database_has_no_figures, |url: String| async move {
    let store = store(&url).await;
    let figures = store
        .figures(Period::utc_day(now()), Period::utc_month(now()))
        .await
        .unwrap();
    assert_eq!(
        (figures.users, figures.organizations, figures.requests_today),
        (0, 0, 0)
    );
    assert_eq!(figures.cost_today, Micros::ZERO);
    assert!(figures.per_organization.is_empty());
});

both_backends!(
    figures_of_an_id_without_an_organisation_have_no_profile,
    |url: String| async move {
        let store = store(&url).await;
        // The books reference organisations by no foreign key: usage of an id with no row.
        let gone = OrganizationId::new();
        call(&store, gone, 5, 10, TODAY).await;
        let figures = store
            .figures(Period::utc_day(at(TODAY)), Period::utc_month(at(TODAY)))
            .await
            .unwrap();
        assert_eq!(figures.per_organization.len(), 1);
        assert_eq!(figures.per_organization[0].organization, gone);
        assert_eq!(figures.per_organization[0].profile, None);
        assert_eq!(figures.per_organization[0].cost_month, Micros::new(5));
    }
);
