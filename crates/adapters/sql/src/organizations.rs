//! Organisations and their members. Membership changes run in one transaction with the
//! organisation's row locked (Postgres; SQLite has one writer), so the rules about owners hold
//! when two changes race, and each change is audited in that transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use tollgate_identity::{
    ChangeOutcome, EmailAddress, Member, Membership, MembershipChange, Organization,
    OrganizationRepository, OrganizationRole, StoreError, TokenHash,
};
use tollgate_kernel::{OrganizationId, UserId};
use uuid::Uuid;

use crate::audit::record_audit;
use crate::connect::SqlStore;
use crate::entities::{invitation, membership, organization, user};
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

const OWNER: &str = "owner";

impl OrganizationRepository for SqlStore {
    async fn create_organization(
        &self,
        organization: Organization,
        owner: UserId,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        organization::ActiveModel {
            id: Set(organization.id.as_uuid()),
            name: Set(organization.name.clone()),
            plan: Set(organization.plan.as_str().to_owned()),
            personal: Set(false),
            created_at: Set(to_millis(organization.created_at)),
            suspended_at: Set(None),
            spending_cap_micros: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        membership::ActiveModel {
            organization_id: Set(organization.id.as_uuid()),
            user_id: Set(owner.as_uuid()),
            role: Set(OWNER.to_owned()),
            created_at: Set(to_millis(organization.created_at)),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn organizations_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let organizations = organization::Entity::find()
            .filter(organization::Column::Id.is_in(memberships.iter().map(|m| m.organization_id)))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut all: Vec<Membership> = organizations
            .into_iter()
            .filter_map(|org| {
                let role = memberships
                    .iter()
                    .find(|m| m.organization_id == org.id)
                    .and_then(|m| OrganizationRole::parse(&m.role))?;
                Some(Membership {
                    organization: org.into(),
                    role,
                })
            })
            .collect();
        all.sort_by_key(|m| (!m.organization.personal, m.organization.created_at));
        Ok(all)
    }

    async fn role_in(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrganizationRole>, StoreError> {
        role_of(&self.db, organization.as_uuid(), user.as_uuid()).await
    }

    async fn members_of(&self, organization: OrganizationId) -> Result<Vec<Member>, StoreError> {
        let memberships = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization.as_uuid()))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(memberships.iter().map(|m| m.user_id)))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut members = Vec::with_capacity(memberships.len());
        for m in memberships {
            let (Some(role), Some(row)) = (
                OrganizationRole::parse(&m.role),
                users.iter().find(|u| u.id == m.user_id),
            ) else {
                continue;
            };
            members.push(Member {
                user_id: UserId::from_uuid(m.user_id),
                email: EmailAddress::parse(&row.email)
                    .map_err(|e| StoreError::unavailable(e.to_string()))?,
                role,
                joined_at: from_millis(m.created_at),
            });
        }
        members.sort_by_key(|m| (rank(m.role), m.joined_at));
        Ok(members)
    }

