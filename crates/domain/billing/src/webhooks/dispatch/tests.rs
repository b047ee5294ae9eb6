use std::sync::Mutex;

use chrono::TimeZone;
use tollgate_kernel::FixedClock;
use uuid::Uuid;

use super::*;
use crate::webhooks::ports::MockWebhookSender;
use crate::webhooks::store::MockWebhookStore;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn due(attempts: u32) -> DueDelivery {
    DueDelivery {
        id: Uuid::now_v7(),
        endpoint: Uuid::now_v7(),
        url: "https://hooks.example.com/tollgate".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secret: None,
        webhook_id: "msg_1".into(),
        body: "{}".into(),
        attempts,
    }
}

/// Dispatches one delivery that the receiver answers with `response`; the recorded outcome.
async fn outcome(delivery: DueDelivery, response: DeliveryResponse) -> AttemptOutcome {
    let mut store = MockWebhookStore::new();
    let claimed = delivery.clone();
    store.expect_claim_due().returning(move |_, _, _| {
        let claimed = claimed.clone();
        Box::pin(async move { Ok(vec![claimed]) })
    });
    let recorded = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&recorded);
    store
        .expect_record_attempt()
        .times(1)
        .returning(move |_, outcome, _| {
            *slot.lock().unwrap() = Some(outcome);
            Box::pin(async { Ok(()) })
        });
    let mut sender = MockWebhookSender::new();
    sender
        .expect_deliver()
        .withf(|message| message.webhook_id == "msg_1" && message.timestamp == now().timestamp())
        .times(1)
        .returning(move |_| {
            let response = response.clone();
            Box::pin(async move { response })
        });
    WebhookDispatcher::new(store, sender, Arc::new(FixedClock::new(now())))
        .dispatch_due()
        .await
        .unwrap();
    recorded.lock().unwrap().take().unwrap()
}

fn failed(retry_after: Option<Duration>) -> DeliveryResponse {
    DeliveryResponse::Failed {
        status: Some(503),
        retry_after,
        error: "HTTP 503".into(),
    }
}

#[tokio::test]
async fn a_2xx_is_delivered() {
    assert_eq!(
        outcome(due(0), DeliveryResponse::Delivered).await,
        AttemptOutcome::Delivered
    );
}

#[tokio::test]
async fn a_failure_is_retried_on_the_schedule_or_later_if_the_receiver_asks() {
    let AttemptOutcome::Retry { at, error } = outcome(due(0), failed(None)).await else {
        panic!("retried");
    };
    let wait = (at - now()).to_std().unwrap();
    assert!(wait >= Duration::from_millis(4_500) && wait <= Duration::from_millis(5_500));
    assert_eq!(error, "HTTP 503");
    let AttemptOutcome::Retry { at, .. } =
        outcome(due(0), failed(Some(Duration::from_secs(120)))).await
    else {
        panic!("retried");
    };
    assert_eq!(
        at - now(),
        chrono::Duration::seconds(120),
        "Retry-After honoured"
    );
    let AttemptOutcome::Retry { at, .. } =
        outcome(due(0), failed(Some(Duration::from_secs(30 * 86_400)))).await
    else {
        panic!("retried");
    };
    assert_eq!(at - now(), chrono::Duration::days(1), "but at most a day");
}

#[tokio::test]
async fn gone_and_the_end_of_the_schedule_disable_the_endpoint() {
    let AttemptOutcome::Failed { disable, .. } = outcome(due(0), DeliveryResponse::Gone).await
    else {
        panic!("failed");
    };
    assert!(disable.unwrap().contains("410"));
    let AttemptOutcome::Failed { disable, error } = outcome(due(9), failed(None)).await else {
        panic!("the tenth attempt is the last");
    };
    assert!(disable.unwrap().contains("retry schedule"));
    assert_eq!(error, "HTTP 503");
    let AttemptOutcome::Failed { disable, .. } = outcome(
        due(2),
        DeliveryResponse::Refused("resolves to 10.0.0.7".into()),
    )
    .await
    else {
        panic!("failed");
    };
    assert!(disable.unwrap().contains("10.0.0.7"));
}

#[tokio::test]
async fn the_previous_secret_of_a_rotation_is_handed_to_the_sender() {
    for previous in [Some("whsec_b2xk".to_owned()), None] {
        let mut store = MockWebhookStore::new();
        let claimed = DueDelivery {
            previous_secret: previous.clone(),
            ..due(0)
        };
        store.expect_claim_due().returning(move |_, _, _| {
            let claimed = claimed.clone();
            Box::pin(async move { Ok(vec![claimed]) })
        });
        store
            .expect_record_attempt()
            .returning(|_, _, _| Box::pin(async { Ok(()) }));
        let mut sender = MockWebhookSender::new();
        let expected = previous.clone();
        sender
            .expect_deliver()
            .withf(move |message| {
                message.secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                    && message.previous_secret == expected
            })
            .times(1)
            .returning(|_| Box::pin(async { DeliveryResponse::Delivered }));
        WebhookDispatcher::new(store, sender, Arc::new(FixedClock::new(now())))
            .dispatch_due()
            .await
            .unwrap();
    }
}
