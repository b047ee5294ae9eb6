use chrono::TimeZone;
use mockall::predicate::eq;
use tollgate_kernel::FixedClock;

use super::*;
use crate::models::{Role, User, UserCredentials};
use crate::organizations::ports::MockOrganizationRepository;
use crate::password::PasswordHash;
use crate::ports::MockAccountRepository;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .unwrap()
}

fn user(method: AuthMethod) -> Principal {
    Principal {
        user_id: UserId::new(),
        organization_id: OrganizationId::new(),
        role: Role::User,
        session_id: None,
        key_id: None,
        method,
    }
}

type Service = Organizations<MockOrganizationRepository, MockAccountRepository, FixedClock>;

fn service(organizations: MockOrganizationRepository, accounts: MockAccountRepository) -> Service {
    Organizations::new(
        organizations,
        accounts,
        FixedClock::new(now()),
        TeamInvitations {
            allowed: false,
            ttl: chrono::Duration::days(7),
        },
    )
}

fn with_role(role: Option<OrganizationRole>) -> MockOrganizationRepository {
    let mut organizations = MockOrganizationRepository::new();
    organizations
        .expect_role_in()
        .returning(move |_, _| Box::pin(async move { Ok(role) }));
    organizations
}

fn known(email: &str) -> (MockAccountRepository, UserId) {
    let id = UserId::new();
    let email = EmailAddress::parse(email).unwrap();
    let mut accounts = MockAccountRepository::new();
    accounts.expect_find_credentials().returning(move |_| {
        let email = email.clone();
        Box::pin(async move {
            Ok(Some(UserCredentials {
                user: User {
                    id,
                    email,
                    role: Role::User,
                    created_at: now(),
                },
                password_hash: PasswordHash::from_phc("x"),
                personal_organization: OrganizationId::new(),
            }))
        })
    });
    (accounts, id)
}

#[tokio::test]
async fn a_new_organisation_is_on_free_and_owned_by_its_creator() {
    let caller = user(AuthMethod::AccessToken);
    let mut organizations = MockOrganizationRepository::new();
    organizations
        .expect_create_organization()
        .withf(move |org, owner| {
            *owner == caller.user_id
                && org.plan == PlanId::free()
                && org.name == "Acme"
                && !org.personal
                && org.created_at == now()
        })
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let created = service(organizations, MockAccountRepository::new())
        .create(&caller, "  Acme ")
        .await
        .unwrap();
    assert_eq!(created.name, "Acme");
}

#[tokio::test]
async fn names_are_checked_and_api_keys_create_nothing() {
    let mut organizations = MockOrganizationRepository::new();
    organizations.expect_create_organization().never();
    let service = service(organizations, MockAccountRepository::new());
    let caller = user(AuthMethod::AccessToken);
    for name in ["", "   ", &"x".repeat(MAX_ORGANIZATION_NAME + 1)] {
        assert!(matches!(
            service.create(&caller, name).await,
            Err(OrganizationError::Invalid { field: "name", .. })
        ));
    }
    assert!(matches!(
        service.create(&user(AuthMethod::ApiKey), "Acme").await,
        Err(OrganizationError::Forbidden(_))
    ));
}

#[tokio::test]
async fn outsiders_are_told_nothing_exists_and_members_cannot_manage() {
    let org = OrganizationId::new();
    let outsider = service(with_role(None), MockAccountRepository::new());
    let caller = user(AuthMethod::AccessToken);
    assert!(matches!(
        outsider.members(&caller, org).await,
        Err(OrganizationError::NotFound)
    ));
    assert!(matches!(
        outsider
            .add_member(&caller, org, "x@example.com", OrganizationRole::Member)
            .await,
        Err(OrganizationError::NotFound)
    ));
    let member = service(
        with_role(Some(OrganizationRole::Member)),
        MockAccountRepository::new(),
    );
    assert!(matches!(
        member
            .add_member(&caller, org, "x@example.com", OrganizationRole::Member)
            .await,
        Err(OrganizationError::Forbidden(_))
    ));
    assert!(matches!(
        member.remove_member(&caller, org, UserId::new()).await,
        Err(OrganizationError::Forbidden(_))
    ));
    assert!(matches!(
        member
            .set_role(&caller, org, UserId::new(), OrganizationRole::Admin)
            .await,
        Err(OrganizationError::Forbidden(_))
    ));
    // An API key reaches only its own organisation, even for a member.
    let key = user(AuthMethod::ApiKey);
    assert!(matches!(
        member.members(&key, org).await,
        Err(OrganizationError::NotFound)
    ));
}

