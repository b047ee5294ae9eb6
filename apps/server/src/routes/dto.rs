//! Response bodies shared by several routes, and [`Timestamp`], the one way a time crosses the
//! HTTP edge.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use tollgate_identity::{Account, Organization, TokenPair, User};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A time in a request or response body. Responses always give RFC 3339 in UTC with exactly
/// three fractional digits (`2026-11-29T17:16:10.123Z`), the precision storage keeps, so a time
/// reads the same whether it comes from the call that made it or from a later read. Requests
/// may use any RFC 3339 precision and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn into_inner(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Truncates to the millisecond, as storage does.
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rfc3339;

        impl Visitor<'_> for Rfc3339 {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Timestamp, E> {
                value
                    .parse::<DateTime<Utc>>()
                    .map(Timestamp)
                    .map_err(|_| E::invalid_value(Unexpected::Str(value), &self))
            }
        }

        deserializer.deserialize_str(Rfc3339)
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "RFC 3339. Responses give UTC with milliseconds; requests may use any precision \
                 and offset.",
            ))
            .examples(["2026-11-29T17:16:10.123Z"])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    /// `admin` or `user` (operator-wide).
    pub role: String,
    pub created_at: Timestamp,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            role: user.role.as_str().to_owned(),
            created_at: user.created_at.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    /// The plan's configuration id, e.g. `free`.
    pub plan: String,
}

impl From<&Organization> for OrganizationView {
    fn from(organization: &Organization) -> Self {
        Self {
            id: organization.id.to_string(),
            name: organization.name.clone(),
            plan: organization.plan.to_string(),
        }
    }
}

/// A user with their personal organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub user: UserView,
    pub organization: OrganizationView,
}

impl From<&Account> for AccountView {
    fn from(account: &Account) -> Self {
        Self {
            user: UserView::from(&account.user),
            organization: OrganizationView::from(&account.organization),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token.expose().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: pair.expires_in_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_exactly_three_fractional_digits() {
        let at = |rfc3339: &str| Timestamp(rfc3339.parse().unwrap());
        for (time, shown) in [
            ("2026-11-29T17:16:10.123456789Z", "2026-11-29T17:16:10.123Z"),
            ("2026-11-29T17:16:10Z", "2026-11-29T17:16:10.000Z"),
            ("2026-11-29T18:16:10.5+01:00", "2026-11-29T17:16:10.500Z"),
        ] {
            assert_eq!(serde_json::to_value(at(time)).unwrap(), shown);
        }
    }

    /// Every time in the API is a [`Timestamp`]: a DTO field typed `DateTime<Utc>` would be
    /// serialised by chrono, at whatever precision it holds, and shows as an inline date-time.
    #[test]
    fn no_dto_carries_a_time_other_than_a_timestamp() {
        fn inline_date_times(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if map.get("format").and_then(|f| f.as_str()) == Some("date-time")
                        && at != "/components/schemas/Timestamp"
                    {
                        found.push(at.to_owned());
                    }
                    for (key, child) in map {
                        inline_date_times(child, &format!("{at}/{key}"), found);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        inline_date_times(child, &format!("{at}/{i}"), found);
                    }
                }
                _ => {}
            }
        }
        let document = serde_json::to_value(crate::openapi::api_doc()).unwrap();
        let mut found = Vec::new();
        inline_date_times(&document, "", &mut found);
        assert!(found.is_empty(), "use routes::dto::Timestamp at {found:?}");
        assert!(document.pointer("/components/schemas/Timestamp").is_some());
    }

    #[test]
    fn a_timestamp_that_is_not_rfc_3339_says_what_was_expected() {
        let error = serde_json::from_str::<Timestamp>("\"tomorrow\"").unwrap_err();
        assert!(
            error.to_string().contains("expected an RFC 3339 timestamp"),
            "{error}"
        );
        let parsed: Timestamp = serde_json::from_str("\"2026-11-29T17:16:10.123Z\"").unwrap();
        assert_eq!(parsed.to_string(), "2026-11-29T17:16:10.123Z");
    }
}
