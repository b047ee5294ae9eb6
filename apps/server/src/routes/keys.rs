use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use tollgate_keys::{ApiKey, ApiKeyId, CreatedKey, Environment};
use utoipa::ToSchema;

use super::dto::Timestamp;
use super::scope::{OrganizationQuery, OrganizationScope};
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::json::{ApiJson, parse_json_body};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// 1 to 100 characters once surrounding whitespace is trimmed, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[schema(example = "production")]
    pub environment: EnvironmentName,
    /// When the key stops working; in the future. Absent: never.
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentName {
    Development,
    Staging,
    Production,
}

/// Read as a string so that any other value, of any JSON type, is refused with the same
/// message naming the allowed values.
impl<'de> Deserialize<'de> for EnvironmentName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;

        impl serde::de::Visitor<'_> for Names {
            type Value = EnvironmentName;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one of development, staging, production")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<EnvironmentName, E> {
                match value {
                    "development" => Ok(EnvironmentName::Development),
                    "staging" => Ok(EnvironmentName::Staging),
                    "production" => Ok(EnvironmentName::Production),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(value), &self)),
                }
            }
        }

        deserializer.deserialize_str(Names)
    }
}

impl From<EnvironmentName> for Environment {
    fn from(name: EnvironmentName) -> Self {
        match name {
            EnvironmentName::Development => Environment::Development,
            EnvironmentName::Staging => Environment::Staging,
            EnvironmentName::Production => Environment::Production,
        }
    }
}

impl From<Environment> for EnvironmentName {
    fn from(environment: Environment) -> Self {
        match environment {
            Environment::Development => EnvironmentName::Development,
            Environment::Staging => EnvironmentName::Staging,
            Environment::Production => EnvironmentName::Production,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RotateKeyRequest {
    /// How long the old key keeps working, in seconds (default 0: revoked at once; at most
    /// 30 days).
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub grace_period_seconds: Option<i64>,
}

/// A new key; `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    pub id: String,
    /// The whole secret key, e.g. `tg_prod_…`. Store it now: it is never shown again.
    pub key: String,
    pub prefix: String,
    pub name: String,
    pub environment: EnvironmentName,
    pub organization_id: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl From<CreatedKey> for CreatedKeyView {
    fn from(created: CreatedKey) -> Self {
        Self {
            id: created.key.id.to_string(),
            key: created.secret.expose().to_owned(),
            prefix: created.key.prefix,
            name: created.key.name.as_str().to_owned(),
            environment: created.key.environment.into(),
            organization_id: created.key.organization_id.to_string(),
            created_at: created.key.created_at.into(),
            expires_at: created.key.expires_at.map(Timestamp::from),
        }
    }
}

/// A key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    /// The key's first characters, enough to recognise it.
    pub prefix: String,
    pub name: String,
    pub environment: EnvironmentName,
    pub created_by: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            prefix: key.prefix,
            name: key.name.as_str().to_owned(),
            environment: key.environment.into(),
            created_by: key.created_by.to_string(),
            created_at: key.created_at.into(),
            last_used_at: key.last_used_at.map(Timestamp::from),
            expires_at: key.expires_at.map(Timestamp::from),
            revoked_at: key.revoked_at.map(Timestamp::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// Create an API key for the organisation.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", params(OrganizationQuery), request_body = CreateKeyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Key created; `key` is shown only now", body = CreatedKeyView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation holds the maximum number of live keys", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field: name, environment or expiry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    OrganizationScope(organization): OrganizationScope,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    let created = state
        .keys
        .create(
            &principal,
            organization,
            &body.name,
            body.environment.into(),
            body.expires_at.map(Timestamp::into_inner),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List the organisation's keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(OrganizationQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The organisation's keys, newest first", body = KeyList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    OrganizationScope(organization): OrganizationScope,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.keys.list(&principal, organization).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Replace a key with a new secret; the old one works for the grace period, then fails.
#[utoipa::path(post, path = "/api/v1/keys/{id}/rotate", tag = "keys", params(("id" = String, Path, description = "Key id"), OrganizationQuery),
    request_body(content = Option<RotateKeyRequest>, description = "Optional: an empty body rotates without a grace period"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The replacement key; `key` is shown only now", body = CreatedKeyView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither the key's creator nor an organisation owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is already revoked or expired", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid grace period", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    OrganizationScope(organization): OrganizationScope,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    let id = key_id(&id)?;
    // The body is optional: none, or a JSON `null`, rotates with the defaults.
    let request: RotateKeyRequest =
        if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
            RotateKeyRequest::default()
        } else {
            parse_json_body(&headers, &body)?
        };
    let grace = chrono::Duration::try_seconds(request.grace_period_seconds.unwrap_or(0))
        .ok_or_else(|| {
            ApiError::validation("field \"grace_period_seconds\": out of range")
                .with_param(Some("grace_period_seconds".to_owned()))
        })?;
    let created = state
        .keys
        .rotate(&principal, organization, id, grace)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Revoke a key; it fails with 401 from the next request on, on every instance within 5 s.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", params(("id" = String, Path, description = "Key id"), OrganizationQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither the key's creator nor an organisation owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in the organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    OrganizationScope(organization): OrganizationScope,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .keys
        .revoke(&principal, organization, key_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A malformed id names no key: 404, like any other unknown key.
fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    raw.parse::<uuid::Uuid>()
        .map(ApiKeyId::from_uuid)
        .map_err(|_| ApiError::not_found("key not found"))
}
