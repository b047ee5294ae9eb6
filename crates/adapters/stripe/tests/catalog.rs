//! `StripeClient::set_up_catalog` against a stateful stand-in for Stripe on loopback: what the
//! first run creates, that later runs create nothing, and how a changed plan or meter, an
//! existing meter, a lost answer and Stripe's refusals are handled.

#[path = "catalog/fake.rs"]
mod fake;
#[path = "catalog/objects.rs"]
mod objects;

use std::collections::HashSet;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tollgate_billing::PaymentError;
use tollgate_stripe::{
    Catalog, CatalogPlan, CatalogPlanIds, CatalogRequest, StripeClient, StripeConfig,
};
use wiremock::MockServer;

use self::fake::{FakeStripe, SECRET};
use self::objects::MeterSettings;

const EVENT: &str = "tollgate_usage";

fn plan(plan: &str, name: &str, price_cents: i64, metered: bool) -> CatalogPlan {
    CatalogPlan {
        plan: plan.to_owned(),
        name: name.to_owned(),
        price_cents,
        metered,
    }
}

/// Tollgate's usual plans: free, a paid metered plan, a paid flat plan.
fn request() -> CatalogRequest {
    CatalogRequest {
        meter_event_name: EVENT.to_owned(),
        currency: "usd".to_owned(),
        plans: vec![
            plan("free", "Free", 0, false),
            plan("pro", "Tollgate Pro", 2000, true),
            plan("team", "Tollgate Team", 9900, false),
        ],
    }
}

fn client(server: &MockServer, secret: &str) -> StripeClient {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    StripeClient::new(&StripeConfig {
        secret_key: SecretString::from(secret),
        api_base: server.uri(),
        timeout: Duration::from_secs(5),
    })
    .expect("valid configuration")
}

async fn stripe() -> (MockServer, FakeStripe, StripeClient) {
    let (server, fake) = FakeStripe::start().await;
    let client = client(&server, SECRET);
    (server, fake, client)
}

fn tollgate_meter() -> MeterSettings<'static> {
    MeterSettings {
        display_name: "Usage",
        event_name: EVENT,
        formula: "sum",
        customer_key: "stripe_customer_id",
        value_key: "value",
    }
}

fn ids<'a>(catalog: &'a Catalog, plan: &str) -> &'a CatalogPlanIds {
    catalog
        .plans
        .iter()
        .find(|ids| ids.plan == plan)
        .unwrap_or_else(|| panic!("no plan {plan} in {catalog:?}"))
}

async fn set_up(client: &StripeClient, request: &CatalogRequest) -> Catalog {
    client.set_up_catalog(request).await.expect("set up")
}

#[tokio::test]
async fn a_first_run_on_an_empty_account_creates_the_meter_products_and_prices() {
    let (_server, fake, client) = stripe().await;

    let catalog = set_up(&client, &request()).await;

    let state = fake.state();
    assert_eq!(state.meters.len(), 1);
    let meter = state.meter(&catalog.meter_id);
    assert_eq!(meter["event_name"], EVENT);
    assert_eq!(meter["display_name"], "Tollgate usage (micro-dollars)");
    assert_eq!(meter["default_aggregation"]["formula"], "sum");
    assert_eq!(meter["customer_mapping"]["type"], "by_id");
    assert_eq!(
        meter["customer_mapping"]["event_payload_key"],
        "stripe_customer_id"
    );
    assert_eq!(meter["value_settings"]["event_payload_key"], "value");
    // The fake fills in Stripe's defaults, so the request itself must say them.
    let meter_post = state.posts_to("/v1/billing/meters")[0];
    assert_eq!(meter_post.param("customer_mapping[type]"), Some("by_id"));
    assert_eq!(
        meter_post.param("customer_mapping[event_payload_key]"),
        Some("stripe_customer_id")
    );
    assert_eq!(
        meter_post.param("value_settings[event_payload_key]"),
        Some("value")
    );
    assert_eq!(
        meter_post.idempotency_key.as_deref(),
        Some("tollgate-meter-tollgate_usage")
    );
    assert_eq!(catalog.meter_event_name, EVENT);

    let planned: Vec<&str> = catalog.plans.iter().map(|ids| ids.plan.as_str()).collect();
    assert_eq!(planned, ["pro", "team"], "free needs nothing in Stripe");
    assert_eq!(state.products.len(), 2);
    let pro = ids(&catalog, "pro");
    assert_eq!(pro.product_id, "tollgate_pro");
    let product = state.product("tollgate_pro");
    assert_eq!(product["name"], "Tollgate Pro");
    assert_eq!(product["metadata"]["tollgate_plan"], "pro");

    assert_eq!(state.prices.len(), 3);
    let monthly = state.price(pro.price_id.as_deref().expect("a monthly price"));
    assert_eq!(monthly["product"], "tollgate_pro");
    assert_eq!(monthly["currency"], "usd");
    assert_eq!(monthly["unit_amount"], 2000);
    assert_eq!(monthly["recurring"]["interval"], "month");
    assert_eq!(monthly["recurring"]["usage_type"], "licensed");
    assert_eq!(monthly["lookup_key"], "tollgate_pro_monthly");
    let usage = state.price(pro.metered_price_id.as_deref().expect("a usage price"));
    assert_eq!(usage["product"], "tollgate_pro");
    assert_eq!(usage["currency"], "usd");
    assert_eq!(usage["unit_amount_decimal"], "0.0001");
    assert_eq!(usage["unit_amount"], Value::Null);
    assert_eq!(usage["billing_scheme"], "per_unit");
    assert_eq!(usage["recurring"]["interval"], "month");
    assert_eq!(usage["recurring"]["usage_type"], "metered");
    assert_eq!(usage["recurring"]["meter"], catalog.meter_id.as_str());
    assert_eq!(usage["lookup_key"], "tollgate_pro_usage");

    let team = ids(&catalog, "team");
    assert_eq!(team.product_id, "tollgate_team");
    assert_eq!(team.metered_price_id, None);
    let team_price = state.price(team.price_id.as_deref().expect("a monthly price"));
    assert_eq!(team_price["unit_amount"], 9900);
    assert_eq!(team_price["lookup_key"], "tollgate_team_monthly");

    // A meter, two products, three prices; each under its own idempotency key.
    assert_eq!(catalog.created.len(), 6, "{:#?}", catalog.created);
    let posts = state.posts();
    assert_eq!(posts.len(), 6);
    let keys: HashSet<&str> = posts
        .iter()
        .map(|post| post.idempotency_key.as_deref().expect("an idempotency key"))
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
}

