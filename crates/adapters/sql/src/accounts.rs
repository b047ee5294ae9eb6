use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use tollgate_identity::ports::{AccountRepository, CreateAccountError, InvitationRedemption};
use tollgate_identity::{
    Account, EmailAddress, NewAccount, Organization, OrganizationRole, PasswordHash, Role,
    StoreError, User, UserCredentials,
};
use tollgate_kernel::{OrganizationId, UserId};

use crate::connect::SqlStore;
use crate::entities::{invitation, membership, organization, user};
use crate::errors::store_error;
use crate::time::{from_millis, to_millis};

impl TryFrom<user::Model> for User {
    type Error = StoreError;

    fn try_from(model: user::Model) -> Result<Self, Self::Error> {
        Ok(User {
            id: UserId::from_uuid(model.id),
            email: EmailAddress::parse(&model.email).map_err(StoreError::unavailable)?,
            role: Role::parse(&model.role)
                .ok_or_else(|| StoreError::unavailable(format!("unknown role {:?}", model.role)))?,
            created_at: from_millis(model.created_at),
        })
    }
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Organization {
            id: OrganizationId::from_uuid(model.id),
            name: model.name,
            plan: model.plan.into(),
            personal: model.personal,
            created_at: from_millis(model.created_at),
        }
    }
}

impl SqlStore {
    async fn redeem_invitation(
        txn: &DatabaseTransaction,
        redemption: &InvitationRedemption,
    ) -> Result<bool, StoreError> {
        let at = to_millis(redemption.at);
        let result = invitation::Entity::update_many()
            .col_expr(invitation::Column::UsedAt, Expr::value(at))
            .filter(invitation::Column::TokenHash.eq(redemption.token_hash.as_str()))
            .filter(invitation::Column::Email.eq(redemption.email.as_str()))
            .filter(invitation::Column::UsedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(at))
            .exec(txn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    /// An invitation to an organisation makes its invitee a member there, in the sign-up's
    /// transaction; an organisation deleted since is skipped.
    async fn join_invited_organization(
        txn: &DatabaseTransaction,
        redemption: &InvitationRedemption,
        new: &NewAccount,
    ) -> Result<(), StoreError> {
        let Some(row) = invitation::Entity::find_by_id(redemption.token_hash.as_str().to_owned())
            .one(txn)
            .await
            .map_err(store_error)?
        else {
            return Ok(());
        };
        let (Some(organization), Some(role)) = (row.organization_id, row.role) else {
            return Ok(());
        };
        let exists = organization::Entity::find_by_id(organization)
            .one(txn)
            .await
            .map_err(store_error)?
            .is_some();
        if exists {
            membership::ActiveModel {
                organization_id: Set(organization),
                user_id: Set(new.user_id.as_uuid()),
                role: Set(role),
                created_at: Set(to_millis(redemption.at)),
            }
            .insert(txn)
            .await
            .map_err(store_error)?;
        }
        Ok(())
    }

    async fn insert_account(
        txn: &DatabaseTransaction,
        new: &NewAccount,
    ) -> Result<(), CreateAccountError> {
        let created_at = to_millis(new.created_at);
        organization::ActiveModel {
            id: Set(new.organization_id.as_uuid()),
            name: Set(new.organization_name.clone()),
            plan: Set(new.plan.as_str().to_owned()),
            personal: Set(true),
            created_at: Set(created_at),
            suspended_at: Set(None),
            spending_cap_micros: Set(None),
        }
        .insert(txn)
        .await
        .map_err(store_error)?;
        user::ActiveModel {
            id: Set(new.user_id.as_uuid()),
            email: Set(new.email.as_str().to_owned()),
            password_hash: Set(new.password_hash.as_phc().to_owned()),
            role: Set(new.role.as_str().to_owned()),
            personal_organization_id: Set(new.organization_id.as_uuid()),
            created_at: Set(created_at),
        }
        .insert(txn)
        .await
        .map_err(|e| match store_error(e) {
            StoreError::Conflict => CreateAccountError::EmailTaken,
            other => CreateAccountError::Store(other),
        })?;
        membership::ActiveModel {
            organization_id: Set(new.organization_id.as_uuid()),
            user_id: Set(new.user_id.as_uuid()),
            role: Set(OrganizationRole::Owner.as_str().to_owned()),
            created_at: Set(created_at),
        }
        .insert(txn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn personal_organization(&self, id: uuid::Uuid) -> Result<Organization, StoreError> {
        organization::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(Organization::from)
            .ok_or_else(|| StoreError::unavailable("user without personal organisation"))
    }
}

impl AccountRepository for SqlStore {
    async fn create_account(
        &self,
        new: NewAccount,
        invitation: Option<InvitationRedemption>,
    ) -> Result<Account, CreateAccountError> {
        let txn = self.begin_write().await?;
        if let Some(redemption) = &invitation
            && !Self::redeem_invitation(&txn, redemption).await?
        {
            txn.rollback().await.map_err(store_error)?;
            return Err(CreateAccountError::InvitationUnusable);
        }
        if let Err(error) = Self::insert_account(&txn, &new).await {
            txn.rollback().await.map_err(store_error)?;
            return Err(error);
        }
        if let Some(redemption) = &invitation {
            Self::join_invited_organization(&txn, redemption, &new).await?;
        }
        txn.commit().await.map_err(store_error)?;
        // Answer with what storage keeps (millisecond timestamps), as a later read would.
        let created_at = from_millis(to_millis(new.created_at));
        Ok(Account {
            user: User {
                id: new.user_id,
                email: new.email,
                role: new.role,
                created_at,
            },
            organization: Organization {
                id: new.organization_id,
                name: new.organization_name,
                plan: new.plan,
                personal: true,
                created_at,
            },
        })
    }

    async fn find_credentials(
        &self,
        email: EmailAddress,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let Some(model) = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let password_hash = PasswordHash::from_phc(model.password_hash.clone());
        let personal_organization = OrganizationId::from_uuid(model.personal_organization_id);
        Ok(Some(UserCredentials {
            user: model.try_into()?,
            password_hash,
            personal_organization,
        }))
    }

    async fn find_account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        let Some(model) = user::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let organization = self
            .personal_organization(model.personal_organization_id)
            .await?;
        Ok(Some(Account {
            user: model.try_into()?,
            organization,
        }))
    }

    async fn set_password_hash(&self, id: UserId, hash: PasswordHash) -> Result<bool, StoreError> {
        let result = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.as_phc()))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<(), StoreError> {
        user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .count(&self.db)
            .await
            .map_err(store_error)
    }
}
