//! The metered OpenAI-compatible proxy against a fake upstream on loopback (wiremock). Every
//! test that spawns a server runs on SQLite and on Postgres.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_test_support::Backend;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, assert_problem, spawn_with};
use tollgate_test_support::TestDatabase;

crate::tests_on_both_backends!(
    a_completion_is_proxied_metered_and_recorded,
    unknown_models_and_malformed_requests_are_refused_before_any_upstream_call,
    the_daily_quota_is_429_quota_exceeded_with_headers,
    the_rate_limit_is_429_rate_limited_with_headers,
    a_spent_budget_is_402_and_nothing_is_sent_upstream,
    a_failed_upstream_call_releases_the_reservation_and_the_quota_unit,
    streams_are_relayed_and_charged_from_the_reported_usage,
    a_plain_answer_to_a_streamed_request_is_relayed_as_a_stream_and_charged,
    models_lists_what_the_deployment_allows,
    analyses_use_the_configured_prompt_and_answer_201_with_cost_and_price,
    calls_are_priced_per_plan_and_action_as_configured,
    comparisons_take_two_to_ten_inputs_and_count_against_their_own_quota,
    an_idempotency_key_replays_the_first_response_and_charges_once,
    a_failed_call_does_not_burn_its_idempotency_key,
);

/// The prices the amounts below are computed from, set here so that they do not follow the
/// built-in catalogue: gpt-4o-mini at $0.15 per million input tokens and $0.60 per million
/// output tokens, sold at a 40 % margin (price = cost ÷ 0.6, rounded up to the micro-dollar).
const PRICES_TOML: &str = r#"
[models."gpt-4o-mini"]
input_per_million_micros = 150000
cached_input_per_million_micros = 150000
output_per_million_micros = 600000
[costs]
target_margin_percent = "40"
"#;

fn completion(prompt: u64, completion_tokens: u64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}
    })
}

fn chat_request() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]})
}

/// A server on `backend` whose upstream is `upstream`, with [`PRICES_TOML`] and plan overrides
/// from `plans_toml`; `None` when the backend is not available.
async fn spawn(
    backend: Backend,
    upstream: &MockServer,
    plans_toml: &str,
) -> Option<(TestApp, TestDatabase)> {
    let base = format!("{}/v1", upstream.uri());
    let configured = Settings::from_toml(&format!("{PRICES_TOML}\n{plans_toml}")).unwrap();
    spawn_with(backend, move |s| {
        s.openai.base_url = base;
        s.openai.api_key = Some("sk-upstream".to_owned().into());
        s.openai.max_retries = 0;
        s.plans = configured.plans;
        s.models = configured.models;
        s.costs = configured.costs;
    })
    .await
}

async fn key_for(app: &TestApp, email: &str) -> String {
    let (access, _) = app.new_user(email).await;
    app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn post_chat(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post("/v1/chat/completions", body, Some(key)).await
}

async fn a_completion_is_proxied_metered_and_recorded(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-upstream"))
        .and(body_partial_json(
            json!({"model": "gpt-4o-mini", "max_completion_tokens": 4096, "stream": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(12, 3)))
        .expect(1)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let response = post_chat(&app, &key, chat_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"minute\";q=30;w=60, \"daily-chat\";q=50;w=86400"
    );
    // This call took one unit; the lease its instance may already hold took more of the day's
    // units (docs/adr/0011-leases.md), which count as taken: whether it was granted before
    // this call is a matter of timing.
    let ratelimit = response.headers()["ratelimit"].to_str().unwrap().to_owned();
    let remaining: u32 = ratelimit
        .split("\"daily-chat\";r=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no daily-chat remainder in {ratelimit}"));
    assert!((1..=49).contains(&remaining), "{ratelimit}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello!");

    let usage: Value = app.usage(&key).await;
    assert_eq!(usage["plan"], "free");
    assert_eq!(usage["requests"], 1);
    // 12 × $0.15/M + 3 × $0.60/M = 3.6 micros, rounded up to 4; price at a 40 % margin: 7.
    assert_eq!(usage["cost_micros"], 4);
    assert_eq!(usage["price_micros"], 7);
    assert_eq!(usage["budget"]["spent_micros"], 4);
    assert_eq!(usage["budget"]["reserved_micros"], 0);
    assert_eq!(usage["budget"]["limit_micros"], 1_000_000);
    assert_eq!(usage["budget"]["remaining_micros"], 999_996);
    let chat = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(
        (
            chat["limit"].as_u64(),
            chat["used"].as_u64(),
            chat["remaining"].as_u64()
        ),
        (Some(50), Some(1), Some(49))
    );
    assert_eq!(usage["keys"][0]["requests"], 1);
    assert_eq!(usage["keys"][0]["cost_micros"], 4);
}

async fn unknown_models_and_malformed_requests_are_refused_before_any_upstream_call(
    backend: Backend,
) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(1, 1)))
        .expect(0)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let unknown = post_chat(
        &app,
        &key,
        json!({"model": "gpt-imaginary", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_problem(unknown, StatusCode::BAD_REQUEST, "validation").await;
    for body in [
        json!({"messages": []}),
        json!({"model": "gpt-4o-mini"}),
        json!({"model": "gpt-4o-mini", "messages": [], "max_tokens": 5}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
        json!([1]),
    ] {
        // As OpenAI answers: every invalid request is a 400 `invalid_request_error`.
        let response = post_chat(&app, &key, body).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "validation").await;
        assert_eq!(problem["error"]["type"], "invalid_request_error");
    }
    assert_problem(
        app.post("/v1/chat/completions", chat_request(), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn the_daily_quota_is_429_quota_exceeded_with_headers(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "[plans.free.daily_quota]\nchat = 2").await
    else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(5, 5)))
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    for _ in 0..2 {
        assert_eq!(
            post_chat(&app, &key, chat_request()).await.status(),
            StatusCode::OK
        );
    }
    let refused = post_chat(&app, &key, chat_request()).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"daily-chat\";q=2;w=86400"
    );
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"daily-chat\";r=0;t=")
    );
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded").await;
    // Another organisation is unaffected.
    let other = key_for(&app, "bob@example.com").await;
    assert_eq!(
        post_chat(&app, &other, chat_request()).await.status(),
        StatusCode::OK
    );
}