#[tokio::test]
async fn a_second_run_creates_nothing_and_returns_the_same_ids() {
    let (_server, fake, client) = stripe().await;
    let first = set_up(&client, &request()).await;
    let posts = fake.state().posts().len();

    let second = set_up(&client, &request()).await;

    assert_eq!(second.created, Vec::<String>::new());
    assert_eq!(fake.state().posts().len(), posts);
    assert_eq!(second.meter_id, first.meter_id);
    assert_eq!(second.plans, first.plans);
}

#[tokio::test]
async fn a_changed_price_moves_the_lookup_key_to_a_new_monthly_price() {
    let (_server, fake, client) = stripe().await;
    let first = set_up(&client, &request()).await;
    let mut raised = request();
    raised.plans[1].price_cents = 2500;

    let second = set_up(&client, &raised).await;

    let old = ids(&first, "pro").price_id.clone().expect("a price");
    let new = ids(&second, "pro").price_id.clone().expect("a price");
    assert_ne!(new, old);
    assert_eq!(second.created.len(), 1, "{:#?}", second.created);
    assert!(second.created[0].contains(&new), "{:?}", second.created);
    assert!(second.created[0].contains(&old), "{:?}", second.created);
    // Nothing else changed.
    assert_eq!(second.meter_id, first.meter_id);
    assert_eq!(
        ids(&second, "pro").metered_price_id,
        ids(&first, "pro").metered_price_id
    );
    assert_eq!(ids(&second, "team"), ids(&first, "team"));
    {
        let state = fake.state();
        let post = *state
            .posts_to("/v1/prices")
            .last()
            .expect("a price created");
        assert_eq!(post.param("transfer_lookup_key"), Some("true"));
        assert_eq!(post.param("unit_amount"), Some("2500"));
        assert_eq!(state.price(&new)["unit_amount"], 2500);
        assert_eq!(state.price(&new)["lookup_key"], "tollgate_pro_monthly");
        assert_eq!(state.price(&old)["lookup_key"], Value::Null);
    }

    let third = set_up(&client, &raised).await;
    assert_eq!(third.created, Vec::<String>::new());
    assert_eq!(ids(&third, "pro").price_id.as_deref(), Some(new.as_str()));
}

#[tokio::test]
async fn an_existing_meter_is_reused_even_past_the_first_page() {
    let (_server, fake, client) = stripe().await;
    let existing = {
        let mut state = fake.state();
        state.page_size = Some(2);
        let existing = state.seed_meter(&tollgate_meter());
        for event_name in ["api_calls", "seats", "storage_gb", "egress_gb"] {
            state.seed_meter(&MeterSettings {
                event_name,
                ..tollgate_meter()
            });
        }
        existing
    };

    let catalog = set_up(&client, &request()).await;

    assert_eq!(catalog.meter_id, existing);
    let state = fake.state();
    assert!(state.posts_to("/v1/billing/meters").is_empty());
    assert_eq!(state.meters.len(), 5);
    let usage = state.price(
        ids(&catalog, "pro")
            .metered_price_id
            .as_deref()
            .expect("a usage price"),
    );
    assert_eq!(usage["recurring"]["meter"], existing.as_str());
    let pages = state
        .requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/billing/meters")
        .count();
    assert_eq!(pages, 3, "five meters, two a page");
}

