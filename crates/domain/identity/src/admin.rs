//! The operator's administrator account: created from configuration at start-up, or created and
//! reset on purpose by the `tollgate create-admin` command. An existing user is never promoted
//! as a side effect of configuration: with open sign-up, whoever registered the address first
//! would become the operator.

use tollgate_kernel::{Clock, OrganizationId, PlanId, UserId};

use crate::email::EmailAddress;
use crate::errors::EnsureAdminError;
use crate::models::{NewAccount, Role, UserCredentials};
use crate::password::Password;
use crate::ports::{
    AccountRepository, CreateAccountError, LoginAttemptLog, PasswordHasher, SessionRepository,
};
use crate::service::personal_organization_name;

/// What start-up found for `auth.admin_email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfiguredAdmin {
    /// The address was free: the administrator was created with the configured password.
    Created,
    /// The administrator existed already and was left as it is; `password_matches` tells
    /// whether the configured password is still theirs (it is never applied to an existing
    /// account).
    AlreadyAdmin {
        /// Whether the configured password is the account's.
        password_matches: bool,
    },
}

/// What `create-admin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminReset {
    /// The address was free: the administrator was created.
    Created,
    /// An ordinary user was made administrator, with the new password.
    Promoted,
    /// An administrator got a new password.
    PasswordReset,
}

/// Creates and resets the operator's administrator accounts.
pub struct AdminAccounts<A, S, L, H, C> {
    accounts: A,
    sessions: S,
    attempts: L,
    hasher: H,
    clock: C,
    default_plan: PlanId,
}

impl<A, S, L, H, C> AdminAccounts<A, S, L, H, C>
where
    A: AccountRepository,
    S: SessionRepository,
    L: LoginAttemptLog,
    H: PasswordHasher,
    C: Clock,
{
    /// The service over its ports; `default_plan` is the plan of a new administrator's personal
    /// organisation.
    pub fn new(
        accounts: A,
        sessions: S,
        attempts: L,
        hasher: H,
        clock: C,
        default_plan: PlanId,
    ) -> Self {
        Self {
            accounts,
            sessions,
            attempts,
            hasher,
            clock,
            default_plan,
        }
    }

    /// How many administrators exist (none means nobody can invite anyone).
    pub async fn count(&self) -> Result<u64, EnsureAdminError> {
        Ok(self.accounts.count_admins().await?)
    }

    /// Start-up with `auth.admin_email`: creates the administrator when the address is free.
    ///
    /// # Errors
    /// `ExistsAsUser` when an ordinary user holds the address: promoting them is a decision
    /// for `create_or_reset`, never a side effect of configuration.
    pub async fn ensure_configured(
        &self,
        email: &str,
        password: &str,
    ) -> Result<ConfiguredAdmin, EnsureAdminError> {
        let email = EmailAddress::parse(email)?;
        Password::parse(password)?;
        for _ in 0..2 {
            if let Some(existing) = self.accounts.find_credentials(email.clone()).await? {
                return self.judge_existing(existing, password).await;
            }
            match self.create(email.clone(), password).await {
                Ok(()) => return Ok(ConfiguredAdmin::Created),
                // Another instance created it between our look-up and our insert: look again.
                Err(EnsureAdminError::AddressTaken) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(EnsureAdminError::AddressTaken)
    }

    /// `tollgate create-admin`: creates the administrator, or gives the existing account of
    /// that address the administrator role and the new password. A reset also clears the
    /// login lockout of the address and ends every session of the account, so that whoever
    /// knew the old password is logged out.
    pub async fn create_or_reset(
        &self,
        email: &str,
        password: &str,
    ) -> Result<AdminReset, EnsureAdminError> {
        let email = EmailAddress::parse(email)?;
        Password::parse(password)?;
        let existing = match self.accounts.find_credentials(email.clone()).await? {
            Some(existing) => existing,
            None => match self.create(email.clone(), password).await {
                Ok(()) => return Ok(AdminReset::Created),
                Err(EnsureAdminError::AddressTaken) => self
                    .accounts
                    .find_credentials(email.clone())
                    .await?
                    .ok_or(EnsureAdminError::AddressTaken)?,
                Err(other) => return Err(other),
            },
        };
        let user = existing.user;
        let hash = self.hasher.hash(Password::parse(password)?).await?;
        self.accounts.set_password_hash(user.id, hash).await?;
        let outcome = if user.role == Role::Admin {
            AdminReset::PasswordReset
        } else {
            self.accounts.set_role(user.id, Role::Admin).await?;
            AdminReset::Promoted
        };
        self.attempts.clear_all_failures(email).await?;
        self.sessions
            .revoke_user_sessions(user.id, self.clock.now())
            .await?;
        Ok(outcome)
    }

    async fn judge_existing(
        &self,
        existing: UserCredentials,
        password: &str,
    ) -> Result<ConfiguredAdmin, EnsureAdminError> {
        if existing.user.role != Role::Admin {
            return Err(EnsureAdminError::ExistsAsUser);
        }
        let password_matches = self
            .hasher
            .verify(Password::presented(password), Some(existing.password_hash))
            .await;
        Ok(ConfiguredAdmin::AlreadyAdmin { password_matches })
    }

    async fn create(&self, email: EmailAddress, password: &str) -> Result<(), EnsureAdminError> {
        let account = NewAccount {
            user_id: UserId::new(),
            organization_name: personal_organization_name(&email),
            email,
            password_hash: self.hasher.hash(Password::parse(password)?).await?,
            role: Role::Admin,
            organization_id: OrganizationId::new(),
            plan: self.default_plan.clone(),
            created_at: self.clock.now(),
        };
        match self.accounts.create_account(account, None).await {
            Ok(_) => Ok(()),
            Err(CreateAccountError::EmailTaken | CreateAccountError::InvitationUnusable) => {
                Err(EnsureAdminError::AddressTaken)
            }
            Err(CreateAccountError::Store(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;
