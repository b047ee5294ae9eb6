use std::sync::atomic::AtomicUsize;

use chrono::Utc;
use tollgate_costing::TokenUsage;
use tollgate_kernel::{Micros, OrganizationId, Period, UserId};
use tollgate_quotas::{Action, EscrowPolicy, GrantOutcome, LeaseTerms};

use super::*;

fn event(id: uuid::Uuid, cost: i64) -> UsageEvent {
    UsageEvent {
        id,
        organization: OrganizationId::new(),
        user: UserId::new(),
        key: None,
        action: Action::Chat,
        model: "gpt-4o-mini".to_owned(),
        usage: TokenUsage::default(),
        cost: Micros::new(cost),
        price: Micros::new(cost * 2),
        request_id: "req".to_owned(),
        at: Utc::now(),
    }
}

fn leased(cost: i64) -> LeasedEvent {
    LeasedEvent {
        event: event(uuid::Uuid::now_v7(), cost),
        lease: LeaseId::new(),
    }
}

/// An escrow holding one granted lease, and a call admitted against it.
fn escrow_with_call() -> (Arc<Escrow>, ReservationId) {
    let escrow = Arc::new(Escrow::new(EscrowPolicy::default()));
    let org = OrganizationId::new();
    let now = Utc::now();
    let terms = LeaseTerms {
        day: Period::utc_day(now),
        month: Period::utc_month(now),
        daily_limit: 100,
        budget: Some(Micros::new(1_000_000)),
    };
    let admit = |call| escrow.try_admit(call, org, Action::Chat, terms, Micros::new(10), now);
    assert!(admit(ReservationId::new()).is_none());
    let due = escrow.grants_due(now);
    let granted = GrantOutcome::Granted {
        units: 10,
        micros: Micros::new(1_000),
        daily_taken: 10,
    };
    escrow.granted(&[(due[0].lease, granted)], now);
    let call = ReservationId::new();
    assert!(admit(call).is_some());
    (escrow, call)
}

#[tokio::test]
async fn a_flush_writes_the_oldest_events_in_one_batch_and_wakes_readers() {
    let queue = SettlementQueue::new(2);
    let events: Vec<LeasedEvent> = (0..3).map(|i| leased(i + 1)).collect();
    for event in &events {
        queue.push(event.clone());
    }
    let watermark = queue.watermark();
    let mut store = MockLeasedEventStore::new();
    let first_two = events[..2].to_vec();
    store
        .expect_record_leased()
        .withf(move |batch| *batch == first_two)
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    let last = events[2..].to_vec();
    store
        .expect_record_leased()
        .withf(move |batch| *batch == last)
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    let escrow = Escrow::default();
    assert_eq!(queue.flush(&store, &escrow).await.unwrap(), 2);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.flush(&store, &escrow).await.unwrap(), 1);
    assert!(queue.is_empty());
    // Everything queued before the watermark is recorded: the reader does not wait.
    tokio::time::timeout(std::time::Duration::from_secs(1), queue.recorded(watermark))
        .await
        .expect("recorded");
}

#[tokio::test]
async fn a_failed_batch_goes_back_to_the_head_of_the_queue_in_order() {
    let queue = SettlementQueue::new(10);
    let events: Vec<LeasedEvent> = (0..3).map(|i| leased(i + 1)).collect();
    for event in &events {
        queue.push(event.clone());
    }
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut store = MockLeasedEventStore::new();
    let expected = events.clone();
    let seen = attempts.clone();
    store
        .expect_record_leased()
        .withf(move |batch| *batch == expected)
        .times(2)
        .returning(move |_| {
            let attempt = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if attempt == 0 {
                    Err(StoreError::unavailable("database restarting"))
                } else {
                    Ok(())
                }
            })
        });
    let escrow = Escrow::default();
    assert!(queue.flush(&store, &escrow).await.is_err());
    assert_eq!(queue.len(), 3, "nothing is lost");
    assert_eq!(queue.flush(&store, &escrow).await.unwrap(), 3);
}

