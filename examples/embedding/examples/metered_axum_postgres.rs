//! Tollgate's metering in front of another axum service, with Postgres storage shared by every
//! instance of that service (budgets and quotas hold across them):
//! `DATABASE_URL=postgres://user@host/db cargo run -p tollgate-examples --example metered_axum_postgres`
//! (default: `postgres://postgres@127.0.0.1:5432/postgres`). It applies Tollgate's migrations
//! to that database.

use std::sync::Arc;

use tollgate_identity::ports::AccountRepository;
use tollgate_identity::{EmailAddress, NewAccount, PasswordHash, Role};
use tollgate_kernel::{OrganizationId, SystemClock, UserId};
use tollgate_quotas::{MeteringPolicy, MeteringService};
use tollgate_ratelimit::InProcessRateLimiter;
use tollgate_sql::SqlStore;

#[path = "common/metered_service.rs"]
mod metered_service;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let store = SqlStore::connect_and_migrate(&url).await?;
    // Organisations live in Tollgate's schema; sign-up creates one per user. Here: one for a
    // customer of ours, on our own plan.
    let organization = OrganizationId::new();
    let user = UserId::new();
    store
        .create_account(
            NewAccount {
                user_id: user,
                email: EmailAddress::parse(&format!("customer-{user}@example.com"))?,
                password_hash: PasswordHash::from_phc("!no-login"),
                role: Role::User,
                organization_id: organization,
                organization_name: "A customer".into(),
                plan: "starter".into(),
                created_at: chrono::Utc::now(),
            },
            None,
        )
        .await?;
    let metering = Arc::new(MeteringService::new(
        // A Redis limiter (tollgate_ratelimit::RedisRateLimiter) shares rate limits between
        // instances; quotas and budgets are shared through Postgres either way.
        InProcessRateLimiter::new(),
        store.clone(),
        store.clone(),
        SystemClock,
        metered_service::catalog(),
        MeteringPolicy::default(),
    ));
    metered_service::demo(metered_service::router(metering.clone()), organization).await;
    let (_, _, counters) = metering.usage(organization).await?;
    println!(
        "budget: spent {}, reserved {}",
        counters.spent, counters.reserved
    );
    store.close().await;
    Ok(())
}
