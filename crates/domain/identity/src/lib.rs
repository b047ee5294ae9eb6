//! Identity domain of Tollgate: who the caller is.
//!
//! Users, their personal organisations, invitations, argon2id passwords, short-lived access tokens
//! (HS256 JWT) and opaque refresh tokens grouped in families that rotate and detect reuse. The
//! rules live in [`IdentityService`] and [`AccessTokenVerifier`]; storage is reached only through
//! the port traits in [`ports`], which the SQL adapter implements.

mod access_token;
mod admin;
mod email;
mod errors;
mod models;
mod password;
pub mod ports;
mod principal;
mod revocation;
mod secret;
mod service;
mod verifier;

pub use access_token::{AccessClaims, AccessTokenCodec, AccessTokenError, JwtSecret};
pub use admin::{AdminAccounts, AdminReset, ConfiguredAdmin};
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
pub use password::{Argon2Passwords, Password, PasswordError, PasswordHash};
pub use principal::{AuthMethod, Principal};
pub use revocation::RevocationList;
pub use secret::{OpaqueToken, TokenHash};
pub use service::{IdentityPolicy, IdentityService, SignupMode};
pub use verifier::{AccessTokenVerifier, AuthError};
