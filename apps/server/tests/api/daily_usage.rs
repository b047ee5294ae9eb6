//! `GET /api/v1/usage/daily` and `GET /admin/usage/daily`: one entry per UTC day, today last,
//! days without calls as zeros, and the days of this month adding up to the usage endpoint's
//! figures; scoped to the caller's organisations, the operator's series to administrators.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{TestApp, assert_problem, fake_upstream, spawn_with, use_upstream};

crate::tests_on_both_backends!(daily_series_add_up_to_the_usage_endpoint);

/// A new user's access token and an API key of their organisation, after `calls` metered calls
/// with it.
async fn user_with_calls(app: &TestApp, email: &str, calls: usize) -> (String, Value) {
    let (access, _) = app.new_user(email).await;
    let key = app.create_key(&access, "ai", "production").await;
    for _ in 0..calls {
        let response = app
            .post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
                Some(key["key"].as_str().unwrap()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    (access, key)
}

async fn read(app: &TestApp, path: &str, bearer: &str) -> Value {
    let response = app.get(path, Some(bearer)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The sums of `figure` over the series' days from `first_date` on.
fn sum_from(series: &Value, first_date: &str, figure: &str) -> i64 {
    series["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|day| day["date"].as_str().unwrap() >= first_date)
        .map(|day| day[figure].as_i64().unwrap())
        .sum()
}

/// Checks the shape: `days` entries, consecutive dates ending today (UTC).
fn assert_days(series: &Value, days: usize) {
    let entries = series["days"].as_array().unwrap();
    assert_eq!(entries.len(), days, "{series}");
    let today = chrono::Utc::now().date_naive();
    for (n, entry) in entries.iter().enumerate() {
        let expected = today - chrono::Duration::days((days - 1 - n) as i64);
        assert_eq!(
            entry["date"],
            expected.format("%Y-%m-%d").to_string(),
            "{series}"
        );
        assert!(entry["requests"].is_u64() && entry["cost_micros"].is_i64());
        assert!(entry["price_micros"].is_i64());
    }
}

async fn daily_series_add_up_to_the_usage_endpoint(backend: Backend) {
    let upstream = fake_upstream(1000, 200).await;
    let Some((app, _db)) = spawn_with(backend, |s| use_upstream(s, &upstream)).await else {
        return;
    };
    let (bob, bob_key) = user_with_calls(&app, "bob@example.com", 3).await;
    let (_, carol_key) = user_with_calls(&app, "carol@example.com", 1).await;
    let bob_org = bob_key["organization_id"].as_str().unwrap();
    let bob_bearer = bob_key["key"].as_str().unwrap();

    // Read before the usage endpoint: the series waits for the calls' settlements itself.
    let series = read(&app, "/api/v1/usage/daily", bob_bearer).await;
    assert_eq!(series["organization_id"], bob_org, "{series}");
    assert_days(&series, 30);
    let usage = app.usage(bob_bearer).await;
    let month_start = &usage["period"]["start"].as_str().unwrap()[..10];
    for figure in ["requests", "cost_micros", "price_micros"] {
        assert_eq!(
            sum_from(&series, month_start, figure),
            usage[figure].as_i64().unwrap(),
            "{figure}: {series} {usage}"
        );
    }
    assert_eq!(usage["requests"], 3);
    let today = series["days"][29].clone();
    assert_eq!(today["requests"], 3, "{series}");

    // With the access token, naming the organisation, a week.
    let week = read(
        &app,
        &format!("/api/v1/usage/daily?organization_id={bob_org}&days=7"),
        &bob,
    )
    .await;
    assert_days(&week, 7);
    assert_eq!(week["days"][6], today);
    assert_days(&read(&app, "/api/v1/usage/daily?days=90", &bob).await, 90);
    assert_days(&read(&app, "/api/v1/usage/daily?days=1", &bob).await, 1);

    // Days out of range or not a whole number; a query string that cannot be read.
    for bad in ["0", "91", "-1", "7.5", "week", ""] {
        let body = assert_problem(
            app.get(&format!("/api/v1/usage/daily?days={bad}"), Some(&bob))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(body["error"]["param"], "days", "{bad}: {body}");
    }
    assert_problem(
        app.get("/api/v1/usage/daily?days=1&days=2", Some(&bob))
            .await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    // Another tenant's organisation, with a token or its own key, is not found.
    let carol_org = carol_key["organization_id"].as_str().unwrap();
    for path in [
        format!("/api/v1/usage/daily?organization_id={carol_org}"),
        format!("/api/v1/usage/daily?organization_id={carol_org}&days=7"),
    ] {
        for credential in [bob.as_str(), bob_bearer] {
            assert_problem(
                app.get(&path, Some(credential)).await,
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
    }
    assert_problem(
        app.get("/api/v1/usage/daily", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The operator's series: every organisation summed, for administrators only.
    assert_problem(
        app.get("/admin/usage/daily", Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let admin = app.admin_token().await;
    let all = read(&app, "/admin/usage/daily?days=3", &admin).await;
    assert!(all.get("organization_id").is_none(), "{all}");
    assert_days(&all, 3);
    let carol_usage = app.usage(carol_key["key"].as_str().unwrap()).await;
    for figure in ["requests", "cost_micros", "price_micros"] {
        assert_eq!(
            all["days"][2][figure].as_i64().unwrap(),
            usage[figure].as_i64().unwrap() + carol_usage[figure].as_i64().unwrap(),
            "{figure}: {all}"
        );
    }
    let stats = read(&app, "/admin/stats", &admin).await;
    assert_eq!(all["days"][2]["requests"], stats["requests_today"]);
    assert_eq!(all["days"][2]["cost_micros"], stats["cost_today_micros"]);
    assert_problem(
        app.get("/admin/usage/daily?days=91", Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}
