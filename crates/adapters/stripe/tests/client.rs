//! The Stripe client against a stand-in Stripe (wiremock on loopback): the requests it sends,
//! how it reads Stripe's answers, and how it classifies Stripe's errors.

// The fixtures are Stripe objects in full, deeper than `json!`'s default recursion allows.
#![recursion_limit = "256"]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate_billing::{PaymentError, PaymentProvider, SubscriptionStatus};
use tollgate_kernel::OrganizationId;
use tollgate_stripe::fixtures::{PORTAL_URL, checkout_session, customer, portal_session};
use tollgate_stripe::{MeterEventOutcome, StripeClient, StripeConfig};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";

/// A request whose form body has `key` = `value` (after URL decoding), whatever the order
/// and encoding of the other fields.
struct FormField(&'static str, String);

impl Match for FormField {
    fn matches(&self, request: &Request) -> bool {
        form_urlencoded::parse(&request.body).any(|(k, v)| k == self.0 && v == self.1)
    }
}

/// A request whose form body has no field `key`.
struct NoField(&'static str);

impl Match for NoField {
    fn matches(&self, request: &Request) -> bool {
        form_urlencoded::parse(&request.body).all(|(k, _)| k != self.0)
    }
}

fn form(key: &'static str, value: impl Into<String>) -> FormField {
    FormField(key, value.into())
}

async fn stripe() -> (MockServer, StripeClient) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = MockServer::start().await;
    let client = StripeClient::new(&StripeConfig {
        secret_key: SecretString::from(SECRET),
        api_base: server.uri(),
        timeout: Duration::from_secs(5),
    })
    .expect("valid configuration");
    (server, client)
}

fn authorized() -> impl Match {
    header("authorization", format!("Bearer {SECRET}").as_str())
}

fn stripe_error(kind: &str, code: Option<&str>, message: &str) -> Value {
    let mut error = json!({
        "type": kind,
        "message": message,
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_8Nn2Vb1bYq2Ttg",
    });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{code}"));
    }
    json!({ "error": error })
}

// ---- customers ----------------------------------------------------------------------------

#[tokio::test]
async fn create_customer_tags_the_organisation_under_an_idempotency_key() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .and(authorized())
        .and(header(
            "idempotency-key",
            format!("customer-{organization}").as_str(),
        ))
        .and(form("metadata[organization_id]", organization.to_string()))
        .and(form("email", "billing@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer(organization)))
        .expect(1)
        .mount(&server)
        .await;

    let id = client
        .create_customer(organization, Some("billing@example.com"))
        .await;

    assert_eq!(id, Ok("cus_NffrFeUfNV2Hib".to_owned()));
}

#[tokio::test]
async fn create_customer_without_email_sends_none() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .and(form("metadata[organization_id]", organization.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer(organization)))
        .expect(1)
        .mount(&server)
        .await;

    assert!(client.create_customer(organization, None).await.is_ok());
    let requests = server.received_requests().await.expect("recorded");
    let body = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(!body.contains("email"), "{body}");
}

// ---- checkout -----------------------------------------------------------------------------

#[tokio::test]
async fn checkout_session_subscribes_the_customer_for_the_organisation() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(authorized())
        .and(form("customer", "cus_NffrFeUfNV2Hib"))
        .and(form("mode", "subscription"))
        .and(form(
            "line_items[0][price]",
            "price_1MoBy5LkdIwHu7ixZhnattbh",
        ))
        .and(form("line_items[0][quantity]", "1"))
        .and(form("client_reference_id", organization.to_string()))
        .and(form(
            "subscription_data[metadata][organization_id]",
            organization.to_string(),
        ))
        .and(form(
            "success_url",
            "https://app.example.com/billing?success=1",
        ))
        .and(form(
            "cancel_url",
            "https://app.example.com/billing?canceled=1",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkout_session(organization)))
        .expect(1)
        .mount(&server)
        .await;

    let url = client
        .checkout_session(
            "cus_NffrFeUfNV2Hib",
            &["price_1MoBy5LkdIwHu7ixZhnattbh".to_owned()],
            organization,
            "https://app.example.com/billing?success=1",
            "https://app.example.com/billing?canceled=1",
        )
        .await;

    assert_eq!(
        url,
        Ok("https://checkout.stripe.com/c/pay/cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u".to_owned())
    );
}

