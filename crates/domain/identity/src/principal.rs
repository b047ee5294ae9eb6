use tollgate_kernel::{ApiKeyId, OrganizationId, UserId};

use crate::models::{Role, SessionId};

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Bearer <access token>`.
    AccessToken,
    /// `Authorization: Bearer tg_...`.
    ApiKey,
    /// `X-Api-Key: <service key>` plus a user's access token (legacy front-end mode).
    ServiceKey,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who is calling (for an API key: the user who created it).
    pub user_id: UserId,
    /// The organisation the call acts for and is metered against.
    pub organization_id: OrganizationId,
    /// The caller's operator-wide role.
    pub role: Role,
    /// The login session behind an access token; `None` for an API key.
    pub session_id: Option<SessionId>,
    /// The API key used; `None` for an access token.
    pub key_id: Option<ApiKeyId>,
    /// How the caller proved who it is.
    pub method: AuthMethod,
}

impl Principal {
    /// Whether the caller is the operator's administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
