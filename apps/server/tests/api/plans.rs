use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{assert_problem, spawn_sqlite, spawn_with};

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
    assert_eq!(
        free["limits"]["burst"], 30,
        "a quiet client may send the whole minute's allowance at once"
    );
    assert_eq!(free["limits"]["daily_quota"]["analysis"], 5);
    assert_eq!(free["limits"]["daily_quota"]["comparison"], 2);
    assert_eq!(free["limits"]["daily_quota"]["chat"], 50);
    assert_eq!(free["limits"]["monthly_budget_micros"], 1_000_000);
    assert_eq!(
        body["plans"][2]["limits"]["monthly_budget_micros"],
        250_000_000
    );
    let sold: Vec<&Value> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|plan| plan["checkout"] != false)
        .collect();
    assert!(sold.is_empty(), "nothing is sold without Stripe: {sold:?}");
}

#[tokio::test]
async fn plans_with_a_stripe_price_are_sold_through_checkout() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        let toml = r#"
            [stripe]
            secret_key = "sk_test_plans"
            webhook_secret = "whsec_plans"
            checkout_success_url = "https://app.example.com/ok"
            checkout_cancel_url = "https://app.example.com/no"
            [plans.pro]
            stripe_price_id = "price_pro"
        "#;
        let configured = tollgate_server::Settings::from_toml(toml).unwrap();
        settings.stripe = configured.stripe;
        settings.plans = configured.plans;
    })
    .await
    .unwrap();
    let body: Value = app.get("/api/v1/plans", None).await.json().await.unwrap();
    let sold: Vec<(&str, bool)> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plan| {
            (
                plan["id"].as_str().unwrap(),
                plan["checkout"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sold,
        [("free", false), ("pro", true), ("enterprise", false)]
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
        free["limits"]["burst"], 10,
        "a new rate brings its default burst"
    );
    assert_eq!(
        free["limits"]["daily_quota"],
        serde_json::json!({"chat": 3})
    );
    let team = plans.iter().find(|p| p["id"] == "team").unwrap();
    assert_eq!(team["name"], "Team");
    assert_eq!(team["limits"]["monthly_budget_micros"], 25_000_000);
    assert_eq!(team["limits"]["burst"], 600);
    let ids: Vec<&str> = plans.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "pro", "team", "enterprise"], "price order");
}

/// "N requests per minute" lets a quiet client send N back to back; the next one waits 60/N s.
/// 5 per minute, so that the 12 s interval dwarfs the time the requests take.
#[tokio::test]
async fn a_quiet_client_sends_a_minutes_allowance_back_to_back() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        })))
        .expect(5)
        .mount(&upstream)
        .await;
    let base = format!("{}/v1", upstream.uri());
    let (app, _db) = spawn_with(Backend::Sqlite, move |settings| {
        settings.openai.base_url = base;
        settings.openai.api_key = Some("sk-upstream".to_owned().into());
        settings.plans =
            tollgate_server::Settings::from_toml("[plans.free]\nrequests_per_minute = 5")
                .unwrap()
                .plans;
    })
    .await
    .unwrap();
    let (access, _) = app.new_user("quiet@example.com").await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let request =
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]});
    for sent in 1..=5 {
        let response = app
            .post("/v1/chat/completions", request.clone(), Some(&key))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "request {sent}");
        let remaining = format!("\"minute\";r={};", 5 - sent);
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&remaining),
            "request {sent}: {:?}",
            response.headers()["ratelimit"]
        );
    }
    let refused = app.post("/v1/chat/completions", request, Some(&key)).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // 12 s less the time the five took, in whole seconds rounded up.
    assert!((10..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-policy"], "\"minute\";q=5;w=60");
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[test]
fn a_burst_above_the_per_minute_rate_is_refused_at_load() {
    let error = tollgate_server::Settings::from_toml("[plans.free]\nburst = 31")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("free")
            && error.contains("burst (31) must not exceed requests_per_minute (30)"),
        "{error}"
    );
    let lower = tollgate_server::Settings::from_toml("[plans.free]\nburst = 3").unwrap();
    assert_eq!(
        lower
            .plan_catalog()
            .unwrap()
            .get("free")
            .unwrap()
            .rate
            .burst,
        3
    );
}

#[tokio::test]
async fn unlimited_budgets_are_null() {
    let (app, _db) = spawn_with(Backend::Sqlite, |settings| {
        settings.plans =
            tollgate_server::Settings::from_toml("[plans.enterprise]\nunlimited_budget = true")
                .unwrap()
                .plans;
    })
    .await
    .unwrap();
    let body: Value = app.get("/api/v1/plans", None).await.json().await.unwrap();
    assert!(body["plans"][2]["limits"]["monthly_budget_micros"].is_null());
}

#[tokio::test]
async fn the_pricing_report_is_for_admins_and_flags_losing_plans() {
    let (app, _db) = spawn_sqlite().await;
    let (user, _) = app.new_user("user@example.com").await;
    assert_eq!(
        app.get("/admin/pricing", Some(&user)).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = app.admin_token().await;
    let report: Value = app
        .get("/admin/pricing", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let plan = |id: &str| {
        report["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plan"] == id)
            .unwrap()
            .clone()
    };
    let free = plan("free");
    assert_eq!(free["loses_money"], true, "a free plan costs its AI spend");
    assert!(!free["reasons"].as_array().unwrap().is_empty());
    assert!(free["break_even_price_cents"].is_null());
    let pro = plan("pro");
    assert_eq!(pro["loses_money"], false, "{pro}");
    assert_eq!(pro["actions"].as_array().unwrap().len(), 3);
    assert!(
        pro["heavy"]["ai_cost_micros"].as_i64().unwrap() <= 8_000_000,
        "capped by the budget"
    );
}

#[test]
fn the_pricing_command_prints_a_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("TOLLGATE_DATABASE__URL")
            .output()
            .unwrap()
    };
    let table = run(&["pricing"]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("LOSES MONEY") && text.contains("pro"),
        "{text}"
    );
    let json = run(&["pricing", "--json"]);
    assert!(json.status.success());
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["plans"].as_array().unwrap().len(), 3);
}
