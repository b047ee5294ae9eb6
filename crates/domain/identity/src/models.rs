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

/// Where a login attempt came from: the client's address. An IPv6 client is counted by its /64
/// network, since one host commonly holds a whole /64 and could otherwise rotate addresses to
/// get a fresh allowance per address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginSource(String);

impl LoginSource {
    pub fn from_ip(ip: std::net::IpAddr) -> Self {
        match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => Self(v4.to_string()),
            std::net::IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                Self(format!("{}/64", std::net::Ipv6Addr::from(network)))
            }
        }
    }

    /// For callers that cannot tell (an embedding service without a peer address): all such
    /// attempts share one allowance per e-mail.
    pub fn unknown() -> Self {
        Self("unknown".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LoginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Failed logins for one e-mail from one source inside the lockout window.
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

#[cfg(test)]
mod login_source_tests {
    use super::LoginSource;

    #[test]
    fn ipv4_is_kept_whole_and_ipv4_mapped_ipv6_is_the_same_source() {
        let v4 = LoginSource::from_ip("203.0.113.7".parse().unwrap());
        assert_eq!(v4.as_str(), "203.0.113.7");
        assert_eq!(
            LoginSource::from_ip("::ffff:203.0.113.7".parse().unwrap()),
            v4
        );
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_source() {
        let a = LoginSource::from_ip("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = LoginSource::from_ip("2001:db8:1:2:ffff:1:2:3".parse().unwrap());
        let other = LoginSource::from_ip("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
        assert_ne!(a, other);
    }
}
