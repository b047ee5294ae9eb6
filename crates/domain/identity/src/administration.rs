//! [`Administration`]: what only the operator's administrators may do to organisations —
//! suspend and unsuspend them — and the audit log of such actions.
//!
//! Each action is recorded in the audit log by the storage transaction that makes it (the
//! [`OrganizationAdmin`] port's contract), so the log cannot miss an action that happened or
//! show one that did not. Invitations and plan changes are recorded the same way by their own
//! ports.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Clock, OrganizationId};

use crate::errors::StoreError;
use crate::principal::Principal;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a user id, or `stripe`, `system` (a lapsed subscription) or `operator` (the command
    /// line).
    pub actor: String,
    /// What: `invite`, `suspend`, `unsuspend`, `plan_change`, …
    pub action: String,
    /// On what: an organisation id, an e-mail address, with details after a space.
    pub target: String,
}

/// Why an administrative action was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AdministrationError {
    /// The caller is not an administrator.
    #[error("administrators only")]
    Forbidden,
    /// No such organisation.
    #[error("organization not found")]
    NotFound,
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Organisations as the operator administers them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OrganizationAdmin: Send + Sync + 'static {
    /// Suspends (`suspended`) or unsuspends `organization`, recording `actor`'s action in the
    /// audit log in the same transaction; `None` when the organisation does not exist. Setting
    /// the state it already has changes nothing and records nothing (`Some(false)`).
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing changed.
    fn set_suspended(
        &self,
        organization: OrganizationId,
        suspended: bool,
        actor: String,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;

    /// The newest `limit` audit entries, newest first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn audit_log(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
}

/// The most entries one audit read returns.
pub const MAX_AUDIT_ENTRIES: u32 = 1_000;

/// Administers organisations.
pub struct Administration<O, C> {
    organizations: O,
    clock: C,
}

impl<O: OrganizationAdmin, C: Clock> Administration<O, C> {
    /// A service over `organizations`.
    pub fn new(organizations: O, clock: C) -> Self {
        Self {
            organizations,
            clock,
        }
    }

    /// Suspends `organization`: every key and token of it is refused from now on (the host's
    /// caches decide how soon on other instances). Suspending a suspended organisation is a
    /// no-op.
    ///
    /// # Errors
    /// [`AdministrationError`].
    pub async fn suspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, AdministrationError> {
        self.set(principal, organization, true).await
    }

    /// Lifts a suspension.
    ///
    /// # Errors
    /// [`AdministrationError`].
    pub async fn unsuspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, AdministrationError> {
        self.set(principal, organization, false).await
    }

    /// The newest `limit` audit entries (at most [`MAX_AUDIT_ENTRIES`]), newest first.
    ///
    /// # Errors
    /// [`AdministrationError`].
    pub async fn audit(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, AdministrationError> {
        if !principal.is_admin() {
            return Err(AdministrationError::Forbidden);
        }
        Ok(self
            .organizations
            .audit_log(limit.clamp(1, MAX_AUDIT_ENTRIES))
            .await?)
    }

    async fn set(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        suspended: bool,
    ) -> Result<bool, AdministrationError> {
        if !principal.is_admin() {
            return Err(AdministrationError::Forbidden);
        }
        self.organizations
            .set_suspended(
                organization,
                suspended,
                principal.user_id.to_string(),
                self.clock.now(),
            )
            .await?
            .ok_or(AdministrationError::NotFound)
    }
}

#[cfg(test)]
mod tests;
