//! Stripe's webhook deliveries end to end: signed as Stripe signs them, the subscription
//! fetched from a local stand-in for Stripe's API, the organisation's plan changed once.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::settings::StripeSettings;
use tollgate_test_support::Backend;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, test_settings};

const SIGNING_SECRET: &str = "whsec_test_0123456789";

/// A subscription as Stripe's API answers it (the fields Tollgate reads, and a few more).
fn subscription(organization: &str, status: &str) -> Value {
    json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": false, "created": 1_764_000_000, "currency": "usd",
        "livemode": false, "metadata": {"organization_id": organization},
        "items": {"object": "list", "has_more": false, "url": "/v1/subscription_items?subscription=sub_1",
            "data": [{"id": "si_1", "object": "subscription_item", "quantity": 1,
                "current_period_start": 1_764_000_000,
                "current_period_end": Utc::now().timestamp() + 30 * 86_400,
                "price": {"id": "price_pro", "object": "price", "currency": "usd", "unit_amount": 2000}}]}
    })
}

fn event(id: &str, kind: &str) -> Vec<u8> {
    json!({"id": id, "object": "event", "type": kind, "api_version": "2025-03-31.basil",
        "created": Utc::now().timestamp(),
        "data": {"object": {"id": "sub_1", "object": "subscription"}}})
    .to_string()
    .into_bytes()
}

async fn app(
    stripe: &MockServer,
    backend: Backend,
) -> Option<(TestApp, tollgate_test_support::TestDatabase)> {
    let db = tollgate_test_support::TestDatabase::new(backend).await?;
    let mut settings = test_settings(db.url());
    settings.stripe = Some(StripeSettings {
        api_base: Some(stripe.uri()),
        secret_key: Some("sk_test_123".to_owned().into()),
        webhook_secret: Some(SIGNING_SECRET.to_owned().into()),
        previous_webhook_secrets: Vec::new(),
        grace_period_days: None,
        checkout_success_url: Some("https://app.example.com/billing/done".into()),
        checkout_cancel_url: Some("https://app.example.com/billing".into()),
        portal_return_url: Some("https://app.example.com/settings".into()),
        meter_event_name: None,
        meter_flush_seconds: None,
    });
    let pro = settings.plans.entry("pro".into()).or_insert_with(|| {
        tollgate_server::Settings::from_toml("[plans.pro]\nname = \"Pro\"\nprice_cents = 2000\n")
            .unwrap()
            .plans["pro"]
            .clone()
    });
    pro.stripe_price_id = Some("price_pro".into());
    Some((TestApp::start(settings).await, db))
}

