//! A stateful stand-in for the parts of Stripe's API the catalogue set-up uses: billing meters,
//! products and prices are kept, listed and created as Stripe does, including the refusals the
//! client has to get right (a lookup key held by another price, an unknown product or meter, a
//! wrong API key) and the replay of an idempotency key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::objects::{self, EPOCH, MeterSettings, PriceSettings};

/// The API key the fake accepts.
pub const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";

/// The fake; clones share the account.
#[derive(Clone, Default)]
pub struct FakeStripe {
    state: Arc<Mutex<State>>,
}

/// The account, and what was asked of it.
#[derive(Default)]
pub struct State {
    pub meters: Vec<Value>,
    pub products: Vec<Value>,
    pub prices: Vec<Value>,
    pub requests: Vec<Recorded>,
    /// The largest page a list answers with, to make the client follow `has_more`.
    pub page_size: Option<usize>,
    /// A POST to this path is carried out, but answered with a 500, as when the answer is lost.
    pub lose_answer_to: Option<String>,
    /// What was answered under each idempotency key, and to which parameters.
    idempotent: HashMap<String, (Params, Answer)>,
    next_id: u64,
}

type Params = Vec<(String, String)>;

/// A status and a body.
type Answer = (u16, Value);

/// One request, as the fake read it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query of a GET, the form of a POST.
    pub params: Params,
    pub idempotency_key: Option<String>,
}

impl Recorded {
    pub fn param(&self, key: &str) -> Option<&str> {
        field(&self.params, key)
    }
}

impl FakeStripe {
    /// A fake with an empty account, serving on loopback.
    pub async fn start() -> (MockServer, Self) {
        let server = MockServer::start().await;
        let fake = Self::default();
        Mock::given(any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("the fake's state")
    }
}

impl State {
    pub fn posts(&self) -> Vec<&Recorded> {
        self.requests
            .iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    pub fn posts_to(&self, path: &str) -> Vec<&Recorded> {
        self.posts()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn meter(&self, id: &str) -> &Value {
        find(&self.meters, id)
    }

    pub fn product(&self, id: &str) -> &Value {
        find(&self.products, id)
    }

    pub fn price(&self, id: &str) -> &Value {
        find(&self.prices, id)
    }

    /// Adds a meter, as if made in the dashboard; returns its id.
    pub fn seed_meter(&mut self, settings: &MeterSettings<'_>) -> String {
        let (id, created) = self.new_id("mtr_test_");
        self.meters.push(objects::meter(&id, created, settings));
        id
    }

    fn new_id(&mut self, prefix: &str) -> (String, i64) {
        self.next_id += 1;
        let n = self.next_id;
        (format!("{prefix}61Tg{n:014}"), EPOCH + n as i64)
    }
}

fn find<'a>(objects: &'a [Value], id: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["id"] == id)
        .unwrap_or_else(|| panic!("no object {id} in the fake"))
}

fn field<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn missing(param: &str) -> Answer {
    (
        400,
        objects::error(
            "invalid_request_error",
            Some("parameter_missing"),
            Some(param),
            &format!("Missing required param: {param}."),
        ),
    )
}

fn no_such(what: &str, id: &str, param: &str) -> Answer {
    let status = if param == "id" { 404 } else { 400 };
    (
        status,
        objects::error(
            "invalid_request_error",
            Some("resource_missing"),
            Some(param),
            &format!("No such {what}: '{id}'"),
        ),
    )
}

impl Respond for FakeStripe {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state();
        let recorded = Recorded {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            params: if request.method.as_str() == "GET" {
                request.url.query_pairs().into_owned().collect()
            } else {
                form_urlencoded::parse(&request.body).into_owned().collect()
            },
            idempotency_key: request
                .headers
                .get("idempotency-key")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        };
        state.requests.push(recorded.clone());
        let authorized = request
            .headers
            .get("authorization")
            .is_some_and(|value| value.as_bytes() == format!("Bearer {SECRET}").as_bytes());
        let (status, body) = if authorized {
            state.answer(&recorded)
        } else {
            (
                401,
                objects::error(
                    "invalid_request_error",
                    None,
                    None,
                    "Invalid API Key provided: sk_test_****wrong",
                ),
            )
        };
        ResponseTemplate::new(status).set_body_json(body)
    }
}

