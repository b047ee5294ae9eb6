use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One append-only row per metered call: who, what, how many tokens, what it cost us and what
/// the customer pays.
#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    OrganizationId,
    UserId,
    KeyId,
    Action,
    Model,
    InputTokens,
    CachedInputTokens,
    OutputTokens,
    CostMicros,
    PriceMicros,
    RequestId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(uuid(UsageEvents::Id).primary_key())
                    .col(uuid(UsageEvents::OrganizationId))
                    .col(uuid(UsageEvents::UserId))
                    .col(uuid_null(UsageEvents::KeyId))
                    .col(string(UsageEvents::Action))
                    .col(string(UsageEvents::Model))
                    .col(big_integer(UsageEvents::InputTokens))
                    .col(big_integer(UsageEvents::CachedInputTokens))
                    .col(big_integer(UsageEvents::OutputTokens))
                    .col(big_integer(UsageEvents::CostMicros))
                    .col(big_integer(UsageEvents::PriceMicros))
                    .col(string(UsageEvents::RequestId))
                    .col(big_integer(UsageEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_events_org_time")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::OrganizationId)
                    .col(UsageEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(UsageEvents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
