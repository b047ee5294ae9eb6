//! Revenue from Stripe: paid invoices and refunded charges per organisation and month, each
//! counted once by its Stripe id (a refund row holds the charge's latest refunded total).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RevenueEntries {
    Table,
    Id,
    OrganizationId,
    Kind,
    MonthStart,
    AmountCents,
    Currency,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RevenueEntries::Table)
                    .col(string(RevenueEntries::Id).primary_key())
                    .col(uuid(RevenueEntries::OrganizationId))
                    .col(string(RevenueEntries::Kind))
                    .col(big_integer(RevenueEntries::MonthStart))
                    .col(big_integer(RevenueEntries::AmountCents))
                    .col(string(RevenueEntries::Currency))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_revenue_entries_organization_month")
                    .table(RevenueEntries::Table)
                    .col(RevenueEntries::OrganizationId)
                    .col(RevenueEntries::MonthStart)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RevenueEntries::Table).to_owned())
            .await
    }
}