#[tokio::test]
async fn an_admin_adds_a_known_user_and_storage_decides_duplicates() {
    let org = OrganizationId::new();
    let (accounts, carol) = known("carol@example.com");
    let caller = user(AuthMethod::AccessToken);
    let mut organizations = with_role(Some(OrganizationRole::Admin));
    organizations
        .expect_change_membership()
        .with(
            eq(org),
            eq(MembershipChange::Add {
                user: carol,
                role: OrganizationRole::Member,
            }),
            eq(caller.user_id),
            eq(now()),
        )
        .times(2)
        .returning({
            let mut first = true;
            move |_, _, _, _| {
                let outcome = if first {
                    ChangeOutcome::Done
                } else {
                    ChangeOutcome::AlreadyMember
                };
                first = false;
                Box::pin(async move { Ok(outcome) })
            }
        });
    let service = service(organizations, accounts);
    let Added::Member(added) = service
        .add_member(&caller, org, "carol@example.com", OrganizationRole::Member)
        .await
        .unwrap()
    else {
        panic!("an existing user is added, not invited");
    };
    assert_eq!(
        (added.user_id, added.role),
        (carol, OrganizationRole::Member)
    );
    assert!(matches!(
        service
            .add_member(&caller, org, "carol@example.com", OrganizationRole::Member)
            .await,
        Err(OrganizationError::AlreadyMember)
    ));
    assert!(matches!(
        service
            .add_member(&caller, org, "carol@example.com", OrganizationRole::Owner)
            .await,
        Err(OrganizationError::Invalid { field: "role", .. })
    ));
}

#[tokio::test]
async fn an_unknown_email_is_said_so() {
    let mut accounts = MockAccountRepository::new();
    accounts
        .expect_find_credentials()
        .returning(|_| Box::pin(async { Ok(None) }));
    let service = service(with_role(Some(OrganizationRole::Owner)), accounts);
    assert!(matches!(
        service
            .add_member(
                &user(AuthMethod::AccessToken),
                OrganizationId::new(),
                "nobody@example.com",
                OrganizationRole::Member
            )
            .await,
        Err(OrganizationError::UnknownUser(_))
    ));
}

#[tokio::test]
async fn anyone_may_leave_and_storage_protects_the_last_owner() {
    let org = OrganizationId::new();
    let caller = user(AuthMethod::AccessToken);
    let mut organizations = with_role(Some(OrganizationRole::Member));
    organizations
        .expect_change_membership()
        .with(
            eq(org),
            eq(MembershipChange::Remove {
                user: caller.user_id,
                by_owner: true,
            }),
            eq(caller.user_id),
            eq(now()),
        )
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(ChangeOutcome::Done) }));
    service(organizations, MockAccountRepository::new())
        .remove_member(&caller, org, caller.user_id)
        .await
        .unwrap();

    let mut last = with_role(Some(OrganizationRole::Owner));
    last.expect_change_membership()
        .returning(|_, _, _, _| Box::pin(async { Ok(ChangeOutcome::LastOwner) }));
    assert!(matches!(
        service(last, MockAccountRepository::new())
            .remove_member(&caller, org, caller.user_id)
            .await,
        Err(OrganizationError::LastOwner)
    ));
}

#[tokio::test]
async fn only_owners_make_owners_and_transfer_ownership() {
    let org = OrganizationId::new();
    let caller = user(AuthMethod::AccessToken);
    let target = UserId::new();
    let admin = service(
        with_role(Some(OrganizationRole::Admin)),
        MockAccountRepository::new(),
    );
    assert!(matches!(
        admin
            .set_role(&caller, org, target, OrganizationRole::Owner)
            .await,
        Err(OrganizationError::Forbidden(_))
    ));
    assert!(matches!(
        admin.transfer_ownership(&caller, org, target).await,
        Err(OrganizationError::Forbidden(_))
    ));
    let mut organizations = with_role(Some(OrganizationRole::Owner));
    organizations
        .expect_change_membership()
        .with(
            eq(org),
            eq(MembershipChange::Transfer {
                from: caller.user_id,
                to: target,
            }),
            eq(caller.user_id),
            eq(now()),
        )
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(ChangeOutcome::Done) }));
    service(organizations, MockAccountRepository::new())
        .transfer_ownership(&caller, org, target)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_request_acts_for_the_named_organisation_only_as_its_member() {
    let caller = user(AuthMethod::AccessToken);
    let team = OrganizationId::new();
    let mut organizations = MockOrganizationRepository::new();
    organizations.expect_role_in().returning(move |org, _| {
        let role = (org == team).then_some(OrganizationRole::Member);
        Box::pin(async move { Ok(role) })
    });
    let service = service(organizations, MockAccountRepository::new());
    assert_eq!(
        service.scope(&caller, Some(team)).await.unwrap(),
        (team, OrganizationRole::Member)
    );
    assert!(matches!(
        service.managed_scope(&caller, Some(team)).await,
        Err(OrganizationError::Forbidden(_))
    ));
    assert!(matches!(
        service.scope(&caller, Some(OrganizationId::new())).await,
        Err(OrganizationError::NotFound)
    ));
    // Without a name, the caller's own organisation (here not a membership the mock knows).
    assert!(matches!(
        service.scope(&caller, None).await,
        Err(OrganizationError::NotFound)
    ));
}

