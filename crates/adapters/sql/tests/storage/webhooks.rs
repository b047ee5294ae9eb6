//! Webhook endpoints and deliveries in storage: scoped to their organisation, each event once
//! per endpoint and deduplication key however many enqueue it at once, claims never shared,
//! and a disabled endpoint's pending deliveries failed with it.

use chrono::{Duration, TimeZone, Utc};
use tollgate_billing::{
    AlertEvent, AttemptOutcome, DeliveryStatus, EventType, WebhookEndpoint, WebhookStore,
};
use tollgate_kernel::{Action, OrganizationId};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;
use uuid::Uuid;

use crate::{create, now, store};

fn endpoint(organization: OrganizationId, events: Option<Vec<EventType>>) -> WebhookEndpoint {
    WebhookEndpoint {
        id: Uuid::now_v7(),
        organization,
        url: "https://hooks.example.com/t".into(),
        events,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        created_at: now(),
        disabled_reason: None,
    }
}

fn threshold(organization: OrganizationId, percent: u8) -> AlertEvent {
    let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    AlertEvent::quota_threshold(organization, Action::Chat, percent, 40, 50, end, now())
}

async fn registered(store: &SqlStore, endpoint: WebhookEndpoint) -> WebhookEndpoint {
    assert!(store.create_endpoint(endpoint.clone(), 20).await.unwrap());
    endpoint
}

both_backends!(
    an_event_is_enqueued_once_per_endpoint_and_key_even_when_raced,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let other = create(&store, "bob@example.com").await.organization.id;
        let all = registered(&store, endpoint(org, None)).await;
        let budget_only =
            registered(&store, endpoint(org, Some(vec![EventType::BudgetExceeded]))).await;
        registered(&store, endpoint(other, None)).await;

        let races = (0..10).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.enqueue(threshold(org, 80)).await })
        });
        let mut written = 0;
        for race in races {
            // SQLite's single writer may turn one away as busy; it is never written twice.
            if let Ok(n) = race.await.unwrap() {
                written += n;
            }
        }
        assert_eq!(written, 1, "one endpoint receives quota events, once");
        assert_eq!(store.enqueue(threshold(org, 100)).await.unwrap(), 1);
        let log = store.deliveries_of(org, all.id, 10).await.unwrap().unwrap();
        assert_eq!(log.len(), 2);
        assert!(
            log.iter()
                .all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0)
        );
        assert!(
            store
                .deliveries_of(org, budget_only.id, 10)
                .await
                .unwrap()
                .unwrap()
                .is_empty(),
            "filtered out"
        );
        // Another organisation sees neither the endpoint nor its log, and cannot delete it.
        assert_eq!(store.deliveries_of(other, all.id, 10).await.unwrap(), None);
        assert!(!store.delete_endpoint(other, all.id).await.unwrap());
        assert_eq!(store.endpoints_of(other).await.unwrap().len(), 1);
        assert_eq!(store.endpoints_of(org).await.unwrap().len(), 2);
    }
);

both_backends!(
    claims_are_never_shared_and_a_disabled_endpoint_takes_its_deliveries_down,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let target = registered(&store, endpoint(org, None)).await;
        for percent in [80, 100] {
            store.enqueue(threshold(org, percent)).await.unwrap();
        }
        let t = now();
        let claims = (0..4).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_due(t, 1, t + Duration::seconds(60)).await })
        });
        let mut claimed = Vec::new();
        for claim in claims {
            if let Ok(due) = claim.await.unwrap() {
                claimed.extend(due);
            }
        }
        let mut ids: Vec<Uuid> = claimed.iter().map(|d| d.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), claimed.len(), "no delivery claimed twice");
        assert!(claimed.len() <= 2);
        let all = store
            .claim_due(t, 10, t + Duration::seconds(60))
            .await
            .unwrap();
        claimed.extend(all);
        assert_eq!(claimed.len(), 2);
        assert!(
            claimed
                .iter()
                .all(|d| d.url == target.url && d.secret == target.secret)
        );

        store
            .record_attempt(
                claimed[0].id,
                AttemptOutcome::Retry {
                    at: t + Duration::seconds(5),
                    error: "HTTP 500".into(),
                },
                t,
            )
            .await
            .unwrap();
        store
            .record_attempt(
                claimed[1].id,
                AttemptOutcome::Failed {
                    error: "HTTP 410".into(),
                    disable: Some("the receiver answered 410 Gone".into()),
                },
                t,
            )
            .await
            .unwrap();
        let endpoints = store.endpoints_of(org).await.unwrap();
        assert_eq!(
            endpoints[0].disabled_reason.as_deref(),
            Some("the receiver answered 410 Gone")
        );
        let log = store
            .deliveries_of(org, target.id, 10)
            .await
            .unwrap()
            .unwrap();
        assert!(
            log.iter().all(|d| d.status == DeliveryStatus::Failed),
            "{log:?}"
        );
        let later = t + Duration::seconds(10);
        assert!(
            store
                .claim_due(later, 10, later + Duration::seconds(60))
                .await
                .unwrap()
                .is_empty(),
            "nothing is sent to a disabled endpoint"
        );
        assert_eq!(
            store
                .enqueue(threshold(OrganizationId::new(), 80))
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.cursor("subscription_changes").await.unwrap(), 0);
        store.set_cursor("subscription_changes", 42).await.unwrap();
        store.set_cursor("subscription_changes", 43).await.unwrap();
        assert_eq!(store.cursor("subscription_changes").await.unwrap(), 43);
    }
);

