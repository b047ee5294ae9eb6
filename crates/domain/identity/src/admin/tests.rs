use chrono::{DateTime, Utc};
use tollgate_kernel::{FixedClock, OrganizationId, UserId};

use super::*;
use crate::errors::StoreError;
use crate::models::{User, UserCredentials};
use crate::password::PasswordHash;
use crate::ports::{
    MockAccountRepository, MockLoginAttemptLog, MockPasswordHasher, MockSessionRepository,
};

type Admins = AdminAccounts<
    MockAccountRepository,
    MockSessionRepository,
    MockLoginAttemptLog,
    MockPasswordHasher,
    FixedClock,
>;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn hasher() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|p| {
        let phc = format!("hashed:{}", p.expose());
        Box::pin(async move { Ok(PasswordHash::from_phc(phc)) })
    });
    hasher.expect_verify().returning(|p, h| {
        let ok = h.is_some_and(|h| h.as_phc() == format!("hashed:{}", p.expose()));
        Box::pin(async move { ok })
    });
    hasher
}

fn credentials(role: Role, password: &str) -> UserCredentials {
    UserCredentials {
        user: User {
            id: UserId::new(),
            email: EmailAddress::parse("root@example.com").unwrap(),
            role,
            created_at: now(),
        },
        password_hash: PasswordHash::from_phc(format!("hashed:{password}")),
        personal_organization: OrganizationId::new(),
    }
}

fn existing(accounts: &mut MockAccountRepository, found: Option<UserCredentials>) {
    accounts.expect_find_credentials().returning(move |_| {
        let found = found.clone();
        Box::pin(async move { Ok(found) })
    });
}

fn admins(
    accounts: MockAccountRepository,
    sessions: MockSessionRepository,
    attempts: MockLoginAttemptLog,
) -> Admins {
    AdminAccounts::new(
        accounts,
        sessions,
        attempts,
        hasher(),
        FixedClock::new(now()),
        "free".into(),
    )
}

/// Expects one administrator to be created with the given password, and answers with the
/// account (`stored`) or a storage fault.
fn expect_created(accounts: &mut MockAccountRepository, stored: bool) {
    accounts
        .expect_create_account()
        .withf(|new, invitation| {
            new.role == Role::Admin
                && invitation.is_none()
                && new.plan == "free"
                && new.password_hash.as_phc() == "hashed:admin password"
        })
        .times(1)
        .returning(move |new, _| {
            let answer = if stored {
                Ok(crate::models::Account {
                    user: User {
                        id: new.user_id,
                        email: new.email,
                        role: new.role,
                        created_at: new.created_at,
                    },
                    organization: crate::models::Organization {
                        id: new.organization_id,
                        name: new.organization_name,
                        plan: new.plan,
                        personal: true,
                        created_at: new.created_at,
                    },
                })
            } else {
                Err(CreateAccountError::Store(StoreError::unavailable(
                    "database down",
                )))
            };
            Box::pin(async move { answer })
        });
}

#[tokio::test]
async fn configuration_creates_the_admin_when_the_address_is_free() {
    let mut accounts = MockAccountRepository::new();
    existing(&mut accounts, None);
    expect_created(&mut accounts, true);
    let outcome = admins(
        accounts,
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .ensure_configured("root@example.com", "admin password")
    .await
    .unwrap();
    assert_eq!(outcome, ConfiguredAdmin::Created);
}

#[tokio::test]
async fn configuration_that_loses_the_creation_race_judges_the_winner() {
    let mut accounts = MockAccountRepository::new();
    let mut sequence = mockall::Sequence::new();
    accounts
        .expect_find_credentials()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Box::pin(async { Ok(None) }));
    accounts
        .expect_create_account()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_, _| Box::pin(async { Err(CreateAccountError::EmailTaken) }));
    let winner = credentials(Role::Admin, "admin password");
    accounts
        .expect_find_credentials()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_| {
            let winner = winner.clone();
            Box::pin(async move { Ok(Some(winner)) })
        });
    let outcome = admins(
        accounts,
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .ensure_configured("root@example.com", "admin password")
    .await
    .unwrap();
    assert_eq!(
        outcome,
        ConfiguredAdmin::AlreadyAdmin {
            password_matches: true
        }
    );
}

