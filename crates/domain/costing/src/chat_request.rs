//! What an OpenAI chat-completion request will cost at most, read once before it is admitted:
//! the model, a bound on its input tokens, and the output cap. A request without a cap gets the
//! deployment's, written into the body, so the cap we reserve for is the cap upstream must
//! respect.
//!
//! The input bound is the prompt's length in bytes: OpenAI's encodings are byte-level BPE, so no
//! token is shorter than one byte. It costs nothing to compute, which is what admission against
//! a lease needs on the hot path; the exact count ([`Prompt::count`]) runs the tokenizer
//! and is asked for only where exactness matters (an exact reservation near a limit, a reply
//! without reported usage).

use serde_json::{Value, json};

use crate::TokenCounter;

/// Tokens OpenAI adds per message and per reply around the content (their published rule of
/// thumb); counting them keeps the reservation an upper bound.
pub const PER_MESSAGE_OVERHEAD: u64 = 4;
/// Tokens added once to prime the reply, by the same rule.
pub const REPLY_OVERHEAD: u64 = 3;

/// A chat-completion request, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall {
    /// The requested model; this deployment serves it.
    pub model: String,
    /// The body to send upstream (with the output cap set when the request had none).
    pub body: Value,
    /// The input: bounded now, counted exactly when needed.
    pub prompt: Prompt,
    /// The most output tokens the call can produce, all choices together.
    pub max_output_tokens: u64,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The client asked for the usage chunk of a stream.
    pub client_wants_usage: bool,
}

/// A request's input, the messages and tools as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    /// The text the input is counted over.
    pub text: String,
    /// How many messages it has (each adds [`PER_MESSAGE_OVERHEAD`]).
    pub message_count: u64,
    /// At least its tokens (its bytes), overheads included.
    pub bound: u64,
}

impl Prompt {
    fn new(text: String, message_count: u64) -> Self {
        let bound = with_overheads(text.len() as u64, message_count);
        Self {
            text,
            message_count,
            bound,
        }
    }

    /// Its tokens for `model`, counted with the tokenizer, overheads included: never more than
    /// [`Prompt::bound`].
    pub fn count(&self, model: &str, counter: &impl TokenCounter) -> u64 {
        with_overheads(counter.count(model, &self.text), self.message_count).min(self.bound)
    }
}

/// Why a chat-completion request is refused before admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatRequestError {
    /// The body is not a JSON object.
    #[error("the request body must be a JSON object")]
    NotAnObject,
    /// No `model` string.
    #[error("model is required")]
    ModelRequired,
    /// This deployment does not serve the model.
    #[error("model {0:?} is not available on this deployment")]
    ModelNotServed(String),
    /// `messages` is missing, not an array, or empty.
    #[error("messages must be a non-empty array")]
    MessagesRequired,
    /// `max_completion_tokens` or `max_tokens` (the field named) is set but not a positive
    /// integer.
    #[error("{0} must be a positive integer")]
    InvalidOutputCap(&'static str),
}

/// Reads `body`. `served` says whether this deployment serves a model; `default_cap` is the
/// output cap of a request that sets none.
///
/// # Errors
/// A [`ChatRequestError`] naming what is wrong; nothing has been counted against anyone.
pub fn read_chat_request(
    mut body: Value,
    served: impl Fn(&str) -> bool,
    default_cap: u64,
) -> Result<ChatCall, ChatRequestError> {
    let object = body.as_object().ok_or(ChatRequestError::NotAnObject)?;
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .ok_or(ChatRequestError::ModelRequired)?
        .to_owned();
    if !served(&model) {
        return Err(ChatRequestError::ModelNotServed(model));
    }
    let messages = object
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or(ChatRequestError::MessagesRequired)?;
    let message_count = messages.len() as u64;
    let mut prompt = serde_json::to_string(messages).unwrap_or_default();
    if let Some(tools) = object.get("tools") {
        prompt.push_str(&tools.to_string());
    }
    // Both names are checked when both are set. Providers differ in which one they obey, so the
    // larger one is the cap reserved: a client cannot reserve for a small one and be served the
    // other.
    let mut caps = Vec::new();
    for field in ["max_completion_tokens", "max_tokens"] {
        let Some(value) = object.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let cap = positive_integer(value).ok_or(ChatRequestError::InvalidOutputCap(field))?;
        caps.push((field, cap));
    }
    for (field, cap) in &caps {
        // `5.0` is the number 5 in JSON; upstream gets it spelt as an integer.
        body[*field] = json!(cap);
    }
    let cap = match caps.iter().map(|(_, cap)| *cap).max() {
        Some(cap) => cap,
        None => {
            body["max_completion_tokens"] = json!(default_cap);
            default_cap
        }
    };
    let choices = body.get("n").and_then(Value::as_u64).unwrap_or(1).max(1);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatCall {
        model,
        body,
        prompt: Prompt::new(prompt, message_count),
        max_output_tokens: cap.saturating_mul(choices),
        stream,
        client_wants_usage,
    })
}

