//! Storage tests: every body runs against a fresh SQLite file and a fresh Postgres database.

mod accounts;
mod admin_stats;
mod api_keys;
mod audit;
mod contract;
mod daily_usage;
mod key_budgets;
mod login_attempts;
mod meter_events;
mod organizations;
mod retention;
mod sessions;
mod subscriptions;
mod usage_events;
mod usage_rollups;
mod webhooks;

use chrono::{DateTime, Duration, Utc};
use tollgate_identity::ports::AccountRepository;
use tollgate_identity::{Account, Argon2Passwords, EmailAddress, NewAccount, Password, Role};
use tollgate_kernel::{OrganizationId, UserId};
use tollgate_sql::SqlStore;

pub async fn store(url: &str) -> SqlStore {
    SqlStore::connect_and_migrate(url)
        .await
        .expect("connect and migrate")
}

pub fn now() -> DateTime<Utc> {
    // Whole milliseconds: what storage keeps.
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

pub fn new_account(email: &str) -> NewAccount {
    NewAccount {
        user_id: UserId::new(),
        email: EmailAddress::parse(email).unwrap(),
        password_hash: Argon2Passwords::new(8, 1)
            .hash(&Password::parse("a long password").unwrap())
            .unwrap(),
        role: Role::User,
        organization_id: OrganizationId::new(),
        organization_name: format!("{email}'s organization"),
        plan: "free".into(),
        created_at: now(),
    }
}

pub async fn create(store: &SqlStore, email: &str) -> Account {
    store
        .create_account(new_account(email), None)
        .await
        .expect("create account")
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}
