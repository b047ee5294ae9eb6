use super::*;
use crate::access_token::JwtSecret;
use crate::errors::StoreError;
use crate::models::{LoginFailures, Organization, User, UserCredentials};
use crate::password::PasswordHash;
use crate::ports::{
    MockAccountRepository, MockInvitationRepository, MockLoginAttemptLog, MockPasswordHasher,
    MockSessionRepository,
};
use crate::principal::AuthMethod;
use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;

type Service = IdentityService<
    MockAccountRepository,
    MockInvitationRepository,
    MockSessionRepository,
    MockLoginAttemptLog,
    MockPasswordHasher,
    FixedClock,
>;

struct Mocks {
    accounts: MockAccountRepository,
    invitations: MockInvitationRepository,
    sessions: MockSessionRepository,
    attempts: MockLoginAttemptLog,
    hasher: MockPasswordHasher,
    policy: IdentityPolicy,
}

fn ip() -> std::net::IpAddr {
    "198.51.100.4".parse().unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn codec() -> AccessTokenCodec {
    AccessTokenCodec::new(
        &JwtSecret::new(vec![3; 32]).unwrap(),
        "tollgate",
        "tollgate-api",
        Duration::minutes(15),
    )
}

impl Mocks {
    fn new() -> Self {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|p| {
            let phc = format!("hashed:{}", p.expose());
            Box::pin(async move { Ok(PasswordHash::from_phc(phc)) })
        });
        hasher.expect_verify().returning(|p, h| {
            let ok = h.is_some_and(|h| h.as_phc() == format!("hashed:{}", p.expose()));
            Box::pin(async move { ok })
        });
        Self {
            accounts: MockAccountRepository::new(),
            invitations: MockInvitationRepository::new(),
            sessions: MockSessionRepository::new(),
            attempts: MockLoginAttemptLog::new(),
            hasher,
            policy: IdentityPolicy::default(),
        }
    }

    fn build(self) -> (Service, Arc<RevocationList>) {
        let revocations = Arc::new(RevocationList::new());
        let service = IdentityService::new(
            self.accounts,
            self.invitations,
            self.sessions,
            self.attempts,
            self.hasher,
            FixedClock::new(now()),
            codec(),
            revocations.clone(),
            self.policy,
        );
        (service, revocations)
    }
}

fn account(email: &str, role: Role) -> Account {
    Account {
        user: User {
            id: UserId::new(),
            email: EmailAddress::parse(email).unwrap(),
            role,
            created_at: now(),
        },
        organization: Organization {
            id: OrganizationId::new(),
            name: "org".into(),
            plan: "free".into(),
            personal: true,
            created_at: now(),
        },
    }
}

fn credentials(account: &Account, password: &str) -> UserCredentials {
    UserCredentials {
        user: account.user.clone(),
        password_hash: PasswordHash::from_phc(format!("hashed:{password}")),
        personal_organization: account.organization.id,
    }
}

fn principal(account: &Account) -> Principal {
    Principal {
        user_id: account.user.id,
        organization_id: account.organization.id,
        role: account.user.role,
        session_id: Some(SessionId::new()),
        key_id: None,
        method: AuthMethod::AccessToken,
    }
}

fn unavailable() -> StoreError {
    StoreError::unavailable("database down")
}

#[tokio::test]
async fn invite_only_signup_without_invitation_creates_nothing() {
    let (service, _) = Mocks::new().build();
    let result = service
        .signup("a@example.com", "long enough password", None)
        .await;
    assert!(matches!(result, Err(SignupError::InvitationRequired)));
}

#[tokio::test]
async fn signup_consumes_the_invitation_for_the_normalised_email() {
    let mut mocks = Mocks::new();
    mocks
        .accounts
        .expect_create_account()
        .withf(|new, invitation| {
            let invitation = invitation.as_ref().unwrap();
            new.email.as_str() == "bob@example.com"
                && new.plan == "free"
                && new.role == Role::User
                && invitation.email.as_str() == "bob@example.com"
                && invitation.token_hash == OpaqueToken::from_presented("invite-token").hash()
                && new.password_hash.as_phc() == "hashed:long enough password"
        })
        .times(1)
        .returning(|new, _| {
            let mut acc = account(new.email.as_str(), Role::User);
            acc.user.id = new.user_id;
            Box::pin(async move { Ok(acc) })
        });
    let (service, _) = mocks.build();
    let created = service
        .signup(
            " Bob@Example.com ",
            "long enough password",
            Some("invite-token"),
        )
        .await
        .unwrap();
    assert_eq!(created.user.email.as_str(), "bob@example.com");
}

