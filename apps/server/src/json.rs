//! Reading JSON request bodies, with one rule for every route: a body that cannot be read as
//! JSON (wrong content type, empty, syntax error) is `400 validation`; a well-formed body whose
//! fields are wrong (missing, wrong type, invalid value) is `422 validation` whose detail names
//! the field and says what was expected, in our words rather than serde's; an oversized body is
//! `413 payload_too_large`. The OpenAI-compatible routes answer 400 for both (see
//! [`ApiError::openai_style`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::{Path, Segment};

use crate::error::ApiError;

/// A JSON body extractor whose rejections are the problem responses described above.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    payload_too_large()
                } else {
                    ApiError::bad_request("the request body could not be read")
                }
            })?;
        parse_json(&bytes).map(Self)
    }
}

/// Parses a body read as bytes after checking its `Content-Type`, for handlers that keep the
/// raw bytes (idempotency keys hash them).
pub fn parse_json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    require_json_content_type(headers)?;
    parse_json(bytes)
}

/// Parses a body read as bytes, whatever its `Content-Type` (the OpenAI-compatible routes accept
/// what OpenAI accepts), with the problem responses described above.
///
/// The body is read as a JSON value first and then into `T`, so that every failure of the first
/// step is a syntax error (400) and every failure of the second a field error (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value = parse_json_object(bytes)?;
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let (detail, param) = describe(error.path(), &serde_message(error.inner()));
        ApiError::validation(detail).with_param(param)
    })
}

/// The first step of [`parse_json`] alone: the body as a JSON object. For the metered proxy,
/// which forwards the object and reads its fields itself (no second pass over the body).
pub fn parse_json_object(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        let position = format!("line {}, column {}", error.line(), error.column());
        ApiError::bad_request(if error.is_eof() {
            format!("body is not valid JSON: it ends too early ({position})")
        } else {
            format!("body is not valid JSON ({position})")
        })
    })?;
    // Every body of this API is an object; serde would read an array into a struct by position.
    if !value.is_object() {
        return Err(ApiError::validation(format!(
            "request body: expected a JSON object, got {}",
            value_in_words(&value)
        )));
    }
    Ok(value)
}

/// Rewrites every number with no fractional part (`5.0`, `1e3`) as an integer, so that an integer
/// field takes it: JSON does not tell `5.0` from `5`, nor does JSON Schema (`5.0` is an `integer`).
/// Only numbers an `f64` holds exactly (up to 2^53) are touched.
fn whole_numbers_as_integers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() <= EXACT
            {
                // Exact: a whole number of magnitude at most 2^53 converts without loss.
                #[allow(clippy::cast_possible_truncation)]
                let whole = float as i64;
                *number = whole.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase());
    match essence {
        Some(essence)
            if essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json")) =>
        {
            Ok(())
        }
        _ => Err(ApiError::bad_request(
            "expected Content-Type: application/json",
        )),
    }
}

fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body is too large",
    )
}

/// serde_json's message without the position it appends when it has one.
fn serde_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(bare) if error.line() != 0 => bare.to_owned(),
        _ => message,
    }
}

/// `a.b[0].c`, or `None` for the body itself.
fn field_path(path: &Path) -> Option<String> {
    let mut rendered = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => rendered.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push_str(key);
            }
            Segment::Enum { variant } => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push_str(variant);
            }
            Segment::Unknown => {}
        }
    }
    (!rendered.is_empty()).then_some(rendered)
}

