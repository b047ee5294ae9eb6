//! `POST /v1/chat/completions` bodies: arbitrary bytes read as the route reads them (a JSON
//! object, `serde_json::from_slice`) and then by `read_chat_request` (model, messages, output
//! cap). Nothing may panic; an accepted request's cap is positive and is in the body sent
//! upstream; its input bound covers its prompt's bytes and the real token count.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_costing::{PER_MESSAGE_OVERHEAD, REPLY_OVERHEAD, TokenCounter, read_chat_request};
use tollgate_openai::TiktokenCounter;

const SERVED: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "gpt-4"];
const DEFAULT_CAP: u64 = 4096;

/// A JSON number that is a whole number: an integer, or a float with no fraction that an `f64`
/// holds exactly (up to 2^53).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        (float.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&float))
            .then_some(float as u64)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(call) = read_chat_request(body.clone(), |model| SERVED.contains(&model), DEFAULT_CAP)
    else {
        return;
    };
    assert_eq!(Some(call.model.as_str()), body["model"].as_str());
    assert!(SERVED.contains(&call.model.as_str()));
    let messages = body["messages"].as_array().expect("accepted with messages");
    assert!(!messages.is_empty());
    assert_eq!(call.prompt.message_count, messages.len() as u64);

    // The cap: positive, at least the requested one, and what upstream is told.
    assert!(call.max_output_tokens >= 1);
    let requested = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|field| body.get(field).filter(|v| !v.is_null()).map(|v| (field, v)));
    match requested {
        Some((field, value)) => {
            let cap = whole_number(value).expect("an accepted cap is a whole number");
            assert!(cap >= 1 && call.max_output_tokens >= cap);
            // Upstream is told the same number (perhaps spelt as an integer), and the rest of
            // the body as it came.
            assert_eq!(call.body[field].as_f64(), Some(cap as f64));
            let mut expected = body.clone();
            expected[field] = call.body[field].clone();
            assert_eq!(call.body, expected);
        }
        None => {
            assert_eq!(call.body["max_completion_tokens"], DEFAULT_CAP);
            assert!(call.max_output_tokens >= DEFAULT_CAP);
        }
    }
    assert_eq!(call.stream, body["stream"] == true);

    // The input bound: the prompt's bytes plus the overheads, never below the real count.
    let overheads = call.prompt.message_count * PER_MESSAGE_OVERHEAD + REPLY_OVERHEAD;
    assert_eq!(call.prompt.bound, call.prompt.text.len() as u64 + overheads);
    let tokens = TiktokenCounter.count(&call.model, &call.prompt.text);
    assert!(
        tokens <= call.prompt.text.len() as u64,
        "{tokens} tokens in {} bytes",
        call.prompt.text.len()
    );
    assert!(call.prompt.count(&call.model, &TiktokenCounter) <= call.prompt.bound);
});
