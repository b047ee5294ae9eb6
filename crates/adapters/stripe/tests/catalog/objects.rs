//! Stripe's objects and errors as the fake sends them: every field async-stripe requires to
//! read a `BillingMeter`, `Product` and `Price` at its pinned API version, in the shapes of
//! Stripe's API reference.

use serde_json::{Value, json};

/// When the fake's objects were made; later ones a second apart.
pub const EPOCH: i64 = 1_767_225_600;

/// What a meter is created with.
pub struct MeterSettings<'a> {
    pub display_name: &'a str,
    pub event_name: &'a str,
    pub formula: &'a str,
    pub customer_key: &'a str,
    pub value_key: &'a str,
}

pub fn meter(id: &str, created: i64, settings: &MeterSettings<'_>) -> Value {
    json!({
        "id": id,
        "object": "billing.meter",
        "created": created,
        "customer_mapping": { "event_payload_key": settings.customer_key, "type": "by_id" },
        "default_aggregation": { "formula": settings.formula },
        "display_name": settings.display_name,
        "event_name": settings.event_name,
        "event_time_window": null,
        "livemode": false,
        "status": "active",
        "status_transitions": { "deactivated_at": null },
        "updated": created,
        "value_settings": { "event_payload_key": settings.value_key }
    })
}

pub fn product(id: &str, created: i64, name: &str, metadata: Value) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": true,
        "created": created,
        "default_price": null,
        "description": null,
        "images": [],
        "livemode": false,
        "marketing_features": [],
        "metadata": metadata,
        "name": name,
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "type": "service",
        "unit_label": null,
        "updated": created,
        "url": null
    })
}

/// What a recurring price is created with.
pub struct PriceSettings {
    pub product: String,
    pub currency: String,
    pub lookup_key: Option<String>,
    pub billing_scheme: String,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: String,
    pub interval: String,
    pub usage_type: String,
    pub meter: Option<String>,
}

pub fn price(id: &str, created: i64, settings: &PriceSettings) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": settings.billing_scheme,
        "created": created,
        "currency": settings.currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": settings.lookup_key,
        "metadata": {},
        "nickname": null,
        "product": settings.product,
        "recurring": {
            "interval": settings.interval,
            "interval_count": 1,
            "meter": settings.meter,
            "trial_period_days": null,
            "usage_type": settings.usage_type
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": settings.unit_amount,
        "unit_amount_decimal": settings.unit_amount_decimal
    })
}

pub fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// Stripe's error body.
pub fn error(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    let mut error = json!({
        "type": kind,
        "message": message,
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_fake",
    });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{code}"));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}
