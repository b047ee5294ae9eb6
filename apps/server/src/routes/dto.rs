//! Response bodies shared by several routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tollgate_identity::{Account, Organization, TokenPair, User};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    /// `admin` or `user` (operator-wide).
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            role: user.role.as_str().to_owned(),
            created_at: user.created_at,
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
            plan: organization.plan.clone(),
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