#[tokio::test]
async fn a_metered_price_is_a_second_line_item_without_quantity() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(form("line_items[0][price]", "price_pro"))
        .and(form("line_items[0][quantity]", "1"))
        .and(form("line_items[1][price]", "price_pro_usage"))
        .and(NoField("line_items[1][quantity]"))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkout_session(organization)))
        .expect(1)
        .mount(&server)
        .await;

    let url = client
        .checkout_session(
            "cus_NffrFeUfNV2Hib",
            &["price_pro".to_owned(), "price_pro_usage".to_owned()],
            organization,
            "https://app.example.com/ok",
            "https://app.example.com/cancel",
        )
        .await;

    assert!(url.is_ok(), "{url:?}");
}

#[tokio::test]
async fn a_bad_request_is_rejected() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(stripe_error(
            "invalid_request_error",
            Some("resource_missing"),
            "No such price: 'price_missing'",
        )))
        .mount(&server)
        .await;

    let outcome = client
        .checkout_session(
            "cus_NffrFeUfNV2Hib",
            &["price_missing".to_owned()],
            OrganizationId::new(),
            "https://app.example.com/ok",
            "https://app.example.com/cancel",
        )
        .await;

    match outcome {
        Err(PaymentError::Rejected(message)) => assert!(message.contains("No such price")),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

// ---- portal -------------------------------------------------------------------------------

#[tokio::test]
async fn portal_session_returns_its_url() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .and(authorized())
        .and(form("customer", "cus_NffrFeUfNV2Hib"))
        .and(form("return_url", "https://app.example.com/billing"))
        .respond_with(ResponseTemplate::new(200).set_body_json(portal_session()))
        .expect(1)
        .mount(&server)
        .await;

    let url = client
        .portal_session("cus_NffrFeUfNV2Hib", "https://app.example.com/billing")
        .await;

    assert_eq!(url, Ok(PORTAL_URL.to_owned()));
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(stripe_error(
            "api_error",
            None,
            "An unknown error occurred",
        )))
        .mount(&server)
        .await;

    let outcome = client
        .portal_session("cus_NffrFeUfNV2Hib", "https://app.example.com/billing")
        .await;

    assert!(
        matches!(outcome, Err(PaymentError::Unavailable(_))),
        "{outcome:?}"
    );
}

// ---- meter events -------------------------------------------------------------------------

#[tokio::test]
async fn send_meter_event_reports_usage_for_the_customer() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .and(authorized())
        .and(form("event_name", "ai_tokens"))
        .and(form("payload[stripe_customer_id]", "cus_NffrFeUfNV2Hib"))
        .and(form("payload[value]", "1250"))
        .and(form("identifier", "usage-2026-11-29-0001"))
        .and(form("timestamp", "1704824589"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.meter_event",
            "created": 1704824589,
            "event_name": "ai_tokens",
            "identifier": "usage-2026-11-29-0001",
            "livemode": false,
            "payload": { "value": "1250", "stripe_customer_id": "cus_NffrFeUfNV2Hib" },
            "timestamp": 1704824589
        })))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = client
        .send_meter_event(
            "ai_tokens",
            "cus_NffrFeUfNV2Hib",
            1250,
            "usage-2026-11-29-0001",
            1704824589,
        )
        .await;

    assert_eq!(outcome, Ok(MeterEventOutcome::Sent));
}

#[tokio::test]
async fn a_meter_event_sent_before_is_already_sent() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .and(body_string_contains("identifier=usage-2026-11-29-0001"))
        .respond_with(ResponseTemplate::new(400).set_body_json(stripe_error(
            "invalid_request_error",
            None,
            "An event already exists with identifier usage-2026-11-29-0001.",
        )))
        .mount(&server)
        .await;

    let outcome = client
        .send_meter_event(
            "ai_tokens",
            "cus_NffrFeUfNV2Hib",
            1250,
            "usage-2026-11-29-0001",
            1704824589,
        )
        .await;

    assert_eq!(outcome, Ok(MeterEventOutcome::AlreadySent));
}

