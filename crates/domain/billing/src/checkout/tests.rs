use mockall::predicate::eq;

use super::*;
use crate::payments::MockPaymentPages;

fn urls() -> ReturnUrls {
    ReturnUrls {
        success: Some("https://app.example.com/billing/done".into()),
        cancel: Some("https://app.example.com/billing".into()),
        portal: Some("https://app.example.com/settings".into()),
    }
}

fn offer(plan: &str, price: Option<&str>, metered_price: Option<&str>) -> PlanOffer {
    PlanOffer {
        plan: plan.into(),
        price: price.map(Into::into),
        metered_price: metered_price.map(Into::into),
    }
}

fn plans() -> Vec<PlanOffer> {
    vec![
        offer("free", None, None),
        offer("pro", Some("price_pro"), None),
        offer("scale", Some("price_scale"), Some("price_scale_usage")),
    ]
}

fn no_customer_yet() -> MockCustomerStore {
    let mut store = MockCustomerStore::new();
    store
        .expect_customer_of()
        .returning(|_| Box::pin(async { Ok(None) }));
    store
        .expect_keep_customer()
        .times(1)
        .returning(|_, customer| {
            let customer = customer.to_owned();
            Box::pin(async move { Ok(customer) })
        });
    store
}

#[tokio::test]
async fn the_first_checkout_creates_the_customer_then_opens_checkout_for_the_plans_price() {
    let organization = OrganizationId::new();
    let mut pages = MockPaymentPages::new();
    pages
        .expect_create_customer()
        .with(eq(organization))
        .times(1)
        .returning(|_| Box::pin(async { Ok("cus_1".to_owned()) }));
    pages
        .expect_checkout_url()
        .withf(move |customer, price, org, success, cancel| {
            customer == "cus_1"
                && price == ["price_pro".to_owned()]
                && *org == organization
                && success.ends_with("/done")
                && cancel.ends_with("/billing")
        })
        .times(1)
        .returning(|_, _, _, _, _| Box::pin(async { Ok("https://checkout/1".to_owned()) }));
    let service = Checkouts::new(pages, no_customer_yet(), urls(), plans());
    assert_eq!(
        service.checkout(organization, "pro").await.unwrap(),
        "https://checkout/1"
    );
}

#[tokio::test]
async fn a_metered_plan_is_checked_out_with_its_metered_price_beside_its_subscription() {
    let mut pages = MockPaymentPages::new();
    pages
        .expect_create_customer()
        .returning(|_| Box::pin(async { Ok("cus_1".to_owned()) }));
    pages
        .expect_checkout_url()
        .withf(|_, prices, _, _, _| {
            prices == ["price_scale".to_owned(), "price_scale_usage".to_owned()]
        })
        .times(1)
        .returning(|_, _, _, _, _| Box::pin(async { Ok("https://checkout/3".to_owned()) }));
    let service = Checkouts::new(pages, no_customer_yet(), urls(), plans());
    assert_eq!(
        service
            .checkout(OrganizationId::new(), "scale")
            .await
            .unwrap(),
        "https://checkout/3"
    );
}

#[tokio::test]
async fn an_organisation_with_a_customer_keeps_it() {
    let mut store = MockCustomerStore::new();
    store
        .expect_customer_of()
        .returning(|_| Box::pin(async { Ok(Some("cus_9".to_owned())) }));
    let mut pages = MockPaymentPages::new();
    pages.expect_create_customer().never();
    pages
        .expect_checkout_url()
        .withf(|customer, _, _, _, _| customer == "cus_9")
        .returning(|_, _, _, _, _| Box::pin(async { Ok("https://checkout/2".to_owned()) }));
    pages
        .expect_portal_url()
        .withf(|customer, back| customer == "cus_9" && back.ends_with("/settings"))
        .returning(|_, _| Box::pin(async { Ok("https://portal/9".to_owned()) }));
    let service = Checkouts::new(pages, store, urls(), plans());
    let organization = OrganizationId::new();
    assert_eq!(
        service.checkout(organization, "pro").await.unwrap(),
        "https://checkout/2"
    );
    assert_eq!(
        service.portal(organization).await.unwrap(),
        "https://portal/9"
    );
}

#[tokio::test]
async fn plans_not_sold_online_and_unknown_plans_are_refused_before_the_provider_is_asked() {
    let mut pages = MockPaymentPages::new();
    pages.expect_create_customer().never();
    pages.expect_checkout_url().never();
    let service = Checkouts::new(pages, MockCustomerStore::new(), urls(), plans());
    let organization = OrganizationId::new();
    assert!(matches!(
        service.checkout(organization, "free").await,
        Err(CheckoutError::NotForSale(plan)) if plan == "free"
    ));
    assert!(matches!(
        service.checkout(organization, "gold").await,
        Err(CheckoutError::UnknownPlan(_))
    ));
}

#[tokio::test]
async fn the_portal_needs_a_customer() {
    let mut store = MockCustomerStore::new();
    store
        .expect_customer_of()
        .returning(|_| Box::pin(async { Ok(None) }));
    let mut pages = MockPaymentPages::new();
    pages.expect_portal_url().never();
    let service = Checkouts::new(pages, store, urls(), plans());
    assert!(matches!(
        service.portal(OrganizationId::new()).await,
        Err(CheckoutError::NoCustomer)
    ));
}

#[tokio::test]
async fn a_provider_failure_is_reported_as_such() {
    let mut pages = MockPaymentPages::new();
    pages
        .expect_create_customer()
        .returning(|_| Box::pin(async { Err(PaymentError::Unavailable("503".into())) }));
    let mut store = MockCustomerStore::new();
    store
        .expect_customer_of()
        .returning(|_| Box::pin(async { Ok(None) }));
    store.expect_keep_customer().never();
    let service = Checkouts::new(pages, store, urls(), plans());
    let failed = service.checkout(OrganizationId::new(), "pro").await;
    assert!(matches!(failed, Err(CheckoutError::Provider(e)) if e.is_retryable()));
}

#[test]
fn sells_only_priced_plans_and_only_with_return_urls() {
    let checkouts = Checkouts::new(
        MockPaymentPages::new(),
        MockCustomerStore::new(),
        urls(),
        plans(),
    );
    assert!(checkouts.sells("pro"));
    assert!(checkouts.sells("scale"));
    assert!(!checkouts.sells("free"), "no price");
    assert!(!checkouts.sells("enterprise"), "not in the catalogue");

    let without_urls = ReturnUrls {
        success: None,
        ..urls()
    };
    let checkouts = Checkouts::new(
        MockPaymentPages::new(),
        MockCustomerStore::new(),
        without_urls,
        plans(),
    );
    assert!(
        !checkouts.sells("pro"),
        "checkout would fail: no success URL"
    );
}