/// Our detail for a deserialisation failure at `path` and the offending field, from serde's
/// message (whose forms are fixed by `serde::de::Error`'s provided methods).
fn describe(path: &Path, message: &str) -> (String, Option<String>) {
    let field = field_path(path);
    let child = |name: &str| match &field {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(child)
    };
    if let Some(missing) = quoted("missing field `") {
        return (format!("missing field \"{missing}\""), Some(missing));
    }
    if let Some(duplicate) = quoted("duplicate field `") {
        return (format!("duplicate field \"{duplicate}\""), Some(duplicate));
    }
    let problem = if let Some(rest) = message.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((found, expected)) => format!(
                "expected {}, got {}",
                expected_in_words(expected),
                found_in_words(found)
            ),
            None => message.to_owned(),
        }
    } else if let Some((_, expected)) = ["invalid value: ", "invalid length ", "unknown variant "]
        .iter()
        .find(|prefix| message.starts_with(**prefix))
        .and_then(|_| message.split_once(", expected "))
    {
        format!("expected {}", expected_in_words(expected))
    } else {
        message.to_owned()
    };
    match field {
        Some(field) => (format!("field \"{field}\": {problem}"), Some(field)),
        None => (format!("request body: {problem}"), None),
    }
}

/// What serde says a type expects, in JSON's words.
fn expected_in_words(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        other if other.starts_with("struct ") => "an object".to_owned(),
        other if other.starts_with("tuple") => "an array".to_owned(),
        other => other.replace('`', ""),
    }
}

fn value_in_words(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What serde says it found (`integer `5``, `string "x"`, `map`, …), without the value itself,
/// which may be a secret.
fn found_in_words(found: &str) -> &'static str {
    let kind = found.split([' ', '`', '"']).next().unwrap_or(found);
    match kind {
        "integer" => "an integer",
        "floating" => "a number",
        "string" | "character" => "a string",
        "boolean" => "a boolean",
        "null" | "unit" => "null",
        "sequence" => "an array",
        "map" => "an object",
        _ => "another type",
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: Option<u32>,
        nested: Option<Nested>,
        list: Option<Vec<Nested>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        name: String,
    }

    fn problem(body: &str) -> (u16, String, Option<String>) {
        let error = parse_json::<Body>(body.as_bytes()).unwrap_err();
        (
            error.status().as_u16(),
            error.detail().to_owned(),
            error.param().map(str::to_owned),
        )
    }

    #[test]
    fn syntax_errors_are_400_with_a_position_and_no_serde_wording() {
        assert_eq!(
            problem("{\"email\": x}"),
            (
                400,
                "body is not valid JSON (line 1, column 11)".to_owned(),
                None
            )
        );
        assert_eq!(
            problem("{\"email\":").1,
            "body is not valid JSON: it ends too early (line 1, column 9)"
        );
        assert_eq!(
            problem("  ").1,
            "the request body is empty; expected a JSON object"
        );
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        for count in ["5.0", "5e0", "0.5e1"] {
            let body: Body =
                parse_json(format!("{{\"email\": \"a\", \"count\": {count}}}").as_bytes()).unwrap();
            assert_eq!(body.count, Some(5), "{count}");
        }
        assert_eq!(
            problem("{\"email\": \"a\", \"count\": 5.5}"),
            (
                422,
                "field \"count\": expected a non-negative integer, got a number".to_owned(),
                Some("count".to_owned())
            )
        );
        assert_eq!(
            problem("{\"email\": \"a\", \"count\": -2.0}").1,
            "field \"count\": expected a non-negative integer"
        );
    }

    #[test]
    fn field_errors_are_422_and_name_the_field() {
        let cases = [
            ("{}", "missing field \"email\"", Some("email")),
            (
                "{\"email\": 5}",
                "field \"email\": expected a string, got an integer",
                Some("email"),
            ),
            (
                "{\"email\": \"a\", \"count\": -1}",
                "field \"count\": expected a non-negative integer",
                Some("count"),
            ),
            (
                "{\"email\": \"a\", \"nested\": {}}",
                "missing field \"nested.name\"",
                Some("nested.name"),
            ),
            (
                "{\"email\": \"a\", \"list\": [{\"name\": \"x\"}, {\"name\": null}]}",
                "field \"list[1].name\": expected a string, got null",
                Some("list[1].name"),
            ),
            (
                "[1, 2]",
                "request body: expected a JSON object, got an array",
                None,
            ),
        ];
        for (body, detail, param) in cases {
            assert_eq!(
                problem(body),
                (422, detail.to_owned(), param.map(str::to_owned)),
                "{body}"
            );
        }
    }
}
