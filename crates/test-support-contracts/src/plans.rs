//! `PlanDirectory`: an organisation's plan and standing.

use tollgate_kernel::OrganizationId;
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory};

use crate::Subject;

/// A new organisation is on `free` and not suspended; `set_plan` moves it (true) and the move
/// is read back. An unknown organisation has no plan (`None`) and cannot be moved (false).
pub async fn an_organisation_has_its_plan_until_it_is_moved<S: Subject>(subject: S)
where
    S::Store: PlanDirectory,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let on = |plan: &str| OrganizationPlan {
        plan: plan.into(),
        suspended: false,
        spending_cap: None,
    };
    assert_eq!(store.plan_of(org).await.unwrap(), Some(on("free")));
    assert!(store.set_plan(org, "pro".into()).await.unwrap());
    assert_eq!(store.plan_of(org).await.unwrap(), Some(on("pro")));

    let unknown = OrganizationId::new();
    assert_eq!(store.plan_of(unknown).await.unwrap(), None);
    assert!(!store.set_plan(unknown, "pro".into()).await.unwrap());
    assert_eq!(store.plan_of(unknown).await.unwrap(), None);
}
