use chrono::TimeZone;
use mockall::predicate::eq;
use tollgate_kernel::{FixedClock, UserId};

use super::*;
use crate::models::Role;
use crate::principal::AuthMethod;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn caller(role: Role) -> Principal {
    Principal {
        user_id: UserId::new(),
        organization_id: OrganizationId::new(),
        role,
        session_id: None,
        key_id: None,
        method: AuthMethod::AccessToken,
    }
}

fn service(
    organizations: MockOrganizationAdmin,
) -> Administration<MockOrganizationAdmin, FixedClock> {
    Administration::new(organizations, FixedClock::new(now()))
}

#[tokio::test]
async fn an_administrator_suspends_and_the_action_names_them() {
    let admin = caller(Role::Admin);
    let org = OrganizationId::new();
    let mut organizations = MockOrganizationAdmin::new();
    organizations
        .expect_set_suspended()
        .with(eq(org), eq(true), eq(admin.user_id.to_string()), eq(now()))
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(Some(true)) }));
    organizations
        .expect_set_suspended()
        .with(eq(org), eq(false), eq(admin.user_id.to_string()), eq(now()))
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(Some(false)) }));
    let service = service(organizations);
    assert!(service.suspend(&admin, org).await.unwrap());
    assert!(
        !service.unsuspend(&admin, org).await.unwrap(),
        "was not suspended"
    );
}

#[tokio::test]
async fn others_are_refused_before_storage_is_asked() {
    let mut organizations = MockOrganizationAdmin::new();
    organizations.expect_set_suspended().never();
    organizations.expect_audit_log().never();
    let service = service(organizations);
    let user = caller(Role::User);
    let org = OrganizationId::new();
    assert!(matches!(
        service.suspend(&user, org).await,
        Err(AdministrationError::Forbidden)
    ));
    assert!(matches!(
        service.unsuspend(&user, org).await,
        Err(AdministrationError::Forbidden)
    ));
    assert!(matches!(
        service.audit(&user, 10).await,
        Err(AdministrationError::Forbidden)
    ));
}

#[tokio::test]
async fn an_unknown_organisation_is_not_found() {
    let mut organizations = MockOrganizationAdmin::new();
    organizations
        .expect_set_suspended()
        .returning(|_, _, _, _| Box::pin(async { Ok(None) }));
    assert!(matches!(
        service(organizations)
            .suspend(&caller(Role::Admin), OrganizationId::new())
            .await,
        Err(AdministrationError::NotFound)
    ));
}

#[tokio::test]
async fn audit_reads_are_bounded() {
    let mut organizations = MockOrganizationAdmin::new();
    for read in [1, 50, MAX_AUDIT_ENTRIES] {
        organizations
            .expect_audit_log()
            .with(eq(read))
            .times(1)
            .returning(|_| Box::pin(async { Ok(Vec::new()) }));
    }
    let service = service(organizations);
    let admin = caller(Role::Admin);
    for asked in [0, 50, 5_000] {
        service.audit(&admin, asked).await.unwrap();
    }
}
