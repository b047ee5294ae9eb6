//! Receivers down, then back: each outbox (Stripe meter events, outbound webhooks) keeps its
//! items while the receiver refuses connections and then answers 503, and once the receiver
//! answers 200 delivers every item exactly once — retries before success, one 2xx-acknowledged
//! delivery per item (counted at the receiver per identifier / `webhook-id`), nothing left
//! pending in the outbox table. `meter_billing.rs` covers Stripe's 500s and 429s, an answer lost
//! after Stripe recorded the event and a restart (SQLite), and two instances with Stripe up
//! (Postgres); `webhooks.rs` one 500 then success. Here: a receiver that is not there at all
//! (connection refused), then 503s, for several items at once, on SQLite and on Postgres.
//!
//! The receiver's port is reserved by a socket that is bound but not listening (the kernel
//! refuses connections to it), and the same socket starts listening when the receiver "comes
//! back". The retry schedules are long for a test (meter events 1 s doubling, webhooks 5 s then
//! 5 min), so after each change of the receiver the test moves every pending item's
//! `next_attempt_at` to now — a direct nudge of the outbox table, as an operator's clock would;
//! rows being sent (claimed) are not touched by it and are not claimed twice.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::StatusCode as ClientStatus;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tollgate_server::Settings;
use tollgate_server::settings::StripeSettings;
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{TestApp, eventually, fake_upstream, spawn_with, use_upstream};
use crate::server_process::tollgate;

crate::tests_on_both_backends!(
    meter_events_held_while_stripe_is_down_are_each_billed_once_when_it_returns,
    webhooks_held_while_the_receiver_is_down_are_each_delivered_once_when_it_returns,
);

/// What a receiver does with a request while it listens.
#[derive(Default)]
struct Log {
    /// Answers 2xx (otherwise 503).
    up: bool,
    /// Per item (meter-event identifier or `webhook-id`): the statuses it was answered, in order.
    answers: BTreeMap<String, Vec<u16>>,
    /// Per item: what the 2xx-acknowledged delivery carried (a meter event's value, a
    /// webhook's body and headers).
    accepted: BTreeMap<String, (Bytes, HeaderMap)>,
}

type Shared = Arc<Mutex<Log>>;

/// A receiver on a reserved loopback port: refuses connections until [`Receiver::listen`].
struct Receiver {
    address: SocketAddr,
    socket: Option<TcpSocket>,
    log: Shared,
}

