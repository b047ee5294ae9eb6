use std::sync::Arc;

use crate::access_token::{AccessTokenCodec, AccessTokenError};
use crate::models::Role;
use crate::principal::{AuthMethod, Principal};
use crate::revocation::RevocationList;

/// Why [`AccessTokenVerifier::verify`] refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Malformed, forged, of the wrong type, issuer or audience, or with an unknown role.
    #[error("access token is invalid")]
    Invalid,
    /// Past its expiry (beyond the leeway).
    #[error("access token has expired")]
    Expired,
    /// Its session was logged out, reused or ended by a password change.
    #[error("the session of this access token has been revoked")]
    Revoked,
}

/// Turns an access token into a [`Principal`] without touching storage: signature and claims
/// are checked by the codec, revocation against the in-memory [`RevocationList`].
#[derive(Clone)]
pub struct AccessTokenVerifier {
    codec: AccessTokenCodec,
    revocations: Arc<RevocationList>,
}

impl AccessTokenVerifier {
    /// A verifier that decodes with `codec` and checks `revocations`, shared with the service
    /// that revokes and the task that reloads it.
    pub fn new(codec: AccessTokenCodec, revocations: Arc<RevocationList>) -> Self {
        Self { codec, revocations }
    }

    /// The caller an access token stands for.
    ///
    /// # Errors
    ///
    /// [`AuthError`] says which check failed.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.codec.decode(token).map_err(|e| match e {
            AccessTokenError::Expired => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
        let role = Role::parse(&claims.role).ok_or(AuthError::Invalid)?;
        if self.revocations.is_revoked(claims.session_id()) {
            return Err(AuthError::Revoked);
        }
        Ok(Principal {
            user_id: claims.user_id(),
            organization_id: claims.organization_id(),
            role,
            session_id: Some(claims.session_id()),
            key_id: None,
            method: AuthMethod::AccessToken,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_token::JwtSecret;
    use crate::models::SessionId;
    use chrono::{Duration, Utc};
    use tollgate_kernel::{OrganizationId, UserId};

    #[test]
    fn revoked_session_fails_even_with_a_valid_signature() {
        let codec = AccessTokenCodec::new(
            &JwtSecret::new(vec![1; 32]).unwrap(),
            "i",
            "a",
            Duration::minutes(15),
        );
        let revocations = Arc::new(RevocationList::new());
        let verifier = AccessTokenVerifier::new(codec.clone(), revocations.clone());
        let (user, org, session) = (UserId::new(), OrganizationId::new(), SessionId::new());
        let token = codec
            .issue(user, org, Role::User, session, Utc::now())
            .unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.user_id, user);
        assert_eq!(principal.organization_id, org);
        assert_eq!(principal.method, AuthMethod::AccessToken);
        revocations.insert(session);
        assert_eq!(verifier.verify(&token), Err(AuthError::Revoked));
        assert_eq!(verifier.verify("garbage"), Err(AuthError::Invalid));
    }
}