/// Shutdown used to abort the flusher mid-write: the batch, already off the queue, was lost.
#[tokio::test]
async fn a_flush_cancelled_mid_write_leaves_its_batch_at_the_head_of_the_queue() {
    let queue = SettlementQueue::new(10);
    let events: Vec<LeasedEvent> = (0..3).map(|i| leased(i + 1)).collect();
    for event in &events {
        queue.push(event.clone());
    }
    let mut hanging = MockLeasedEventStore::new();
    hanging
        .expect_record_leased()
        .returning(|_| Box::pin(std::future::pending()));
    let escrow = Escrow::default();
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        queue.flush(&hanging, &escrow),
    )
    .await;
    assert!(cancelled.is_err(), "the write never finished");
    assert_eq!(queue.len(), 3, "nothing is lost");
    let mut store = MockLeasedEventStore::new();
    let expected = events.clone();
    store
        .expect_record_leased()
        .withf(move |batch| *batch == expected)
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    assert_eq!(queue.flush(&store, &escrow).await.unwrap(), 3);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_reader_waiting_for_a_batch_is_released_when_storage_fails() {
    let queue = Arc::new(SettlementQueue::new(10));
    queue.push(leased(1));
    let watermark = queue.watermark();
    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.recorded(watermark).await }
    });
    tokio::task::yield_now().await;
    let mut store = MockLeasedEventStore::new();
    store
        .expect_record_leased()
        .returning(|_| Box::pin(async { Err(StoreError::unavailable("down")) }));
    assert!(queue.flush(&store, &Escrow::default()).await.is_err());
    tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
        .await
        .expect("the reader answers with what storage has")
        .unwrap();
}

struct CountingSettler(Arc<AtomicUsize>);

impl Settler for CountingSettler {
    async fn settle(&self, _event: UsageEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    async fn settle_now(&self, _event: UsageEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_lease_backed_call_is_queued_and_any_other_goes_to_the_per_call_settler() {
    let (escrow, call) = escrow_with_call();
    let queue = Arc::new(SettlementQueue::new(10));
    let per_call = Arc::new(AtomicUsize::new(0));
    let settler = LeasedSettler::new(
        escrow.clone(),
        queue.clone(),
        CountingSettler(per_call.clone()),
    );

    settler.settle(event(call.as_uuid(), 4)).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(per_call.load(Ordering::SeqCst), 0);
    assert_eq!(escrow.in_flight(), 0);

    settler.settle(event(uuid::Uuid::now_v7(), 4)).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(per_call.load(Ordering::SeqCst), 1);
}

/// Storage falls behind: once more than [`BACKLOG_BATCHES`] batches wait, a settled call waits
/// for its event to be recorded, so the backlog (what a crash can lose) stays bounded.
#[tokio::test]
async fn a_call_settled_behind_a_backlog_waits_until_its_event_is_recorded() {
    let queue = Arc::new(SettlementQueue::new(1));
    for cost in 0..BACKLOG_BATCHES as i64 {
        queue.push(leased(cost + 1));
    }
    assert!(!queue.backlogged());
    let (escrow, call) = escrow_with_call();
    let settler = Arc::new(LeasedSettler::new(
        escrow.clone(),
        queue.clone(),
        crate::ports::MockSettler::new(),
    ));
    let settling = {
        let settler = settler.clone();
        tokio::spawn(async move { settler.settle(event(call.as_uuid(), 5)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(queue.backlogged());
    assert!(!settling.is_finished(), "waits while storage is behind");

    let mut store = MockLeasedEventStore::new();
    store
        .expect_record_leased()
        .returning(|_| Box::pin(async { Ok(()) }));
    while !queue.is_empty() {
        queue.flush(&store, &escrow).await.unwrap();
    }
    tokio::time::timeout(std::time::Duration::from_secs(1), settling)
        .await
        .expect("released once its event is recorded")
        .unwrap();
}
