//! Tollgate's metering in front of another axum service, with in-process storage (one process,
//! state lost on exit): `cargo run -p tollgate-examples --example metered_axum_memory`.

use std::sync::Arc;

use tollgate_kernel::{OrganizationId, SystemClock};
use tollgate_memory::MemoryStore;
use tollgate_quotas::{MeteringPolicy, MeteringService};
use tollgate_ratelimit::InProcessRateLimiter;

#[path = "common/metered_service.rs"]
mod metered_service;

#[tokio::main]
async fn main() {
    let store = MemoryStore::new();
    let organization = OrganizationId::new();
    store.add_organization(organization, "starter");
    let metering = Arc::new(MeteringService::new(
        InProcessRateLimiter::new(),
        store.clone(),
        store.clone(),
        SystemClock,
        metered_service::catalog(),
        MeteringPolicy::default(),
    ));
    metered_service::demo(metered_service::router(metering.clone()), organization).await;
    let (_, _, counters) = metering
        .usage(organization)
        .await
        .expect("in-memory storage answers");
    println!(
        "budget: spent {}, reserved {}",
        counters.spent, counters.reserved
    );
}
