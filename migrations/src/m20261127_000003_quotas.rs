use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuotaCounters {
    Table,
    OrganizationId,
    Action,
    PeriodStart,
    Used,
}

#[derive(DeriveIden)]
enum BudgetPeriods {
    Table,
    OrganizationId,
    PeriodStart,
    SpentMicros,
    ReservedMicros,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    Id,
    OrganizationId,
    Action,
    DayStart,
    MonthStart,
    EstimateMicros,
    ActualMicros,
    Status,
    CreatedAt,
    ExpiresAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuotaCounters::Table)
                    .col(uuid(QuotaCounters::OrganizationId))
                    .col(string(QuotaCounters::Action))
                    .col(big_integer(QuotaCounters::PeriodStart))
                    .col(big_integer(QuotaCounters::Used).default(0))
                    .primary_key(
                        Index::create()
                            .col(QuotaCounters::OrganizationId)
                            .col(QuotaCounters::Action)
                            .col(QuotaCounters::PeriodStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BudgetPeriods::Table)
                    .col(uuid(BudgetPeriods::OrganizationId))
                    .col(big_integer(BudgetPeriods::PeriodStart))
                    .col(big_integer(BudgetPeriods::SpentMicros).default(0))
                    .col(big_integer(BudgetPeriods::ReservedMicros).default(0))
                    .primary_key(
                        Index::create()
                            .col(BudgetPeriods::OrganizationId)
                            .col(BudgetPeriods::PeriodStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reservations::Table)
                    .col(uuid(Reservations::Id).primary_key())
                    .col(uuid(Reservations::OrganizationId))
                    .col(string(Reservations::Action))
                    .col(big_integer(Reservations::DayStart))
                    .col(big_integer(Reservations::MonthStart))
                    .col(big_integer(Reservations::EstimateMicros))
                    .col(big_integer_null(Reservations::ActualMicros))
                    .col(string(Reservations::Status))
                    .col(big_integer(Reservations::CreatedAt))
                    .col(big_integer(Reservations::ExpiresAt))
                    .col(big_integer_null(Reservations::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reservations_pending_expiry")
                    .table(Reservations::Table)
                    .col(Reservations::Status)
                    .col(Reservations::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Reservations::Table.into_iden(),
            BudgetPeriods::Table.into_iden(),
            QuotaCounters::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
