//! `GET /api/v1/usage/events`: every call the organisation is billed for, paged, filtered and
//! as CSV, adding up to the usage endpoint's price.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{assert_problem, fake_upstream, spawn_with, use_upstream};

crate::tests_on_both_backends!(usage_events_add_up_to_the_usage_and_page_as_json_and_csv);

async fn usage_events_add_up_to_the_usage_and_page_as_json_and_csv(backend: Backend) {
    let upstream = fake_upstream(1000, 200).await;
    let Some((app, _db)) = spawn_with(backend, |s| use_upstream(s, &upstream)).await else {
        return;
    };
    let (access, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&access, "ai", "production").await;
    let bearer = key["key"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let call = app
            .post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
                Some(&bearer),
            )
            .await;
        assert_eq!(call.status(), StatusCode::OK);
    }
    let usage = app.usage(&bearer).await;

    let mut events: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/usage/events?limit=2&cursor={c}"),
            None => "/api/v1/usage/events?limit=2".to_owned(),
        };
        let page: Value = app.get(&path, Some(&access)).await.json().await.unwrap();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(events.len(), 5);
    let priced: i64 = events
        .iter()
        .map(|e| e["price_micros"].as_i64().unwrap())
        .sum();
    assert_eq!(priced, usage["price_micros"].as_i64().unwrap());
    assert!(
        events
            .iter()
            .all(|e| e["key_id"] == key["id"] && e["action"] == "chat")
    );
    assert_eq!(events[0]["input_tokens"], 1000);

    let csv = app
        .get("/api/v1/usage/events?format=csv&limit=1000", Some(&access))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,at,action,model,key_id"));
    assert_eq!(lines.len(), 6, "a header and five calls:\n{text}");
    assert!(lines[1].contains(events[0]["id"].as_str().unwrap()));

    let none: Value = app
        .get("/api/v1/usage/events?action=analysis", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["events"], json!([]));
    // The key's own id, hyphenated, filters; its other spellings (the 32 hex digits alone) are
    // not the documented `format: uuid` and are refused like any other non-id.
    let key_id = key["id"].as_str().unwrap();
    let by_key: Value = app
        .get(
            &format!("/api/v1/usage/events?key_id={key_id}"),
            Some(&access),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_key["events"].as_array().unwrap().len(), 5);
    let simple = format!("key_id={}", key_id.replace('-', ""));
    for bad in [
        "day=30-11-2026",
        "action=paint",
        "cursor=nope",
        "format=xml",
        "key_id=x",
        simple.as_str(),
        // A parameter given is read: empty is not a value.
        "day=",
        "key_id=",
        "action=",
        "cursor=",
        "format=",
        "limit=",
        // `limit` is 1 to 1000, as documented, not clamped into range.
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=4294967296",
        "limit=ten",
    ] {
        let body = assert_problem(
            app.get(&format!("/api/v1/usage/events?{bad}"), Some(&access))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        let param = bad.split('=').next().unwrap();
        assert_eq!(body["error"]["param"], param, "{bad}: {body}");
    }
    // A query string that cannot be read says why, in a 400 problem.
    let twice = assert_problem(
        app.get("/api/v1/usage/events?limit=1&limit=2", Some(&access))
            .await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    assert!(
        twice["detail"].as_str().unwrap().contains("limit"),
        "{twice}"
    );
    let org = key["organization_id"].as_str().unwrap();
    let (mallory, _) = app.new_user("mallory@example.com").await;
    assert_problem(
        app.get(
            &format!("/api/v1/usage/events?organization_id={org}"),
            Some(&mallory),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