impl Receiver {
    fn reserve() -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = socket.local_addr().unwrap();
        Self {
            address,
            socket: Some(socket),
            log: Shared::default(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts accepting connections, answering with `router` (503 until [`Receiver::up`]).
    fn listen(&mut self, router: Router<Shared>) {
        let listener = self.socket.take().unwrap().listen(128).unwrap();
        let app = router.with_state(self.log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn up(&self) {
        self.log.lock().unwrap().up = true;
    }

    fn answers(&self) -> BTreeMap<String, Vec<u16>> {
        self.log.lock().unwrap().answers.clone()
    }

    fn accepted(&self) -> BTreeMap<String, (Bytes, HeaderMap)> {
        self.log.lock().unwrap().accepted.clone()
    }
}

/// Records an attempt at `item` and decides its status: 503 while down; 200 once up; while up,
/// a second delivery of an item already acknowledged is answered `duplicate` (Stripe refuses a
/// known identifier with a 400; a webhook receiver would process it twice).
fn answer(log: &Shared, item: &str, body: &Bytes, headers: &HeaderMap, duplicate: u16) -> u16 {
    let mut log = log.lock().unwrap();
    let status = if !log.up {
        503
    } else if log.accepted.contains_key(item) {
        duplicate
    } else {
        log.accepted
            .insert(item.to_owned(), (body.clone(), headers.clone()));
        200
    };
    log.answers.entry(item.to_owned()).or_default().push(status);
    status
}

/// Counts per item: its 2xx answers.
fn acknowledged(answers: &BTreeMap<String, Vec<u16>>) -> BTreeMap<String, usize> {
    answers
        .iter()
        .map(|(item, statuses)| {
            let ok = statuses.iter().filter(|s| (200..300).contains(*s)).count();
            (item.clone(), ok)
        })
        .collect()
}

async fn connect(db: &TestDatabase) -> DatabaseConnection {
    Database::connect(db.url()).await.unwrap()
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
}

async fn chat(app: &TestApp, key: &str) -> ClientStatus {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    app.post("/v1/chat/completions", body, Some(key))
        .await
        .status()
}

// ---------------------------------------------------------------------------------------------
// Stripe meter events
// ---------------------------------------------------------------------------------------------

/// Stripe's `POST /v1/billing/meter_events`, as `meter_billing.rs` fakes it.
async fn meter_event(
    State(log): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let identifier = form["identifier"].clone();
    let status = answer(&log, &identifier, &body, &headers, 400);
    meter_event_reply(status, &form)
}

/// What Stripe answers a meter event with `status`: the event, 400 for an identifier it has,
/// 503 when down. `form` is the request's form.
pub fn meter_event_reply(
    status: u16,
    form: &BTreeMap<String, String>,
) -> (StatusCode, axum::Json<Value>) {
    let identifier = &form["identifier"];
    let reply = match status {
        503 => json!({"error": {"type": "api_error", "message": "Stripe is unavailable"}}),
        400 => json!({"error": {"type": "invalid_request_error",
            "message": format!("An event already exists with identifier {identifier}.")}}),
        _ => {
            let timestamp: i64 = form["timestamp"].parse().unwrap();
            json!({"object": "billing.meter_event", "created": timestamp,
                "event_name": form["event_name"], "identifier": identifier, "livemode": false,
                "timestamp": timestamp,
                "payload": {"stripe_customer_id": form["payload[stripe_customer_id]"],
                            "value": form["payload[value]"]}})
        }
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(reply))
}

/// `(identifier, status, attempts, value)` of every meter event in the outbox.
async fn meter_rows(db: &DatabaseConnection) -> Vec<(String, String, i32, i64)> {
    rows(
        db,
        "SELECT identifier, status, attempts, value_micros FROM meter_events ORDER BY identifier",
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get("", "identifier").unwrap(),
            row.try_get("", "status").unwrap(),
            row.try_get("", "attempts").unwrap(),
            row.try_get("", "value_micros").unwrap(),
        )
    })
    .collect()
}

async fn nudge_meter(db: &DatabaseConnection) {
    execute(
        db,
        "UPDATE meter_events SET next_attempt_at = 0 WHERE status = 'pending'",
    )
    .await;
}

async fn meter_events_held_while_stripe_is_down_are_each_billed_once_when_it_returns(
    backend: Backend,
) {
    let upstream = fake_upstream(1200, 300).await;
    let mut stripe = Receiver::reserve();
    let stripe_url = stripe.url();
    let plans = Settings::from_toml(
        "[plans.pro]\nstripe_price_id = \"price_pro\"\n\
         stripe_metered_price_id = \"price_usage\"\n",
    )
    .unwrap()
    .plans;
    let Some((app, db)) = spawn_with(backend, |s| {
        use_upstream(s, &upstream);
        s.plans = plans;
        s.stripe = Some(StripeSettings {
            api_base: Some(stripe_url),
            secret_key: Some("sk_test_drain".to_owned().into()),
            webhook_secret: Some("whsec_drain".to_owned().into()),
            previous_webhook_secrets: Vec::new(),
            grace_period_days: None,
            checkout_success_url: None,
            checkout_cancel_url: None,
            portal_return_url: None,
            meter_event_name: None,
            meter_flush_seconds: Some(1),
        });
    })
    .await
    else {
        return;
    };
    let outbox = connect(&db).await;

    // A metered organisation: on Pro (metered), with its Stripe customer (Checkout would have
    // created it; Stripe is down, so it is written as Checkout writes it).
    let (access, _) = app.new_user("alice@example.com").await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    let organization: uuid::Uuid = me["organization"]["id"].as_str().unwrap().parse().unwrap();
    tollgate(
        db.url(),
        &["set-plan", "--email", "alice@example.com", "--plan", "pro"],
    );
    outbox
        .execute_raw(Statement::from_sql_and_values(
            outbox.get_database_backend(),
            match outbox.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "INSERT INTO stripe_customers (organization_id, customer_id, created_at) \
                     VALUES ($1, $2, $3)"
                }
                _ => {
                    "INSERT INTO stripe_customers (organization_id, customer_id, created_at) \
                     VALUES (?, ?, ?)"
                }
            },
            [
                organization.into(),
                "cus_drain".into(),
                chrono::Utc::now().timestamp_millis().into(),
            ],
        ))
        .await
        .unwrap();
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Stripe refuses connections: calls over several flush windows; their meter events wait.
    for _ in 0..3 {
        for _ in 0..3 {
            assert_eq!(chat(&app, &key).await, ClientStatus::OK);
        }
        tokio::time::sleep(Duration::from_millis(1_200)).await;
    }
    let tried = eventually(Duration::from_secs(10), || async {
        let events = meter_rows(&outbox).await;
        events.len() >= 2 && events.iter().all(|e| e.1 == "pending" && e.2 >= 2)
    })
    .await;
    assert!(
        tried,
        "each event tried twice while refused: {:?}",
        meter_rows(&outbox).await
    );
    assert!(stripe.answers().is_empty());

