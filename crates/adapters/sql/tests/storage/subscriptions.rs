//! Subscriptions and handled Stripe events: the mark, the record and the organisation's plan
//! are written together; a redelivered event writes nothing; an older fetch never replaces a
//! newer one; of ten concurrent deliveries of one event exactly one is applied.

use chrono::Duration;
use tollgate_billing::{
    Saved, Subscription, SubscriptionSnapshot, SubscriptionStatus, SubscriptionStore,
};
use tollgate_quotas::ports::PlanDirectory;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

fn record(
    organization: tollgate_kernel::OrganizationId,
    status: SubscriptionStatus,
    plan: &str,
) -> Subscription {
    Subscription {
        snapshot: SubscriptionSnapshot {
            id: "sub_1".into(),
            customer: "cus_1".into(),
            organization,
            status,
            price: Some(format!("price_{plan}")),
            current_period_end: now() + Duration::days(30),
        },
        plan: Some(plan.into()),
        past_due_since: None,
    }
}

async fn plan_of(store: &tollgate_sql::SqlStore, org: tollgate_kernel::OrganizationId) -> String {
    store
        .plan_of(org)
        .await
        .unwrap()
        .unwrap()
        .plan
        .as_str()
        .to_owned()
}

both_backends!(
    an_event_records_the_subscription_and_the_plan_once,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        assert!(!store.handled("evt_1").await.unwrap());
        let pro = record(org, SubscriptionStatus::Active, "pro");
        let saved = store
            .save("evt_1", Some((pro.clone(), "pro".into())), now(), None)
            .await
            .unwrap();
        assert_eq!(saved, Saved::Recorded);
        assert!(store.handled("evt_1").await.unwrap());
        assert_eq!(store.subscription_of(org).await.unwrap(), Some(pro));
        assert_eq!(plan_of(&store, org).await, "pro");
        let customer = tollgate_billing::CustomerStore::customer_of(&store, org).await;
        assert_eq!(
            customer.unwrap().as_deref(),
            Some("cus_1"),
            "kept for the portal"
        );

        // Redelivered with other content: nothing is written.
        let canceled = record(org, SubscriptionStatus::Canceled, "pro");
        let again = store
            .save("evt_1", Some((canceled, "free".into())), now(), None)
            .await
            .unwrap();
        assert_eq!(again, Saved::Duplicate);
        assert_eq!(plan_of(&store, org).await, "pro");

        // An event about nothing of ours is still marked handled.
        assert_eq!(
            store.save("evt_other", None, now(), None).await.unwrap(),
            Saved::Recorded
        );
        assert!(store.handled("evt_other").await.unwrap());
    }
);

both_backends!(
    an_older_fetch_never_replaces_a_newer_one,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let t = now();
        let enterprise = record(org, SubscriptionStatus::Active, "enterprise");
        store
            .save(
                "evt_2",
                Some((enterprise.clone(), "enterprise".into())),
                t,
                None,
            )
            .await
            .unwrap();
        let older = record(org, SubscriptionStatus::Active, "pro");
        let saved = store
            .save(
                "evt_1",
                Some((older, "pro".into())),
                t - Duration::seconds(1),
                None,
            )
            .await
            .unwrap();
        assert_eq!(saved, Saved::Recorded, "the event is handled");
        assert_eq!(store.subscription_of(org).await.unwrap(), Some(enterprise));
        assert_eq!(plan_of(&store, org).await, "enterprise");
    }
);

both_backends!(
    ten_concurrent_deliveries_of_one_event_apply_it_once,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let pro = record(org, SubscriptionStatus::Active, "pro");
        let deliveries = (0..10).map(|_| {
            let (store, pro) = (store.clone(), pro.clone());
            tokio::spawn(async move {
                store
                    .save("evt_1", Some((pro, "pro".into())), now(), None)
                    .await
            })
        });
        let mut recorded = 0;
        for delivery in futures::future::join_all(deliveries).await {
            match delivery.unwrap() {
                Ok(Saved::Recorded) => recorded += 1,
                Ok(Saved::Duplicate) => {}
                Ok(Saved::RecordedWithoutPayment) => panic!("no payment was delivered"),
                // SQLite's single writer may refuse a delivery as busy: Stripe redelivers it.
                Err(error) => assert!(error.to_string().contains("lock"), "{error}"),
            }
        }
        assert_eq!(recorded, 1);
        assert_eq!(plan_of(&store, org).await, "pro");
    }
);

both_backends!(
    an_organisation_keeps_its_first_stripe_customer,
    |url: String| async move {
        use tollgate_billing::CustomerStore;
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        assert_eq!(store.customer_of(org).await.unwrap(), None);
        assert_eq!(store.keep_customer(org, "cus_1").await.unwrap(), "cus_1");
        assert_eq!(store.keep_customer(org, "cus_2").await.unwrap(), "cus_1");
        assert_eq!(
            store.customer_of(org).await.unwrap().as_deref(),
            Some("cus_1")
        );
    }
);