async fn the_rate_limit_is_429_rate_limited_with_headers(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(
        backend,
        &upstream,
        "[plans.free]\nrequests_per_minute = 1\nburst = 1",
    )
    .await
    else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(5, 5)))
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    assert_eq!(
        post_chat(&app, &key, chat_request()).await.status(),
        StatusCode::OK
    );
    let refused = post_chat(&app, &key, chat_request()).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-policy"], "\"minute\";q=1;w=60");
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"minute\";r=0;t=")
    );
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn a_spent_budget_is_402_and_nothing_is_sent_upstream(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(
        backend,
        &upstream,
        "[plans.free]\nmonthly_budget_micros = 100",
    )
    .await
    else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(5, 5)))
        .expect(0)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    // The worst case of 4 096 output tokens costs far more than 100 micros.
    assert_problem(
        post_chat(&app, &key, chat_request()).await,
        StatusCode::PAYMENT_REQUIRED,
        "budget_exceeded",
    )
    .await;
    let usage: Value = app.usage(&key).await;
    assert_eq!(usage["budget"]["reserved_micros"], 0);
    let chat = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(chat["used"], 0, "a refused call takes no quota unit");
}

async fn a_failed_upstream_call_releases_the_reservation_and_the_quota_unit(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "[plans.free.daily_quota]\nchat = 1").await
    else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(5, 5)))
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    assert_problem(
        post_chat(&app, &key, chat_request()).await,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
    )
    .await;
    let usage: Value = app.usage(&key).await;
    assert_eq!(usage["budget"]["reserved_micros"], 0);
    assert_eq!(usage["requests"], 0);
    assert_eq!(
        post_chat(&app, &key, chat_request()).await.status(),
        StatusCode::OK,
        "the unit came back"
    );
}

/// Some OpenAI-compatible servers ignore `stream` and answer with a plain completion: the
/// client still gets a well-formed stream, and the usage the server reported is charged.
async fn a_plain_answer_to_a_streamed_request_is_relayed_as_a_stream_and_charged(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(1_000, 1_000)))
        .expect(1)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let mut request = chat_request();
    request["stream"] = json!(true);
    let response = post_chat(&app, &key, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(
        text.contains("\"Hello!\""),
        "the answer arrives as a delta: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let settled = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let usage: Value = app.usage(&key).await;
        usage["requests"] == 1 && usage["budget"]["reserved_micros"] == 0
    })
    .await;
    assert!(settled);
    // 1 000 × $0.15/M + 1 000 × $0.60/M = 150 + 600 = 750 micros, as the server reported.
    assert_eq!(app.usage(&key).await["cost_micros"], 750);
}

