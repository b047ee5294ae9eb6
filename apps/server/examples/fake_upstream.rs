//! A zero-latency OpenAI-compatible upstream for load tests from outside the server (`wrk`):
//! answers every chat completion at once with a fixed body and usage.
//! `cargo run --release -p tollgate-server --example fake_upstream -- 127.0.0.1:9100`

use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".to_owned());
    let completion = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 14, "completion_tokens": 1, "total_tokens": 15}
    });
    let router = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let completion = completion.clone();
            async move { axum::Json(completion) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .expect("binding the fake upstream");
    eprintln!("fake upstream on http://{address}/v1");
    axum::serve(listener, router).await.expect("serving");
}
