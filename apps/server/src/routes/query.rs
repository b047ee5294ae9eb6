//! Query strings, with one rule for every route: a query string that cannot be read at all (a
//! parameter given twice, bad percent-encoding) is `400 validation` saying why; a parameter with
//! an invalid value is `422 validation` naming it.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Query<T>` whose rejection is the 400 problem described above.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| Self(query))
            .map_err(|rejection| ApiError::bad_request(query_problem(&rejection.body_text())))
    }
}

/// axum's rejection text in our words: `duplicate field `limit`` says the parameter is repeated.
fn query_problem(text: &str) -> String {
    let reason = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    match reason
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(name) => format!("query parameter \"{name}\" is given more than once"),
        None => format!(
            "the query string cannot be read: {}",
            reason.replace('`', "\"")
        ),
    }
}

/// A `limit` parameter: `default` when absent, else a whole number from 1 to `max`.
///
/// # Errors
/// `422 validation` naming `limit` for anything else.
pub fn page_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    counted("limit", raw, default, max)
}

/// A count parameter named `param`: `default` when absent, else a whole number from 1 to
/// `max`. A parameter given is read, even when empty.
///
/// # Errors
/// `422 validation` naming `param` for anything else.
pub fn counted(param: &str, raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|count| (1..=max).contains(count))
            .ok_or_else(|| {
                ApiError::validation(format!("{param} must be a whole number from 1 to {max}"))
                    .with_param(Some(param.to_owned()))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_query_strings_are_told_in_our_words() {
        assert_eq!(
            query_problem("Failed to deserialize query string: duplicate field `limit`"),
            "query parameter \"limit\" is given more than once"
        );
    }

    #[test]
    fn limits_are_whole_numbers_in_range_or_the_default() {
        assert_eq!(page_limit(None, 100, 1000).unwrap(), 100);
        assert_eq!(page_limit(Some("1"), 100, 1000).unwrap(), 1);
        assert_eq!(page_limit(Some("1000"), 100, 1000).unwrap(), 1000);
        for bad in ["", " 5", "0", "1001", "-1", "1.5", "ten", "4294967296"] {
            let error = page_limit(Some(bad), 100, 1000).unwrap_err();
            assert_eq!(error.status().as_u16(), 422, "{bad}");
            assert_eq!(error.param(), Some("limit"));
        }
    }
}
