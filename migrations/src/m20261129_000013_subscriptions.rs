//! Stripe billing: each organisation's subscription as last fetched from Stripe, and the Stripe
//! events already handled (an event is applied at most once; the mark and the change are
//! written in one transaction).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    OrganizationId,
    SubscriptionId,
    CustomerId,
    Status,
    Price,
    Plan,
    CurrentPeriodEnd,
    PastDueSince,
    FetchedAt,
}

#[derive(DeriveIden)]
enum StripeEvents {
    Table,
    Id,
    HandledAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(uuid(Subscriptions::OrganizationId).primary_key())
                    .col(string(Subscriptions::SubscriptionId))
                    .col(string(Subscriptions::CustomerId))
                    .col(string(Subscriptions::Status))
                    .col(string_null(Subscriptions::Price))
                    .col(string_null(Subscriptions::Plan))
                    .col(big_integer(Subscriptions::CurrentPeriodEnd))
                    .col(big_integer_null(Subscriptions::PastDueSince))
                    .col(big_integer(Subscriptions::FetchedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StripeEvents::Table)
                    .col(string(StripeEvents::Id).primary_key())
                    .col(big_integer(StripeEvents::HandledAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StripeEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
