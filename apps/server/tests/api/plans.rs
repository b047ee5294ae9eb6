use reqwest::StatusCode;
use serde_json::Value;
use tollgate_test_support::Backend;

use crate::helpers::{spawn_sqlite, spawn_with};

#[tokio::test]
async fn the_builtin_catalogue_is_listed_in_price_order() {
    let (app, _db) = spawn_sqlite().await;
    let response = app.get("/api/v1/plans", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let ids: Vec<&str> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["free", "pro", "enterprise"]);
    let free = &body["plans"][0];
    assert_eq!(free["name"], "Free");
    assert_eq!(free["price_cents"], 0);
    assert_eq!(free["limits"]["requests_per_minute"], 30);
    assert_eq!(free["limits"]["daily_quota"]["analysis"], 5);
    assert_eq!(free["limits"]["daily_quota"]["comparison"], 2);
    assert_eq!(free["limits"]["daily_quota"]["chat"], 50);
    assert_eq!(free["limits"]["monthly_budget_micros"], 1_000_000);
    assert!(
        body["plans"][2]["limits"]["monthly_budget_micros"].is_null(),
        "enterprise is unlimited"
    );
}

#[tokio::test]
async fn configured_plans_change_and_extend_the_catalogue() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        let toml = r#"
            [plans.free]
            requests_per_minute = 10
            [plans.free.daily_quota]
            chat = 3
            [plans.team]
            name = "Team"
            price_cents = 9900
            requests_per_minute = 600
            monthly_budget_micros = 25000000
            [plans.team.daily_quota]
            analysis = 100
        "#;
        settings.plans = tollgate_server::Settings::from_toml(toml).unwrap().plans;
    })
    .await
    .unwrap();
    let body: Value = app.get("/api/v1/plans", None).await.json().await.unwrap();
    let plans = body["plans"].as_array().unwrap();
    let free = plans.iter().find(|p| p["id"] == "free").unwrap();
    assert_eq!(free["limits"]["requests_per_minute"], 10);
    assert_eq!(
        free["limits"]["daily_quota"],
        serde_json::json!({"chat": 3})
    );
    let team = plans.iter().find(|p| p["id"] == "team").unwrap();
    assert_eq!(team["name"], "Team");
    assert_eq!(team["limits"]["monthly_budget_micros"], 25_000_000);
    let ids: Vec<&str> = plans.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "pro", "team", "enterprise"], "price order");
}
