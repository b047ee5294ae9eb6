//! Usage events read back a page at a time: every event once, newest first, filtered by day,
//! key and action, and never another organisation's.

use chrono::{Duration, TimeZone, Utc};
use tollgate_billing::{EventCursor, UsageEventFilter, UsageEventReader};
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, Period};
use tollgate_test_support::both_backends;

use crate::{create, store};

fn event(
    organization: OrganizationId,
    key: Option<ApiKeyId>,
    action: Action,
    at: chrono::DateTime<Utc>,
) -> UsageEvent {
    UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: tollgate_kernel::UserId::new(),
        key,
        action,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage {
            input_tokens: 10,
            cached_input_tokens: 0,
            output_tokens: 2,
        },
        cost: Micros::new(3),
        price: Micros::new(5),
        request_id: "req".into(),
        at,
    }
}

both_backends!(
    usage_events_page_newest_first_and_filter,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let other = create(&store, "bob@example.com").await.organization.id;
        let key = ApiKeyId::new();
        let noon = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        for i in 0..5 {
            // Two at the same millisecond, to page across a tie.
            let at = noon - Duration::minutes(i64::from(i / 2));
            let e = event(org, Some(key), Action::Chat, at);
            assert!(store.settle_and_record(e).await.unwrap());
        }
        let yesterday = event(org, None, Action::Analysis, noon - Duration::days(1));
        assert!(store.settle_and_record(yesterday.clone()).await.unwrap());
        assert!(
            store
                .settle_and_record(event(other, None, Action::Chat, noon))
                .await
                .unwrap()
        );

        let mut seen = Vec::new();
        let mut before: Option<EventCursor> = None;
        loop {
            let page = store
                .usage_events(org, UsageEventFilter::default(), before, 2)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            before = page.last().map(|e| EventCursor {
                at_millis: e.at.timestamp_millis(),
                id: e.id,
            });
            seen.extend(page);
        }
        assert_eq!(seen.len(), 6, "every event of the organisation once");
        assert!(seen.iter().all(|e| e.organization == org));
        assert!(seen.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
        let mut ids: Vec<_> = seen.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6);
        assert_eq!(seen.last().unwrap().id, yesterday.id);

        let today = UsageEventFilter {
            day: Some(Period::utc_day(noon)),
            ..UsageEventFilter::default()
        };
        assert_eq!(
            store
                .usage_events(org, today, None, 100)
                .await
                .unwrap()
                .len(),
            5
        );
        let analyses = UsageEventFilter {
            action: Some(Action::Analysis),
            ..UsageEventFilter::default()
        };
        let found = store.usage_events(org, analyses, None, 100).await.unwrap();
        assert_eq!(found, vec![yesterday]);
        let with_key = UsageEventFilter {
            key: Some(key),
            ..UsageEventFilter::default()
        };
        assert_eq!(
            store
                .usage_events(org, with_key, None, 100)
                .await
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            store
                .usage_events(org, UsageEventFilter::default(), None, 100)
                .await
                .unwrap()[4]
                .usage
                .input_tokens,
            10
        );
    }
);
