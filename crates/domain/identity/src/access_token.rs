use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use tollgate_kernel::{OrganizationId, UserId};
use uuid::Uuid;

use crate::models::{Role, SessionId};

/// The `typ` header of our access tokens (RFC 9068), checked on decode so that no other kind of
/// JWT signed with the same key (RFC 8725 §3.11) is accepted as one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The HMAC key that signs access tokens. At least 32 bytes.
#[derive(Clone)]
pub struct JwtSecret(SecretSlice<u8>);

impl JwtSecret {
    /// The shortest key accepted: 256 bits, the output size of HS256 (RFC 7518 §3.2).
    pub const MIN_BYTES: usize = 32;

    /// The key from its raw bytes.
    ///
    /// # Errors
    ///
    /// [`AccessTokenError::WeakSecret`] when shorter than [`Self::MIN_BYTES`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, AccessTokenError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(AccessTokenError::WeakSecret);
        }
        Ok(Self(SecretSlice::from(bytes)))
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user ([`UserId`]).
    pub sub: Uuid,
    /// The organisation the token acts for ([`OrganizationId`]).
    pub org: Uuid,
    /// The operator-wide [`Role`], spelt as [`Role::as_str`] does.
    pub role: String,
    /// The login session (refresh-token family) this token belongs to.
    pub sid: Uuid,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, in seconds since the Unix epoch: `iat` plus the codec's TTL.
    pub exp: i64,
    /// A random id (UUID v4), so that no two tokens are equal.
    pub jti: Uuid,
    /// Who issued the token; checked on decode.
    pub iss: String,
    /// Who the token is for; checked on decode.
    pub aud: String,
}

impl AccessClaims {
    /// `sub` as a [`UserId`].
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.sub)
    }

    /// `org` as an [`OrganizationId`].
    pub fn organization_id(&self) -> OrganizationId {
        OrganizationId::from_uuid(self.org)
    }

    /// `sid` as a [`SessionId`].
    pub fn session_id(&self) -> SessionId {
        SessionId::from_uuid(self.sid)
    }
}

/// Why an access token could not be issued or was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// The signing key is shorter than [`JwtSecret::MIN_BYTES`].
    #[error("the JWT secret must be at least 32 bytes")]
    WeakSecret,
    /// Malformed, badly signed, of another algorithm or type, or for another issuer or audience.
    #[error("access token is malformed, forged or of the wrong type")]
    Invalid,
    /// Past its expiry by more than [`AccessTokenCodec::LEEWAY_SECONDS`].
    #[error("access token has expired")]
    Expired,
    /// The JWT library could not sign the claims.
    #[error("signing the access token failed")]
    Signing,
}