    // Stripe answers 503; one more window of calls.
    stripe.listen(Router::new().route("/v1/billing/meter_events", post(meter_event)));
    for _ in 0..3 {
        assert_eq!(chat(&app, &key).await, ClientStatus::OK);
    }
    let all_503 = eventually(Duration::from_secs(10), || async {
        nudge_meter(&outbox).await;
        let events = meter_rows(&outbox).await;
        let answers = stripe.answers();
        events.len() >= 3 && events.iter().all(|e| answers.contains_key(&e.0))
    })
    .await;
    assert!(
        all_503,
        "each event answered 503: {:?} {:?}",
        meter_rows(&outbox).await,
        stripe.answers()
    );

    // Stripe is back.
    stripe.up();
    // Drained: every event sent, and together they bill the ledger's usage price (read again
    // each time: on Postgres the last calls settle just after their responses).
    let ledger = || async { app.usage(&key).await["price_micros"].as_i64().unwrap() };
    let drained = eventually(Duration::from_secs(10), || async {
        nudge_meter(&outbox).await;
        let events = meter_rows(&outbox).await;
        events.iter().all(|e| e.1 == "sent")
            && events.iter().map(|e| e.3).sum::<i64>() == ledger().await
    })
    .await;
    let events = meter_rows(&outbox).await;
    let ledger = ledger().await;
    assert!(ledger > 0);
    assert!(drained, "not drained: {events:?} of {ledger}");
    // Quiet afterwards: nothing more is sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    nudge_meter(&outbox).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let answers = stripe.answers();
    let accepted = stripe.accepted();
    assert_eq!(
        meter_rows(&outbox).await,
        events,
        "the outbox did not change after draining"
    );
    let identifiers: Vec<&String> = events.iter().map(|e| &e.0).collect();
    assert_eq!(
        answers.keys().collect::<Vec<_>>(),
        identifiers,
        "every event, and only those, reached Stripe"
    );
    for (identifier, ok) in acknowledged(&answers) {
        assert_eq!(ok, 1, "{identifier}: {:?}", answers[&identifier]);
    }
    for (identifier, status, attempts, value) in &events {
        let statuses = &answers[identifier];
        assert_eq!(status, "sent");
        assert!(
            statuses.contains(&503) && statuses.last() == Some(&200),
            "{identifier}: {statuses:?}"
        );
        assert!(
            !statuses.contains(&400),
            "{identifier} was sent again after Stripe acknowledged it: {statuses:?}"
        );
        // Attempts counted by the outbox: the refused ones, then those Stripe answered.
        assert!(
            *attempts as usize >= statuses.len(),
            "{identifier}: {attempts} attempts, {statuses:?}"
        );
        let form: BTreeMap<String, String> = form_urlencoded::parse(&accepted[identifier].0)
            .into_owned()
            .collect();
        assert_eq!(form["payload[value]"], value.to_string());
        assert_eq!(form["payload[stripe_customer_id]"], "cus_drain");
    }
    assert!(
        events.iter().any(|e| e.2 as usize > answers[&e.0].len()),
        "some attempts were refused connections: {events:?} {answers:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Outbound webhooks
// ---------------------------------------------------------------------------------------------

/// A webhook receiver; a second delivery of an acknowledged `webhook-id` is answered 200 too
/// (and counted).
async fn hook(State(log): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    StatusCode::from_u16(answer(&log, &id, &body, &headers, 200)).unwrap()
}

/// `(webhook_id, status, attempts, event_type)` of every delivery in the outbox.
async fn delivery_rows(db: &DatabaseConnection) -> Vec<(String, String, i32, String)> {
    rows(
        db,
        "SELECT webhook_id, status, attempts, event_type FROM webhook_deliveries \
         ORDER BY webhook_id",
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get("", "webhook_id").unwrap(),
            row.try_get("", "status").unwrap(),
            row.try_get("", "attempts").unwrap(),
            row.try_get("", "event_type").unwrap(),
        )
    })
    .collect()
}

async fn nudge_webhooks(db: &DatabaseConnection) {
    execute(
        db,
        "UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE status = 'pending'",
    )
    .await;
}

