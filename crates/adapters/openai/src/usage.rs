use serde_json::Value;
use tollgate_costing::TokenUsage;

/// The `usage` object of a chat completion (or of the last chunk of a stream), when it states
/// both counts the call is charged on.
///
/// A missing (or non-numeric) `prompt_tokens` or `completion_tokens` makes the whole usage
/// absent rather than zero, so that the caller charges its own count of the input and of the
/// output produced. A missing `prompt_tokens_details.cached_tokens` is 0: nothing was cached.
pub fn usage_of(body: &Value) -> Option<TokenUsage> {
    let usage = body.get("usage").filter(|u| u.is_object())?;
    Some(TokenUsage {
        input_tokens: usage.get("prompt_tokens")?.as_u64()?,
        cached_input_tokens: usage
            .pointer("/prompt_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        output_tokens: usage.get("completion_tokens")?.as_u64()?,
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

    #[test]
    fn missing_cached_tokens_are_none_cached() {
        for usage in [
            json!({"prompt_tokens": 12, "completion_tokens": 3}),
            json!({"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": null}),
            json!({"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {}}),
        ] {
            assert_eq!(
                usage_of(&json!({ "usage": usage })),
                Some(TokenUsage {
                    input_tokens: 12,
                    cached_input_tokens: 0,
                    output_tokens: 3
                }),
                "{usage}"
            );
        }
    }

    #[test]
    fn a_missing_or_unreadable_count_is_no_usage_not_zero() {
        for usage in [
            json!({}),
            json!({"total_tokens": 15}),
            json!({"prompt_tokens": 12}),
            json!({"completion_tokens": 3}),
            json!({"prompt_tokens": 12, "completion_tokens": null}),
            json!({"prompt_tokens": null, "completion_tokens": 3}),
            json!({"prompt_tokens": 12, "completion_tokens": "3"}),
            json!({"prompt_tokens": 12, "completion_tokens": -3}),
            json!({"prompt_tokens": 12.5, "completion_tokens": 3}),
            json!({"prompt_tokens": 12, "completion_tokens": 3.5,
                   "prompt_tokens_details": {"cached_tokens": 4}}),
        ] {
            assert_eq!(usage_of(&json!({ "usage": usage })), None, "{usage}");
        }
    }
}
