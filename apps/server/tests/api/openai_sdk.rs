//! The official-style OpenAI client (`async-openai`) pointed at the running server: what users of
//! the OpenAI SDKs get with `base_url` = server + `/v1` and a Tollgate key.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use tollgate_server::Settings;
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_with};

async fn setup(plans_toml: &str) -> (TestApp, TestDatabase, MockServer, String, String) {
    let upstream = MockServer::start().await;
    let base = format!("{}/v1", upstream.uri());
    let plans = Settings::from_toml(plans_toml).unwrap().plans;
    let (app, db) = spawn_with(Backend::Sqlite, move |s| {
        s.openai.base_url = base;
        s.openai.max_retries = 0;
        s.plans = plans;
    })
    .await
    .unwrap();
    let (access, _) = app.new_user("sdk@example.com").await;
    let created = app.create_key(&access, "sdk", "production").await;
    (
        app,
        db,
        upstream,
        created["key"].as_str().unwrap().to_owned(),
        access,
    )
}

fn sdk(app: &TestApp, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", app.address))
            .with_api_key(key),
    )
}

fn request(stream: bool) -> CreateChatCompletionRequest {
    let mut builder = CreateChatCompletionRequestArgs::default();
    builder
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("Say hello")
            .build()
            .unwrap()
            .into()]);
    if stream {
        builder.stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
    }
    builder.build().unwrap()
}

fn completion() -> serde_json::Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})
}

#[tokio::test]
async fn plain_completion_and_model_listing() {
    let (app, _db, upstream, key, _) = setup("").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&upstream)
        .await;
    let client = sdk(&app, &key);
    let response = client.chat().create(request(false)).await.unwrap();
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("Hello!")
    );
    assert_eq!(response.usage.unwrap().total_tokens, 12);
    let models = client.models().list().await.unwrap();
    assert!(models.data.iter().any(|m| m.id == "gpt-4o-mini"));
}

#[tokio::test]
async fn streaming_with_usage() {
    let (app, _db, upstream, key, _) = setup("").await;
    let chunk = |content: &str| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": null}]})
    };
    let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}});
    let mut sse: String = [chunk("Hel"), chunk("lo"), usage]
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect();
    sse.push_str("data: [DONE]\n\n");
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .mount(&upstream)
        .await;
    let mut stream = sdk(&app, &key)
        .chat()
        .create_stream(request(true))
        .await
        .unwrap();
    let mut text = String::new();
    let mut total = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for choice in &chunk.choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
        if let Some(usage) = chunk.usage {
            total = Some(usage.total_tokens);
        }
    }
    assert_eq!(text, "Hello");
    assert_eq!(total, Some(12));
}

/// A spent quota is a 429 the SDK surfaces as its API error at once (OpenAI's
/// `insufficient_quota`, which its SDKs do not retry). A short rate limit is retried by the SDK
/// after our Retry-After, as with OpenAI itself.
#[tokio::test]
async fn a_spent_quota_is_the_sdks_429_error_and_a_short_rate_limit_is_retried() {
    let (app, _db, upstream, key, _) = setup(
        "[plans.free]\nrequests_per_minute = 600\nburst = 1\n[plans.free.daily_quota]\nchat = 2",
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&upstream)
        .await;
    let client = sdk(&app, &key);
    client.chat().create(request(false)).await.unwrap();
    // Immediately again: our 429 rate_limited (Retry-After: 1); the SDK waits and succeeds.
    client.chat().create(request(false)).await.unwrap();
    match client.chat().create(request(false)).await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.status_code, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                error.api_error.r#type.as_deref(),
                Some("insufficient_quota")
            );
            assert_eq!(error.api_error.code.as_deref(), Some("quota_exceeded"));
        }
        other => panic!("expected the SDK's API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_key_is_the_sdks_authentication_error() {
    let (app, _db, _upstream, key, access) = setup("").await;
    let listed: serde_json::Value = app
        .get("/api/v1/keys", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    let id = listed["keys"][0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v1/keys/{id}"), &access).await;
    match sdk(&app, &key).chat().create(request(false)).await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.status_code, StatusCode::UNAUTHORIZED);
            assert_eq!(error.api_error.code.as_deref(), Some("unauthorized"));
        }
        other => panic!("expected the SDK's API error, got {other:?}"),
    }
}

/// An invalid request is what the OpenAI SDKs call a bad request: 400 `invalid_request_error`
/// with `param` naming the field, as OpenAI answers it.
#[tokio::test]
async fn an_invalid_request_is_the_sdks_bad_request_error_naming_the_field() {
    let (app, _db, _upstream, key, _) = setup("").await;
    let mut invalid = request(false);
    invalid.model = "gpt-imaginary".to_owned();
    match sdk(&app, &key).chat().create(invalid).await {
        Err(OpenAIError::ApiError(error)) => {
            assert_eq!(error.status_code, StatusCode::BAD_REQUEST);
            assert_eq!(
                error.api_error.r#type.as_deref(),
                Some("invalid_request_error")
            );
            assert_eq!(error.api_error.param.as_deref(), Some("model"));
        }
        other => panic!("expected the SDK's API error, got {other:?}"),
    }
}
