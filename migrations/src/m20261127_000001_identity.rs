use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    PersonalOrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Plan,
    Personal,
    CreatedAt,
    SuspendedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    TokenHash,
    Email,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    OrganizationId,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    SessionId,
    IssuedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Id,
    Email,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string(Users::Email).unique_key())
                    .col(text(Users::PasswordHash))
                    .col(string(Users::Role))
                    .col(uuid(Users::PersonalOrganizationId))
                    .col(big_integer(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(uuid(Organizations::Id).primary_key())
                    .col(string(Organizations::Name))
                    .col(string(Organizations::Plan))
                    .col(boolean(Organizations::Personal))
                    .col(big_integer(Organizations::CreatedAt))
                    .col(big_integer_null(Organizations::SuspendedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::OrganizationId))
                    .col(uuid(Memberships::UserId))
                    .col(string(Memberships::Role))
                    .col(big_integer(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::OrganizationId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(string(Invitations::TokenHash).primary_key())
                    .col(string(Invitations::Email))
                    .col(uuid_null(Invitations::InvitedBy))
                    .col(big_integer(Invitations::CreatedAt))
                    .col(big_integer(Invitations::ExpiresAt))
                    .col(big_integer_null(Invitations::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(uuid(Sessions::OrganizationId))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_sessions_user", Sessions::UserId),
            ("idx_sessions_revoked_at", Sessions::RevokedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Sessions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string(RefreshTokens::TokenHash).primary_key())
                    .col(uuid(RefreshTokens::SessionId))
                    .col(big_integer(RefreshTokens::IssuedAt))
                    .col(big_integer(RefreshTokens::ExpiresAt))
                    .col(big_integer_null(RefreshTokens::ConsumedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_session")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(big_pk_auto(LoginFailures::Id))
                    .col(string(LoginFailures::Email))
                    .col(big_integer(LoginFailures::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_failures_email_at")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::Email)
                    .col(LoginFailures::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginFailures::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Invitations::Table.into_iden(),
            Memberships::Table.into_iden(),
            Organizations::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
