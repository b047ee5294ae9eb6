//! Stripe billing wired from `[stripe]`: the webhook's signing secret, and the service that
//! applies payment events with subscriptions fetched through the Stripe client.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tollgate_billing::{Checkouts, ReturnUrls, SubscriptionRules, Subscriptions};
use tollgate_kernel::SystemClock;
use tollgate_sql::SqlStore;
use tollgate_stripe::{StripeClient, StripeConfig};

use crate::settings::Settings;
use crate::state::StripeWebhooks;

/// Stripe's API when `stripe.api_base` is not set.
const STRIPE_API: &str = "https://api.stripe.com";

/// The webhook side of Stripe billing, or `None` without a `[stripe]` section.
pub fn stripe_webhooks(
    settings: &Settings,
    store: SqlStore,
) -> anyhow::Result<Option<StripeWebhooks>> {
    let Some(stripe) = &settings.stripe else {
        return Ok(None);
    };
    let (Some(secret_key), Some(signing_secret)) = (&stripe.secret_key, &stripe.webhook_secret)
    else {
        anyhow::bail!("[stripe] needs secret_key and webhook_secret");
    };
    let client = StripeClient::new(&StripeConfig {
        secret_key: secret_key.clone(),
        api_base: stripe
            .api_base
            .clone()
            .unwrap_or_else(|| STRIPE_API.to_owned()),
        timeout: Duration::from_secs(20),
    })
    .context("building the Stripe client")?;
    let catalog = settings.plan_catalog().context("reading the plans")?;
    let prices = catalog
        .plans()
        .into_iter()
        .filter_map(|plan| {
            plan.stripe_price_id
                .clone()
                .map(|price| (price, plan.id.as_str().to_owned()))
        })
        .collect();
    let rules = SubscriptionRules {
        fallback_plan: "free".to_owned(),
        grace: stripe.grace_period(),
    };
    let plans = catalog
        .plans()
        .into_iter()
        .map(|plan| (plan.id.as_str().to_owned(), plan.stripe_price_id.clone()))
        .collect();
    let urls = ReturnUrls {
        success: stripe.checkout_success_url.clone(),
        cancel: stripe.checkout_cancel_url.clone(),
        portal: stripe.portal_return_url.clone(),
    };
    let pages = Checkouts::new(client.clone(), store.clone(), urls, plans);
    let events = Subscriptions::new(client, store, Arc::new(SystemClock), rules, prices);
    Ok(Some(StripeWebhooks {
        signing_secret: signing_secret.clone(),
        events: Arc::new(events),
        pages: Arc::new(pages),
    }))
}

/// How often lapsed grace periods and paid periods are looked for.
const LAPSE_CHECK: Duration = Duration::from_secs(60);

/// Moves organisations whose grace period or paid period ended with no event from Stripe
/// (runs until aborted).
pub async fn apply_lapses(events: Arc<dyn crate::services::PaymentEventsApi>) {
    loop {
        tokio::time::sleep(LAPSE_CHECK).await;
        match events.apply_lapses().await {
            Ok(moved) => {
                for (organization, plan) in moved {
                    tracing::info!(%organization, %plan, "subscription lapsed; plan changed");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not look for lapsed subscriptions; will retry")
            }
        }
    }
}