#[tokio::test]
async fn unusable_invitation_and_duplicate_email_map_to_their_errors() {
    let mut mocks = Mocks::new();
    mocks
        .accounts
        .expect_create_account()
        .times(1)
        .returning(|_, _| Box::pin(async { Err(CreateAccountError::InvitationUnusable) }));
    let (service, _) = mocks.build();
    let result = service
        .signup("a@example.com", "long enough password", Some("x"))
        .await;
    assert!(matches!(result, Err(SignupError::InvitationRequired)));

    let mut mocks = Mocks::new();
    mocks.policy.signup = SignupMode::Open;
    mocks
        .accounts
        .expect_create_account()
        .withf(|_, invitation| invitation.is_none())
        .times(1)
        .returning(|_, _| Box::pin(async { Err(CreateAccountError::EmailTaken) }));
    let (service, _) = mocks.build();
    let result = service
        .signup("a@example.com", "long enough password", None)
        .await;
    assert!(matches!(result, Err(SignupError::EmailTaken)));
}

#[tokio::test]
async fn signup_validates_before_touching_storage() {
    let mut mocks = Mocks::new();
    mocks.policy.signup = SignupMode::Open;
    let (service, _) = mocks.build();
    assert!(matches!(
        service
            .signup("not-an-email", "long enough password", None)
            .await,
        Err(SignupError::InvalidEmail(_))
    ));
    assert!(matches!(
        service.signup("a@example.com", "short", None).await,
        Err(SignupError::InvalidPassword(_))
    ));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_both_record_a_failure() {
    let alice = account("alice@example.com", Role::User);
    let mut mocks = Mocks::new();
    mocks
        .attempts
        .expect_failures_since()
        .withf(|_, source, since| {
            *since == now() - Duration::minutes(15) && *source == LoginSource::from_ip(ip())
        })
        .returning(|_, _, _| Box::pin(async { Ok(LoginFailures::default()) }));
    let creds = credentials(&alice, "right password!");
    mocks
        .accounts
        .expect_find_credentials()
        .returning(move |email| {
            let found = (email.as_str() == "alice@example.com").then(|| creds.clone());
            Box::pin(async move { Ok(found) })
        });
    mocks
        .attempts
        .expect_record_failure()
        .withf(|_, source, _| *source == LoginSource::from_ip(ip()))
        .times(2)
        .returning(|_, _, _| Box::pin(async { Ok(()) }));
    let (service, _) = mocks.build();
    assert!(matches!(
        service
            .login(
                "alice@example.com",
                "wrong password",
                LoginSource::from_ip(ip())
            )
            .await,
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        service
            .login(
                "nobody@example.com",
                "right password!",
                LoginSource::from_ip(ip())
            )
            .await,
        Err(LoginError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn lockout_refuses_even_the_right_password_until_the_window_passes() {
    let mut mocks = Mocks::new();
    mocks.attempts.expect_failures_since().returning(|_, _, _| {
        Box::pin(async {
            Ok(LoginFailures {
                count: 10,
                oldest: Some(now() - Duration::minutes(10)),
            })
        })
    });
    // No expectation on find_credentials: the lockout answers before any password check.
    let (service, _) = mocks.build();
    match service
        .login(
            "alice@example.com",
            "right password!",
            LoginSource::from_ip(ip()),
        )
        .await
    {
        Err(LoginError::LockedOut {
            retry_after_seconds,
        }) => assert_eq!(retry_after_seconds, 300),
        other => panic!("expected lockout, got {other:?}"),
    }
}

#[tokio::test]
async fn successful_login_clears_failures_and_issues_a_token_for_the_personal_org() {
    let alice = account("alice@example.com", Role::Admin);
    let mut mocks = Mocks::new();
    mocks.attempts.expect_failures_since().returning(|_, _, _| {
        Box::pin(async {
            Ok(LoginFailures {
                count: 3,
                oldest: Some(now()),
            })
        })
    });
    let creds = credentials(&alice, "right password!");
    mocks
        .accounts
        .expect_find_credentials()
        .returning(move |_| {
            let c = creds.clone();
            Box::pin(async move { Ok(Some(c)) })
        });
    mocks
        .attempts
        .expect_clear_failures()
        .withf(|_, source| *source == LoginSource::from_ip(ip()))
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let user_id = alice.user.id;
    mocks
        .sessions
        .expect_start_session()
        .withf(move |session, token| {
            session.user_id == user_id
                && token.session_id == session.id
                && token.expires_at == now() + Duration::days(30)
                && token.consumed_at.is_none()
        })
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let (service, _) = mocks.build();
    let pair = service
        .login(
            "alice@example.com",
            "right password!",
            LoginSource::from_ip(ip()),
        )
        .await
        .unwrap();
    assert_eq!(pair.expires_in_seconds, 900);
    let claims = codec().decode(&pair.access_token);
    // Issued at the fixed clock's time, long past: decoding with the wall clock says expired,
    // so check the claims without validation instead.
    assert!(claims.is_err());
    let raw: AccessClaimsView = jsonwebtoken::dangerous::insecure_decode(&pair.access_token)
        .unwrap()
        .claims;
    assert_eq!(raw.sub, alice.user.id.as_uuid());
    assert_eq!(raw.org, alice.organization.id.as_uuid());
    assert_eq!(raw.role, "admin");
    assert_eq!(raw.sid, pair.session_id.as_uuid());
}

#[derive(serde::Deserialize)]
struct AccessClaimsView {
    sub: uuid::Uuid,
    org: uuid::Uuid,
    role: String,
    sid: uuid::Uuid,
}

#[tokio::test]
async fn refresh_rotates_within_the_family() {
    let alice = account("alice@example.com", Role::User);
    let session = SessionRecord {
        id: SessionId::new(),
        user_id: alice.user.id,
        organization_id: alice.organization.id,
        created_at: now(),
        revoked_at: None,
    };
    let mut mocks = Mocks::new();
    let consumed = session.clone();
    mocks
        .sessions
        .expect_consume_refresh_token()
        .withf(|hash, at| *hash == OpaqueToken::from_presented("old").hash() && *at == now())
        .times(1)
        .returning(move |_, _| {
            let s = consumed.clone();
            Box::pin(async move { Ok(ConsumeOutcome::Consumed(s)) })
        });
    let acc = alice.clone();
    mocks.accounts.expect_find_account().returning(move |_| {
        let a = acc.clone();
        Box::pin(async move { Ok(Some(a)) })
    });
    let session_id = session.id;
    mocks
        .sessions
        .expect_add_refresh_token()
        .withf(move |token| token.session_id == session_id)
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    let (service, _) = mocks.build();
    let pair = service.refresh("old").await.unwrap();
    assert_eq!(pair.session_id, session.id);
    assert_ne!(pair.refresh_token.expose(), "old");
}

#[tokio::test]
async fn replayed_refresh_token_revokes_the_family_everywhere() {
    let family = SessionId::new();
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_consume_refresh_token()
        .returning(move |_, _| {
            Box::pin(async move { Ok(ConsumeOutcome::AlreadyConsumed(family)) })
        });
    mocks
        .sessions
        .expect_revoke_session()
        .withf(move |s, at| *s == family && *at == now())
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let (service, revocations) = mocks.build();
    assert!(matches!(
        service.refresh("replayed").await,
        Err(RefreshError::Reused)
    ));
    assert!(revocations.is_revoked(family));
}

#[tokio::test]
async fn refresh_of_a_revoked_family_or_unknown_token_is_invalid() {
    let mut mocks = Mocks::new();
    let mut calls = 0;
    mocks
        .sessions
        .expect_consume_refresh_token()
        .returning(move |_, _| {
            calls += 1;
            let outcome = match calls {
                1 => ConsumeOutcome::SessionRevoked,
                2 => ConsumeOutcome::Expired,
                _ => ConsumeOutcome::Unknown,
            };
            Box::pin(async move { Ok(outcome) })
        });
    let (service, _) = mocks.build();
    for _ in 0..3 {
        assert!(matches!(
            service.refresh("t").await,
            Err(RefreshError::Invalid)
        ));
    }
    assert!(matches!(
        service.refresh("").await,
        Err(RefreshError::Invalid)
    ));
}

#[tokio::test]
async fn storage_failure_is_unexpected_not_invalid() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_consume_refresh_token()
        .returning(|_, _| Box::pin(async { Err(unavailable()) }));
    let (service, _) = mocks.build();
    assert!(matches!(
        service.refresh("t").await,
        Err(RefreshError::Unexpected(_))
    ));
}

#[tokio::test]
async fn logout_revokes_the_family_and_ignores_unknown_tokens() {
    let family = SessionId::new();
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_find_refresh_token()
        .returning(move |hash| {
            let found =
                (hash == OpaqueToken::from_presented("known").hash()).then(|| RefreshTokenRecord {
                    hash,
                    session_id: family,
                    issued_at: now(),
                    expires_at: now(),
                    consumed_at: None,
                });
            Box::pin(async move { Ok(found) })
        });
    mocks
        .sessions
        .expect_revoke_session()
        .withf(move |s, _| *s == family)
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let (service, revocations) = mocks.build();
    service.logout("unknown").await.unwrap();
    service.logout("known").await.unwrap();
    assert!(revocations.is_revoked(family));
}

#[tokio::test]
async fn password_change_checks_the_current_password_and_revokes_every_session() {
    let alice = account("alice@example.com", Role::User);
    let sessions = vec![SessionId::new(), SessionId::new()];
    let mut mocks = Mocks::new();
    let acc = alice.clone();
    mocks.accounts.expect_find_account().returning(move |_| {
        let a = acc.clone();
        Box::pin(async move { Ok(Some(a)) })
    });
    let creds = credentials(&alice, "old password!!");
    mocks
        .accounts
        .expect_find_credentials()
        .returning(move |_| {
            let c = creds.clone();
            Box::pin(async move { Ok(Some(c)) })
        });
    mocks
        .accounts
        .expect_set_password_hash()
        .withf(|_, hash| hash.as_phc() == "hashed:new password!!")
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(true) }));
    let revoked = sessions.clone();
    mocks
        .sessions
        .expect_revoke_user_sessions()
        .times(1)
        .returning(move |_, _| {
            let r = revoked.clone();
            Box::pin(async move { Ok(r) })
        });
    let (service, revocations) = mocks.build();
    let who = principal(&alice);
    assert!(matches!(
        service
            .change_password(&who, "not the password", "new password!!")
            .await,
        Err(ChangePasswordError::WrongPassword)
    ));
    service
        .change_password(&who, "old password!!", "new password!!")
        .await
        .unwrap();
    assert!(sessions.iter().all(|s| revocations.is_revoked(*s)));
}

#[tokio::test]
async fn only_admins_invite_and_invitations_expire_after_the_policy_ttl() {
    let mut mocks = Mocks::new();
    mocks
        .invitations
        .expect_create_invitation()
        .withf(|email, _, _, created, expires| {
            email.as_str() == "new@example.com"
                && *created == now()
                && *expires == now() + Duration::days(7)
        })
        .times(1)
        .returning(|_, _, _, _, _| Box::pin(async { Ok(()) }));
    let (service, _) = mocks.build();
    let user = principal(&account("u@example.com", Role::User));
    assert!(matches!(
        service.invite(&user, "new@example.com").await,
        Err(InviteError::Forbidden)
    ));
    let admin = principal(&account("root@example.com", Role::Admin));
    let invitation = service.invite(&admin, "New@Example.com").await.unwrap();
    assert_eq!(invitation.email.as_str(), "new@example.com");
    assert_eq!(invitation.expires_at, now() + Duration::days(7));
}
