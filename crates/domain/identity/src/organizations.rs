//! [`Organizations`]: teams as tenants. A user creates organisations (becoming their owner),
//! adds and removes members, changes their roles and hands ownership over; every user keeps a
//! personal organisation of their own.
//!
//! Who may do what: owners and admins manage members; only an owner makes or unmakes owners;
//! anyone may leave; the last owner can neither leave nor be removed nor demoted (storage
//! enforces it in the transaction, so two concurrent demotions cannot both pass). A user who is
//! not a member of an organisation is told it does not exist.

mod ports;

use tollgate_kernel::{ApiKeyId, Clock, OrganizationId, PlanId, UserId};

pub use self::ports::{Member, MembershipChange, OrganizationRepository};
use crate::email::EmailAddress;
use crate::errors::StoreError;
use crate::models::{IssuedInvitation, Organization, OrganizationRole};
use crate::ports::AccountRepository;
use crate::principal::{AuthMethod, Principal};
use crate::secret::OpaqueToken;

/// The longest organisation name accepted.
pub const MAX_ORGANIZATION_NAME: usize = 100;

/// Why an organisation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    /// No such organisation, or the caller is not one of its members.
    #[error("organization not found")]
    NotFound,
    /// The caller's role does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No user has that e-mail address, and team invitations are off (nothing sends e-mail:
    /// they must sign up first).
    #[error("no user has the email {0} (team invitations are off on this deployment)")]
    UnknownUser(String),
    /// The user is not a member.
    #[error("not a member of this organization")]
    NotAMember,
    /// The user is a member already.
    #[error("already a member of this organization")]
    AlreadyMember,
    /// The change would leave the organisation without an owner.
    #[error("an organization keeps at least one owner: transfer ownership first")]
    LastOwner,
    /// A personal organisation has only its user.
    #[error("a personal organization has no other members")]
    Personal,
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An organisation with the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organisation.
    pub organization: Organization,
    /// The caller's role.
    pub role: OrganizationRole,
}

/// Whether adding an e-mail without an account invites it (nothing sends e-mail: the token
/// goes back to the owner or admin), and for how long the invitation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamInvitations {
    /// Allowed: always with open sign-up; with invite-only sign-up, only when the operator
    /// turns it on (an invitation lets its holder sign up).
    pub allowed: bool,
    /// How long an invitation holds.
    pub ttl: chrono::Duration,
}

/// What adding a member did.
#[derive(Debug, Clone)]
pub enum Added {
    /// The user had an account and is a member now.
    Member(Member),
    /// No account had the e-mail: an invitation to pass on, which makes its holder a member
    /// when they sign up with it.
    Invited {
        /// The invitation (its token is shown only here).
        invitation: IssuedInvitation,
        /// The role it gives.
        role: OrganizationRole,
    },
}

/// Manages organisations and their members.
pub struct Organizations<O, A, C> {
    organizations: O,
    accounts: A,
    clock: C,
    invitations: TeamInvitations,
}

impl<O: OrganizationRepository, A: AccountRepository, C: Clock> Organizations<O, A, C> {
    /// A service over `organizations` and `accounts` (to find users by e-mail).
    pub fn new(organizations: O, accounts: A, clock: C, invitations: TeamInvitations) -> Self {
        Self {
            organizations,
            accounts,
            clock,
            invitations,
        }
    }

