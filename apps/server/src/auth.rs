//! The one authentication extractor: turns the request's credentials into a [`Principal`].
//!
//! - `Authorization: Bearer <access token>` (a JWT);
//! - `Authorization: Bearer tg_…` (an API key; also accepted alone in `X-Api-Key`);
//! - legacy server mode: `X-Api-Key: <service key>` with `Authorization: Bearer <access token>`,
//!   for a trusted front-end server acting for its logged-in user.
//!
//! Every failure is a 401 problem (403 `suspended` for a suspended organisation), decided before
//! any storage is touched where the credential's shape already tells it is wrong.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_identity::{AuthError, AuthMethod, Principal};
use tollgate_keys::KeyAuthError;

use crate::error::ApiError;
use crate::request_log::RequestCaller;
use crate::state::AppState;
use crate::telemetry;

/// Longest credential we look at; anything longer is rejected unread.
const MAX_CREDENTIAL_LEN: usize = 4096;
pub const API_KEY_PREFIX: &str = "tg_";
pub const SERVICE_KEY_HEADER: &str = "x-api-key";

/// The authenticated caller. Use it as a handler argument to require authentication.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// A suspended organisation's keys and tokens are refused on every route. The plan read is
/// cached (a second), so this costs no round trip on the hot path; the operator's own access
/// tokens pass, so an administrator can always lift a suspension.
async fn refuse_suspended(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    if principal.is_admin() && principal.method != AuthMethod::ApiKey {
        return Ok(());
    }
    match state.metering.plan_of(principal.organization_id).await {
        Err(error @ tollgate_quotas::AdmitError::Suspended) => Err(error.into()),
        // Any other failure is the route's to meet: it reads storage itself.
        _ => Ok(()),
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<RequestCaller>().cloned();
        match authenticate(parts, state, caller.as_ref()).await {
            Ok(principal) => {
                if let Some(caller) = caller {
                    caller.record(principal.organization_id);
                }
                Ok(Authenticated(principal))
            }
            Err(Refusal { reason, error }) => {
                telemetry::auth_failure(reason);
                Err(*error)
            }
        }
    }
}

/// A refused credential: the answer, and the reason operators see in
/// `tollgate_auth_failures_total`.
struct Refusal {
    reason: &'static str,
    error: Box<ApiError>,
}

fn refuse(reason: &'static str, detail: &'static str) -> Refusal {
    Refusal {
        reason,
        error: Box::new(ApiError::unauthorized(detail)),
    }
}

/// Malformed headers are refused as such.
fn malformed(error: ApiError) -> Refusal {
    Refusal {
        reason: "malformed",
        error: Box::new(error),
    }
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    caller: Option<&RequestCaller>,
) -> Result<Principal, Refusal> {
    let authorization = bearer(&parts.headers).map_err(malformed)?;
    let x_api_key = header_text(&parts.headers, SERVICE_KEY_HEADER).map_err(malformed)?;
    let principal = match (authorization, x_api_key) {
        (None, None) => {
            return Err(refuse(
                "missing",
                "missing Authorization: Bearer credential",
            ));
        }
        (None, Some(key)) if key.starts_with(API_KEY_PREFIX) => api_key(state, key, caller).await?,
        (None, Some(_)) => {
            return Err(refuse(
                "malformed",
                "X-Api-Key needs a user access token in Authorization: Bearer",
            ));
        }
        (Some(credential), None) if credential.starts_with(API_KEY_PREFIX) => {
            api_key(state, credential, caller).await?
        }
        (Some(token), None) => access_token(state, token)?,
        (Some(token), Some(service_key)) => {
            if !state.service_keys.accepts(service_key) {
                return Err(refuse("invalid_service_key", "service key is invalid"));
            }
            if token.starts_with(API_KEY_PREFIX) {
                return Err(refuse(
                    "malformed",
                    "server mode needs a user access token, not an API key",
                ));
            }
            Principal {
                method: AuthMethod::ServiceKey,
                ..access_token(state, token)?
            }
        }
    };
    refuse_suspended(state, &principal)
        .await
        .map_err(|error| Refusal {
            reason: "suspended",
            error: Box::new(error),
        })?;
    Ok(principal)
}

