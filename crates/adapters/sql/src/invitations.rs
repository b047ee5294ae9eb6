use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, Set};
use tollgate_identity::ports::InvitationRepository;
use tollgate_identity::{EmailAddress, StoreError, TokenHash};
use tollgate_kernel::UserId;

use crate::audit::record_audit;
use crate::connect::SqlStore;
use crate::entities::invitation;
use crate::errors::store_error;
use crate::time::to_millis;

impl InvitationRepository for SqlStore {
    async fn create_invitation(
        &self,
        email: EmailAddress,
        token_hash: TokenHash,
        invited_by: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        invitation::ActiveModel {
            token_hash: Set(token_hash.as_str().to_owned()),
            email: Set(email.as_str().to_owned()),
            invited_by: Set(Some(invited_by.as_uuid())),
            created_at: Set(to_millis(created_at)),
            expires_at: Set(to_millis(expires_at)),
            used_at: Set(None),
            organization_id: Set(None),
            role: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        record_audit(
            &txn,
            &invited_by.to_string(),
            "invite",
            email.as_str(),
            created_at,
        )
        .await?;
        txn.commit().await.map_err(store_error)?;
        Ok(())
    }
}