#[tokio::test]
async fn rate_limiting_is_unavailable() {
    let (server, client) = stripe().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(ResponseTemplate::new(429).set_body_json(stripe_error(
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
        )))
        .mount(&server)
        .await;

    let outcome = client
        .send_meter_event("ai_tokens", "cus_NffrFeUfNV2Hib", 1, "usage-1", 1704824589)
        .await;

    assert!(
        matches!(outcome, Err(PaymentError::Unavailable(_))),
        "{outcome:?}"
    );
}

// ---- subscriptions ------------------------------------------------------------------------

/// A subscription as API version 2025-03-31 and later send it: the period on the item.
fn subscription(metadata: Value, status: &str) -> Value {
    json!({
        "id": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "enabled": false, "liability": null },
        "billing_cycle_anchor": 1679609767,
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": 1679609767,
        "currency": "usd",
        "customer": "cus_NffrFeUfNV2Hib",
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "issuer": { "type": "self" } },
        "items": {
            "object": "list",
            "data": [{
                "id": "si_Na6dzxczY5fwHx",
                "object": "subscription_item",
                "billing_thresholds": null,
                "created": 1679609768,
                "current_period_end": 1682288167,
                "current_period_start": 1679609767,
                "discounts": [],
                "metadata": {},
                "price": {
                    "id": "price_1MowQULkdIwHu7ixraBm864M",
                    "object": "price",
                    "active": true,
                    "billing_scheme": "per_unit",
                    "created": 1679609766,
                    "currency": "usd",
                    "livemode": false,
                    "lookup_key": null,
                    "metadata": {},
                    "nickname": null,
                    "product": "prod_Na6dGcTsmU0I4R",
                    "recurring": {
                        "interval": "month",
                        "interval_count": 1,
                        "usage_type": "licensed"
                    },
                    "tax_behavior": "unspecified",
                    "type": "recurring",
                    "unit_amount": 1000,
                    "unit_amount_decimal": "1000"
                },
                "quantity": 1,
                "subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs",
                "tax_rates": []
            }],
            "has_more": false,
            "total_count": 1,
            "url": "/v1/subscription_items?subscription=sub_1MowQVLkdIwHu7ixeRlqHVzs"
        },
        "latest_invoice": "in_1MowQWLkdIwHu7ixuzkSPfKd",
        "livemode": false,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {
            "payment_method_options": null,
            "payment_method_types": null,
            "save_default_payment_method": "off"
        },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": 1679609767,
        "status": status,
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null
    })
}

async fn serve_subscription(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1MowQVLkdIwHu7ixeRlqHVzs"))
        .and(authorized())
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn subscription_reads_the_snapshot_with_the_period_on_the_item() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    serve_subscription(
        &server,
        subscription(
            json!({ "organization_id": organization.to_string() }),
            "active",
        ),
    )
    .await;

    let snapshot = client
        .subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs")
        .await
        .expect("fetched")
        .expect("ours");

    assert_eq!(snapshot.id, "sub_1MowQVLkdIwHu7ixeRlqHVzs");
    assert_eq!(snapshot.customer, "cus_NffrFeUfNV2Hib");
    assert_eq!(snapshot.organization, organization);
    assert_eq!(snapshot.status, SubscriptionStatus::Active);
    assert_eq!(
        snapshot.price.as_deref(),
        Some("price_1MowQULkdIwHu7ixraBm864M")
    );
    assert_eq!(
        snapshot.current_period_end,
        Utc.timestamp_opt(1682288167, 0).unwrap()
    );
}

