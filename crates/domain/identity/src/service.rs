use std::sync::Arc;

use chrono::Duration;
use tollgate_kernel::{Clock, OrganizationId, PlanId, UserId};

use crate::access_token::AccessTokenCodec;
use crate::email::EmailAddress;
use crate::errors::{
    ChangePasswordError, InviteError, LoginError, LogoutError, ProfileError, RefreshError,
    SignupError,
};
use crate::models::{
    Account, IssuedInvitation, LoginSource, NewAccount, RefreshTokenRecord, Role, SessionId,
    SessionRecord, TokenPair,
};
use crate::password::Password;
use crate::ports::{
    AccountRepository, ConsumeOutcome, CreateAccountError, InvitationRedemption,
    InvitationRepository, LoginAttemptLog, PasswordHasher, SessionRepository,
};
use crate::principal::Principal;
use crate::revocation::RevocationList;
use crate::secret::OpaqueToken;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    /// Only with a valid invitation for that e-mail.
    #[default]
    InviteOnly,
    /// Anyone with an e-mail address.
    Open,
}

/// The tunable rules of identity.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Who may create an account.
    pub signup: SignupMode,
    /// How long a refresh token (and so an idle session) lives.
    pub refresh_token_ttl: Duration,
    /// How long an invitation can be redeemed.
    pub invitation_ttl: Duration,
    /// Failed logins for one e-mail from one source inside `lockout_window` before further
    /// attempts from that source are refused. Other sources keep their own allowance, so a
    /// stranger cannot lock the owner out.
    pub lockout_threshold: u32,
    /// How far back failed logins count, and so how long a lockout lasts at most.
    pub lockout_window: Duration,
    /// Plan of every new organisation.
    pub default_plan: PlanId,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            signup: SignupMode::InviteOnly,
            refresh_token_ttl: Duration::days(30),
            invitation_ttl: Duration::days(7),
            lockout_threshold: 10,
            lockout_window: Duration::minutes(15),
            default_plan: PlanId::free(),
        }
    }
}

/// Sign-up, login, token rotation, logout, password change and invitations.
pub struct IdentityService<A, I, S, L, H, C> {
    accounts: A,
    invitations: I,
    sessions: S,
    attempts: L,
    hasher: H,
    clock: C,
    codec: AccessTokenCodec,
    revocations: Arc<RevocationList>,
    policy: IdentityPolicy,
}