async fn deliver(app: &TestApp, body: &[u8], signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// A new user's access token and organisation id.
async fn new_organization(app: &TestApp) -> (String, String) {
    let (access, _) = app.new_user("alice@example.com").await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    let organization = me["organization"]["id"].as_str().unwrap().to_owned();
    (access, organization)
}

async fn plan(app: &TestApp, access: &str) -> String {
    let me: Value = app
        .get("/api/v1/me", Some(access))
        .await
        .json()
        .await
        .unwrap();
    me["organization"]["plan"].as_str().unwrap().to_owned()
}

async fn subscription_changes_the_plan_once(backend: Backend) {
    let stripe = MockServer::start().await;
    let Some((app, _db)) = app(&stripe, backend).await else {
        return;
    };
    let (access, organization) = new_organization(&app).await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(header("authorization", "Bearer sk_test_123"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription(&organization, "active")),
        )
        .mount(&stripe)
        .await;
    let now = Utc::now().timestamp();

    // Unsigned, wrongly signed, stale or tampered deliveries change nothing.
    let body = event("evt_1", "customer.subscription.created");
    let bad = [
        "".to_owned(),
        tollgate_stripe::signature::sign(&body, "whsec_other", now),
        tollgate_stripe::signature::sign(&body, SIGNING_SECRET, now - 301),
        tollgate_stripe::signature::sign(
            &event("evt_2", "customer.subscription.created"),
            SIGNING_SECRET,
            now,
        ),
    ];
    for signature in bad {
        let refused = deliver(&app, &body, &signature).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{signature}");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(plan(&app, &access).await, "free");
    assert!(
        stripe.received_requests().await.unwrap().is_empty(),
        "nothing fetched"
    );

    let signature = tollgate_stripe::signature::sign(&body, SIGNING_SECRET, now);
    let applied = deliver(&app, &body, &signature).await;
    assert_eq!(applied.status(), StatusCode::OK);
    assert_eq!(applied.json::<Value>().await.unwrap()["outcome"], "applied");
    // The plan cache holds an organisation's plan for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(plan(&app, &access).await, "pro");

    let again = deliver(&app, &body, &signature).await;
    assert_eq!(
        again.json::<Value>().await.unwrap()["outcome"],
        "already_handled"
    );
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        1,
        "fetched once"
    );

    let other = event("evt_3", "charge.refunded");
    let ignored = deliver(
        &app,
        &other,
        &tollgate_stripe::signature::sign(&other, SIGNING_SECRET, now),
    )
    .await;
    assert_eq!(ignored.json::<Value>().await.unwrap()["outcome"], "ignored");
}

#[tokio::test]
async fn a_signed_subscription_event_changes_the_plan_once_on_sqlite() {
    subscription_changes_the_plan_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_signed_subscription_event_changes_the_plan_once_on_postgres() {
    subscription_changes_the_plan_once(Backend::Postgres).await;
}

/// Stripe's API fails: the delivery is answered 503 and not recorded, so Stripe's redelivery
/// applies it.
#[tokio::test]
async fn an_event_stripe_cannot_be_asked_about_is_applied_on_redelivery() {
    let stripe = MockServer::start().await;
    let Some((app, _db)) = app(&stripe, Backend::Sqlite).await else {
        return;
    };
    let (access, organization) = new_organization(&app).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription(&organization, "trialing")),
        )
        .mount(&stripe)
        .await;
    let body = event("evt_1", "customer.subscription.updated");
    let signature = tollgate_stripe::signature::sign(&body, SIGNING_SECRET, Utc::now().timestamp());
    let failed = deliver(&app, &body, &signature).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let redelivered = deliver(&app, &body, &signature).await;
    assert_eq!(
        redelivered.json::<Value>().await.unwrap()["outcome"],
        "applied"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(plan(&app, &access).await, "pro");
}

/// Checkout for a plan creates the organisation's Stripe customer once (with its id in the
/// metadata and an idempotency key), then a Checkout session for the plan's price; the portal
/// opens for that customer.
#[tokio::test]
async fn checkout_creates_the_customer_once_and_the_portal_opens_for_it() {
    use tollgate_stripe::fixtures;
    let stripe = MockServer::start().await;
    let Some((app, _db)) = app(&stripe, Backend::Sqlite).await else {
        return;
    };
    let (access, organization) = new_organization(&app).await;
    let org_id = tollgate_kernel::OrganizationId::from_uuid(organization.parse().unwrap());
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .and(header(
            "idempotency-key",
            format!("customer-{organization}").as_str(),
        ))
        .and(wiremock::matchers::body_string_contains(
            organization.as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixtures::customer(org_id)))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(wiremock::matchers::body_string_contains("price_pro"))
        .and(wiremock::matchers::body_string_contains(
            "cus_NffrFeUfNV2Hib",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixtures::checkout_session(org_id)))
        .expect(2)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .and(wiremock::matchers::body_string_contains(
            "cus_NffrFeUfNV2Hib",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixtures::portal_session()))
        .expect(1)
        .mount(&stripe)
        .await;

    // No customer yet: the portal has nothing to show.
    let early = app
        .post("/api/v1/billing/portal", json!({}), Some(&access))
        .await;
    assert_eq!(early.status(), StatusCode::CONFLICT);

    for _ in 0..2 {
        let created = app
            .post(
                "/api/v1/billing/checkout",
                json!({"plan": "pro"}),
                Some(&access),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(
            created.json::<Value>().await.unwrap()["url"],
            fixtures::CHECKOUT_URL
        );
    }
    let portal = app
        .post("/api/v1/billing/portal", json!({}), Some(&access))
        .await;
    assert_eq!(portal.status(), StatusCode::CREATED);
    assert_eq!(
        portal.json::<Value>().await.unwrap()["url"],
        fixtures::PORTAL_URL
    );

    // Free is not sold online, and an unknown plan is named as such; Stripe is not asked.
    for plan in ["free", "gold"] {
        let refused = app
            .post(
                "/api/v1/billing/checkout",
                json!({"plan": plan}),
                Some(&access),
            )
            .await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{plan}");
    }
    let anonymous = app
        .post("/api/v1/billing/checkout", json!({"plan": "pro"}), None)
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