/// A JSON number that is a whole number above zero (`5` or `5.0`) and a signed 64-bit integer,
/// as the OpenAPI document has it (`format: int64`) and as OpenAI reads it.
fn positive_integer(value: &Value) -> Option<u64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every whole f64 up to it is exact
    let whole = value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        // A whole number no larger than 2^53 converts without loss.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (float.fract() == 0.0 && (0.0..=EXACT).contains(&float)).then_some(float as u64)
    })?;
    (whole > 0 && i64::try_from(whole).is_ok()).then_some(whole)
}

fn with_overheads(tokens: u64, message_count: u64) -> u64 {
    tokens
        .saturating_add(message_count.saturating_mul(PER_MESSAGE_OVERHEAD))
        .saturating_add(REPLY_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::MockTokenCounter;

    fn served(model: &str) -> bool {
        model == "gpt-4o-mini"
    }

    #[test]
    fn bounds_the_input_by_its_bytes_and_takes_the_requested_cap_times_choices() {
        let messages =
            json!([{"role": "user", "content": "hi"}, {"role": "user", "content": "yo"}]);
        let body = json!({"model": "gpt-4o-mini", "messages": messages, "max_tokens": 100, "n": 3});
        let call = read_chat_request(body.clone(), served, 4096).unwrap();
        let overheads = 2 * PER_MESSAGE_OVERHEAD + REPLY_OVERHEAD;
        assert_eq!(call.prompt.text, messages.to_string());
        assert_eq!(
            call.prompt.bound,
            messages.to_string().len() as u64 + overheads
        );
        assert_eq!(call.max_output_tokens, 300);
        assert_eq!(call.body, body, "a request with a cap is sent as it is");
        assert!(!call.stream);

        let mut counter = MockTokenCounter::new();
        counter
            .expect_count()
            .with(eq("gpt-4o-mini"), eq(messages.to_string()))
            .times(1)
            .return_const(10u64);
        assert_eq!(call.prompt.count("gpt-4o-mini", &counter), 10 + overheads);
    }

    #[test]
    fn with_both_caps_set_the_larger_is_reserved() {
        for (completion, tokens) in [(5, 900), (900, 5)] {
            let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                              "max_completion_tokens": completion, "max_tokens": tokens});
            let call = read_chat_request(body, served, 512).unwrap();
            assert_eq!(call.max_output_tokens, 900);
        }
    }

    #[test]
    fn the_exact_count_never_exceeds_the_bound() {
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
        let call = read_chat_request(body, served, 16).unwrap();
        let mut counter = MockTokenCounter::new();
        counter.expect_count().return_const(u64::MAX);
        assert_eq!(
            call.prompt.count("gpt-4o-mini", &counter),
            call.prompt.bound
        );
    }

    #[test]
    fn a_request_without_a_cap_gets_the_default_written_into_the_body() {
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"include_usage": true}});
        let call = read_chat_request(body, served, 512).unwrap();
        assert_eq!(call.max_output_tokens, 512);
        assert_eq!(call.body["max_completion_tokens"], 512);
        assert!(call.stream && call.client_wants_usage);
    }

    #[test]
    fn tools_count_as_input() {
        let mut counter = MockTokenCounter::new();
        counter
            .expect_count()
            .withf(|_, text| text.contains("get_weather"))
            .return_const(50u64);
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "get_weather"}}], "max_tokens": 1});
        let call = read_chat_request(body, served, 512).unwrap();
        assert!(call.prompt.text.contains("get_weather"));
        assert!(call.prompt.bound > call.prompt.text.len() as u64);
        assert_eq!(
            call.prompt.count("gpt-4o-mini", &counter),
            50 + PER_MESSAGE_OVERHEAD + REPLY_OVERHEAD
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let cases = [
            (json!([1]), ChatRequestError::NotAnObject),
            (json!({"messages": [{}]}), ChatRequestError::ModelRequired),
            (
                json!({"model": "gpt-9", "messages": [{}]}),
                ChatRequestError::ModelNotServed("gpt-9".into()),
            ),
            (
                json!({"model": "gpt-4o-mini", "messages": []}),
                ChatRequestError::MessagesRequired,
            ),
            (
                json!({"model": "gpt-4o-mini", "messages": "hi"}),
                ChatRequestError::MessagesRequired,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(read_chat_request(body, served, 512).unwrap_err(), expected);
        }
        let past_i64 = json!(u64::try_from(i64::MAX).unwrap() + 1);
        for cap in [
            json!(0),
            json!(-1),
            json!("10"),
            json!(1.5),
            json!(-2.0),
            past_i64,
        ] {
            let body =
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user"}], "max_tokens": cap});
            assert_eq!(
                read_chat_request(body, served, 512).unwrap_err(),
                ChatRequestError::InvalidOutputCap("max_tokens")
            );
        }
        // Each name is checked, not only the one that gives the cap.
        let both = json!({"model": "gpt-4o-mini", "messages": [{"role": "user"}],
            "max_completion_tokens": 5, "max_tokens": 0});
        assert_eq!(
            read_chat_request(both, served, 512).unwrap_err(),
            ChatRequestError::InvalidOutputCap("max_tokens")
        );
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_a_cap() {
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user"}],
            "max_tokens": 7.0});
        let call = read_chat_request(body, served, 512).unwrap();
        assert_eq!(call.max_output_tokens, 7);
        assert_eq!(call.body["max_tokens"], json!(7));
        assert!(call.body["max_tokens"].is_u64());
    }
}