    async fn invite_to_organization(
        &self,
        organization: OrganizationId,
        email: EmailAddress,
        role: OrganizationRole,
        token_hash: TokenHash,
        invited_by: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<ChangeOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let Some(org) = organization::Entity::find_by_id(organization.as_uuid())
            .one(&txn)
            .await
            .map_err(store_error)?
        else {
            return Ok(ChangeOutcome::NoOrganization);
        };
        if org.personal {
            return Ok(ChangeOutcome::Personal);
        }
        invitation::ActiveModel {
            token_hash: Set(token_hash.as_str().to_owned()),
            email: Set(email.as_str().to_owned()),
            invited_by: Set(Some(invited_by.as_uuid())),
            created_at: Set(to_millis(created_at)),
            expires_at: Set(to_millis(expires_at)),
            used_at: Set(None),
            organization_id: Set(Some(organization.as_uuid())),
            role: Set(Some(role.as_str().to_owned())),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        record_audit(
            &txn,
            &invited_by.to_string(),
            "invite",
            &format!("{} -> {organization} {}", email.as_str(), role.as_str()),
            created_at,
        )
        .await?;
        txn.commit().await.map_err(store_error)?;
        Ok(ChangeOutcome::Done)
    }

    async fn set_key_cap(
        &self,
        organization: OrganizationId,
        key: tollgate_kernel::ApiKeyId,
        cap_micros: Option<i64>,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let updated = txn
            .execute_raw(crate::raw_sql::statement(
                self.backend(),
                "UPDATE api_keys SET monthly_cap_micros = $3
                 WHERE id = $1 AND organization_id = $2",
                [
                    key.as_uuid().into(),
                    organization.as_uuid().into(),
                    cap_micros.into(),
                ],
            ))
            .await
            .map_err(store_error)?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        let cap = cap_micros.map_or_else(|| "none".to_owned(), |c| c.to_string());
        record_audit(
            &txn,
            &actor.to_string(),
            "key_spending_cap",
            &format!("{organization} {key} {cap}"),
            at,
        )
        .await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn set_spending_cap(
        &self,
        organization: OrganizationId,
        cap_micros: Option<i64>,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let updated = organization::Entity::update_many()
            .col_expr(
                organization::Column::SpendingCapMicros,
                Expr::value(cap_micros),
            )
            .filter(organization::Column::Id.eq(organization.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        let cap = cap_micros.map_or_else(|| "none".to_owned(), |c| c.to_string());
        record_audit(
            &txn,
            &actor.to_string(),
            "spending_cap",
            &format!("{organization} {cap}"),
            at,
        )
        .await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn change_membership(
        &self,
        organization: OrganizationId,
        change: MembershipChange,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<ChangeOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let outcome = change_in(&txn, organization.as_uuid(), change, at).await?;
        if outcome != ChangeOutcome::Done {
            txn.rollback().await.map_err(store_error)?;
            return Ok(outcome);
        }
        let (action, target) = audit_of(organization, change);
        record_audit(&txn, &actor.to_string(), action, &target, at).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(ChangeOutcome::Done)
    }
}

fn rank(role: OrganizationRole) -> u8 {
    match role {
        OrganizationRole::Owner => 0,
        OrganizationRole::Admin => 1,
        OrganizationRole::Member => 2,
    }
}

fn audit_of(organization: OrganizationId, change: MembershipChange) -> (&'static str, String) {
    match change {
        MembershipChange::Add { user, role } => (
            "member_add",
            format!("{organization} {user} {}", role.as_str()),
        ),
        MembershipChange::Remove { user, .. } => {
            ("member_remove", format!("{organization} {user}"))
        }
        MembershipChange::SetRole { user, role, .. } => (
            "role_change",
            format!("{organization} {user} {}", role.as_str()),
        ),
        MembershipChange::Transfer { from, to } => (
            "ownership_transfer",
            format!("{organization} {from} -> {to}"),
        ),
    }
}

async fn role_of<C: ConnectionTrait>(
    conn: &C,
    organization: Uuid,
    user: Uuid,
) -> Result<Option<OrganizationRole>, StoreError> {
    Ok(membership::Entity::find_by_id((organization, user))
        .one(conn)
        .await
        .map_err(store_error)?
        .and_then(|m| OrganizationRole::parse(&m.role)))
}

async fn owners(txn: &DatabaseTransaction, organization: Uuid) -> Result<u64, StoreError> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization))
        .filter(membership::Column::Role.eq(OWNER))
        .count(txn)
        .await
        .map_err(store_error)
}

async fn set_role(
    txn: &DatabaseTransaction,
    organization: Uuid,
    user: Uuid,
    role: OrganizationRole,
) -> Result<(), StoreError> {
    membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(role.as_str()))
        .filter(membership::Column::OrganizationId.eq(organization))
        .filter(membership::Column::UserId.eq(user))
        .exec(txn)
        .await
        .map_err(store_error)?;
    Ok(())
}

async fn change_in(
    txn: &DatabaseTransaction,
    organization: Uuid,
    change: MembershipChange,
    at: DateTime<Utc>,
) -> Result<ChangeOutcome, StoreError> {
    let mut find = organization::Entity::find_by_id(organization);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        find = find.lock_exclusive();
    }
    let Some(org) = find.one(txn).await.map_err(store_error)? else {
        return Ok(ChangeOutcome::NoOrganization);
    };
    let is_owner = |role: Option<OrganizationRole>| role == Some(OrganizationRole::Owner);
    match change {
        MembershipChange::Add { user, role } => {
            if org.personal {
                return Ok(ChangeOutcome::Personal);
            }
            if role_of(txn, organization, user.as_uuid()).await?.is_some() {
                return Ok(ChangeOutcome::AlreadyMember);
            }
            membership::ActiveModel {
                organization_id: Set(organization),
                user_id: Set(user.as_uuid()),
                role: Set(role.as_str().to_owned()),
                created_at: Set(to_millis(at)),
            }
            .insert(txn)
            .await
            .map_err(store_error)?;
        }
        MembershipChange::Remove { user, by_owner } => {
            let current = role_of(txn, organization, user.as_uuid()).await?;
            if current.is_none() {
                return Ok(ChangeOutcome::NotAMember);
            }
            if is_owner(current) {
                if !by_owner {
                    return Ok(ChangeOutcome::OwnerProtected);
                }
                if owners(txn, organization).await? <= 1 {
                    return Ok(ChangeOutcome::LastOwner);
                }
            }
            membership::Entity::delete_by_id((organization, user.as_uuid()))
                .exec(txn)
                .await
                .map_err(store_error)?;
        }
        MembershipChange::SetRole {
            user,
            role,
            by_owner,
        } => {
            let current = role_of(txn, organization, user.as_uuid()).await?;
            if current.is_none() {
                return Ok(ChangeOutcome::NotAMember);
            }
            if is_owner(current) && role != OrganizationRole::Owner {
                if !by_owner {
                    return Ok(ChangeOutcome::OwnerProtected);
                }
                if owners(txn, organization).await? <= 1 {
                    return Ok(ChangeOutcome::LastOwner);
                }
            }
            set_role(txn, organization, user.as_uuid(), role).await?;
        }
        MembershipChange::Transfer { from, to } => {
            if org.personal {
                return Ok(ChangeOutcome::Personal);
            }
            if role_of(txn, organization, to.as_uuid()).await?.is_none() {
                return Ok(ChangeOutcome::NotAMember);
            }
            if !is_owner(role_of(txn, organization, from.as_uuid()).await?) {
                return Ok(ChangeOutcome::OwnerProtected);
            }
            set_role(txn, organization, to.as_uuid(), OrganizationRole::Owner).await?;
            set_role(txn, organization, from.as_uuid(), OrganizationRole::Admin).await?;
        }
    }
    Ok(ChangeOutcome::Done)
}