#[tokio::test]
async fn only_owners_set_a_positive_spending_cap() {
    let org = OrganizationId::new();
    let caller = user(AuthMethod::AccessToken);
    let admin = service(
        with_role(Some(OrganizationRole::Admin)),
        MockAccountRepository::new(),
    );
    assert!(matches!(
        admin.set_spending_cap(&caller, org, Some(10)).await,
        Err(OrganizationError::Forbidden(_))
    ));
    let mut organizations = with_role(Some(OrganizationRole::Owner));
    organizations
        .expect_set_spending_cap()
        .with(eq(org), eq(Some(500_000)), eq(caller.user_id), eq(now()))
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(true) }));
    let owner = service(organizations, MockAccountRepository::new());
    owner
        .set_spending_cap(&caller, org, Some(500_000))
        .await
        .unwrap();
    for bad in [0, -1] {
        assert!(matches!(
            owner.set_spending_cap(&caller, org, Some(bad)).await,
            Err(OrganizationError::Invalid { .. })
        ));
    }
}

#[tokio::test]
async fn an_email_without_an_account_is_invited_only_when_team_invitations_are_on() {
    let org = OrganizationId::new();
    let caller = user(AuthMethod::AccessToken);
    let mut organizations = with_role(Some(OrganizationRole::Owner));
    organizations
        .expect_invite_to_organization()
        .withf(move |o, email, role, _, by, at, expires| {
            *o == org
                && email.as_str() == "dana@example.com"
                && *role == OrganizationRole::Admin
                && *by == caller.user_id
                && *at == now()
                && *expires == now() + chrono::Duration::days(7)
        })
        .times(1)
        .returning(|_, _, _, _, _, _, _| Box::pin(async { Ok(ChangeOutcome::Done) }));
    let mut accounts = MockAccountRepository::new();
    accounts
        .expect_find_credentials()
        .returning(|_| Box::pin(async { Ok(None) }));
    let inviting = Organizations::new(
        organizations,
        accounts,
        FixedClock::new(now()),
        TeamInvitations {
            allowed: true,
            ttl: chrono::Duration::days(7),
        },
    );
    let Added::Invited { invitation, role } = inviting
        .add_member(&caller, org, "dana@example.com", OrganizationRole::Admin)
        .await
        .unwrap()
    else {
        panic!("invited");
    };
    assert_eq!(role, OrganizationRole::Admin);
    assert!(!invitation.token.expose().is_empty());

    let mut accounts = MockAccountRepository::new();
    accounts
        .expect_find_credentials()
        .returning(|_| Box::pin(async { Ok(None) }));
    let mut organizations = with_role(Some(OrganizationRole::Owner));
    organizations.expect_invite_to_organization().never();
    assert!(matches!(
        service(organizations, accounts)
            .add_member(&caller, org, "dana@example.com", OrganizationRole::Admin)
            .await,
        Err(OrganizationError::UnknownUser(_))
    ));
}

#[tokio::test]
async fn a_key_acts_for_its_organisation_even_after_its_creator_left() {
    let key = user(AuthMethod::ApiKey);
    let service = service(with_role(None), MockAccountRepository::new());
    assert_eq!(
        service.scope(&key, None).await.unwrap(),
        (key.organization_id, OrganizationRole::Member)
    );
    assert_eq!(
        service
            .scope(&key, Some(key.organization_id))
            .await
            .unwrap()
            .0,
        key.organization_id
    );
    assert!(matches!(
        service.scope(&key, Some(OrganizationId::new())).await,
        Err(OrganizationError::NotFound)
    ));
    assert!(matches!(
        service.managed_scope(&key, None).await,
        Err(OrganizationError::Forbidden(_))
    ));
}
