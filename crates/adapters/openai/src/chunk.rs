//! A plain chat completion told as a stream: some OpenAI-compatible servers ignore
//! `stream: true` and answer with one `chat.completion` JSON body.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The `chat.completion.chunk` that carries all of `completion` at once: per choice, its message
/// as the `delta` (role, content, and tool calls with their `index`) and its `finish_reason`;
/// the completion's `usage` as the chunk's. `None` when `completion` has no `choices` array (an
/// error object, or not a chat completion at all).
pub(crate) fn chunk_of_completion(completion: &Value, request: &Value) -> Option<Value> {
    let choices = completion.get("choices")?.as_array()?;
    let mut chunk = Map::new();
    chunk.insert("id".into(), field(completion, "id"));
    chunk.insert("object".into(), json!("chat.completion.chunk"));
    let created = completion
        .get("created")
        .filter(|c| c.is_u64())
        .cloned()
        .unwrap_or_else(|| json!(now_seconds()));
    chunk.insert("created".into(), created);
    let model = completion
        .get("model")
        .or_else(|| request.get("model"))
        .cloned()
        .unwrap_or(Value::Null);
    chunk.insert("model".into(), model);
    if let Some(fingerprint) = completion.get("system_fingerprint") {
        chunk.insert("system_fingerprint".into(), fingerprint.clone());
    }
    let choices = choices
        .iter()
        .enumerate()
        .map(|(position, choice)| choice_delta(position, choice))
        .collect();
    chunk.insert("choices".into(), Value::Array(choices));
    if let Some(usage) = completion.get("usage").filter(|u| u.is_object()) {
        chunk.insert("usage".into(), usage.clone());
    }
    Some(Value::Object(chunk))
}

fn choice_delta(position: usize, choice: &Value) -> Value {
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut delta = Map::new();
    let role = message
        .get("role")
        .cloned()
        .unwrap_or_else(|| json!("assistant"));
    delta.insert("role".into(), role);
    delta.insert("content".into(), field(message, "content"));
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        // A streamed tool call says which call it continues by its `index`.
        let calls = calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let mut call = call.clone();
                if let Some(call) = call.as_object_mut() {
                    call.entry("index").or_insert(json!(index));
                }
                call
            })
            .collect();
        delta.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(refusal) = message.get("refusal").filter(|r| !r.is_null()) {
        delta.insert("refusal".into(), refusal.clone());
    }
    let mut out = Map::new();
    let index = choice
        .get("index")
        .filter(|i| i.is_u64())
        .cloned()
        .unwrap_or_else(|| json!(position));
    out.insert("index".into(), index);
    out.insert("delta".into(), Value::Object(delta));
    if let Some(logprobs) = choice.get("logprobs").filter(|l| !l.is_null()) {
        out.insert("logprobs".into(), logprobs.clone());
    }
    out.insert("finish_reason".into(), field(choice, "finish_reason"));
    Value::Object(out)
}

fn field(object: &Value, name: &str) -> Value {
    object.get(name).cloned().unwrap_or(Value::Null)
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_becomes_one_chunk_with_its_message_as_the_delta() {
        let completion = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m",
            "system_fingerprint": "fp",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        });
        assert_eq!(
            chunk_of_completion(&completion, &json!({"model": "asked"})),
            Some(json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                "system_fingerprint": "fp",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
            }))
        );
    }

    #[test]
    fn tool_calls_are_carried_with_their_index() {
        let call = |id: &str| {
            json!({"id": id, "type": "function",
                   "function": {"name": "lookup", "arguments": "{\"q\":1}"}})
        };
        let completion = json!({
            "id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                         "tool_calls": [call("a"), call("b")]}, "finish_reason": "tool_calls"}]
        });
        let chunk = chunk_of_completion(&completion, &json!({})).unwrap();
        let delta = &chunk["choices"][0]["delta"];
        assert_eq!(delta["content"], Value::Null);
        assert_eq!(delta["tool_calls"][0]["index"], 0);
        assert_eq!(delta["tool_calls"][1]["index"], 1);
        assert_eq!(delta["tool_calls"][1]["id"], "b");
        assert_eq!(delta["tool_calls"][1]["function"]["arguments"], "{\"q\":1}");
        assert_eq!(chunk["choices"][0]["finish_reason"], "tool_calls");
        assert!(chunk.get("usage").is_none());
    }

    #[test]
    fn missing_fields_are_filled_and_a_body_without_choices_is_refused() {
        let chunk = chunk_of_completion(
            &json!({"choices": [{"message": {"content": "x"}}, {"message": {"content": "y"}}]}),
            &json!({"model": "asked"}),
        )
        .unwrap();
        assert_eq!(chunk["model"], "asked");
        assert!(chunk["created"].as_u64().is_some_and(|c| c > 0));
        assert_eq!(chunk["choices"][1]["index"], 1);
        assert_eq!(chunk["choices"][1]["delta"]["role"], "assistant");
        assert_eq!(chunk["choices"][1]["finish_reason"], Value::Null);
        assert_eq!(
            chunk_of_completion(&json!({"error": {"message": "overloaded"}}), &json!({})),
            None
        );
    }
}
