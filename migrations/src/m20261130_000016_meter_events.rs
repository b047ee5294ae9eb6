//! Usage billing: a cursor per organisation and month (how much of the ledger's usage price
//! aggregation has taken in), the outbox of meter events sent to Stripe, and the subscription
//! changes recorded for outbound notifications.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MeterCursors {
    Table,
    OrganizationId,
    MonthStart,
    AggregatedMicros,
    NotBilledMicros,
}

#[derive(DeriveIden)]
enum MeterEvents {
    Table,
    Identifier,
    OrganizationId,
    MonthStart,
    WindowStart,
    ValueMicros,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    FirstAttemptAt,
    LastError,
    HoldReason,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum SubscriptionChanges {
    Table,
    Id,
    OrganizationId,
    PlanBefore,
    PlanAfter,
    StatusBefore,
    StatusAfter,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MeterCursors::Table)
                    .col(uuid(MeterCursors::OrganizationId))
                    .col(big_integer(MeterCursors::MonthStart))
                    .col(big_integer(MeterCursors::AggregatedMicros))
                    .col(big_integer(MeterCursors::NotBilledMicros))
                    .primary_key(
                        Index::create()
                            .col(MeterCursors::OrganizationId)
                            .col(MeterCursors::MonthStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MeterEvents::Table)
                    .col(string(MeterEvents::Identifier).primary_key())
                    .col(uuid(MeterEvents::OrganizationId))
                    .col(big_integer(MeterEvents::MonthStart))
                    .col(big_integer(MeterEvents::WindowStart))
                    .col(big_integer(MeterEvents::ValueMicros))
                    .col(string(MeterEvents::Status))
                    .col(integer(MeterEvents::Attempts))
                    .col(big_integer(MeterEvents::NextAttemptAt))
                    .col(big_integer_null(MeterEvents::ClaimedUntil))
                    .col(big_integer_null(MeterEvents::FirstAttemptAt))
                    .col(text_null(MeterEvents::LastError))
                    .col(text_null(MeterEvents::HoldReason))
                    .col(big_integer(MeterEvents::CreatedAt))
                    .col(big_integer_null(MeterEvents::SentAt))
                    .to_owned(),
            )
            .await?;
        // One event per organisation, month and window, whichever instance writes it.
        manager
            .create_index(
                Index::create()
                    .name("idx_meter_events_window")
                    .table(MeterEvents::Table)
                    .col(MeterEvents::OrganizationId)
                    .col(MeterEvents::MonthStart)
                    .col(MeterEvents::WindowStart)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_meter_events_due")
                    .table(MeterEvents::Table)
                    .col(MeterEvents::Status)
                    .col(MeterEvents::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SubscriptionChanges::Table)
                    .col(pk_auto(SubscriptionChanges::Id))
                    .col(uuid(SubscriptionChanges::OrganizationId))
                    .col(string(SubscriptionChanges::PlanBefore))
                    .col(string(SubscriptionChanges::PlanAfter))
                    .col(string_null(SubscriptionChanges::StatusBefore))
                    .col(string_null(SubscriptionChanges::StatusAfter))
                    .col(big_integer(SubscriptionChanges::At))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MeterCursors::Table.into_iden(),
            MeterEvents::Table.into_iden(),
            SubscriptionChanges::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