fn access_token(state: &AppState, token: &str) -> Result<Principal, Refusal> {
    state.verifier.verify(token).map_err(|e| match e {
        AuthError::Expired => refuse("expired_token", "access token has expired"),
        AuthError::Revoked => refuse("revoked_token", "access token has been revoked"),
        AuthError::Invalid => refuse("invalid_token", "access token is invalid"),
    })
}

async fn api_key(
    state: &AppState,
    key: &str,
    caller: Option<&RequestCaller>,
) -> Result<Principal, Refusal> {
    let principal = state.keys.authenticate(key).await.map_err(|e| match e {
        KeyAuthError::Suspended => Refusal {
            reason: "suspended",
            error: Box::new(ApiError::new(
                StatusCode::FORBIDDEN,
                "suspended",
                e.to_string(),
            )),
        },
        KeyAuthError::Unexpected(cause) => Refusal {
            reason: "unavailable",
            error: Box::new(ApiError::unavailable(cause)),
        },
        KeyAuthError::Malformed | KeyAuthError::Unknown => {
            refuse("invalid_api_key", "API key is invalid")
        }
        KeyAuthError::Revoked => Refusal {
            reason: "revoked_api_key",
            error: Box::new(ApiError::unauthorized(e.to_string())),
        },
        KeyAuthError::Expired => Refusal {
            reason: "expired_api_key",
            error: Box::new(ApiError::unauthorized(e.to_string())),
        },
    })?;
    if let (Some(caller), Some(prefix)) = (caller, display_prefix(key)) {
        caller.record_key_prefix(prefix);
    }
    Ok(principal)
}

/// The part of an accepted key that its owner sees in key lists (`tg_prod_a1B2c3`): its tag and
/// the first six characters of the secret, which identify it without revealing it.
fn display_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let tag_end = API_KEY_PREFIX.len() + rest.find('_')? + 1;
    key.get(..tag_end + 6)
}

/// The credential of `Authorization: Bearer <credential>`, if the header is present.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = header_text(headers, AUTHORIZATION.as_str())? else {
        return Ok(None);
    };
    let (scheme, credential) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <credential>"))?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <credential>",
        ));
    }
    Ok(Some(credential))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(ApiError::unauthorized("credential is too long"));
    }
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("credential is not ASCII"))?;
    Ok(Some(text.trim()))
}

/// The configured legacy service keys, compared in constant time.
pub struct ServiceKeys {
    digests: Vec<[u8; 32]>,
}

impl ServiceKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        let digests = keys.iter().map(|k| digest(k.expose_secret())).collect();
        Self { digests }
    }

    /// Compares digests (equal length, so no length leak) against every configured key without
    /// stopping at the first match.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.ct_eq(&presented)
            })
            .into()
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefix_is_the_tag_and_six_characters_of_the_secret() {
        assert_eq!(
            display_prefix("tg_prod_a1B2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8"),
            Some("tg_prod_a1B2c3")
        );
        assert_eq!(display_prefix("tg_prod_abc"), None);
        assert_eq!(display_prefix("sk-not-ours"), None);
    }

    #[test]
    fn service_keys_accept_only_configured_keys() {
        let keys = ServiceKeys::new(&[
            SecretString::from("front-end-key-1"),
            SecretString::from("second"),
        ]);
        assert!(keys.accepts("front-end-key-1"));
        assert!(keys.accepts("second"));
        assert!(!keys.accepts("front-end-key-2"));
        assert!(!keys.accepts(""));
        assert!(!ServiceKeys::new(&[]).accepts("anything"));
    }
}