#[tokio::test]
async fn configuration_never_promotes_an_existing_user() {
    let mut accounts = MockAccountRepository::new();
    existing(
        &mut accounts,
        Some(credentials(Role::User, "their own password")),
    );
    // No set_role, no set_password_hash, no create_account expectation: any call panics.
    let result = admins(
        accounts,
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .ensure_configured("root@example.com", "admin password")
    .await;
    assert!(
        matches!(result, Err(EnsureAdminError::ExistsAsUser)),
        "{result:?}"
    );
}

#[tokio::test]
async fn configuration_leaves_an_existing_admin_alone_and_says_whether_the_password_is_theirs() {
    for (stored, matches) in [("admin password", true), ("changed since", false)] {
        let mut accounts = MockAccountRepository::new();
        existing(&mut accounts, Some(credentials(Role::Admin, stored)));
        let outcome = admins(
            accounts,
            MockSessionRepository::new(),
            MockLoginAttemptLog::new(),
        )
        .ensure_configured("root@example.com", "admin password")
        .await
        .unwrap();
        assert_eq!(
            outcome,
            ConfiguredAdmin::AlreadyAdmin {
                password_matches: matches
            }
        );
    }
}

#[tokio::test]
async fn a_weak_configured_password_is_refused_before_anything_is_read() {
    let result = admins(
        MockAccountRepository::new(),
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .ensure_configured("root@example.com", "short")
    .await;
    assert!(matches!(result, Err(EnsureAdminError::InvalidPassword(_))));
}

#[tokio::test]
async fn create_admin_creates_when_the_address_is_free() {
    let mut accounts = MockAccountRepository::new();
    existing(&mut accounts, None);
    expect_created(&mut accounts, true);
    let outcome = admins(
        accounts,
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .create_or_reset("root@example.com", "admin password")
    .await
    .unwrap();
    assert_eq!(outcome, AdminReset::Created);
}

#[tokio::test]
async fn create_admin_reports_a_storage_fault_instead_of_success() {
    let mut accounts = MockAccountRepository::new();
    existing(&mut accounts, None);
    expect_created(&mut accounts, false);
    let result = admins(
        accounts,
        MockSessionRepository::new(),
        MockLoginAttemptLog::new(),
    )
    .create_or_reset("root@example.com", "admin password")
    .await;
    assert!(
        matches!(result, Err(EnsureAdminError::Unexpected(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn create_admin_promotes_resets_the_password_clears_the_lockout_and_ends_sessions() {
    for (role, expected) in [
        (Role::User, AdminReset::Promoted),
        (Role::Admin, AdminReset::PasswordReset),
    ] {
        let found = credentials(role, "old password!");
        let id = found.user.id;
        let mut accounts = MockAccountRepository::new();
        existing(&mut accounts, Some(found));
        accounts
            .expect_set_password_hash()
            .withf(move |user, hash| *user == id && hash.as_phc() == "hashed:admin password")
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(true) }));
        accounts
            .expect_set_role()
            .withf(move |user, role| *user == id && *role == Role::Admin)
            .times(usize::from(role == Role::User))
            .returning(|_, _| Box::pin(async { Ok(()) }));
        let mut attempts = MockLoginAttemptLog::new();
        attempts
            .expect_clear_all_failures()
            .withf(|email| email.as_str() == "root@example.com")
            .times(1)
            .returning(|_| Box::pin(async { Ok(()) }));
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_revoke_user_sessions()
            .withf(move |user, at| *user == id && *at == now())
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(vec![]) }));
        let outcome = admins(accounts, sessions, attempts)
            .create_or_reset("Root@Example.com", "admin password")
            .await
            .unwrap();
        assert_eq!(outcome, expected);
    }
}
