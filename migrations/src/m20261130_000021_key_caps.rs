//! Per-key monthly spending caps: the cap on the key, what its calls cost each month, and the
//! estimates of its calls in flight (each counts until settled, released or expired).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    MonthlyCapMicros,
}

#[derive(DeriveIden)]
enum KeySpend {
    Table,
    KeyId,
    MonthStart,
    SpentMicros,
}

#[derive(DeriveIden)]
enum KeyReservations {
    Table,
    Id,
    KeyId,
    MonthStart,
    EstimateMicros,
    Status,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(big_integer_null(ApiKeys::MonthlyCapMicros))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeySpend::Table)
                    .col(uuid(KeySpend::KeyId))
                    .col(big_integer(KeySpend::MonthStart))
                    .col(big_integer(KeySpend::SpentMicros))
                    .primary_key(
                        Index::create()
                            .col(KeySpend::KeyId)
                            .col(KeySpend::MonthStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeyReservations::Table)
                    .col(uuid(KeyReservations::Id).primary_key())
                    .col(uuid(KeyReservations::KeyId))
                    .col(big_integer(KeyReservations::MonthStart))
                    .col(big_integer(KeyReservations::EstimateMicros))
                    .col(string(KeyReservations::Status))
                    .col(big_integer(KeyReservations::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_key_reservations_pending")
                    .table(KeyReservations::Table)
                    .col(KeyReservations::KeyId)
                    .col(KeyReservations::MonthStart)
                    .col(KeyReservations::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            KeySpend::Table.into_iden(),
            KeyReservations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::MonthlyCapMicros)
                    .to_owned(),
            )
            .await
    }
}
