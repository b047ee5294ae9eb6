//! `GET /admin/stats` against what the customers see: the month's cost agrees with each
//! organisation's usage endpoint to the micro-dollar, an organisation that pays nothing is
//! unprofitable, each entry names its organisation, plan and suspension, and only
//! administrators may read it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{TestApp, assert_problem, fake_upstream, spawn_with, use_upstream};

crate::tests_on_both_backends!(stats_agree_with_the_usage_of_each_organisation);

/// The organisation's id, its usage and its name, after `calls` metered calls.
async fn organization_with_calls(
    app: &TestApp,
    email: &str,
    calls: usize,
) -> (String, Value, String) {
    let (access, _) = app.new_user(email).await;
    let key = app.create_key(&access, "ai", "production").await;
    let bearer = key["key"].as_str().unwrap().to_owned();
    for _ in 0..calls {
        let response = app
            .post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
                Some(&bearer),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let usage = app.usage(&bearer).await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    let name = me["organization"]["name"].as_str().unwrap().to_owned();
    (
        key["organization_id"].as_str().unwrap().to_owned(),
        usage,
        name,
    )
}

async fn stats_agree_with_the_usage_of_each_organisation(backend: Backend) {
    let upstream = fake_upstream(1000, 200).await;
    let Some((app, _db)) = spawn_with(backend, |s| use_upstream(s, &upstream)).await else {
        return;
    };
    let (bob, bob_usage, bob_name) = organization_with_calls(&app, "bob@example.com", 3).await;
    let (carol, carol_usage, carol_name) =
        organization_with_calls(&app, "carol@example.com", 1).await;
    let bob_cost = bob_usage["cost_micros"].as_i64().unwrap();
    let carol_cost = carol_usage["cost_micros"].as_i64().unwrap();
    assert!(bob_cost > carol_cost && carol_cost > 0);

    let admin = app.admin_token().await;
    let stats: Value = app
        .get("/admin/stats", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["users"], 3, "{stats}");
    assert_eq!(stats["organizations"], 3, "{stats}");
    assert_eq!(stats["requests_today"], 4, "{stats}");
    assert_eq!(stats["cost_today_micros"], bob_cost + carol_cost, "{stats}");
    assert_eq!(stats["cost_month_micros"], bob_cost + carol_cost, "{stats}");
    assert_eq!(stats["revenue_month_micros"], 0, "{stats}");
    assert_eq!(
        stats["margin_month_micros"],
        -(bob_cost + carol_cost),
        "{stats}"
    );
    let top = stats["top_spenders"].as_array().unwrap();
    assert_eq!(top.len(), 2, "{stats}");
    assert_eq!(top[0]["organization_id"], bob.as_str());
    assert_eq!(top[0]["cost_month_micros"], bob_cost);
    assert_eq!(top[1]["organization_id"], carol.as_str());
    let unprofitable = stats["unprofitable"].as_array().unwrap();
    assert_eq!(unprofitable.len(), 2, "neither pays: {stats}");
    assert_eq!(unprofitable[0]["organization_id"], bob.as_str());
    for (entry, name) in [
        (&top[0], &bob_name),
        (&top[1], &carol_name),
        (&unprofitable[0], &bob_name),
    ] {
        assert_eq!(entry["name"], name.as_str(), "{stats}");
        assert_eq!(entry["plan"], "free", "{stats}");
        assert_eq!(entry["suspended"], false, "{stats}");
    }

    // Suspended: the dashboard says so beside the figures.
    let suspend = app
        .post(
            &format!("/admin/organizations/{bob}/suspend"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(suspend.status(), StatusCode::NO_CONTENT);
    let stats: Value = app
        .get("/admin/stats", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    for list in ["top_spenders", "unprofitable"] {
        let entries = stats[list].as_array().unwrap();
        let suspended: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e["organization_id"].as_str().unwrap(),
                    e["suspended"].clone(),
                )
            })
            .collect();
        assert_eq!(
            suspended,
            [(bob.as_str(), json!(true)), (carol.as_str(), json!(false))],
            "{list}: {stats}"
        );
    }

    let (user, _) = app.new_user("dave@example.com").await;
    assert_problem(
        app.get("/admin/stats", Some(&user)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
