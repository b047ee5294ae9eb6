use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, PlanId, UserId};

use crate::email::EmailAddress;
use crate::password::PasswordHash;
use crate::secret::{OpaqueToken, TokenHash};

/// Operator-wide role. `Admin` runs the deployment (invites, suspensions, statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The operator's administrator.
    Admin,
    /// Everyone else.
    User,
}

impl Role {
    /// The spelling in storage and in access tokens: `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// The role spelt `raw` as [`as_str`](Self::as_str) writes it; `None` for anything else.
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
    /// Holds the organisation; a user owns their personal one. Manages every key.
    Owner,
    /// Manages every key of the organisation, like the owner.
    Admin,
    /// Uses the organisation; manages only the keys they created.
    Member,
}

impl OrganizationRole {
    /// The spelling in storage: `owner`, `admin` or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationRole::Owner => "owner",
            OrganizationRole::Admin => "admin",
            OrganizationRole::Member => "member",
        }
    }

    /// The role spelt `raw` as [`as_str`](Self::as_str) writes it; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(OrganizationRole::Owner),
            "admin" => Some(OrganizationRole::Admin),
            "member" => Some(OrganizationRole::Member),
            _ => None,
        }
    }
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Their login, unique across the deployment.
    pub email: EmailAddress,
    /// Operator-wide role.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// What login needs to know about a user: the user and the stored password hash.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Their stored password hash.
    pub password_hash: PasswordHash,
    /// The organisation a login acts for.
    pub personal_organization: OrganizationId,
}

/// A tenant: keys, usage, quotas and its plan belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: OrganizationId,
    /// Display name (a personal organisation is named after its user).
    pub name: String,
    /// The plan's configuration id (`free`, `pro`, `enterprise`).
    pub plan: PlanId,
    /// Whether this is a user's personal organisation, created with their account.
    pub personal: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A user together with their personal organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user.
    pub user: User,
    /// Their personal organisation.
    pub organization: Organization,
}

/// Everything needed to create a user and their personal organisation in one step.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The new user's id.
    pub user_id: UserId,
    /// Their login; storage refuses a second account with it.
    pub email: EmailAddress,
    /// Hash of their password.
    pub password_hash: PasswordHash,
    /// Operator-wide role.
    pub role: Role,
    /// Id of their personal organisation.
    pub organization_id: OrganizationId,
    /// Name of their personal organisation.
    pub organization_name: String,
    /// Plan id of their personal organisation.
    pub plan: PlanId,
    /// When the account is created; also the organisation's creation time.
    pub created_at: DateTime<Utc>,
}

/// An invitation as handed to the admin who created it; the token appears only here.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    /// Who may sign up with it.
    pub email: EmailAddress,
    /// The secret to hand to the invitee; only its hash is stored.
    pub token: OpaqueToken,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

tollgate_kernel::uuid_id!(
    /// One login: the family of refresh tokens that descend from it by rotation.
    SessionId);

/// A login session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id, carried in every access token of the session (`sid`).
    pub id: SessionId,
    /// Who logged in.
    pub user_id: UserId,
    /// The organisation the session's tokens act for.
    pub organization_id: OrganizationId,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// When it was revoked (logout, reuse, password change); `None` while live.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A refresh token as stored: by hash, never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Hash of the token.
    pub hash: TokenHash,
    /// The session (family) it belongs to.
    pub session_id: SessionId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for a new pair; presenting it again after that is reuse.
    pub consumed_at: Option<DateTime<Utc>>,
}

/// Where a login attempt came from: the client's address. An IPv6 client is counted by its /64
/// network, since one host commonly holds a whole /64 and could otherwise rotate addresses to
/// get a fresh allowance per address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginSource(String);

impl LoginSource {
    /// The source of a client at `ip`: the address itself for IPv4 (and IPv4-mapped IPv6), its
    /// /64 network for IPv6.
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

    /// The source as stored: an IPv4 address, an IPv6 `/64` network or `unknown`.
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
    /// How many.
    pub count: u32,
    /// When the oldest of them happened; the lockout ends when it leaves the window.
    pub oldest: Option<DateTime<Utc>>,
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// A signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The secret to exchange for the next pair; single use.
    pub refresh_token: OpaqueToken,
    /// Lifetime of the access token.
    pub expires_in_seconds: i64,
    /// The session both tokens belong to.
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
