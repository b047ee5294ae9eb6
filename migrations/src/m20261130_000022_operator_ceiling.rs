//! The operator's monthly ceiling on AI cost sums every organisation's budget row of a month,
//! and counts the month's active leases, on each ceiling-checked admission: index both by month.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BudgetPeriods {
    Table,
    PeriodStart,
}

#[derive(DeriveIden)]
enum QuotaLeases {
    Table,
    MonthStart,
    Status,
}

const BUDGET_INDEX: &str = "idx_budget_periods_month";
const LEASE_INDEX: &str = "idx_quota_leases_month_status";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(BUDGET_INDEX)
                    .table(BudgetPeriods::Table)
                    .col(BudgetPeriods::PeriodStart)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(LEASE_INDEX)
                    .table(QuotaLeases::Table)
                    .col(QuotaLeases::MonthStart)
                    .col(QuotaLeases::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (BUDGET_INDEX, BudgetPeriods::Table.into_iden()),
            (LEASE_INDEX, QuotaLeases::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
