use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, UserId};

use crate::email::EmailAddress;
use crate::password::PasswordHash;
use crate::secret::{OpaqueToken, TokenHash};

/// Operator-wide role. `Admin` runs the deployment (invites, suspensions, statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// A member's role inside one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganizationRole {
    Owner,
    Admin,
    Member,
}

impl OrganizationRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationRole::Owner => "owner",
            OrganizationRole::Admin => "admin",
            OrganizationRole::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(OrganizationRole::Owner),
            "admin" => Some(OrganizationRole::Admin),
            "member" => Some(OrganizationRole::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// What login needs to know about a user: the user and the stored password hash.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: PasswordHash,
    pub personal_organization: OrganizationId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    /// The plan's configuration id (`free`, `pro`, `enterprise`).
    pub plan: String,
    pub personal: bool,
    pub created_at: DateTime<Utc>,
}

/// A user together with their personal organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    pub organization: Organization,
}

/// Everything needed to create a user and their personal organisation in one step.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user_id: UserId,
    pub email: EmailAddress,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

/// An invitation as handed to the admin who created it; the token appears only here.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    pub email: EmailAddress,
    pub token: OpaqueToken,
    pub expires_at: DateTime<Utc>,
}

tollgate_kernel::uuid_id!(
    /// One login: the family of refresh tokens that descend from it by rotation.
    SessionId);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: TokenHash,
    pub session_id: SessionId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
}

/// Failed logins for one e-mail inside the lockout window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    pub count: u32,
    pub oldest: Option<DateTime<Utc>>,
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: OpaqueToken,
    pub expires_in_seconds: i64,
    pub session_id: SessionId,
}
