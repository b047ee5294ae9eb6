use tollgate_kernel::{OrganizationId, UserId};
use uuid::Uuid;

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
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub role: Role,
    pub session_id: Option<SessionId>,
    pub key_id: Option<Uuid>,
    pub method: AuthMethod,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
