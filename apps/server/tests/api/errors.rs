use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_sqlite, spawn_with};

#[tokio::test]
async fn unknown_routes_are_404_problems_with_or_without_credentials() {
    let (app, _db) = spawn_sqlite().await;
    assert_problem(
        app.get("/nope", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let token = app.admin_token().await;
    assert_problem(
        app.get("/api/v1/nope", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/nope", Some("garbage")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn wrong_method_is_a_405_problem() {
    let (app, _db) = spawn_sqlite().await;
    let response = app
        .client
        .delete(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

/// POSTs `body` as it is, with `content_type` if any.
async fn post_raw(
    app: &TestApp,
    path: &str,
    bearer: Option<&str>,
    content_type: Option<&str>,
    body: &'static str,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A `validation` problem with `status`, this exact detail and `error.param`, in our words: no
/// serde phrasing, no serde position, no Rust type names.
async fn assert_invalid(
    response: reqwest::Response,
    status: StatusCode,
    detail: &str,
    param: Option<&str>,
) -> Value {
    let body = assert_problem(response, status, "validation").await;
    assert_eq!(body["detail"], detail, "{body}");
    assert_eq!(body["error"]["message"], detail, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["param"], json!(param), "{body}");
    for serde_wording in [
        "Failed to deserialize",
        "line 1 column",
        "invalid type",
        "`",
        "struct ",
        "i64",
    ] {
        assert!(!detail.contains(serde_wording), "{detail}");
    }
    body
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn auth_routes_answer_400_for_unreadable_json_and_422_naming_the_invalid_field() {
    let (app, _db) = spawn_sqlite().await;
    assert_invalid(
        post_raw(&app, "/auth/login", None, JSON, "{\"email\": x}").await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 11)",
        None,
    )
    .await;
    assert_invalid(
        post_raw(&app, "/auth/login", None, JSON, "{\"email\":").await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON: it ends too early (line 1, column 9)",
        None,
    )
    .await;
    assert_invalid(
        post_raw(&app, "/auth/login", None, None, "{}").await,
        StatusCode::BAD_REQUEST,
        "expected Content-Type: application/json",
        None,
    )
    .await;
    assert_invalid(
        post_raw(&app, "/auth/login", None, JSON, "").await,
        StatusCode::BAD_REQUEST,
        "the request body is empty; expected a JSON object",
        None,
    )
    .await;

    assert_invalid(
        app.post("/auth/login", json!({"email": "a@example.com"}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing field \"password\"",
        Some("password"),
    )
    .await;
    assert_invalid(
        app.post("/auth/login", json!({"email": 5, "password": "x"}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"email\": expected a string, got an integer",
        Some("email"),
    )
    .await;
    assert_invalid(
        app.post("/auth/signup", json!([1, 2, 3]), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request body: expected a JSON object, got an array",
        None,
    )
    .await;
    assert_invalid(
        app.post(
            "/auth/signup",
            json!({"email": "not an email", "password": "a good long password"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"email\": email must look like name@example.com",
        Some("email"),
    )
    .await;
    assert_invalid(
        app.post("/auth/refresh", json!({"refresh_token": null}), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"refresh_token\": expected a string, got null",
        Some("refresh_token"),
    )
    .await;
}

#[tokio::test]
async fn api_routes_answer_400_for_unreadable_json_and_422_naming_the_invalid_field() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let token = Some(alice.as_str());
    assert_invalid(
        post_raw(&app, "/api/v1/keys", token, JSON, "{\"name\": \"ci\",}").await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 15)",
        None,
    )
    .await;
    for (body, detail, param) in [
        (
            json!({"environment": "production"}),
            "missing field \"name\"",
            "name",
        ),
        (
            json!({"name": "ci", "environment": "prod"}),
            "field \"environment\": expected one of development, staging, production",
            "environment",
        ),
        (
            json!({"name": "ci", "environment": 3}),
            "field \"environment\": expected one of development, staging, production, got an integer",
            "environment",
        ),
        (
            json!({"name": "ci", "environment": "staging", "expires_at": "tomorrow"}),
            "field \"expires_at\": expected an RFC 3339 timestamp",
            "expires_at",
        ),
        (
            json!({"name": "ci", "environment": "staging", "expires_at": "2020-01-01T00:00:00Z"}),
            "field \"expires_at\": must be in the future",
            "expires_at",
        ),
        (
            json!({"name": "", "environment": "staging"}),
            "field \"name\": key name must not be empty",
            "name",
        ),
    ] {
        assert_invalid(
            app.post("/api/v1/keys", body, token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            Some(param),
        )
        .await;
    }

    let key = app.create_key(&alice, "ci", "staging").await;
    let rotate = format!("/api/v1/keys/{}/rotate", key["id"].as_str().unwrap());
    let unreadable = app
        .client
        .post(app.url(&rotate))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{grace}")
        .send()
        .await
        .unwrap();
    assert_invalid(
        unreadable,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 2)",
        None,
    )
    .await;
    assert_invalid(
        app.post(&rotate, json!({"grace_period_seconds": "60"}), token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"grace_period_seconds\": expected an integer, got a string",
        Some("grace_period_seconds"),
    )
    .await;

    // The metered routes refuse before anything is admitted or sent upstream.
    assert_invalid(
        post_raw(&app, "/api/v1/analyses", token, JSON, "input=hello").await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 1)",
        None,
    )
    .await;
    assert_invalid(
        post_raw(&app, "/api/v1/analyses", token, Some("text/plain"), "{}").await,
        StatusCode::BAD_REQUEST,
        "expected Content-Type: application/json",
        None,
    )
    .await;
    assert_invalid(
        app.post("/api/v1/analyses", json!({"model": "gpt-4o-mini"}), token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing field \"input\"",
        Some("input"),
    )
    .await;
    assert_invalid(
        app.post(
            "/api/v1/analyses",
            json!({"input": "x", "model": "gpt-imaginary"}),
            token,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"model\": \"gpt-imaginary\" is not available on this deployment",
        Some("model"),
    )
    .await;
    assert_invalid(
        app.post("/api/v1/comparisons", json!({"inputs": ["a", 2]}), token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"inputs[1]\": expected a string, got an integer",
        Some("inputs[1]"),
    )
    .await;
}

#[tokio::test]
async fn admin_routes_answer_400_for_unreadable_json_and_422_naming_the_invalid_field() {
    let (app, _db) = spawn_sqlite().await;
    let admin = app.admin_token().await;
    let token = Some(admin.as_str());
    assert_invalid(
        post_raw(&app, "/admin/invites", token, JSON, "{'email': 'a@b.c'}").await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 2)",
        None,
    )
    .await;
    assert_invalid(
        app.post("/admin/invites", json!({}), token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing field \"email\"",
        Some("email"),
    )
    .await;
    assert_invalid(
        app.post("/admin/invites", json!({"email": "nope"}), token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "field \"email\": email must look like name@example.com",
        Some("email"),
    )
    .await;
}

/// `?limit=` of the audit log is 1 to 1000, as documented: anything else is a 422 naming it
/// (it was clamped, or a generic 400 "the request is invalid"); a query string that cannot be
/// read is a 400 saying why.
#[tokio::test]
async fn the_audit_limit_is_1_to_1000_and_anything_else_is_422_naming_it() {
    let (app, _db) = spawn_sqlite().await;
    let admin = app.admin_token().await;
    let token = Some(admin.as_str());
    for limit in ["1", "1000"] {
        let response = app.get(&format!("/admin/audit?limit={limit}"), token).await;
        assert_eq!(response.status(), StatusCode::OK, "{limit}");
    }
    for limit in ["0", "1001", "-1", "2.5", "many", "", "4294967296"] {
        assert_invalid(
            app.get(&format!("/admin/audit?limit={limit}"), token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be a whole number from 1 to 1000",
            Some("limit"),
        )
        .await;
    }
    assert_invalid(
        app.get("/admin/audit?limit=5&limit=6", token).await,
        StatusCode::BAD_REQUEST,
        "query parameter \"limit\" is given more than once",
        None,
    )
    .await;
}

#[tokio::test]
async fn openai_routes_answer_every_invalid_request_with_400_invalid_request_error() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&alice, "sdk", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = Some(key.as_str());
    let chat = "/v1/chat/completions";
    assert_invalid(
        post_raw(
            &app,
            chat,
            key,
            JSON,
            "{\"model\": \"gpt-4o-mini\", messages: []}",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "body is not valid JSON (line 1, column 26)",
        None,
    )
    .await;
    let message = json!([{"role": "user", "content": "hi"}]);
    for (body, detail, param) in [
        (
            json!({"messages": message}),
            "missing field \"model\"",
            Some("model"),
        ),
        (
            json!({"model": 4, "messages": message}),
            "field \"model\": expected a string",
            Some("model"),
        ),
        (
            json!({"model": "gpt-imaginary", "messages": message}),
            "field \"model\": \"gpt-imaginary\" is not available on this deployment",
            Some("model"),
        ),
        (
            json!({"model": "gpt-4o-mini"}),
            "missing field \"messages\"",
            Some("messages"),
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": "hi"}),
            "field \"messages\": expected a non-empty array",
            Some("messages"),
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": message, "max_tokens": -1}),
            "field \"max_tokens\": expected a positive integer",
            Some("max_tokens"),
        ),
        // Both names are checked when both are given, not only the one that sets the cap.
        (
            json!({"model": "gpt-4o-mini", "messages": message,
                   "max_completion_tokens": 5, "max_tokens": 0}),
            "field \"max_tokens\": expected a positive integer",
            Some("max_tokens"),
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": message, "max_tokens": u64::MAX}),
            "field \"max_tokens\": expected a positive integer",
            Some("max_tokens"),
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": message, "max_completion_tokens": 2.5}),
            "field \"max_completion_tokens\": expected a positive integer",
            Some("max_completion_tokens"),
        ),
        (
            json!(["model"]),
            "request body: expected a JSON object, got an array",
            None,
        ),
    ] {
        let body = assert_invalid(
            app.post(chat, body, key).await,
            StatusCode::BAD_REQUEST,
            detail,
            param,
        )
        .await;
        assert_eq!(body["error"]["code"], "validation", "{body}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems() {
    let (app, _db) = spawn_with(tollgate_test_support::Backend::Sqlite, |s| {
        s.server.max_body_bytes = 1024
    })
    .await
    .unwrap();
    let big = json!({"email": "a@example.com", "password": "x".repeat(2000)});
    assert_problem(
        app.post("/auth/login", big, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"email\":\"".to_vec()),
        Ok(vec![b'a'; 4096]),
        Ok(b"\"}".to_vec()),
    ];
    let streamed = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(streamed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