both_backends!(
    lapsing_subscriptions_are_listed_with_the_current_plan_and_moved_only_from_it,
    |url: String| async move {
        let store = store(&url).await;
        let active = create(&store, "alice@example.com").await.organization.id;
        let past_due = create(&store, "bob@example.com").await.organization.id;
        for (i, (org, status)) in [
            (active, SubscriptionStatus::Active),
            (past_due, SubscriptionStatus::PastDue),
        ]
        .into_iter()
        .enumerate()
        {
            let saved = store
                .save(
                    &format!("evt_{i}"),
                    Some((record(org, status, "pro"), "pro".into())),
                    now(),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(saved, Saved::Recorded);
        }
        let lapsing = store.lapsing().await.unwrap();
        assert_eq!(lapsing.len(), 1);
        assert_eq!(lapsing[0].0.snapshot.organization, past_due);
        assert_eq!(lapsing[0].1, "pro");
        assert!(
            !store
                .change_plan(past_due, "enterprise", "free")
                .await
                .unwrap()
        );
        assert!(store.change_plan(past_due, "pro", "free").await.unwrap());
        assert_eq!(plan_of(&store, past_due).await, "free");
    }
);

both_backends!(
    paid_invoices_and_refunds_are_revenue_counted_once,
    |url: String| async move {
        use tollgate_billing::{CustomerStore, Payment, RevenueLedger};
        use tollgate_kernel::Period;
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        store.keep_customer(org, "cus_1").await.unwrap();
        let at = now();
        let paid = Payment::InvoicePaid {
            invoice: "in_1".into(),
            customer: "cus_1".into(),
            cents: 2_000,
            currency: "usd".into(),
            at,
        };
        let refund = |cents| Payment::Refunded {
            charge: "ch_1".into(),
            customer: "cus_1".into(),
            cents,
            currency: "usd".into(),
            at,
        };
        let events = [
            ("evt_paid", paid.clone()),
            // The same invoice reported by another event: counted once.
            ("evt_paid_again", paid),
            ("evt_refund_1", refund(300)),
            ("evt_refund_2", refund(500)),
            // A late, smaller total of the same charge does not lower it.
            ("evt_refund_old", refund(300)),
        ];
        for (event, payment) in events {
            store.save(event, None, now(), Some(payment)).await.unwrap();
        }
        let stranger = Payment::InvoicePaid {
            invoice: "in_9".into(),
            customer: "cus_unknown".into(),
            cents: 9_999,
            currency: "usd".into(),
            at,
        };
        assert_eq!(
            store
                .save("evt_stranger", None, now(), Some(stranger))
                .await
                .unwrap(),
            Saved::RecordedWithoutPayment
        );
        let revenue = store.revenue(org, Period::utc_month(at)).await.unwrap();
        assert_eq!(revenue.paid_cents, 2_000);
        assert_eq!(revenue.refunded_cents, 500);
        assert_eq!(revenue.net_cents(), 1_500);
    }
);

both_backends!(
    plan_and_status_changes_are_logged_once_in_order,
    |url: String| async move {
        use tollgate_billing::SubscriptionChangeLog;
        use tollgate_quotas::ports::PlanDirectory as _;
        let store = store(&url).await;
        let org = create(&store, "carol@example.com").await.organization.id;
        let active = record(org, SubscriptionStatus::Active, "pro");
        store
            .save("evt_a", Some((active.clone(), "pro".into())), now(), None)
            .await
            .unwrap();
        // A redelivery and a fetch that changes nothing log nothing.
        store
            .save("evt_a", Some((active.clone(), "pro".into())), now(), None)
            .await
            .unwrap();
        store
            .save("evt_b", Some((active, "pro".into())), now(), None)
            .await
            .unwrap();
        // Past due keeps the plan: only the status changes.
        let past_due = record(org, SubscriptionStatus::PastDue, "pro");
        store
            .save("evt_c", Some((past_due, "pro".into())), now(), None)
            .await
            .unwrap();
        // The grace period lapses; then an operator moves the organisation by hand.
        assert!(store.change_plan(org, "pro", "free").await.unwrap());
        assert!(!store.change_plan(org, "pro", "free").await.unwrap());
        assert!(store.set_plan(org, "enterprise".into()).await.unwrap());

        let changes = store.changes_after(0, 100).await.unwrap();
        let seen: Vec<(
            &str,
            &str,
            Option<SubscriptionStatus>,
            Option<SubscriptionStatus>,
        )> = changes
            .iter()
            .map(|c| {
                (
                    c.plan_before.as_str(),
                    c.plan_after.as_str(),
                    c.status_before,
                    c.status_after,
                )
            })
            .collect();
        use SubscriptionStatus::{Active, PastDue};
        assert_eq!(
            seen,
            vec![
                ("free", "pro", None, Some(Active)),
                ("pro", "pro", Some(Active), Some(PastDue)),
                ("pro", "free", Some(PastDue), Some(PastDue)),
                ("free", "enterprise", Some(PastDue), Some(PastDue)),
            ]
        );
        assert!(changes.iter().all(|c| c.organization == org));
        assert!(changes.windows(2).all(|w| w[0].id < w[1].id));
        let rest = store.changes_after(changes[1].id, 100).await.unwrap();
        assert_eq!(rest, changes[2..].to_vec());
    }
);
