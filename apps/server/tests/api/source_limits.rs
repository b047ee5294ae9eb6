//! Per-source limits on the unauthenticated doors (`rate_limit.per_source`): 200 attempts sent
//! at once from one address get exactly the door's burst through, the rest a 429 problem with
//! Retry-After, and another address is not affected. With the Redis backend the allowance is
//! shared by every instance.

use std::net::IpAddr;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_server::settings::{DoorLimitSettings, RateLimitBackend, SignupSetting};
use tollgate_test_support::Backend;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_with, test_settings};

const ATTEMPTS: usize = 200;
const BURST: u32 = 5;

/// One attempt a minute once the burst is spent: none comes back during a test.
fn tight() -> DoorLimitSettings {
    DoorLimitSettings::new(1, BURST)
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Sends `bodies` to `path` all at once from `client`; returns each status and body.
async fn at_once(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    bodies: Vec<Value>,
) -> Vec<(StatusCode, reqwest::Response)> {
    let url = app.url(path);
    join_all(bodies.into_iter().map(|body| {
        let request = client.post(&url).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response)
        }
    }))
    .await
}

/// Splits the answers into those let through and those throttled; every throttled one is a
/// problem document with a Retry-After of a few seconds at least.
async fn split(answers: Vec<(StatusCode, reqwest::Response)>) -> Vec<StatusCode> {
    let mut through = Vec::new();
    for (status, response) in answers {
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1, "Retry-After {retry_after}");
            assert_problem(response, status, "rate_limited").await;
        } else {
            through.push(status);
        }
    }
    through
}

fn open_signup(settings: &mut Settings) {
    settings.auth.signup = SignupSetting::Open;
}

fn signups(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|n| json!({"email": format!("{prefix}{n}@example.com"), "password": PASSWORD}))
        .collect()
}

#[tokio::test]
async fn two_hundred_signups_at_once_from_one_address_create_exactly_the_burst() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        open_signup(settings);
        settings.rate_limit.per_source.signup = tight();
    })
    .await
    .unwrap();
    let script = client_from("127.0.0.11");
    let answers = at_once(&app, &script, "/auth/signup", signups("bot", ATTEMPTS)).await;
    let through = split(answers).await;
    assert_eq!(through, vec![StatusCode::CREATED; BURST as usize]);

    // Only those accounts exist: every e-mail is tried again from a fresh address, and exactly
    // the ones created before now conflict.
    let mut taken = 0;
    for (n, body) in signups("bot", ATTEMPTS).into_iter().enumerate() {
        let ip = format!("127.0.{}.{}", 1 + n / 200, 20 + n % 200);
        let status = client_from(&ip)
            .post(app.url("/auth/signup"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status();
        match status {
            StatusCode::CONFLICT => taken += 1,
            StatusCode::CREATED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(taken, BURST);
}

#[tokio::test]
async fn logins_are_limited_per_address_whatever_the_email_and_other_addresses_go_on() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        settings.rate_limit.per_source.login = tight();
    })
    .await
    .unwrap();
    app.new_user("alice@example.com").await;
    let script = client_from("127.0.0.12");
    let bodies = (0..ATTEMPTS)
        .map(|n| json!({"email": format!("victim{n}@example.com"), "password": "guess guess!"}))
        .collect();
    let through = split(at_once(&app, &script, "/auth/login", bodies).await).await;
    assert_eq!(through, vec![StatusCode::UNAUTHORIZED; BURST as usize]);
    // The right password from the throttled address waits too…
    let body = json!({"email": "alice@example.com", "password": PASSWORD});
    let again = at_once(&app, &script, "/auth/login", vec![body.clone()]).await;
    assert_eq!(again[0].0, StatusCode::TOO_MANY_REQUESTS);
    // …while alice at her own address logs in.
    let alice = at_once(&app, &client_from("127.0.0.13"), "/auth/login", vec![body]).await;
    assert_eq!(alice[0].0, StatusCode::OK);
}

#[tokio::test]
async fn refreshes_are_limited_per_address() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        settings.rate_limit.per_source.refresh = tight();
    })
    .await
    .unwrap();
    let (_, refresh_token) = app.new_user("alice@example.com").await;
    let script = client_from("127.0.0.14");
    let bodies = (0..ATTEMPTS)
        .map(|n| json!({"refresh_token": format!("stolen-token-{n}")}))
        .collect();
    let through = split(at_once(&app, &script, "/auth/refresh", bodies).await).await;
    assert_eq!(through, vec![StatusCode::UNAUTHORIZED; BURST as usize]);
    let own = at_once(
        &app,
        &client_from("127.0.0.15"),
        "/auth/refresh",
        vec![json!({"refresh_token": refresh_token})],
    )
    .await;
    assert_eq!(own[0].0, StatusCode::OK);
}

#[tokio::test]
async fn invitation_redemptions_are_limited_per_address_apart_from_signups() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        settings.rate_limit.per_source.redemption = tight();
    })
    .await
    .unwrap();
    let invite = app.invite("carol@example.com").await;
    let script = client_from("127.0.0.16");
    let bodies = (0..ATTEMPTS)
        .map(|n| {
            json!({"email": "carol@example.com", "password": PASSWORD,
                   "invite_token": format!("guessed-invitation-{n}")})
        })
        .collect();
    let through = split(at_once(&app, &script, "/auth/signup", bodies).await).await;
    assert_eq!(through, vec![StatusCode::FORBIDDEN; BURST as usize]);
    let carol = at_once(
        &app,
        &client_from("127.0.0.17"),
        "/auth/signup",
        vec![json!({"email": "carol@example.com", "password": PASSWORD, "invite_token": invite})],
    )
    .await;
    assert_eq!(carol[0].0, StatusCode::CREATED);
}

/// Two instances on one Redis: the burst is shared, not granted twice.
#[tokio::test]
async fn on_redis_two_instances_share_one_allowance() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: needs TEST_REDIS_URL");
        return;
    };
    let prefix = format!("tollgate:test:{}:", uuid::Uuid::new_v4());
    let mut apps = Vec::new();
    let mut databases = Vec::new();
    for _ in 0..2 {
        let db = tollgate_test_support::TestDatabase::sqlite();
        let mut settings = test_settings(db.url());
        open_signup(&mut settings);
        settings.rate_limit.per_source.signup = tight();
        settings.rate_limit.backend = RateLimitBackend::Redis;
        settings.rate_limit.redis_url = Some(redis_url.clone());
        settings.rate_limit.redis_key_prefix = prefix.clone();
        apps.push(TestApp::start(settings).await);
        databases.push(db);
    }
    let script = client_from("127.0.0.18");
    let halves = join_all(apps.iter().enumerate().map(|(n, app)| {
        at_once(
            app,
            &script,
            "/auth/signup",
            signups(&format!("bot{n}-"), ATTEMPTS / 2),
        )
    }))
    .await;
    let through = split(halves.into_iter().flatten().collect()).await;
    assert_eq!(through, vec![StatusCode::CREATED; BURST as usize]);
}