async fn streams_are_relayed_and_charged_from_the_reported_usage(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    let chunk = |content: &str| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    };
    let usage_chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}});
    let mut sse: String = [chunk("Hel"), chunk("lo"), usage_chunk]
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect();
    sse.push_str("data: [DONE]\n\n");
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;

    let mut request = chat_request();
    request["stream"] = json!(true);
    let response = post_chat(&app, &key, request.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.contains("\"Hel\"") && text.contains("\"lo\""));
    assert!(
        !text.contains("\"usage\""),
        "the usage chunk is stripped when the client did not ask: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));

    request["stream_options"] = json!({"include_usage": true});
    let with_usage = post_chat(&app, &key, request).await.text().await.unwrap();
    assert!(
        with_usage.contains("\"completion_tokens\":1000"),
        "{with_usage}"
    );

    // Settlement happens when the relay ends, just after the body: allow it a moment.
    let settled = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let usage: Value = app.usage(&key).await;
        usage["requests"] == 2 && usage["budget"]["reserved_micros"] == 0
    })
    .await;
    assert!(settled);
    let usage: Value = app.usage(&key).await;
    // Twice 1 000 × $0.15/M + 1 000 × $0.60/M = 750 micros each.
    assert_eq!(usage["cost_micros"], 1_500);
}

async fn models_lists_what_the_deployment_allows(backend: Backend) {
    let upstream = MockServer::start().await;
    let base = format!("{}/v1", upstream.uri());
    let Some((app, _db)) = spawn_with(backend, move |s| {
        s.openai.base_url = base;
        s.openai.allowed_models = Some(vec![
            "gpt-4o-mini".into(),
            "gpt-4.1".into(),
            "not-priced".into(),
        ]);
    })
    .await
    else {
        return;
    };
    let key = key_for(&app, "alice@example.com").await;
    let models: Value = app
        .get("/v1/models", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4.1", "gpt-4o-mini"], "allowed and priced only");
    let refused = app
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
            Some(&key),
        )
        .await;
    assert_problem(refused, StatusCode::BAD_REQUEST, "validation").await;
}

async fn analyses_use_the_configured_prompt_and_answer_201_with_cost_and_price(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(
        backend,
        &upstream,
        "[plans.free.daily_quota]\nanalysis = 1\ncomparison = 1",
    )
    .await
    else {
        return;
    };
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "gpt-4o-mini", "max_completion_tokens": 1024,
            "messages": [{"role": "system"}, {"role": "user", "content": "Quarterly numbers are up."}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(100, 50)))
        .expect(1)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let response = app
        .post(
            "/api/v1/analyses",
            json!({"input": "Quarterly numbers are up."}),
            Some(&key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"], "Hello!");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 100, "output_tokens": 50})
    );
    // 100 × 0.15 + 50 × 0.6 = 45 micros; at a 40 % margin 75.
    assert_eq!(body["cost_micros"], 45);
    assert_eq!(body["price_micros"], 75);
    assert!(body["id"].is_string());

    let again = app
        .post("/api/v1/analyses", json!({"input": "again"}), Some(&key))
        .await;
    assert_problem(again, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded").await;
    let empty = app
        .post("/api/v1/analyses", json!({"input": "  "}), Some(&key))
        .await;
    assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let unknown_model = app
        .post(
            "/api/v1/analyses",
            json!({"input": "x", "model": "nope"}),
            Some(&key),
        )
        .await;
    // A well-formed request naming a model this deployment does not serve: 422, like any
    // other invalid field outside the OpenAI-compatible routes.
    assert_problem(
        unknown_model,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

async fn calls_are_priced_per_plan_and_action_as_configured(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "[plans.free.call_price.analysis]\nfixed_micros = 5000\n[plans.free.call_price.chat]\nmarkup_percent = \"300\"").await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(100, 50)))
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let analysis: Value = app
        .post("/api/v1/analyses", json!({"input": "numbers"}), Some(&key))
        .await
        .json()
        .await
        .unwrap();
    // Cost 45 micros (see above); the plan sells an analysis at a fixed 5 000.
    assert_eq!(
        (
            analysis["cost_micros"].clone(),
            analysis["price_micros"].clone()
        ),
        (json!(45), json!(5_000))
    );
    assert_eq!(
        post_chat(&app, &key, chat_request()).await.status(),
        StatusCode::OK
    );
    let usage: Value = app.usage(&key).await;
    // The chat call: 3 × 45 = 135.
    assert_eq!(usage["cost_micros"], 90);
    assert_eq!(usage["price_micros"], 5_000 + 135);
}

#[test]
fn a_call_price_must_name_a_known_action_and_exactly_one_rule() {
    for (toml, key) in [
        (
            "[plans.free.call_price.translation]\nfixed_micros = 1",
            "plans.free.call_price.translation",
        ),
        (
            "[plans.free.call_price.chat]\nfixed_micros = 1\nmarkup_percent = \"200\"",
            "plans.free.call_price.chat",
        ),
        (
            "[plans.free.call_price.chat]\nmarkup_percent = \"0\"",
            "plans.free.call_price.chat",
        ),
    ] {
        let error = Settings::from_toml(toml).unwrap_err().to_string();
        assert!(error.contains(key), "{error}");
    }
}