#[tokio::test]
async fn the_plan_price_is_the_licensed_one_whatever_the_order_of_items() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    let mut body = subscription(
        json!({ "organization_id": organization.to_string() }),
        "active",
    );
    let licensed = body["items"]["data"][0].clone();
    let mut metered = licensed.clone();
    metered["id"] = json!("si_metered");
    metered["price"]["id"] = json!("price_usage");
    metered["price"]["recurring"]["usage_type"] = json!("metered");
    metered["price"]["unit_amount"] = Value::Null;
    metered["price"]["unit_amount_decimal"] = json!("0.0001");
    metered.as_object_mut().unwrap().remove("quantity");
    body["items"]["data"] = json!([metered, licensed]);
    serve_subscription(&server, body).await;

    let snapshot = client
        .subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs")
        .await
        .expect("fetched")
        .expect("ours");

    assert_eq!(
        snapshot.price.as_deref(),
        Some("price_1MowQULkdIwHu7ixraBm864M")
    );
}

#[tokio::test]
async fn subscription_reads_the_period_on_the_subscription_in_older_api_versions() {
    let (server, client) = stripe().await;
    let organization = OrganizationId::new();
    let mut body = subscription(
        json!({ "organization_id": organization.to_string() }),
        "past_due",
    );
    body["current_period_end"] = json!(1690000000);
    body["current_period_start"] = json!(1687408000);
    let item = &mut body["items"]["data"][0];
    item.as_object_mut()
        .expect("object")
        .remove("current_period_end");
    item.as_object_mut()
        .expect("object")
        .remove("current_period_start");
    serve_subscription(&server, body).await;

    let snapshot = client
        .subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs")
        .await
        .expect("fetched")
        .expect("ours");

    assert_eq!(snapshot.status, SubscriptionStatus::PastDue);
    assert_eq!(
        snapshot.current_period_end,
        Utc.timestamp_opt(1690000000, 0).unwrap()
    );
}

#[tokio::test]
async fn a_subscription_naming_no_organisation_is_none() {
    let (server, client) = stripe().await;
    serve_subscription(&server, subscription(json!({}), "active")).await;

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert_eq!(fetched, Ok(None));
}

#[tokio::test]
async fn a_subscription_whose_organisation_is_not_a_uuid_is_none() {
    let (server, client) = stripe().await;
    serve_subscription(
        &server,
        subscription(json!({ "organization_id": "acme" }), "active"),
    )
    .await;

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert_eq!(fetched, Ok(None));
}

#[tokio::test]
async fn a_subscription_with_an_unknown_status_is_rejected() {
    let (server, client) = stripe().await;
    serve_subscription(
        &server,
        subscription(
            json!({ "organization_id": OrganizationId::new().to_string() }),
            "hibernating",
        ),
    )
    .await;

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert!(
        matches!(fetched, Err(PaymentError::Rejected(_))),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn a_missing_subscription_is_none() {
    let (server, client) = stripe().await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_doesnotexist"))
        .respond_with(ResponseTemplate::new(404).set_body_json(stripe_error(
            "invalid_request_error",
            Some("resource_missing"),
            "No such subscription: 'sub_doesnotexist'",
        )))
        .mount(&server)
        .await;

    let fetched = client.subscription("sub_doesnotexist").await;

    assert_eq!(fetched, Ok(None));
}

#[tokio::test]
async fn a_subscription_fetch_that_fails_upstream_is_unavailable() {
    let (server, client) = stripe().await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1MowQVLkdIwHu7ixeRlqHVzs"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .mount(&server)
        .await;

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert!(
        matches!(fetched, Err(PaymentError::Unavailable(_))),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn a_slow_stripe_is_unavailable() {
    let (server, _) = stripe().await;
    let client = StripeClient::new(&StripeConfig {
        secret_key: SecretString::from(SECRET),
        api_base: server.uri(),
        timeout: Duration::from_millis(100),
    })
    .expect("valid configuration");
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(subscription(json!({}), "active"))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert!(
        matches!(fetched, Err(PaymentError::Unavailable(_))),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = MockServer::start().await;
    let api_base = server.uri();
    drop(server);
    let client = StripeClient::new(&StripeConfig {
        secret_key: SecretString::from(SECRET),
        api_base,
        timeout: Duration::from_secs(5),
    })
    .expect("valid configuration");

    let fetched = client.subscription("sub_1MowQVLkdIwHu7ixeRlqHVzs").await;

    assert!(
        matches!(fetched, Err(PaymentError::Unavailable(_))),
        "{fetched:?}"
    );
}
