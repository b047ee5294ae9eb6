//! How each domain error becomes a problem response. Client mistakes keep their message;
//! faults become 5xx with the cause logged, never shown.

use axum::http::StatusCode;
use tollgate_identity::{
    ChangePasswordError, InviteError, LoginError, LogoutError, ProfileError, RefreshError,
    SignupError,
};

use tollgate_keys::{CreateKeyError, ListKeysError, ManageKeyError};

use crate::error::ApiError;

impl From<SignupError> for ApiError {
    fn from(error: SignupError) -> Self {
        match error {
            SignupError::InvalidEmail(_) | SignupError::InvalidPassword(_) => {
                ApiError::validation(error.to_string())
            }
            SignupError::InvitationRequired => ApiError::forbidden(error.to_string()),
            SignupError::EmailTaken => ApiError::conflict(error.to_string()),
            SignupError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiError::unauthorized(error.to_string()),
            LoginError::LockedOut {
                retry_after_seconds,
            } => ApiError::rate_limited(error.to_string(), retry_after_seconds),
            LoginError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Invalid | RefreshError::Reused => {
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
            ChangePasswordError::InvalidPassword(_) => ApiError::validation(error.to_string()),
            ChangePasswordError::UnknownUser => ApiError::unauthorized(error.to_string()),
            ChangePasswordError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(error: InviteError) -> Self {
        match error {
            InviteError::Forbidden => ApiError::forbidden(error.to_string()),
            InviteError::InvalidEmail(_) => ApiError::validation(error.to_string()),
            InviteError::Unexpected(cause) => ApiError::unavailable(cause),
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
            CreateKeyError::InvalidName(_) | CreateKeyError::ExpiryInPast => {
                ApiError::validation(error.to_string())
            }
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
            ManageKeyError::InvalidGrace { .. } => ApiError::validation(error.to_string()),
            ManageKeyError::Unexpected(cause) => ApiError::unavailable(cause),
        }
    }
}