async fn webhooks_held_while_the_receiver_is_down_are_each_delivered_once_when_it_returns(
    backend: Backend,
) {
    let upstream = fake_upstream(10, 2).await;
    let mut receiver = Receiver::reserve();
    let plans = Settings::from_toml("[plans.free.daily_quota]\nchat = 5")
        .unwrap()
        .plans;
    let Some((app, db)) = spawn_with(backend, |s| {
        use_upstream(s, &upstream);
        s.plans = plans;
        s.webhooks = Settings::from_toml("[webhooks]\nallow_private = true")
            .unwrap()
            .webhooks;
    })
    .await
    else {
        return;
    };
    let outbox = connect(&db).await;
    let (access, _) = app.new_user("alice@example.com").await;
    let response = app
        .post(
            "/api/v1/webhook-endpoints",
            json!({"url": format!("{}/hooks", receiver.url())}),
            Some(&access),
        )
        .await;
    assert_eq!(response.status(), ClientStatus::CREATED);
    let endpoint: Value = response.json().await.unwrap();
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The receiver refuses connections. Five calls cross 80 % and 100 % of the daily quota
    // (two alerts); two plan changes make two subscription events.
    for _ in 0..5 {
        assert_eq!(chat(&app, &key).await, ClientStatus::OK);
    }
    assert_eq!(chat(&app, &key).await, ClientStatus::TOO_MANY_REQUESTS);
    let alerts = eventually(Duration::from_secs(10), || async {
        delivery_rows(&outbox).await.len() >= 2
    })
    .await;
    assert!(
        alerts,
        "no quota alerts: {:?}",
        delivery_rows(&outbox).await
    );
    for plan in ["pro", "free"] {
        tollgate(
            db.url(),
            &["set-plan", "--email", "alice@example.com", "--plan", plan],
        );
    }
    let tried = eventually(Duration::from_secs(10), || async {
        let deliveries = delivery_rows(&outbox).await;
        deliveries.len() == 4 && deliveries.iter().all(|d| d.1 == "pending" && d.2 >= 1)
    })
    .await;
    let deliveries = delivery_rows(&outbox).await;
    assert!(
        tried,
        "four deliveries, each tried while refused: {deliveries:?}"
    );

    // The receiver answers 503.
    receiver.listen(Router::new().route("/hooks", post(hook)));
    let all_503 = eventually(Duration::from_secs(10), || async {
        nudge_webhooks(&outbox).await;
        let answers = receiver.answers();
        deliveries.iter().all(|d| answers.contains_key(&d.0))
    })
    .await;
    assert!(
        all_503,
        "each delivery answered 503: {:?}",
        receiver.answers()
    );

    // The receiver is back.
    receiver.up();
    let drained = eventually(Duration::from_secs(10), || async {
        nudge_webhooks(&outbox).await;
        delivery_rows(&outbox)
            .await
            .iter()
            .all(|d| d.1 == "delivered")
    })
    .await;
    assert!(drained, "not drained: {:?}", delivery_rows(&outbox).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    nudge_webhooks(&outbox).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let deliveries = delivery_rows(&outbox).await;
    let answers = receiver.answers();
    assert_eq!(deliveries.len(), 4, "{deliveries:?}");
    assert_eq!(
        answers.keys().collect::<Vec<_>>(),
        deliveries.iter().map(|d| &d.0).collect::<Vec<_>>(),
        "every delivery, and only those, reached the receiver, under one webhook-id each"
    );
    for (id, ok) in acknowledged(&answers) {
        assert_eq!(ok, 1, "{id} acknowledged once: {:?}", answers[&id]);
    }
    let mut types: Vec<&str> = deliveries.iter().map(|d| d.3.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "quota.threshold_reached",
            "quota.threshold_reached",
            "subscription.updated",
            "subscription.updated"
        ]
    );
    let accepted = receiver.accepted();
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for (id, status, attempts, event_type) in &deliveries {
        let statuses = &answers[id];
        assert_eq!(status, "delivered");
        assert_eq!(statuses.first(), Some(&503), "{id}: {statuses:?}");
        assert_eq!(statuses.last(), Some(&200), "{id}: {statuses:?}");
        assert!(
            *attempts as usize > statuses.len(),
            "{id}: attempts refused before the receiver listened: {attempts}, {statuses:?}"
        );
        let (body, headers) = &accepted[id];
        verifier
            .verify(body, headers)
            .expect("the delivered attempt is signed");
        let sent: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(&sent["type"], event_type);
    }
    // The delivery log agrees.
    let log: Value = app
        .get(
            &format!(
                "/api/v1/webhook-endpoints/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ),
            Some(&access),
        )
        .await
        .json()
        .await
        .unwrap();
    let logged = log["deliveries"].as_array().unwrap();
    assert_eq!(logged.len(), 4, "{log}");
    assert!(logged.iter().all(|d| d["status"] == "delivered"), "{log}");
}