    /// Creates an organisation owned by the caller, on the free plan whatever is asked: plans
    /// change only through billing or an operator.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn create(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<Organization, OrganizationError> {
        if principal.method == AuthMethod::ApiKey {
            return Err(OrganizationError::Forbidden(
                "an API key acts for its organization; create organizations with a login",
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_ORGANIZATION_NAME {
            return Err(OrganizationError::Invalid {
                field: "name",
                reason: format!("1 to {MAX_ORGANIZATION_NAME} characters"),
            });
        }
        let organization = Organization {
            id: OrganizationId::new(),
            name: name.to_owned(),
            plan: PlanId::free(),
            personal: false,
            created_at: self.clock.now(),
        };
        self.organizations
            .create_organization(organization.clone(), principal.user_id)
            .await?;
        Ok(organization)
    }

    /// The organisations the caller belongs to, with their role; an API key sees only its own.
    ///
    /// # Errors
    /// [`OrganizationError::Store`].
    pub async fn list(&self, principal: &Principal) -> Result<Vec<Membership>, OrganizationError> {
        let mut all = self
            .organizations
            .organizations_of(principal.user_id)
            .await?;
        if principal.method == AuthMethod::ApiKey {
            all.retain(|m| m.organization.id == principal.organization_id);
        }
        Ok(all)
    }

    /// The members of `organization` (any member may look).
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn members(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<Vec<Member>, OrganizationError> {
        self.role_of(principal, organization).await?;
        Ok(self.organizations.members_of(organization).await?)
    }

    /// Adds the user with `email` as `role` (admin or member); owners and admins only. An
    /// e-mail without an account is invited when [`TeamInvitations`] allow it.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn add_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: &str,
        role: OrganizationRole,
    ) -> Result<Added, OrganizationError> {
        let caller = self.role_of(principal, organization).await?;
        require_manager(caller)?;
        if role == OrganizationRole::Owner {
            return Err(OrganizationError::Invalid {
                field: "role",
                reason: "admin or member; ownership is transferred".to_owned(),
            });
        }
        let email = EmailAddress::parse(email).map_err(|error| OrganizationError::Invalid {
            field: "email",
            reason: error.to_string(),
        })?;
        let Some(credentials) = self.accounts.find_credentials(email.clone()).await? else {
            return self.invite(principal, organization, email, role).await;
        };
        let user = credentials.user;
        let at = self.clock.now();
        match self
            .organizations
            .change_membership(
                organization,
                MembershipChange::Add {
                    user: user.id,
                    role,
                },
                principal.user_id,
                at,
            )
            .await?
        {
            ChangeOutcome::Done => Ok(Added::Member(Member {
                user_id: user.id,
                email: user.email,
                role,
                joined_at: at,
            })),
            refused => Err(refused.into_error()),
        }
    }

    async fn invite(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: EmailAddress,
        role: OrganizationRole,
    ) -> Result<Added, OrganizationError> {
        if !self.invitations.allowed {
            return Err(OrganizationError::UnknownUser(email.to_string()));
        }
        let token = OpaqueToken::generate();
        let now = self.clock.now();
        let expires_at = now + self.invitations.ttl;
        match self
            .organizations
            .invite_to_organization(
                organization,
                email.clone(),
                role,
                token.hash(),
                principal.user_id,
                now,
                expires_at,
            )
            .await?
        {
            ChangeOutcome::Done => Ok(Added::Invited {
                invitation: IssuedInvitation {
                    email,
                    token,
                    expires_at,
                },
                role,
            }),
            refused => Err(refused.into_error()),
        }
    }

    /// Removes `user` from `organization`: an owner or admin removes others (an admin removes
    /// no owner); anyone removes themselves (leaves).
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn remove_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), OrganizationError> {
        let caller = self.role_of(principal, organization).await?;
        if user != principal.user_id {
            require_manager(caller)?;
        }
        let outcome = self
            .organizations
            .change_membership(
                organization,
                MembershipChange::Remove {
                    user,
                    by_owner: caller == OrganizationRole::Owner || user == principal.user_id,
                },
                principal.user_id,
                self.clock.now(),
            )
            .await?;
        outcome.into_result()
    }

    /// Sets `user`'s role: owners and admins set admin or member; only an owner makes or
    /// unmakes an owner.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn set_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: UserId,
        role: OrganizationRole,
    ) -> Result<(), OrganizationError> {
        let caller = self.role_of(principal, organization).await?;
        require_manager(caller)?;
        if role == OrganizationRole::Owner && caller != OrganizationRole::Owner {
            return Err(OrganizationError::Forbidden("only an owner makes owners"));
        }
        self.organizations
            .change_membership(
                organization,
                MembershipChange::SetRole {
                    user,
                    role,
                    by_owner: caller == OrganizationRole::Owner,
                },
                principal.user_id,
                self.clock.now(),
            )
            .await?
            .into_result()
    }

