//! Identity domain of Tollgate: who the caller is.
//!
//! Users, their personal organisations, invitations, argon2id passwords, short-lived access tokens
//! (HS256 JWT) and opaque refresh tokens grouped in families that rotate and detect reuse. The
//! rules live in [`IdentityService`] and [`AccessTokenVerifier`]; storage is reached only through
//! the port traits in [`ports`], which the SQL adapter implements.
//!
//! - [`IdentityService`]: sign-up, login with a lockout per e-mail and client address, refresh
//!   rotation with reuse detection, logout, password change and invitations.
//! - [`AdminAccounts`]: the operator's administrator, from configuration or `create-admin`.
//! - [`AccessTokenCodec`] issues and checks the JWTs; [`AccessTokenVerifier`] turns one into a
//!   [`Principal`] against the in-memory [`RevocationList`], with no storage round trip.
//! - [`EmailAddress`], [`Password`]: parsed, never merely validated.
//!
//! # Ports
//!
//! - [`ports::AccountRepository`]: users and their personal organisations.
//! - [`ports::InvitationRepository`]: sign-up invitations.
//! - [`ports::SessionRepository`]: login sessions and their refresh tokens.
//! - [`ports::LoginAttemptLog`]: failed logins, for the lockout.
//! - [`ports::PasswordHasher`]: argon2id off the async executor ([`Argon2Passwords`] does the
//!   work).
//! - [`Clock`](tollgate_kernel::Clock), from the kernel.
//!
//! With the `mocks` feature each port has a `mockall` double (`ports::MockAccountRepository`, …).
//!
//! # Example
//!
//! Parsing input, then issuing an access token and verifying it until its session is revoked:
//!
//! ```
//! use std::sync::Arc;
//!
//! use chrono::{Duration, Utc};
//! use tollgate_identity::{
//!     AccessTokenCodec, AccessTokenVerifier, AuthError, AuthMethod, EmailAddress, JwtSecret,
//!     Password, PasswordError, RevocationList, Role, SessionId,
//! };
//! use tollgate_kernel::{OrganizationId, UserId};
//!
//! let email = EmailAddress::parse("  Alice@Example.COM ")?;
//! assert_eq!(email.as_str(), "alice@example.com");
//! assert!(matches!(Password::parse("short"), Err(PasswordError::TooShort { min: 10 })));
//!
//! let secret = JwtSecret::new(b"a development key of 32 bytes!!!".to_vec())?;
//! let codec = AccessTokenCodec::new(&secret, "tollgate", "tollgate-api", Duration::minutes(15));
//! let revocations = Arc::new(RevocationList::new());
//! let verifier = AccessTokenVerifier::new(codec.clone(), Arc::clone(&revocations));
//!
//! let (user, organization, session) = (UserId::new(), OrganizationId::new(), SessionId::new());
//! let token = codec.issue(user, organization, Role::User, session, Utc::now())?;
//! let caller = verifier.verify(&token)?;
//! assert_eq!((caller.user_id, caller.organization_id), (user, organization));
//! assert_eq!(caller.method, AuthMethod::AccessToken);
//!
//! revocations.insert(session); // logout
//! assert_eq!(verifier.verify(&token), Err(AuthError::Revoked));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod access_token;
mod admin;
mod administration;
mod email;
mod errors;
mod models;
mod organizations;
mod password;
pub mod ports;
mod principal;
mod revocation;
mod secret;
mod service;
mod verifier;

pub use access_token::{AccessClaims, AccessTokenCodec, AccessTokenError, JwtSecret};
pub use admin::{AdminAccounts, AdminReset, ConfiguredAdmin};
pub use administration::{
    Administration, AdministrationError, AuditEntry, MAX_AUDIT_ENTRIES, OrganizationAdmin,
};
pub use email::{EmailAddress, EmailError};
pub use errors::{
    ChangePasswordError, EnsureAdminError, InviteError, LoginError, LogoutError, ProfileError,
    RefreshError, SignupError, StoreError,
};
pub use models::{
    Account, IssuedInvitation, LoginFailures, LoginSource, NewAccount, Organization,
    OrganizationRole, RefreshTokenRecord, Role, SessionId, SessionRecord, TokenPair, User,
    UserCredentials,
};
pub use organizations::{
    Added, ChangeOutcome, MAX_ORGANIZATION_NAME, Member, Membership, MembershipChange,
    OrganizationError, OrganizationRepository, Organizations, TeamInvitations,
};
pub use password::{Argon2Passwords, Password, PasswordError, PasswordHash};
pub use principal::{AuthMethod, Principal};
pub use revocation::RevocationList;
pub use secret::{OpaqueToken, TokenHash};
pub use service::{IdentityPolicy, IdentityService, SignupMode};
pub use verifier::{AccessTokenVerifier, AuthError};
