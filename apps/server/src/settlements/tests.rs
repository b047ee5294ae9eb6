use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Semaphore;
use tollgate_costing::TokenUsage;
use tollgate_kernel::{Micros, Period, UserId};

use super::*;
use tollgate_identity::StoreError;

/// A ledger that fails its first `failures` attempts and holds each attempt until a permit is
/// given, so that a test decides when a settlement completes.
struct Ledger {
    failures: usize,
    attempts: AtomicUsize,
    recorded: AtomicUsize,
    gate: Semaphore,
}

impl Ledger {
    fn new(failures: usize, open: bool) -> Arc<Self> {
        Arc::new(Self {
            failures,
            attempts: AtomicUsize::new(0),
            recorded: AtomicUsize::new(0),
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
        })
    }
}

#[async_trait]
impl UsageApi for Ledger {
    async fn settle_and_record(&self, _: UsageEvent) -> Result<bool, StoreError> {
        self.gate.acquire().await.unwrap().forget();
        if self.attempts.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(StoreError::unavailable("database down"));
        }
        self.recorded.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }

    async fn snapshot(
        &self,
        _: OrganizationId,
        _: Period,
        _: Period,
    ) -> Result<crate::services::UsageSnapshot, StoreError> {
        unreachable!("not used by settlements")
    }
}

fn event(organization: OrganizationId) -> UsageEvent {
    UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: UserId::new(),
        key: None,
        action: tollgate_quotas::Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage {
            input_tokens: 1,
            cached_input_tokens: 0,
            output_tokens: 1,
        },
        cost: Micros::new(1),
        price: Micros::new(2),
        request_id: "r".into(),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn a_usage_read_waits_for_its_organisations_settlements_only() {
    let ledger = Ledger::new(0, false);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::AfterResponse);
    let (busy, idle) = (OrganizationId::new(), OrganizationId::new());
    settlements.submit(event(busy));

    // Another organisation's read does not wait.
    tokio::time::timeout(Duration::from_millis(100), settlements.settled(idle))
        .await
        .expect("nothing in flight for this organisation");

    let waiting = tokio::spawn({
        let settlements = settlements.clone();
        async move { settlements.settled(busy).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "the read waits while the settlement is in flight"
    );
    ledger.gate.add_permits(1);
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("the read goes on once settled")
        .unwrap();
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_read_across_organisations_waits_for_every_earlier_settlement_only() {
    let ledger = Ledger::new(0, false);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::AfterResponse);
    let (first, second) = (OrganizationId::new(), OrganizationId::new());
    settlements.submit(event(first));
    settlements.submit(event(second));
    let waiting = tokio::spawn({
        let settlements = settlements.clone();
        async move { settlements.all_settled().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A later call of a third organisation: not waited for.
    settlements.submit(event(OrganizationId::new()));
    ledger.gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !waiting.is_finished(),
        "one earlier settlement is in flight"
    );
    ledger.gate.add_permits(1);
    tokio::time::timeout(Duration::from_millis(500), waiting)
        .await
        .expect("both earlier settlements committed")
        .unwrap();
    ledger.gate.add_permits(1);
    settlements.drain(Duration::from_secs(1)).await;
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failing_settlement_is_retried_until_it_commits_once() {
    let ledger = Ledger::new(3, true);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::AfterResponse);
    let organization = OrganizationId::new();
    settlements.submit(event(organization));
    settlements.drain(Duration::from_secs(60)).await;
    assert_eq!(ledger.attempts.load(Ordering::SeqCst), 4);
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 1);
    assert!(settlements.lock().by_organization.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_settlement_that_keeps_failing_is_abandoned_and_stops_blocking_reads() {
    let ledger = Ledger::new(usize::MAX, true);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::AfterResponse);
    settlements.submit(event(OrganizationId::new()));
    settlements.drain(Duration::from_secs(600)).await;
    assert_eq!(
        ledger.attempts.load(Ordering::SeqCst),
        tollgate_billing::SETTLEMENT_RETRY_DELAYS.len() + 1
    );
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 0);
    assert!(settlements.lock().by_organization.is_empty());
}

#[tokio::test]
async fn a_usage_read_does_not_wait_for_settlements_submitted_after_it() {
    let ledger = Ledger::new(0, false);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::AfterResponse);
    let organization = OrganizationId::new();
    settlements.submit(event(organization));
    let waiting = tokio::spawn({
        let settlements = settlements.clone();
        async move { settlements.settled(organization).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Traffic goes on: a later call of the same organisation is still settling…
    settlements.submit(event(organization));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiting.is_finished());
    // …but once the earlier one has committed, the read answers.
    ledger.gate.add_permits(1);
    tokio::time::timeout(Duration::from_millis(500), waiting)
        .await
        .expect("the read does not wait for the later settlement")
        .unwrap();
    assert_eq!(settlements.lock().by_organization[&organization].len(), 1);
    ledger.gate.add_permits(1);
    settlements.drain(Duration::from_secs(1)).await;
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_settlement_that_fails_before_the_response_is_retried_in_the_background() {
    let ledger = Ledger::new(2, true);
    let settlements = Settlements::new(ledger.clone(), SettlementTiming::BeforeResponse);
    // The answer goes out (no error to the caller) although the first attempt failed…
    settlements.settle(event(OrganizationId::new())).await;
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 0);
    // …and the charge is not lost: it commits once, in the background.
    settlements.drain(Duration::from_secs(60)).await;
    assert_eq!(ledger.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(ledger.recorded.load(Ordering::SeqCst), 1);
}