    /// Hands ownership to `user` (a member): they become owner and the caller, an owner,
    /// becomes admin.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn transfer_ownership(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), OrganizationError> {
        let caller = self.role_of(principal, organization).await?;
        if caller != OrganizationRole::Owner {
            return Err(OrganizationError::Forbidden(
                "only an owner transfers ownership",
            ));
        }
        if user == principal.user_id {
            return Ok(());
        }
        self.organizations
            .change_membership(
                organization,
                MembershipChange::Transfer {
                    from: principal.user_id,
                    to: user,
                },
                principal.user_id,
                self.clock.now(),
            )
            .await?
            .into_result()
    }

    /// Sets the organisation's own monthly spending cap (owners only): its budget becomes the
    /// lower of the cap and the plan's. `None` lifts it.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn set_spending_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), OrganizationError> {
        self.may_set_cap(principal, organization, cap_micros)
            .await?;
        if self
            .organizations
            .set_spending_cap(
                organization,
                cap_micros,
                principal.user_id,
                self.clock.now(),
            )
            .await?
        {
            Ok(())
        } else {
            Err(OrganizationError::NotFound)
        }
    }

    /// Sets the monthly spending cap of one of the organisation's API keys (owners only):
    /// calls made with it are admitted only while its month's cost and calls in flight fit.
    /// `None` lifts it.
    ///
    /// # Errors
    /// [`OrganizationError`]; a key of another organisation is `NotFound`.
    pub async fn set_key_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        key: ApiKeyId,
        cap_micros: Option<i64>,
    ) -> Result<(), OrganizationError> {
        self.may_set_cap(principal, organization, cap_micros)
            .await?;
        if self
            .organizations
            .set_key_cap(
                organization,
                key,
                cap_micros,
                principal.user_id,
                self.clock.now(),
            )
            .await?
        {
            Ok(())
        } else {
            Err(OrganizationError::NotFound)
        }
    }

    /// The organisation a request acts for — `requested`, or else the caller's own (an API
    /// key's, or a login's personal one) — with the caller's role in it. Not a member, or an
    /// API key naming another organisation, is `NotFound`.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<(OrganizationId, OrganizationRole), OrganizationError> {
        let organization = requested.unwrap_or(principal.organization_id);
        if principal.method == AuthMethod::ApiKey && organization == principal.organization_id {
            // A key acts for its organisation even after its creator left it: as a member,
            // or with its creator's role while they stay.
            let role = self
                .organizations
                .role_in(organization, principal.user_id)
                .await?
                .unwrap_or(OrganizationRole::Member);
            return Ok((organization, role));
        }
        Ok((organization, self.role_of(principal, organization).await?))
    }

    /// Like [`scope`](Self::scope), for what only owners and admins may do (billing, webhook
    /// endpoints): a member is `Forbidden`.
    ///
    /// # Errors
    /// [`OrganizationError`].
    pub async fn managed_scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<OrganizationId, OrganizationError> {
        let (organization, role) = self.scope(principal, requested).await?;
        require_manager(role)?;
        Ok(organization)
    }

    /// Owners only, and a positive cap (or none).
    async fn may_set_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), OrganizationError> {
        if self.role_of(principal, organization).await? != OrganizationRole::Owner {
            return Err(OrganizationError::Forbidden(
                "only the organization's owners set spending caps",
            ));
        }
        if cap_micros.is_some_and(|cap| cap <= 0) {
            return Err(OrganizationError::Invalid {
                field: "monthly_cap_micros",
                reason: "a positive number of micro-dollars, or null for none".to_owned(),
            });
        }
        Ok(())
    }

    /// The caller's role in `organization`; not a member (or an API key of another
    /// organisation) is `NotFound`.
    async fn role_of(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<OrganizationRole, OrganizationError> {
        if principal.method == AuthMethod::ApiKey && principal.organization_id != organization {
            return Err(OrganizationError::NotFound);
        }
        self.organizations
            .role_in(organization, principal.user_id)
            .await?
            .ok_or(OrganizationError::NotFound)
    }
}

fn require_manager(role: OrganizationRole) -> Result<(), OrganizationError> {
    match role {
        OrganizationRole::Owner | OrganizationRole::Admin => Ok(()),
        OrganizationRole::Member => Err(OrganizationError::Forbidden(
            "only the organization's owners and admins manage its members",
        )),
    }
}

/// What storage did with a [`MembershipChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Done.
    Done,
    /// The user is not a member.
    NotAMember,
    /// The user is a member already.
    AlreadyMember,
    /// It would leave no owner.
    LastOwner,
    /// An admin tried to remove or demote an owner.
    OwnerProtected,
    /// The organisation is a personal one.
    Personal,
    /// The organisation does not exist.
    NoOrganization,
}

impl ChangeOutcome {
    fn into_error(self) -> OrganizationError {
        match self {
            ChangeOutcome::Done => OrganizationError::NotFound,
            ChangeOutcome::NotAMember => OrganizationError::NotAMember,
            ChangeOutcome::AlreadyMember => OrganizationError::AlreadyMember,
            ChangeOutcome::LastOwner => OrganizationError::LastOwner,
            ChangeOutcome::OwnerProtected => {
                OrganizationError::Forbidden("only an owner removes or demotes an owner")
            }
            ChangeOutcome::Personal => OrganizationError::Personal,
            ChangeOutcome::NoOrganization => OrganizationError::NotFound,
        }
    }

    fn into_result(self) -> Result<(), OrganizationError> {
        match self {
            ChangeOutcome::Done => Ok(()),
            refused => Err(refused.into_error()),
        }
    }
}

#[cfg(test)]
mod tests;
