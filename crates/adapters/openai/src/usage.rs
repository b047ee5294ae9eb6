use serde_json::Value;
use tollgate_costing::TokenUsage;

/// The `usage` object of a chat completion (or of the last chunk of a stream), if present.
pub fn usage_of(body: &Value) -> Option<TokenUsage> {
    let usage = body.get("usage").filter(|u| u.is_object())?;
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    Some(TokenUsage {
        input_tokens: count(usage.get("prompt_tokens")),
        cached_input_tokens: count(usage.pointer("/prompt_tokens_details/cached_tokens")),
        output_tokens: count(usage.get("completion_tokens")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_prompt_cached_and_completion_tokens() {
        let body = json!({"usage": {"prompt_tokens": 120, "completion_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 100}}});
        assert_eq!(
            usage_of(&body),
            Some(TokenUsage {
                input_tokens: 120,
                cached_input_tokens: 100,
                output_tokens: 30
            })
        );
        assert_eq!(usage_of(&json!({"usage": null})), None);
        assert_eq!(usage_of(&json!({})), None);
    }
}