both_backends!(
    usage_levels_cover_organisations_that_can_be_alerted,
    |url: String| async move {
        use tollgate_billing::UsageLevels;
        use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
        use tollgate_kernel::{Micros, Period};
        let store = store(&url).await;
        let listening = create(&store, "alice@example.com").await.organization.id;
        let silent = create(&store, "bob@example.com").await.organization.id;
        registered(&store, endpoint(listening, None)).await;
        let at = now();
        for (org, action, cost) in [
            (listening, Action::Chat, 5),
            (listening, Action::Chat, 7),
            (listening, Action::Analysis, 11),
            (silent, Action::Chat, 100),
        ] {
            let event = UsageEvent {
                id: Uuid::now_v7(),
                organization: org,
                user: tollgate_kernel::UserId::new(),
                key: None,
                action,
                model: "gpt-4o-mini".into(),
                usage: TokenUsage::default(),
                cost: Micros::new(cost),
                price: Micros::new(cost * 2),
                request_id: "r".into(),
                at,
            };
            assert!(store.settle_and_record(event).await.unwrap());
        }
        let levels = store
            .levels(Period::utc_day(at), Period::utc_month(at))
            .await
            .unwrap();
        assert_eq!(
            levels.len(),
            1,
            "only organisations an alert can reach: {levels:?}"
        );
        let mut today = levels[0].requests_today.clone();
        today.sort_by_key(|(action, _)| action.as_str());
        assert_eq!(levels[0].organization, listening);
        assert_eq!(levels[0].plan, "free");
        assert_eq!(today, vec![(Action::Analysis, 1), (Action::Chat, 2)]);
        assert_eq!(levels[0].cost_month, Micros::new(23));
    }
);

both_backends!(
    a_rotated_secret_signs_beside_the_previous_one_until_its_grace_period_ends,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let other = create(&store, "bob@example.com").await.organization.id;
        let first = registered(&store, endpoint(org, None)).await;
        let id = first.id;
        let t0 = now();
        // Another organisation cannot rotate it.
        assert!(
            !store
                .rotate_secret(other, id, "whsec_c2Vjb25k".into(), Some(t0))
                .await
                .unwrap()
        );
        assert!(
            store
                .rotate_secret(
                    org,
                    id,
                    "whsec_c2Vjb25k".into(),
                    Some(t0 + Duration::hours(1))
                )
                .await
                .unwrap()
        );
        assert_eq!(
            store.endpoints_of(org).await.unwrap()[0].secret,
            "whsec_c2Vjb25k"
        );
        assert_eq!(store.enqueue(threshold(org, 80)).await.unwrap(), 1);
        // Each claim below runs after the previous one's claim ran out.
        let claim = |at: chrono::DateTime<Utc>| {
            let store = store.clone();
            async move {
                let due = store
                    .claim_due(at, 10, at + Duration::minutes(1))
                    .await
                    .unwrap();
                assert_eq!(due.len(), 1);
                (due[0].secret.clone(), due[0].previous_secret.clone())
            }
        };
        assert_eq!(
            claim(t0 + Duration::minutes(1)).await,
            ("whsec_c2Vjb25k".into(), Some(first.secret.clone())),
            "within the grace period: both"
        );
        assert_eq!(
            claim(t0 + Duration::hours(1)).await,
            ("whsec_c2Vjb25k".into(), None),
            "from its end on: the new one only"
        );
        // A rotation within another's grace period keeps only the secret it replaces.
        assert!(
            store
                .rotate_secret(
                    org,
                    id,
                    "whsec_dGhpcmQ=".into(),
                    Some(t0 + Duration::hours(5))
                )
                .await
                .unwrap()
        );
        assert_eq!(
            claim(t0 + Duration::hours(2)).await,
            ("whsec_dGhpcmQ=".into(), Some("whsec_c2Vjb25k".into()))
        );
        // No grace period: the old secret stops at once.
        assert!(
            store
                .rotate_secret(org, id, "whsec_Zm91cnRo".into(), None)
                .await
                .unwrap()
        );
        assert_eq!(
            claim(t0 + Duration::hours(3)).await,
            ("whsec_Zm91cnRo".into(), None)
        );
        assert_eq!(
            store.endpoints_of(other).await.unwrap().len(),
            0,
            "bob's organisation has no endpoint"
        );
    }
);
