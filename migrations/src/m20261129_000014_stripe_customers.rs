//! Each organisation's Stripe customer, created at its first checkout and kept.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StripeCustomers {
    Table,
    OrganizationId,
    CustomerId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StripeCustomers::Table)
                    .col(uuid(StripeCustomers::OrganizationId).primary_key())
                    .col(string(StripeCustomers::CustomerId))
                    .col(big_integer(StripeCustomers::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StripeCustomers::Table).to_owned())
            .await
    }
}
