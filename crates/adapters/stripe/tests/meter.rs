//! [`StripeMeter`] as usage billing's sink: an outbox row becomes one meter event carrying the
//! row's identifier, value and window, and Stripe's answers map to deliveries and errors.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::json;
use tollgate_billing::{MeterDelivery, MeterSink, PaymentError, PendingMeterEvent};
use tollgate_kernel::OrganizationId;
use tollgate_stripe::{StripeClient, StripeConfig, StripeMeter};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

struct Form(&'static str, &'static str);

impl Match for Form {
    fn matches(&self, request: &Request) -> bool {
        form_urlencoded::parse(&request.body).any(|(k, v)| k == self.0 && v == self.1)
    }
}

async fn meter() -> (MockServer, StripeMeter) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = MockServer::start().await;
    let client = StripeClient::new(&StripeConfig {
        secret_key: SecretString::from("sk_test_meter"),
        api_base: server.uri(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    (server, StripeMeter::new(client, "tollgate_usage"))
}

fn event() -> PendingMeterEvent {
    PendingMeterEvent {
        organization: OrganizationId::new(),
        customer: Some("cus_NffrFeUfNV2Hib".into()),
        identifier: "tollgate-org-202611-1796000000".into(),
        value_micros: 123_456,
        timestamp: Utc.timestamp_opt(1_796_000_000, 0).unwrap(),
        attempts: 1,
        first_attempt_at: Utc.timestamp_opt(1_796_000_005, 0).unwrap(),
    }
}

#[tokio::test]
async fn an_outbox_row_is_sent_as_one_meter_event_in_micro_dollars() {
    let (server, meter) = meter().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .and(Form("event_name", "tollgate_usage"))
        .and(Form("payload[stripe_customer_id]", "cus_NffrFeUfNV2Hib"))
        .and(Form("payload[value]", "123456"))
        .and(Form("identifier", "tollgate-org-202611-1796000000"))
        .and(Form("timestamp", "1796000000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.meter_event",
            "created": 1796000001,
            "event_name": "tollgate_usage",
            "identifier": "tollgate-org-202611-1796000000",
            "livemode": false,
            "payload": { "value": "123456", "stripe_customer_id": "cus_NffrFeUfNV2Hib" },
            "timestamp": 1796000000
        })))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        meter.send(&event(), "cus_NffrFeUfNV2Hib").await,
        Ok(MeterDelivery::Sent)
    );
}

#[tokio::test]
async fn stripe_errors_are_retried_or_held_by_kind() {
    for (status, retryable) in [(500, true), (429, true), (400, false)] {
        let (server, meter) = meter().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": { "type": "invalid_request_error", "message": "no" }
            })))
            .mount(&server)
            .await;
        let outcome = meter.send(&event(), "cus_NffrFeUfNV2Hib").await;
        assert!(
            matches!(&outcome, Err(e) if e.is_retryable() == retryable),
            "{status}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_negative_value_is_refused_before_stripe_is_asked() {
    let (server, meter) = meter().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let negative = PendingMeterEvent {
        value_micros: -1,
        ..event()
    };
    assert!(matches!(
        meter.send(&negative, "cus_NffrFeUfNV2Hib").await,
        Err(PaymentError::Rejected(_))
    ));
}