impl State {
    fn answer(&mut self, request: &Recorded) -> Answer {
        let is_post = request.method == "POST";
        if is_post
            && let Some(key) = &request.idempotency_key
            && let Some((params, answer)) = self.idempotent.get(key)
        {
            if *params != request.params {
                return (
                    400,
                    objects::error(
                        "idempotency_error",
                        None,
                        None,
                        &format!(
                            "Keys for idempotent requests can only be used with the same \
                                 parameters they were first used with. Try using a key other \
                                 than '{key}' if you meant to execute a different request."
                        ),
                    ),
                );
            }
            return answer.clone();
        }
        let (status, body) = self.route(request);
        if is_post && let Some(key) = &request.idempotency_key {
            self.idempotent.insert(
                key.clone(),
                (request.params.clone(), (status, body.clone())),
            );
        }
        if is_post && self.lose_answer_to.as_deref() == Some(request.path.as_str()) {
            self.lose_answer_to = None;
            return (
                500,
                objects::error("api_error", None, None, "An unknown error occurred"),
            );
        }
        (status, body)
    }

    fn route(&mut self, request: &Recorded) -> Answer {
        let params = &request.params;
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "billing", "meters"]) => self.list_meters(params),
            ("POST", ["v1", "billing", "meters"]) => self.create_meter(params),
            ("GET", ["v1", "products", id]) => {
                match self.products.iter().find(|p| p["id"] == *id) {
                    Some(product) => (200, product.clone()),
                    None => no_such("product", id, "id"),
                }
            }
            ("POST", ["v1", "products"]) => self.create_product(params),
            ("GET", ["v1", "prices"]) => self.list_prices(params),
            ("POST", ["v1", "prices"]) => self.create_price(params),
            _ => (
                404,
                objects::error(
                    "invalid_request_error",
                    None,
                    None,
                    &format!(
                        "Unrecognized request URL ({} {}).",
                        request.method, request.path
                    ),
                ),
            ),
        }
    }

    /// Newest first, as Stripe lists.
    fn list_meters(&self, params: &[(String, String)]) -> Answer {
        let status = field(params, "status");
        let matching: Vec<&Value> = self
            .meters
            .iter()
            .rev()
            .filter(|meter| status.is_none_or(|status| meter["status"] == status))
            .collect();
        let start = match field(params, "starting_after") {
            Some(after) => match matching.iter().position(|meter| meter["id"] == after) {
                Some(index) => index + 1,
                None => return no_such("billing meter", after, "starting_after"),
            },
            None => 0,
        };
        let limit = field(params, "limit")
            .map_or(10, |limit| limit.parse::<usize>().expect("a number"))
            .min(self.page_size.unwrap_or(100));
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|meter| (*meter).clone())
            .collect();
        let has_more = start + page.len() < matching.len();
        (200, objects::list("/v1/billing/meters", page, has_more))
    }

    fn create_meter(&mut self, params: &[(String, String)]) -> Answer {
        let (Some(display_name), Some(event_name), Some(formula)) = (
            field(params, "display_name"),
            field(params, "event_name"),
            field(params, "default_aggregation[formula]"),
        ) else {
            return missing("display_name, event_name or default_aggregation[formula]");
        };
        // Stripe's defaults where the request says nothing.
        let settings = MeterSettings {
            display_name,
            event_name,
            formula,
            customer_key: field(params, "customer_mapping[event_payload_key]")
                .unwrap_or("stripe_customer_id"),
            value_key: field(params, "value_settings[event_payload_key]").unwrap_or("value"),
        };
        let (id, created) = self.new_id("mtr_test_");
        let meter = objects::meter(&id, created, &settings);
        self.meters.push(meter.clone());
        (200, meter)
    }

    fn create_product(&mut self, params: &[(String, String)]) -> Answer {
        let Some(name) = field(params, "name") else {
            return missing("name");
        };
        let (generated, created) = self.new_id("prod_");
        let id = field(params, "id").map_or(generated, str::to_owned);
        if self
            .products
            .iter()
            .any(|product| product["id"] == id.as_str())
        {
            return (
                400,
                objects::error(
                    "invalid_request_error",
                    Some("resource_already_exists"),
                    Some("id"),
                    "Product already exists.",
                ),
            );
        }
        let metadata: serde_json::Map<String, Value> = params
            .iter()
            .filter_map(|(key, value)| {
                let key = key.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(value)))
            })
            .collect();
        let product = objects::product(&id, created, name, Value::Object(metadata));
        self.products.push(product.clone());
        (200, product)
    }

    fn list_prices(&self, params: &[(String, String)]) -> Answer {
        let lookup_keys: Vec<&str> = params
            .iter()
            .filter(|(key, _)| key.starts_with("lookup_keys["))
            .map(|(_, value)| value.as_str())
            .collect();
        let active = field(params, "active").map(|active| active == "true");
        let data = self
            .prices
            .iter()
            .rev()
            .filter(|price| {
                lookup_keys.is_empty()
                    || lookup_keys
                        .iter()
                        .any(|key| price["lookup_key"].as_str() == Some(key))
            })
            .filter(|price| active.is_none_or(|active| price["active"] == active))
            .cloned()
            .collect();
        (200, objects::list("/v1/prices", data, false))
    }

    fn create_price(&mut self, params: &[(String, String)]) -> Answer {
        let Some(currency) = field(params, "currency") else {
            return missing("currency");
        };
        let Some(product) = field(params, "product") else {
            return missing("product");
        };
        if !self.products.iter().any(|p| p["id"] == product) {
            return no_such("product", product, "product");
        }
        let Some(interval) = field(params, "recurring[interval]") else {
            return missing("recurring[interval]");
        };
        let usage_type = field(params, "recurring[usage_type]").unwrap_or("licensed");
        let meter = field(params, "recurring[meter]");
        if usage_type == "metered" {
            let Some(meter) = meter else {
                return missing("recurring[meter]");
            };
            if !self.meters.iter().any(|m| m["id"] == meter) {
                return no_such("billing meter", meter, "recurring[meter]");
            }
        }
        let (unit_amount, unit_amount_decimal) = match (
            field(params, "unit_amount"),
            field(params, "unit_amount_decimal"),
        ) {
            (Some(amount), None) => (Some(amount.parse::<i64>().expect("a number")), amount),
            (None, Some(decimal)) => (decimal.parse::<i64>().ok(), decimal),
            _ => return missing("exactly one of unit_amount and unit_amount_decimal"),
        };
        let lookup_key = field(params, "lookup_key");
        if let Some(key) = lookup_key
            && let Some(holder) = self.prices.iter_mut().find(|p| p["lookup_key"] == key)
        {
            if field(params, "transfer_lookup_key") != Some("true") {
                return (
                    400,
                    objects::error(
                        "invalid_request_error",
                        None,
                        Some("lookup_key"),
                        &format!(
                            "A price (`{}`) already uses that lookup key.",
                            holder["id"].as_str().unwrap_or_default()
                        ),
                    ),
                );
            }
            holder["lookup_key"] = Value::Null;
        }
        let settings = PriceSettings {
            product: product.to_owned(),
            currency: currency.to_owned(),
            lookup_key: lookup_key.map(str::to_owned),
            billing_scheme: field(params, "billing_scheme")
                .unwrap_or("per_unit")
                .to_owned(),
            unit_amount,
            unit_amount_decimal: unit_amount_decimal.to_owned(),
            interval: interval.to_owned(),
            usage_type: usage_type.to_owned(),
            meter: meter.map(str::to_owned),
        };
        let (id, created) = self.new_id("price_");
        let price = objects::price(&id, created, &settings);
        self.prices.push(price.clone());
        (200, price)
    }
}