async fn comparisons_take_two_to_ten_inputs_and_count_against_their_own_quota(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"messages": [{"role": "system"}, {"role": "user", "content": "Text 1:\nred\n\nText 2:\nblue"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(40, 20)))
        .expect(1)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    for inputs in [
        json!([]),
        json!(["only one"]),
        json!(["a", ""]),
        json!(vec!["x"; 11]),
    ] {
        let response = app
            .post("/api/v1/comparisons", json!({"inputs": inputs}), Some(&key))
            .await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
    let response = app
        .post(
            "/api/v1/comparisons",
            json!({"inputs": ["red", "blue"]}),
            Some(&key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let usage: Value = app.usage(&key).await;
    let used = |action: &str| {
        usage["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["action"] == action)
            .unwrap()["used"]
            .clone()
    };
    assert_eq!(used("comparison"), 1);
    assert_eq!(used("analysis"), 0);
    assert_eq!(usage["requests"], 1);
}

async fn post_with_key(
    app: &TestApp,
    path: &str,
    bearer: &str,
    idempotency_key: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(bearer)
        .header("idempotency-key", idempotency_key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn an_idempotency_key_replays_the_first_response_and_charges_once(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(100, 50)))
        .expect(3)
        .mount(&upstream)
        .await;
    let alice = key_for(&app, "alice@example.com").await;
    let bob = key_for(&app, "bob@example.com").await;

    let first = post_with_key(
        &app,
        "/api/v1/analyses",
        &alice,
        "order-42",
        json!({"input": "same text"}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body: Value = first.json().await.unwrap();
    let retry = post_with_key(
        &app,
        "/api/v1/analyses",
        &alice,
        "order-42",
        json!({"input": "same text"}),
    )
    .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry_body: Value = retry.json().await.unwrap();
    assert_eq!(retry_body, first_body, "same status and body");

    let changed = post_with_key(
        &app,
        "/api/v1/analyses",
        &alice,
        "order-42",
        json!({"input": "other text"}),
    )
    .await;
    assert_problem(changed, StatusCode::CONFLICT, "conflict").await;

    // Another organisation's identical key is unrelated.
    let other = post_with_key(
        &app,
        "/api/v1/analyses",
        &bob,
        "order-42",
        json!({"input": "same text"}),
    )
    .await;
    assert_eq!(other.status(), StatusCode::CREATED);

    // The chat proxy honours keys too.
    let chat = post_with_key(
        &app,
        "/v1/chat/completions",
        &alice,
        "chat-1",
        chat_request(),
    )
    .await;
    assert_eq!(chat.status(), StatusCode::OK);
    let chat_again = post_with_key(
        &app,
        "/v1/chat/completions",
        &alice,
        "chat-1",
        chat_request(),
    )
    .await;
    assert_eq!(chat_again.status(), StatusCode::OK);

    let usage: Value = app.usage(&alice).await;
    assert_eq!(
        usage["requests"], 2,
        "one analysis and one chat, each charged once"
    );
    let too_long = post_with_key(
        &app,
        "/api/v1/analyses",
        &alice,
        &"k".repeat(256),
        json!({"input": "x"}),
    )
    .await;
    assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

async fn a_failed_call_does_not_burn_its_idempotency_key(backend: Backend) {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(backend, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(10, 10)))
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let failed = post_with_key(
        &app,
        "/api/v1/analyses",
        &key,
        "retry-me",
        json!({"input": "text"}),
    )
    .await;
    assert_problem(failed, StatusCode::BAD_GATEWAY, "upstream_error").await;
    let retried = post_with_key(
        &app,
        "/api/v1/analyses",
        &key,
        "retry-me",
        json!({"input": "text"}),
    )
    .await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(retried.headers().get("idempotent-replayed").is_none());
}

/// `max_tokens: 7.0` is the whole number 7 in JSON (and a JSON Schema `integer`): it is the
/// call's cap, and upstream gets it spelt `7`.
#[tokio::test]
async fn a_whole_number_cap_written_with_a_fraction_is_the_cap_sent_as_an_integer() {
    let upstream = MockServer::start().await;
    let Some((app, _db)) = spawn(Backend::Sqlite, &upstream, "").await else {
        return;
    };
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"max_tokens": 7})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(12, 3)))
        .expect(1)
        .mount(&upstream)
        .await;
    let key = key_for(&app, "alice@example.com").await;
    let mut request = chat_request();
    request["max_tokens"] = json!(7.0);
    let response = post_chat(&app, &key, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = upstream.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(sent["max_tokens"].is_u64(), "{sent}");
}
