//! Stripe-shaped answers (customer, Checkout session, portal session) for tests of code that
//! talks to Stripe through this adapter, against a local stand-in for Stripe's API. Shapes as
//! Stripe's API reference shows them; async-stripe reads them strictly.

use serde_json::{Value, json};
use tollgate_kernel::OrganizationId;

/// The URL of [`portal_session`].
pub const PORTAL_URL: &str = "https://billing.stripe.com/p/session/test_YWNjdF8xTTJKVGtMa2RJd0h1N2l4LF9OY2lBYjJXcHY4a2NPck96UjBEbFVYRnU5bjlwVUF50100BUtQs3bl";

/// The URL of [`checkout_session`].
pub const CHECKOUT_URL: &str = "https://checkout.stripe.com/c/pay/cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u";

/// A customer of `organization`.
pub fn customer(organization: OrganizationId) -> Value {
    json!({
        "id": "cus_NffrFeUfNV2Hib",
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": 1680893993,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "email": "billing@example.com",
        "invoice_prefix": "0759376C",
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": { "organization_id": organization.to_string() },
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

/// An open Checkout session of `organization` in subscription mode.
pub fn checkout_session(organization: OrganizationId) -> Value {
    json!({
        "id": "cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u",
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "billing_address_collection": null,
        "cancel_url": "https://app.example.com/billing?canceled=1",
        "client_reference_id": organization.to_string(),
        "consent": null,
        "consent_collection": null,
        "created": 1679600215,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": {
            "shipping_address": null,
            "submit": null,
            "after_submit": null,
            "terms_of_service_acceptance": null
        },
        "customer": "cus_NffrFeUfNV2Hib",
        "customer_creation": null,
        "customer_details": null,
        "customer_email": null,
        "expires_at": 1679686615,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": {},
        "mode": "subscription",
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": "https://app.example.com/billing?success=1",
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": "hosted",
        "url": "https://checkout.stripe.com/c/pay/cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u"
    })
}

/// A customer-portal session.
pub fn portal_session() -> Value {
    json!({
        "id": "bps_1MrSjzLkdIwHu7ixex0IvU9b",
        "object": "billing_portal.session",
        "configuration": "bpc_1MAhNDLkdIwHu7ixckACO1Jq",
        "created": 1680210639,
        "customer": "cus_NffrFeUfNV2Hib",
        "flow": null,
        "livemode": false,
        "locale": null,
        "on_behalf_of": null,
        "return_url": "https://app.example.com/billing",
        "url": PORTAL_URL
    })
}
