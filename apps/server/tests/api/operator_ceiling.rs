//! The operator's monthly ceiling on AI cost (`quotas.operator_monthly_ceiling_micros`): free
//! accounts calling at once, each far inside its own budget, are refused together once the
//! ceiling is reached — 503 `capacity_exhausted` with Retry-After — and what they were charged
//! in all stays under the ceiling. Leases are on (the default), so the ceiling holds for lease
//! grants as well as for per-call reservations near the end.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use tollgate_server::Settings;
use tollgate_server::settings::SignupSetting;
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{
    TEST_MODEL, TestApp, assert_problem, eventually, fake_upstream, price_test_model,
    test_settings, use_upstream,
};

/// 12 input tokens at 1 µ$ and 3 output tokens at 2 µ$.
const CALL_COST: i64 = 18;
const CEILING: i64 = 1_500;
const ACCOUNTS: usize = 4;
/// More than the ceiling can pay for, per account.
const CALLS_EACH: usize = 60;

async fn ceiling_holds(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let upstream = fake_upstream(12, 3).await;
    let mut settings = test_settings(db.url());
    use_upstream(&mut settings, &upstream);
    price_test_model(&mut settings);
    settings.auth.signup = SignupSetting::Open;
    settings.plans = Settings::from_toml(
        "[plans.free]\nrequests_per_minute = 100000\nburst = 1000\n\
         monthly_budget_micros = 100000000\n[plans.free.daily_quota]\nchat = 100000\n",
    )
    .unwrap()
    .plans;
    settings.quotas.operator_monthly_ceiling_micros = Some(CEILING);
    let app = TestApp::start(settings).await;

    let mut accounts = Vec::new();
    for n in 0..ACCOUNTS {
        let email = format!("free{n}@example.com");
        let response = app
            .post(
                "/auth/signup",
                json!({"email": email, "password": crate::helpers::PASSWORD}),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let (access, _) = app.tokens(&email, crate::helpers::PASSWORD).await;
        let key = app.create_key(&access, "script", "production").await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        accounts.push((access, key));
    }

    let body = json!({"model": TEST_MODEL, "max_tokens": 5,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let runs = accounts.iter().map(|(_, key)| {
        let (app, body) = (&app, body.clone());
        async move {
            let mut served = 0_i64;
            for _ in 0..CALLS_EACH {
                let response = app
                    .post("/v1/chat/completions", body.clone(), Some(key))
                    .await;
                match response.status() {
                    StatusCode::OK => served += 1,
                    status => {
                        assert!(response.headers().contains_key("retry-after"));
                        assert_problem(response, status, "capacity_exhausted").await;
                        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
                    }
                }
            }
            served
        }
    });
    let served: i64 = join_all(runs).await.into_iter().sum();

    // Settlement may follow the answer (Postgres): wait until every served call is charged.
    let charged_in_all = || async {
        let mut charged = 0;
        for (access, _) in &accounts {
            charged += app.usage(access).await["cost_micros"].as_i64().unwrap();
        }
        charged
    };
    eventually(Duration::from_secs(10), || async {
        charged_in_all().await == served * CALL_COST
    })
    .await;
    let charged = charged_in_all().await;
    eprintln!("{backend:?}: {served} calls served, {charged} µ$ charged, ceiling {CEILING} µ$");
    assert_eq!(
        charged,
        served * CALL_COST,
        "every served call charged once"
    );
    assert!(charged <= CEILING, "{charged} µ$ charged over {CEILING}");
    assert!(
        charged > CEILING / 2,
        "the ceiling was used, not refused early: {charged}"
    );
    assert!(
        served < (ACCOUNTS * CALLS_EACH) as i64,
        "the ceiling refused calls"
    );
}

#[tokio::test]
async fn free_accounts_together_stay_under_the_operator_ceiling_on_sqlite() {
    ceiling_holds(Backend::Sqlite).await;
}

#[tokio::test]
async fn free_accounts_together_stay_under_the_operator_ceiling_on_postgres() {
    ceiling_holds(Backend::Postgres).await;
}
