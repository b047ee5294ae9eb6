//! [`UsageEvents`]: what an organisation is billed for, call by call — its usage events, newest
//! first, a page at a time, filtered by day, key and action.

use std::future::Future;

use tollgate_costing::UsageEvent;
use tollgate_kernel::{Action, ApiKeyId, OrganizationId, Period, StoreError};
use uuid::Uuid;

/// The most events one page holds.
pub const MAX_PAGE: u32 = 1_000;

/// Which events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageEventFilter {
    /// Only this UTC day's.
    pub day: Option<Period>,
    /// Only those made with this key.
    pub key: Option<ApiKeyId>,
    /// Only this action's.
    pub action: Option<Action>,
}

/// Where a page ends: the next page starts after this event (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    /// The event's time, in milliseconds since the epoch.
    pub at_millis: i64,
    /// The event's id (ties at one millisecond).
    pub id: Uuid,
}

impl EventCursor {
    /// Its text form, opaque to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at_millis, self.id.simple())
    }

    /// Reads [`encode`](Self::encode)'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('_')?;
        Some(Self {
            at_millis: at.parse().ok()?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    fn after(event: &UsageEvent) -> Self {
        Self {
            at_millis: event.at.timestamp_millis(),
            id: event.id,
        }
    }
}

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEventPage {
    /// Newest first.
    pub events: Vec<UsageEvent>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<EventCursor>,
}

/// Reads an organisation's usage events.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UsageEventReader: Send + Sync + 'static {
    /// Up to `limit` of `organization`'s events matching `filter`, newest first, older than
    /// `before` when given.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn usage_events(
        &self,
        organization: OrganizationId,
        filter: UsageEventFilter,
        before: Option<EventCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<UsageEvent>, StoreError>> + Send;
}

/// Pages through usage events.
pub struct UsageEvents<R> {
    reader: R,
}

impl<R: UsageEventReader> UsageEvents<R> {
    /// Over `reader`.
    pub fn new(reader: R) -> Self {
        Self { reader }
    }

    /// A page of at most `limit` (1 to [`MAX_PAGE`]) events.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn page(
        &self,
        organization: OrganizationId,
        filter: UsageEventFilter,
        before: Option<EventCursor>,
        limit: u32,
    ) -> Result<UsageEventPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One more than asked tells whether another page follows.
        let mut events = self
            .reader
            .usage_events(organization, filter, before, limit + 1)
            .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = more
            .then(|| events.last().map(EventCursor::after))
            .flatten();
        Ok(UsageEventPage { events, next })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use mockall::predicate::eq;
    use tollgate_costing::TokenUsage;
    use tollgate_kernel::{Micros, UserId};

    use super::*;

    fn event(minutes: i64) -> UsageEvent {
        UsageEvent {
            id: Uuid::now_v7(),
            organization: OrganizationId::new(),
            user: UserId::new(),
            key: None,
            action: Action::Chat,
            model: "gpt-4o-mini".into(),
            usage: TokenUsage::default(),
            cost: Micros::new(1),
            price: Micros::new(2),
            request_id: "r".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() - Duration::minutes(minutes),
        }
    }

    #[tokio::test]
    async fn a_full_page_points_to_the_next_and_the_last_does_not() {
        let org = OrganizationId::new();
        let events: Vec<UsageEvent> = (0..3).map(event).collect();
        let mut reader = MockUsageEventReader::new();
        let served = events.clone();
        reader
            .expect_usage_events()
            .with(eq(org), eq(UsageEventFilter::default()), eq(None), eq(3))
            .returning(move |_, _, _, _| {
                let served = served.clone();
                Box::pin(async move { Ok(served) })
            });
        let page = UsageEvents::new(reader)
            .page(org, UsageEventFilter::default(), None, 2)
            .await
            .unwrap();
        assert_eq!(page.events, events[..2].to_vec());
        let next = page.next.unwrap();
        assert_eq!(next.id, events[1].id);
        assert_eq!(EventCursor::decode(&next.encode()), Some(next));

        let mut reader = MockUsageEventReader::new();
        let served = events.clone();
        reader.expect_usage_events().returning(move |_, _, _, _| {
            let served = served.clone();
            Box::pin(async move { Ok(served) })
        });
        let last = UsageEvents::new(reader)
            .page(org, UsageEventFilter::default(), Some(next), 5)
            .await
            .unwrap();
        assert_eq!(last.next, None);
    }

    #[test]
    fn cursors_that_are_not_ours_are_refused() {
        for text in ["", "12", "x_y", "12_notauuid", "_0190"] {
            assert_eq!(EventCursor::decode(text), None, "{text}");
        }
    }
}