/// Issues and checks HS256 access tokens with a pinned algorithm, issuer, audience and type.
///
/// Tokens are signed with the current secret only; while a secret is being rotated the codec
/// also verifies tokens signed with the secrets it replaced ([`with_previous`](Self::with_previous)),
/// so that sessions survive the rotation until those tokens expire.
#[derive(Clone)]
pub struct AccessTokenCodec {
    encoding: EncodingKey,
    /// The current secret's key first, then each previous secret's.
    decoding: Vec<DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl AccessTokenCodec {
    /// Clock skew tolerated on `exp`; jsonwebtoken's default of 60 s would let a 15-minute token
    /// live 16.
    pub const LEEWAY_SECONDS: u64 = 5;

    /// A codec that signs with `secret`, stamps and requires `issuer` and `audience`, and issues
    /// tokens that live `ttl`.
    pub fn new(secret: &JwtSecret, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let key = secret.0.expose_secret();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = Self::LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: vec![DecodingKey::from_secret(key)],
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// The same codec, also accepting tokens signed with `previous` secrets (those a rotation
    /// replaced). New tokens are still signed with the current secret only; a token signed
    /// with a previous secret passes every other check as usual, expiry included, so it
    /// works at most until it expires (the access-token TTL).
    #[must_use]
    pub fn with_previous(mut self, previous: &[JwtSecret]) -> Self {
        self.decoding.extend(
            previous
                .iter()
                .map(|secret| DecodingKey::from_secret(secret.0.expose_secret())),
        );
        self
    }

    /// How long an issued token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `user` acting for `organization` in login `session`, issued at `now`
    /// and expiring [`ttl`](Self::ttl) later.
    ///
    /// # Errors
    ///
    /// [`AccessTokenError::Signing`] when signing fails.
    pub fn issue(
        &self,
        user: UserId,
        organization: OrganizationId,
        role: Role,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<String, AccessTokenError> {
        let claims = AccessClaims {
            sub: user.as_uuid(),
            org: organization.as_uuid(),
            role: role.as_str().to_owned(),
            sid: session.as_uuid(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            jti: Uuid::new_v4(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|_| AccessTokenError::Signing)
    }

    /// Verifies signature, algorithm, type, issuer, audience and expiry (against the system
    /// clock, with [`Self::LEEWAY_SECONDS`]). The signature may be the current secret's or a
    /// previous one's.
    ///
    /// # Errors
    ///
    /// [`AccessTokenError::Expired`] past expiry; [`AccessTokenError::Invalid`] for every other
    /// failed check.
    pub fn decode(&self, token: &str) -> Result<AccessClaims, AccessTokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::Invalid)?;
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE));
        if header.alg != Algorithm::HS256 || !typ_ok {
            return Err(AccessTokenError::Invalid);
        }
        // The signature is checked before the claims: a key that did not sign the token fails
        // with `InvalidSignature` and the next key is tried; any other failure is the token's.
        for key in &self.decoding {
            match jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {}
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        return Err(AccessTokenError::Expired);
                    }
                    _ => return Err(AccessTokenError::Invalid),
                },
            }
        }
        Err(AccessTokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn secret() -> JwtSecret {
        JwtSecret::new(vec![7u8; 32]).unwrap()
    }

    fn codec() -> AccessTokenCodec {
        AccessTokenCodec::new(&secret(), "tollgate", "tollgate-api", Duration::minutes(15))
    }

    fn issue_now(codec: &AccessTokenCodec) -> String {
        codec
            .issue(
                UserId::new(),
                OrganizationId::new(),
                Role::User,
                SessionId::new(),
                Utc::now(),
            )
            .unwrap()
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn round_trip_keeps_every_claim() {
        let codec = codec();
        let (user, org, session) = (UserId::new(), OrganizationId::new(), SessionId::new());
        let now = Utc::now();
        let token = codec.issue(user, org, Role::Admin, session, now).unwrap();
        let claims = codec.decode(&token).unwrap();
        assert_eq!(claims.user_id(), user);
        assert_eq!(claims.organization_id(), org);
        assert_eq!(claims.session_id(), session);
        assert_eq!(claims.role, "admin");
        assert_eq!(claims.exp - claims.iat, 900);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtSecret::new(vec![1u8; 31]),
            Err(AccessTokenError::WeakSecret)
        ));
    }

    #[test]
    fn expired_beyond_leeway_is_rejected_within_leeway_accepted() {
        let codec = codec();
        let old = Utc::now() - Duration::minutes(15) - Duration::seconds(30);
        let token = codec
            .issue(
                UserId::new(),
                OrganizationId::new(),
                Role::User,
                SessionId::new(),
                old,
            )
            .unwrap();
        assert_eq!(codec.decode(&token), Err(AccessTokenError::Expired));
        let recent = Utc::now() - Duration::minutes(15) - Duration::seconds(2);
        let token = codec
            .issue(
                UserId::new(),
                OrganizationId::new(),
                Role::User,
                SessionId::new(),
                recent,
            )
            .unwrap();
        assert!(codec.decode(&token).is_ok());
    }

    #[test]
    fn other_key_issuer_or_audience_is_rejected() {
        let token = issue_now(&codec());
        let other_key = AccessTokenCodec::new(
            &JwtSecret::new(vec![8u8; 32]).unwrap(),
            "tollgate",
            "tollgate-api",
            Duration::minutes(15),
        );
        assert_eq!(other_key.decode(&token), Err(AccessTokenError::Invalid));
        let other_iss =
            AccessTokenCodec::new(&secret(), "evil", "tollgate-api", Duration::minutes(15));
        assert!(other_iss.decode(&issue_now(&other_iss)).is_ok());
        assert_eq!(
            codec().decode(&issue_now(&other_iss)),
            Err(AccessTokenError::Invalid)
        );
        let other_aud =
            AccessTokenCodec::new(&secret(), "tollgate", "other", Duration::minutes(15));
        assert_eq!(
            codec().decode(&issue_now(&other_aud)),
            Err(AccessTokenError::Invalid)
        );
    }

    #[test]
    fn alg_none_and_wrong_typ_are_rejected() {
        let codec = codec();
        let token = issue_now(&codec);
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"at+jwt"}"#), payload);
        assert_eq!(codec.decode(&none), Err(AccessTokenError::Invalid));

        // A correctly signed token of another type (plain "JWT") is not an access token.
        let claims = codec.decode(&token).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let wrong_typ =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert_eq!(codec.decode(&wrong_typ), Err(AccessTokenError::Invalid));

        // Same key, HS512: the algorithm is pinned.
        let mut header = Header::new(Algorithm::HS512);
        header.typ = Some("at+jwt".into());
        let hs512 =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert_eq!(codec.decode(&hs512), Err(AccessTokenError::Invalid));
    }

    #[test]
    fn missing_exp_is_rejected() {
        #[derive(Serialize)]
        struct NoExp {
            sub: Uuid,
            org: Uuid,
            role: String,
            sid: Uuid,
            iat: i64,
            jti: Uuid,
            iss: String,
            aud: String,
        }
        let claims = NoExp {
            sub: Uuid::new_v4(),
            org: Uuid::new_v4(),
            role: "user".into(),
            sid: Uuid::new_v4(),
            iat: Utc::now().timestamp(),
            jti: Uuid::new_v4(),
            iss: "tollgate".into(),
            aud: "tollgate-api".into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert_eq!(codec().decode(&token), Err(AccessTokenError::Invalid));
    }

    fn issue_at(codec: &AccessTokenCodec, at: DateTime<Utc>) -> String {
        codec
            .issue(
                UserId::new(),
                OrganizationId::new(),
                Role::User,
                SessionId::new(),
                at,
            )
            .unwrap()
    }

    fn codec_with(current: u8, previous: &[u8]) -> AccessTokenCodec {
        let previous: Vec<JwtSecret> = previous
            .iter()
            .map(|byte| JwtSecret::new(vec![*byte; 32]).unwrap())
            .collect();
        AccessTokenCodec::new(
            &JwtSecret::new(vec![current; 32]).unwrap(),
            "tollgate",
            "tollgate-api",
            Duration::minutes(15),
        )
        .with_previous(&previous)
    }

    #[test]
    fn tokens_of_a_previous_secret_verify_during_rotation_and_new_ones_use_the_current() {
        // Before the rotation: secret 7 signs.
        let before = codec_with(7, &[]);
        let old_token = issue_now(&before);
        // After: secret 9 signs, 7 is still accepted.
        let rotating = codec_with(9, &[7]);
        let claims = rotating.decode(&old_token).unwrap();
        assert_eq!(claims, before.decode(&old_token).unwrap());
        // New tokens are signed with the current secret only.
        let new_token = issue_now(&rotating);
        assert!(rotating.decode(&new_token).is_ok());
        assert_eq!(before.decode(&new_token), Err(AccessTokenError::Invalid));
        assert!(codec_with(9, &[]).decode(&new_token).is_ok());
        // Several previous secrets, in any position.
        assert!(codec_with(10, &[8, 7]).decode(&old_token).is_ok());
        // A rolling deploy's first stage: instances still signing with 7 that already accept 9
        // take the tokens of instances already signing with 9.
        assert!(codec_with(7, &[9]).decode(&new_token).is_ok());
        // Once the previous secret is dropped, its tokens stop verifying.
        assert_eq!(
            codec_with(9, &[]).decode(&old_token),
            Err(AccessTokenError::Invalid)
        );
        // A secret that was never configured is not accepted.
        assert_eq!(
            codec_with(9, &[8]).decode(&old_token),
            Err(AccessTokenError::Invalid)
        );
    }

    #[test]
    fn a_previous_secret_does_not_extend_a_tokens_life_or_relax_other_checks() {
        let before = codec_with(7, &[]);
        let rotating = codec_with(9, &[7]);
        let expired = issue_at(&before, Utc::now() - Duration::minutes(16));
        assert_eq!(rotating.decode(&expired), Err(AccessTokenError::Expired));
        // An expired token signed with an unknown key is invalid, not expired.
        let foreign = issue_at(&codec_with(3, &[]), Utc::now() - Duration::minutes(16));
        assert_eq!(rotating.decode(&foreign), Err(AccessTokenError::Invalid));
        // Issuer and audience still hold for tokens of the previous secret.
        let other_aud = AccessTokenCodec::new(
            &JwtSecret::new(vec![7u8; 32]).unwrap(),
            "tollgate",
            "other",
            Duration::minutes(15),
        );
        assert_eq!(
            rotating.decode(&issue_now(&other_aud)),
            Err(AccessTokenError::Invalid)
        );
        // A tampered token of the previous secret is refused.
        let token = issue_now(&before);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = before.decode(&token).unwrap();
        claims.role = "admin".into();
        parts[1] = b64(&serde_json::to_string(&claims).unwrap());
        assert_eq!(
            rotating.decode(&parts.join(".")),
            Err(AccessTokenError::Invalid)
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let codec = codec();
        let token = issue_now(&codec);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let claims = codec.decode(&token).unwrap();
        let forged = serde_json::json!({
            "sub": claims.sub, "org": claims.org, "role": "admin", "sid": claims.sid,
            "iat": claims.iat, "exp": claims.exp, "jti": claims.jti, "iss": claims.iss, "aud": claims.aud
        });
        parts[1] = b64(&forged.to_string());
        assert_eq!(
            codec.decode(&parts.join(".")),
            Err(AccessTokenError::Invalid)
        );
        assert_eq!(codec.decode("not a jwt"), Err(AccessTokenError::Invalid));
        assert_eq!(codec.decode(""), Err(AccessTokenError::Invalid));
    }
}