#[tokio::test]
async fn an_inactive_meter_with_the_event_name_is_not_reused() {
    let (_server, fake, client) = stripe().await;
    let inactive = {
        let mut state = fake.state();
        let id = state.seed_meter(&tollgate_meter());
        state.meters[0]["status"] = "inactive".into();
        id
    };

    let catalog = set_up(&client, &request()).await;

    assert_ne!(catalog.meter_id, inactive);
    assert_eq!(fake.state().posts_to("/v1/billing/meters").len(), 1);
}

#[tokio::test]
async fn a_meter_that_counts_differently_is_refused() {
    let (_server, fake, client) = stripe().await;
    let existing = fake.state().seed_meter(&MeterSettings {
        value_key: "tokens",
        ..tollgate_meter()
    });

    let outcome = client.set_up_catalog(&request()).await;

    match outcome {
        Err(PaymentError::Rejected(message)) => {
            assert!(message.contains(&existing), "{message}");
            assert!(message.contains("tokens"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(fake.state().posts().is_empty());
}

#[tokio::test]
async fn a_new_meter_moves_the_usage_price_to_it() {
    let (_server, fake, client) = stripe().await;
    let first = set_up(&client, &request()).await;
    let mut renamed = request();
    renamed.meter_event_name = "tollgate_usage_v2".to_owned();

    let second = set_up(&client, &renamed).await;

    assert_ne!(second.meter_id, first.meter_id);
    assert_eq!(second.created.len(), 2, "{:#?}", second.created);
    let usage = ids(&second, "pro")
        .metered_price_id
        .clone()
        .expect("a price");
    assert_ne!(Some(&usage), ids(&first, "pro").metered_price_id.as_ref());
    let state = fake.state();
    let post = *state
        .posts_to("/v1/prices")
        .last()
        .expect("a price created");
    assert_eq!(post.param("transfer_lookup_key"), Some("true"));
    assert_eq!(
        post.param("recurring[meter]"),
        Some(second.meter_id.as_str())
    );
    assert_eq!(state.price(&usage)["lookup_key"], "tollgate_pro_usage");
    assert_eq!(ids(&second, "pro").price_id, ids(&first, "pro").price_id);
}

#[tokio::test]
async fn an_archived_price_holding_the_lookup_key_is_replaced() {
    let (_server, fake, client) = stripe().await;
    let first = set_up(&client, &request()).await;
    let archived = ids(&first, "team").price_id.clone().expect("a price");
    {
        let mut state = fake.state();
        let price = state
            .prices
            .iter_mut()
            .find(|price| price["id"] == archived.as_str())
            .expect("the price");
        price["active"] = false.into();
    }

    let second = set_up(&client, &request()).await;

    let new = ids(&second, "team").price_id.clone().expect("a price");
    assert_ne!(new, archived);
    let state = fake.state();
    assert_eq!(state.price(&new)["lookup_key"], "tollgate_team_monthly");
    assert_eq!(state.price(&new)["unit_amount"], 9900);
}

#[tokio::test]
async fn a_run_whose_answer_was_lost_is_completed_by_the_next_without_duplicates() {
    let (_server, fake, client) = stripe().await;
    fake.state().lose_answer_to = Some("/v1/prices".to_owned());

    let outcome = client.set_up_catalog(&request()).await;

    match &outcome {
        Err(error) => assert!(error.is_retryable(), "{error:?}"),
        Ok(catalog) => panic!("expected a failure, got {catalog:?}"),
    }
    let catalog = set_up(&client, &request()).await;
    let state = fake.state();
    assert_eq!(state.meters.len(), 1);
    assert_eq!(state.products.len(), 2);
    assert_eq!(state.prices.len(), 3);
    let monthly = ids(&catalog, "pro").price_id.as_deref().expect("a price");
    assert_eq!(state.price(monthly)["unit_amount"], 2000);
}

#[tokio::test]
async fn a_wrong_api_key_is_rejected_for_good() {
    let (server, fake) = FakeStripe::start().await;
    let client = client(&server, "sk_test_wrong");

    let outcome = client.set_up_catalog(&request()).await;

    match outcome {
        Err(error @ PaymentError::Rejected(_)) => {
            assert!(!error.is_retryable());
            assert!(error.to_string().contains("401"), "{error}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let state = fake.state();
    assert!(state.meters.is_empty() && state.products.is_empty() && state.prices.is_empty());
}

#[tokio::test]
async fn an_unusable_request_is_rejected_before_anything_is_sent() {
    let (_server, fake, client) = stripe().await;
    let mut bad_plan = request();
    bad_plan.plans[1].plan = "pro/../x".to_owned();
    let mut negative = request();
    negative.plans[2].price_cents = -1;
    let mut bad_currency = request();
    bad_currency.currency = "dollars".to_owned();
    let mut twice = request();
    twice.plans.push(plan("pro", "Again", 100, false));

    for request in [bad_plan, negative, bad_currency, twice] {
        let outcome = client.set_up_catalog(&request).await;
        assert!(
            matches!(outcome, Err(PaymentError::Rejected(_))),
            "{request:?}: {outcome:?}"
        );
    }
    assert!(fake.state().requests.is_empty());
}