impl<A, I, S, L, H, C> IdentityService<A, I, S, L, H, C>
where
    A: AccountRepository,
    I: InvitationRepository,
    S: SessionRepository,
    L: LoginAttemptLog,
    H: PasswordHasher,
    C: Clock,
{
    /// The service over its ports. `codec` issues the access tokens; `revocations` is the
    /// in-memory list that [`AccessTokenVerifier`](crate::AccessTokenVerifier) consults, to which
    /// logout, reuse and password change add at once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        accounts: A,
        invitations: I,
        sessions: S,
        attempts: L,
        hasher: H,
        clock: C,
        codec: AccessTokenCodec,
        revocations: Arc<RevocationList>,
        policy: IdentityPolicy,
    ) -> Self {
        Self {
            accounts,
            invitations,
            sessions,
            attempts,
            hasher,
            clock,
            codec,
            revocations,
            policy,
        }
    }

    /// The rules this service applies.
    pub fn policy(&self) -> &IdentityPolicy {
        &self.policy
    }

    /// Creates a user with a personal organisation on the default plan.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        invitation_token: Option<&str>,
    ) -> Result<Account, SignupError> {
        let email = EmailAddress::parse(email)?;
        let password = Password::parse(password)?;
        let now = self.clock.now();
        let invitation = match (self.policy.signup, invitation_token) {
            (_, Some(token)) if !token.is_empty() => Some(InvitationRedemption {
                token_hash: OpaqueToken::from_presented(token).hash(),
                email: email.clone(),
                at: now,
            }),
            (SignupMode::InviteOnly, _) => return Err(SignupError::InvitationRequired),
            (SignupMode::Open, _) => None,
        };
        let password_hash = self.hasher.hash(password).await?;
        let account = NewAccount {
            user_id: UserId::new(),
            organization_name: personal_organization_name(&email),
            email,
            password_hash,
            role: Role::User,
            organization_id: OrganizationId::new(),
            plan: self.policy.default_plan.clone(),
            created_at: now,
        };
        match self.accounts.create_account(account, invitation).await {
            Ok(account) => Ok(account),
            Err(CreateAccountError::EmailTaken) => Err(SignupError::EmailTaken),
            Err(CreateAccountError::InvitationUnusable) => Err(SignupError::InvitationRequired),
            Err(CreateAccountError::Store(e)) => Err(e.into()),
        }
    }

    /// Checks the password and opens a new session.
    ///
    /// Unknown e-mail and wrong password are indistinguishable, in answer and in time (a decoy
    /// hash is verified). After `lockout_threshold` failures inside the window from `source`,
    /// every attempt for that e-mail from that source is refused, right password or not, until
    /// the oldest failure leaves the window. Refused attempts are not recorded, so they do not
    /// extend the lockout; attempts from other sources are judged on their own failures.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        source: LoginSource,
    ) -> Result<TokenPair, LoginError> {
        let password = Password::presented(password);
        let Ok(email) = EmailAddress::parse(email) else {
            self.hasher.verify(password, None).await;
            return Err(LoginError::InvalidCredentials);
        };
        let now = self.clock.now();
        let window_start = now - self.policy.lockout_window;
        let failures = self
            .attempts
            .failures_since(email.clone(), source.clone(), window_start)
            .await?;
        if failures.count >= self.policy.lockout_threshold {
            let unlock_at = failures.oldest.unwrap_or(now) + self.policy.lockout_window;
            let wait = (unlock_at - now).num_milliseconds().max(0);
            return Err(LoginError::LockedOut {
                retry_after_seconds: u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1),
            });
        }
        let credentials = self.accounts.find_credentials(email.clone()).await?;
        let hash = credentials.as_ref().map(|c| c.password_hash.clone());
        if !self.hasher.verify(password, hash).await {
            self.attempts.record_failure(email, source, now).await?;
            return Err(LoginError::InvalidCredentials);
        }
        let Some(credentials) = credentials else {
            return Err(LoginError::InvalidCredentials);
        };
        if failures.count > 0 {
            self.attempts.clear_failures(email, source).await?;
        }
        let session = SessionRecord {
            id: SessionId::new(),
            user_id: credentials.user.id,
            organization_id: credentials.personal_organization,
            created_at: now,
            revoked_at: None,
        };
        let refresh = OpaqueToken::generate();
        self.sessions
            .start_session(
                session.clone(),
                self.refresh_record(&refresh, session.id, now),
            )
            .await?;
        self.token_pair(&session, credentials.user.role, refresh)
            .map_err(LoginError::Unexpected)
    }

    /// Rotates a refresh token: the presented one is consumed and a new pair issued in the same
    /// family. Presenting a consumed token is reuse (RFC 9700 §4.14): the family is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        if refresh_token.is_empty() || refresh_token.len() > 512 {
            return Err(RefreshError::Invalid);
        }
        let now = self.clock.now();
        let presented = OpaqueToken::from_presented(refresh_token);
        match self
            .sessions
            .consume_refresh_token(presented.hash(), now)
            .await?
        {
            // The session was live when the token was consumed; a revocation racing with us
            // (another caller replaying the same token) does not take back this answer.
            ConsumeOutcome::Consumed(session) => {
                let account = self
                    .accounts
                    .find_account(session.user_id)
                    .await?
                    .ok_or(RefreshError::Invalid)?;
                let next = OpaqueToken::generate();
                self.sessions
                    .add_refresh_token(self.refresh_record(&next, session.id, now))
                    .await?;
                self.token_pair(&session, account.user.role, next)
                    .map_err(RefreshError::Unexpected)
            }
            ConsumeOutcome::AlreadyConsumed(session) => {
                self.sessions.revoke_session(session, now).await?;
                self.revocations.insert(session);
                Err(RefreshError::Reused)
            }
            ConsumeOutcome::Expired | ConsumeOutcome::SessionRevoked | ConsumeOutcome::Unknown => {
                Err(RefreshError::Invalid)
            }
        }
    }

    /// Revokes the family of the presented refresh token. Unknown tokens are ignored, so that
    /// logging out twice is not an error.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), LogoutError> {
        if refresh_token.is_empty() || refresh_token.len() > 512 {
            return Ok(());
        }
        let hash = OpaqueToken::from_presented(refresh_token).hash();
        if let Some(token) = self.sessions.find_refresh_token(hash).await? {
            self.sessions
                .revoke_session(token.session_id, self.clock.now())
                .await?;
            self.revocations.insert(token.session_id);
        }
        Ok(())
    }

    /// Changes the password after checking the current one, and revokes every session of the
    /// user: whoever knew the old password is logged out everywhere.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ChangePasswordError> {
        let new = Password::parse(new)?;
        let account = self
            .accounts
            .find_account(principal.user_id)
            .await?
            .ok_or(ChangePasswordError::UnknownUser)?;
        let credentials = self
            .accounts
            .find_credentials(account.user.email.clone())
            .await?
            .ok_or(ChangePasswordError::UnknownUser)?;
        if !self
            .hasher
            .verify(
                Password::presented(current),
                Some(credentials.password_hash),
            )
            .await
        {
            return Err(ChangePasswordError::WrongPassword);
        }
        let hash = self.hasher.hash(new).await?;
        if !self
            .accounts
            .set_password_hash(principal.user_id, hash)
            .await?
        {
            return Err(ChangePasswordError::UnknownUser);
        }
        let revoked = self
            .sessions
            .revoke_user_sessions(principal.user_id, self.clock.now())
            .await?;
        for session in revoked {
            self.revocations.insert(session);
        }
        Ok(())
    }

    /// Creates an invitation (administrators only). The token is returned once.
    pub async fn invite(
        &self,
        principal: &Principal,
        email: &str,
    ) -> Result<IssuedInvitation, InviteError> {
        if !principal.is_admin() {
            return Err(InviteError::Forbidden);
        }
        let email = EmailAddress::parse(email)?;
        let token = OpaqueToken::generate();
        let now = self.clock.now();
        let expires_at = now + self.policy.invitation_ttl;
        self.invitations
            .create_invitation(
                email.clone(),
                token.hash(),
                principal.user_id,
                now,
                expires_at,
            )
            .await?;
        Ok(IssuedInvitation {
            email,
            token,
            expires_at,
        })
    }

    /// The caller's user and personal organisation.
    pub async fn profile(&self, principal: &Principal) -> Result<Account, ProfileError> {
        self.accounts
            .find_account(principal.user_id)
            .await?
            .ok_or(ProfileError::UnknownUser)
    }

    fn refresh_record(
        &self,
        token: &OpaqueToken,
        session: SessionId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: token.hash(),
            session_id: session,
            issued_at: now,
            expires_at: now + self.policy.refresh_token_ttl,
            consumed_at: None,
        }
    }

    fn token_pair(
        &self,
        session: &SessionRecord,
        role: Role,
        refresh_token: OpaqueToken,
    ) -> Result<TokenPair, Box<dyn std::error::Error + Send + Sync>> {
        let access_token = self.codec.issue(
            session.user_id,
            session.organization_id,
            role,
            session.id,
            self.clock.now(),
        )?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in_seconds: self.codec.ttl().num_seconds(),
            session_id: session.id,
        })
    }
}

pub(crate) fn personal_organization_name(email: &EmailAddress) -> String {
    format!("{email}'s organization")
}

#[cfg(test)]
mod tests;
