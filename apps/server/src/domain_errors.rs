//! How each domain error becomes a problem response. Client mistakes keep their message;
//! faults become 5xx with the cause logged, never shown. A well-formed request with an invalid
//! field is `422 validation` naming the field, on every route (the OpenAI-compatible routes turn
//! it into a 400, see `ApiError::openai_style`).

use axum::http::StatusCode;
use tollgate_identity::{
    ChangePasswordError, InviteError, LoginError, LogoutError, ProfileError, RefreshError,
    SignupError,
};

use tollgate_keys::{CreateKeyError, ListKeysError, ManageKeyError};
use tollgate_quotas::{AdmitError, SourceLimitError};

use crate::rate_headers::{PolicyState, ceil_seconds, headers};

use crate::error::ApiError;
use crate::telemetry;

/// `422 validation` for the request field `field`, with the domain's reason.
fn invalid_field(field: &str, reason: &impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("field \"{field}\": {reason}")).with_param(Some(field.to_owned()))
}

impl From<SignupError> for ApiError {
    fn from(error: SignupError) -> Self {
        match error {
            SignupError::InvalidEmail(_) => invalid_field("email", &error),
            SignupError::InvalidPassword(_) => invalid_field("password", &error),
            SignupError::InvitationRequired => ApiError::forbidden(format!(
                "{error}: sign-up on this server is by invitation; an administrator creates one \
                 with POST /admin/invites"
            )),
            SignupError::EmailTaken => ApiError::conflict(error.to_string()),
            SignupError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => {
                telemetry::auth_failure("invalid_credentials");
                ApiError::unauthorized(error.to_string())
            }
            LoginError::LockedOut {
                retry_after_seconds,
            } => {
                telemetry::auth_failure("locked_out");
                ApiError::rate_limited(error.to_string(), retry_after_seconds)
            }
            LoginError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<SourceLimitError> for ApiError {
    fn from(error: SourceLimitError) -> Self {
        match error {
            SourceLimitError::Throttled {
                retry_after,
                attempt,
            } => {
                telemetry::source_refusal(attempt.as_str());
                ApiError::rate_limited(error.to_string(), ceil_seconds(retry_after))
            }
            SourceLimitError::Unavailable => ApiError::unavailable(error),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Invalid => {
                telemetry::auth_failure("invalid_refresh_token");
                ApiError::unauthorized(error.to_string())
            }
            RefreshError::Reused => {
                telemetry::auth_failure("reused_refresh_token");
                ApiError::unauthorized(error.to_string())
            }
            RefreshError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(error: LogoutError) -> Self {
        match error {
            LogoutError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::WrongPassword => ApiError::forbidden(error.to_string()),
            ChangePasswordError::InvalidPassword(_) => invalid_field("new_password", &error),
            ChangePasswordError::UnknownUser => ApiError::unauthorized(error.to_string()),
            ChangePasswordError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(error: InviteError) -> Self {
        match error {
            InviteError::Forbidden => ApiError::forbidden(error.to_string()),
            InviteError::InvalidEmail(_) => invalid_field("email", &error),
            InviteError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<tollgate_identity::AdministrationError> for ApiError {
    fn from(error: tollgate_identity::AdministrationError) -> Self {
        use tollgate_identity::AdministrationError;
        match error {
            AdministrationError::Forbidden => ApiError::forbidden(error.to_string()),
            AdministrationError::NotFound => ApiError::not_found(error.to_string()),
            AdministrationError::Store(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<tollgate_identity::OrganizationError> for ApiError {
    fn from(error: tollgate_identity::OrganizationError) -> Self {
        use tollgate_identity::OrganizationError;
        match error {
            OrganizationError::NotFound | OrganizationError::NotAMember => {
                ApiError::not_found(error.to_string())
            }
            OrganizationError::UnknownUser(_) => {
                ApiError::not_found(error.to_string()).with_param(Some("email".to_owned()))
            }
            OrganizationError::Forbidden(_) => ApiError::forbidden(error.to_string()),
            OrganizationError::Invalid { field, .. } => {
                ApiError::validation(error.to_string()).with_param(Some(field.to_owned()))
            }
            OrganizationError::Personal => ApiError::validation(error.to_string()),
            OrganizationError::AlreadyMember | OrganizationError::LastOwner => {
                ApiError::conflict(error.to_string())
            }
            OrganizationError::Store(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        match error {
            ProfileError::UnknownUser => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
            }
            ProfileError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<CreateKeyError> for ApiError {
    fn from(error: CreateKeyError) -> Self {
        match error {
            CreateKeyError::InvalidName(_) => invalid_field("name", &error),
            CreateKeyError::ExpiryInPast => invalid_field("expires_at", &"must be in the future"),
            CreateKeyError::OrganizationNotFound => ApiError::not_found(error.to_string()),
            CreateKeyError::CapReached { .. } => ApiError::conflict(error.to_string()),
            CreateKeyError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<ListKeysError> for ApiError {
    fn from(error: ListKeysError) -> Self {
        match error {
            ListKeysError::OrganizationNotFound => ApiError::not_found(error.to_string()),
            ListKeysError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<ManageKeyError> for ApiError {
    fn from(error: ManageKeyError) -> Self {
        match error {
            ManageKeyError::NotFound => ApiError::not_found(error.to_string()),
            ManageKeyError::Forbidden => ApiError::forbidden(error.to_string()),
            ManageKeyError::NotLive => ApiError::conflict(error.to_string()),
            ManageKeyError::InvalidGrace { max } => invalid_field(
                "grace_period_seconds",
                &format!("must be between 0 and {max}"),
            ),
            ManageKeyError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(error: AdmitError) -> Self {
        match error {
            AdmitError::OrganizationNotFound => ApiError::not_found(error.to_string()),
            AdmitError::Suspended => {
                ApiError::new(StatusCode::FORBIDDEN, "suspended", error.to_string())
            }
            AdmitError::ActionNotInPlan { .. } => ApiError::forbidden(error.to_string()),
            AdmitError::RateLimited { decision } => {
                let policy = PolicyState {
                    name: "minute".to_owned(),
                    quota: u64::from(decision.limit),
                    window_seconds: 60,
                    remaining: u64::from(decision.remaining),
                    reset: decision.reset_after,
                };
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    error.to_string(),
                )
                .retry_after(ceil_seconds(decision.retry_after))
                .with_headers(headers(&[policy]))
            }
            AdmitError::QuotaExceeded {
                action,
                limit,
                resets_at,
                ..
            } => {
                let until_reset = (resets_at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default();
                let policy = PolicyState {
                    name: format!("daily-{action}"),
                    quota: u64::from(limit),
                    window_seconds: 86_400,
                    remaining: 0,
                    reset: until_reset,
                };
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    error.to_string(),
                )
                .retry_after(ceil_seconds(until_reset))
                .with_headers(headers(&[policy]))
            }
            AdmitError::BudgetExceeded { .. } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "budget_exceeded",
                error.to_string(),
            ),
            AdmitError::KeyCapExceeded { .. } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "key_budget_exceeded",
                error.to_string(),
            ),
            AdmitError::OperatorCeilingReached { resets_at } => {
                tracing::warn!(
                    "the operator's monthly AI ceiling (quotas.operator_monthly_ceiling_micros) \
                     is reached: calls are refused until {resets_at}"
                );
                let retry_after = u64::try_from((resets_at - chrono::Utc::now()).num_seconds())
                    .unwrap_or(0)
                    .max(1);
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "capacity_exhausted",
                    error.to_string(),
                )
                .retry_after(retry_after)
            }
            AdmitError::LimiterUnavailable(cause) | AdmitError::Unexpected(cause) => {
                ApiError::unavailable(cause)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::response::IntoResponse;
    use tollgate_kernel::Micros;
    use tollgate_quotas::{Action, RateDecision};

    use super::*;

    async fn problem(error: AdmitError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = ApiError::from(error).into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn rate_limited_is_429_with_retry_after_and_ratelimit_headers() {
        let decision = RateDecision {
            allowed: false,
            limit: 30,
            remaining: 0,
            retry_after: Duration::from_millis(1_500),
            reset_after: Duration::from_millis(11_200),
        };
        let (status, headers, body) = problem(AdmitError::RateLimited { decision }).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["type"], "rate_limited");
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["ratelimit-policy"], "\"minute\";q=30;w=60");
        assert_eq!(headers["ratelimit"], "\"minute\";r=0;t=12");
        assert_eq!(headers["content-type"], "application/problem+json");
    }

    #[tokio::test]
    async fn quota_exceeded_is_429_until_the_reset() {
        let resets_at = chrono::Utc::now() + chrono::Duration::seconds(3_600);
        let (status, headers, body) = problem(AdmitError::QuotaExceeded {
            action: Action::Analysis,
            limit: 5,
            used: 5,
            resets_at,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["type"], "quota_exceeded");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((3_595..=3_601).contains(&retry), "{retry}");
        assert_eq!(
            headers["ratelimit-policy"],
            "\"daily-analysis\";q=5;w=86400"
        );
        assert!(
            headers["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with("\"daily-analysis\";r=0;t=")
        );
    }

    #[tokio::test]
    async fn budget_suspension_and_plan_refusals_have_their_types() {
        let budget = AdmitError::BudgetExceeded {
            limit: Micros::new(1),
            spent: Micros::new(1),
            reserved: Micros::ZERO,
            resets_at: chrono::Utc::now(),
        };
        let (status, _, body) = problem(budget).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (StatusCode::PAYMENT_REQUIRED, "budget_exceeded")
        );
        let (status, _, body) = problem(AdmitError::Suspended).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, "suspended")
        );
        let (status, _, body) = problem(AdmitError::ActionNotInPlan {
            action: Action::Chat,
            plan: "free".into(),
        })
        .await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
        let (status, _, _) = problem(AdmitError::LimiterUnavailable("down".into())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
