use super::*;
use crate::hashing::KeyHash;
use crate::models::ApiKeyRecord;
use crate::ports::{MockApiKeyRepository, MockMembershipDirectory};
use tollgate_identity::{Role, StoreError};
use tollgate_kernel::{FixedClock, UserId};

type Service = ApiKeyService<MockApiKeyRepository, MockMembershipDirectory, FixedClock>;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn hasher() -> KeyHasher {
    KeyHasher::new(b"test pepper")
}

fn build(
    keys: MockApiKeyRepository,
    members: MockMembershipDirectory,
) -> (Service, Arc<LastUsedTracker>) {
    let tracker = Arc::new(LastUsedTracker::new(Duration::minutes(1)));
    let service = ApiKeyService::new(
        keys,
        members,
        FixedClock::new(now()),
        hasher(),
        tracker.clone(),
        KeyPolicy::default(),
    );
    (service, tracker)
}

fn user_principal(org: OrganizationId) -> Principal {
    Principal {
        user_id: UserId::new(),
        organization_id: org,
        role: Role::User,
        session_id: None,
        key_id: None,
        method: AuthMethod::AccessToken,
    }
}

fn members_with(role: Option<OrganizationRole>) -> MockMembershipDirectory {
    let mut members = MockMembershipDirectory::new();
    members
        .expect_role_in()
        .returning(move |_, _| Box::pin(async move { Ok(role) }));
    members
}

fn key_of(principal: &Principal) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        organization_id: principal.organization_id,
        created_by: principal.user_id,
        name: KeyName::parse("ci").unwrap(),
        environment: Environment::Production,
        prefix: "tg_prod_abcdef".into(),
        created_at: now() - Duration::days(1),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

fn record(key: ApiKey, secret: &ApiKeySecret) -> ApiKeyRecord {
    ApiKeyRecord {
        key,
        hash: hasher().hash(secret.expose()),
        creator_role: Role::User,
        organization_suspended: false,
    }
}

#[tokio::test]
async fn malformed_keys_are_refused_without_a_look_up() {
    // No expectation on find_by_hash: a call would panic.
    let (service, _) = build(MockApiKeyRepository::new(), MockMembershipDirectory::new());
    let valid = ApiKeySecret::generate(Environment::Production);
    let mut mistyped = valid.expose().to_owned();
    let last = mistyped.pop().unwrap();
    mistyped.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [
        "",
        "tg_",
        "tg_prod_short",
        mistyped.as_str(),
        &"x".repeat(10_000),
    ] {
        assert!(
            matches!(
                service.authenticate(bad).await,
                Err(KeyAuthError::Malformed)
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn live_key_yields_a_principal_and_is_touched() {
    let org = OrganizationId::new();
    let owner = user_principal(org);
    let secret = ApiKeySecret::generate(Environment::Production);
    let key = key_of(&owner);
    let stored = record(key.clone(), &secret);
    let expected_hash = hasher().hash(secret.expose());
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash()
        .withf(move |hash| *hash == expected_hash)
        .returning(move |_| {
            let r = stored.clone();
            Box::pin(async move { Ok(Some(r)) })
        });
    let (service, tracker) = build(keys, MockMembershipDirectory::new());
    let principal = service.authenticate(secret.expose()).await.unwrap();
    assert_eq!(principal.user_id, owner.user_id);
    assert_eq!(principal.organization_id, org);
    assert_eq!(principal.key_id, Some(key.id));
    assert_eq!(principal.method, AuthMethod::ApiKey);
    assert_eq!(tracker.drain(now()), vec![(key.id, now())]);
}

#[tokio::test]
async fn revoked_expired_suspended_and_unknown_keys_fail_for_their_reason() {
    let owner = user_principal(OrganizationId::new());
    let secret = ApiKeySecret::generate(Environment::Development);
    let mut revoked = record(key_of(&owner), &secret);
    revoked.key.revoked_at = Some(now() - Duration::seconds(1));
    let mut expired = record(key_of(&owner), &secret);
    expired.key.expires_at = Some(now());
    let mut suspended = record(key_of(&owner), &secret);
    suspended.organization_suspended = true;
    let mut in_grace = record(key_of(&owner), &secret);
    in_grace.key.expires_at = Some(now() + Duration::seconds(1));
    let mut wrong_hash = record(key_of(&owner), &secret);
    wrong_hash.hash = KeyHash::from_stored("00");
    let answers = vec![
        Some(revoked),
        Some(expired),
        Some(suspended),
        None,
        Some(wrong_hash),
        Some(in_grace),
    ];
    let mut keys = MockApiKeyRepository::new();
    let mut sequence = answers.into_iter();
    keys.expect_find_by_hash().times(6).returning(move |_| {
        let next = sequence.next().unwrap();
        Box::pin(async move { Ok(next) })
    });
    let (service, _) = build(keys, MockMembershipDirectory::new());
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Revoked)
    ));
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Expired)
    ));
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Suspended)
    ));
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Unknown)
    ));
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Unknown)
    ));
    assert!(
        service.authenticate(secret.expose()).await.is_ok(),
        "a key in its grace period works"
    );
}

#[tokio::test]
async fn storage_failure_during_verification_is_unexpected() {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash()
        .returning(|_| Box::pin(async { Err(StoreError::unavailable("down")) }));
    let (service, _) = build(keys, MockMembershipDirectory::new());
    let secret = ApiKeySecret::generate(Environment::Production);
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Unexpected(_))
    ));
}

#[tokio::test]
async fn create_stores_only_the_hash_and_returns_the_secret_once() {
    let org = OrganizationId::new();
    let caller = user_principal(org);
    let mut keys = MockApiKeyRepository::new();
    let stored_hash = Arc::new(std::sync::Mutex::new(None));
    let seen = stored_hash.clone();
    keys.expect_insert_within_cap()
        .withf(move |key, _, cap, at| {
            key.organization_id == org
                && *cap == 50
                && *at == now()
                && key.name.as_str() == "deploy"
        })
        .times(1)
        .returning(move |_, hash, _, _| {
            *seen.lock().unwrap() = Some(hash);
            Box::pin(async { Ok(()) })
        });
    let (service, _) = build(keys, members_with(Some(OrganizationRole::Owner)));
    let created = service
        .create(&caller, None, " deploy ", Environment::Staging, None)
        .await
        .unwrap();
    assert!(created.secret.expose().starts_with("tg_stg_"));
    assert!(created.secret.expose().starts_with(&created.key.prefix));
    assert_eq!(created.key.created_by, caller.user_id);
    assert_eq!(
        stored_hash.lock().unwrap().clone(),
        Some(hasher().hash(created.secret.expose()))
    );
}

#[tokio::test]
async fn create_outside_ones_organizations_is_not_found() {
    let caller = user_principal(OrganizationId::new());
    let (service, _) = build(MockApiKeyRepository::new(), members_with(None));
    let result = service
        .create(
            &caller,
            Some(OrganizationId::new()),
            "x",
            Environment::Production,
            None,
        )
        .await;
    assert!(matches!(result, Err(CreateKeyError::OrganizationNotFound)));

    // A key is bound to its organisation: no membership look-up for another one.
    let mut key_caller = user_principal(OrganizationId::new());
    key_caller.key_id = Some(ApiKeyId::new());
    let (service, _) = build(MockApiKeyRepository::new(), MockMembershipDirectory::new());
    let result = service
        .create(
            &key_caller,
            Some(OrganizationId::new()),
            "x",
            Environment::Production,
            None,
        )
        .await;
    assert!(matches!(result, Err(CreateKeyError::OrganizationNotFound)));
}

#[tokio::test]
async fn create_checks_expiry_and_reports_the_cap() {
    let caller = user_principal(OrganizationId::new());
    let (service, _) = build(
        MockApiKeyRepository::new(),
        members_with(Some(OrganizationRole::Owner)),
    );
    let past = service
        .create(&caller, None, "x", Environment::Production, Some(now()))
        .await;
    assert!(matches!(past, Err(CreateKeyError::ExpiryInPast)));

    let mut keys = MockApiKeyRepository::new();
    keys.expect_insert_within_cap()
        .returning(|_, _, _, _| Box::pin(async { Err(InsertKeyError::CapReached) }));
    let (service, _) = build(keys, members_with(Some(OrganizationRole::Owner)));
    let capped = service
        .create(&caller, None, "x", Environment::Production, None)
        .await;
    assert!(matches!(
        capped,
        Err(CreateKeyError::CapReached { cap: 50 })
    ));
}

fn keys_finding(key: ApiKey) -> MockApiKeyRepository {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find().returning(move |org, id| {
        let found = (org == key.organization_id && id == key.id).then(|| key.clone());
        Box::pin(async move { Ok(found) })
    });
    keys
}

#[tokio::test]
async fn rotation_without_grace_revokes_the_old_key_at_once() {
    let owner = user_principal(OrganizationId::new());
    let old = key_of(&owner);
    let mut keys = keys_finding(old.clone());
    let old_id = old.id;
    keys.expect_rotate()
        .withf(move |id, end, replacement, _, _| {
            *id == old_id
                && *end == KeyEnd::RevokeAt(now())
                && replacement.name.as_str() == "ci"
                && replacement.environment == Environment::Production
                && replacement.id != old_id
        })
        .times(1)
        .returning(|_, _, _, _, _| Box::pin(async { Ok(true) }));
    let (service, _) = build(keys, members_with(Some(OrganizationRole::Owner)));
    let created = service
        .rotate(&owner, None, old.id, Duration::zero())
        .await
        .unwrap();
    assert!(created.secret.expose().starts_with("tg_prod_"));
}

#[tokio::test]
async fn rotation_grace_is_bounded_by_the_old_expiry() {
    let owner = user_principal(OrganizationId::new());
    let mut old = key_of(&owner);
    old.expires_at = Some(now() + Duration::minutes(10));
    let mut keys = keys_finding(old.clone());
    keys.expect_rotate()
        .withf(|_, end, replacement, _, _| {
            *end == KeyEnd::ExpireAt(now() + Duration::minutes(10))
                && replacement.expires_at == Some(now() + Duration::minutes(10))
        })
        .times(1)
        .returning(|_, _, _, _, _| Box::pin(async { Ok(true) }));
    let (service, _) = build(keys, members_with(Some(OrganizationRole::Owner)));
    service
        .rotate(&owner, None, old.id, Duration::hours(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_creator_or_org_admin_may_manage_a_key() {
    let org = OrganizationId::new();
    let creator = user_principal(org);
    let colleague = user_principal(org);
    let key = key_of(&creator);
    let (service, _) = build(
        keys_finding(key.clone()),
        members_with(Some(OrganizationRole::Member)),
    );
    assert!(matches!(
        service.revoke(&colleague, None, key.id).await,
        Err(ManageKeyError::Forbidden)
    ));
    assert!(matches!(
        service
            .rotate(&colleague, None, key.id, Duration::zero())
            .await,
        Err(ManageKeyError::Forbidden)
    ));

    let mut keys = keys_finding(key.clone());
    keys.expect_revoke()
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(true) }));
    let (service, _) = build(keys, members_with(Some(OrganizationRole::Admin)));
    service.revoke(&colleague, None, key.id).await.unwrap();
}

#[tokio::test]
async fn another_tenants_key_is_not_found() {
    let mine = user_principal(OrganizationId::new());
    let theirs = key_of(&user_principal(OrganizationId::new()));
    let (service, _) = build(
        keys_finding(theirs.clone()),
        members_with(Some(OrganizationRole::Owner)),
    );
    assert!(matches!(
        service.revoke(&mine, None, theirs.id).await,
        Err(ManageKeyError::NotFound)
    ));
    assert!(matches!(
        service
            .rotate(&mine, None, theirs.id, Duration::zero())
            .await,
        Err(ManageKeyError::NotFound)
    ));
}

#[tokio::test]
async fn rotation_refuses_dead_keys_and_bad_grace() {
    let owner = user_principal(OrganizationId::new());
    let mut revoked = key_of(&owner);
    revoked.revoked_at = Some(now() - Duration::minutes(1));
    let (service, _) = build(
        keys_finding(revoked.clone()),
        members_with(Some(OrganizationRole::Owner)),
    );
    assert!(matches!(
        service
            .rotate(&owner, None, revoked.id, Duration::zero())
            .await,
        Err(ManageKeyError::NotLive)
    ));
    assert!(matches!(
        service
            .rotate(&owner, None, revoked.id, Duration::seconds(-1))
            .await,
        Err(ManageKeyError::InvalidGrace { .. })
    ));
    assert!(matches!(
        service
            .rotate(&owner, None, revoked.id, Duration::days(31))
            .await,
        Err(ManageKeyError::InvalidGrace { .. })
    ));
}

#[tokio::test]
async fn flush_writes_each_used_key_once() {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_record_last_used()
        .withf(|batch| batch.len() == 1)
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    let (service, tracker) = build(keys, MockMembershipDirectory::new());
    let id = ApiKeyId::new();
    tracker.touch(id, now());
    tracker.touch(id, now());
    assert_eq!(service.flush_last_used().await.unwrap(), 1);
    assert_eq!(
        service.flush_last_used().await.unwrap(),
        0,
        "nothing pending, no write"
    );
}

// Pepper rotation: `hasher()`'s pepper ("test pepper") is the previous one, "new pepper" current.

fn rotating_hasher() -> KeyHasher {
    KeyHasher::new(b"new pepper").with_previous([b"unrelated".as_slice(), b"test pepper"])
}

fn build_rotating(keys: MockApiKeyRepository) -> Service {
    ApiKeyService::new(
        keys,
        MockMembershipDirectory::new(),
        FixedClock::new(now()),
        rotating_hasher(),
        Arc::new(LastUsedTracker::new(Duration::minutes(1))),
        KeyPolicy::default(),
    )
}

/// A repository holding `stored` under its hash only (the previous pepper's).
fn holding(stored: ApiKeyRecord) -> MockApiKeyRepository {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash().returning(move |hash| {
        let found = (hash == stored.hash).then(|| stored.clone());
        Box::pin(async move { Ok(found) })
    });
    keys
}

#[tokio::test]
async fn a_key_hashed_under_a_previous_pepper_is_accepted_and_rewritten_under_the_current() {
    let owner = user_principal(OrganizationId::new());
    let secret = ApiKeySecret::generate(Environment::Production);
    let stored = record(key_of(&owner), &secret);
    let id = stored.key.id;
    let old = hasher().hash(secret.expose());
    let new = KeyHasher::new(b"new pepper").hash(secret.expose());
    assert_ne!(old, new);
    let mut keys = holding(stored);
    keys.expect_rewrite_hash()
        .withf(move |key, from, to| *key == id && *from == old && *to == new)
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(true) }));
    let service = build_rotating(keys);
    let principal = service.authenticate(secret.expose()).await.unwrap();
    assert_eq!(principal.key_id, Some(id));
}

#[tokio::test]
async fn a_key_under_the_current_pepper_needs_no_other_look_up_and_no_rewrite() {
    let owner = user_principal(OrganizationId::new());
    let secret = ApiKeySecret::generate(Environment::Production);
    let mut stored = record(key_of(&owner), &secret);
    stored.hash = KeyHasher::new(b"new pepper").hash(secret.expose());
    let current = stored.hash.clone();
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash()
        .withf(move |hash| *hash == current)
        .times(1)
        .returning(move |_| {
            let found = stored.clone();
            Box::pin(async move { Ok(Some(found)) })
        });
    keys.expect_rewrite_hash().never();
    assert!(
        build_rotating(keys)
            .authenticate(secret.expose())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unknown_key_is_looked_up_under_every_pepper_then_refused() {
    let secret = ApiKeySecret::generate(Environment::Production);
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash()
        .times(3)
        .returning(|_| Box::pin(async { Ok(None) }));
    keys.expect_rewrite_hash().never();
    assert!(matches!(
        build_rotating(keys).authenticate(secret.expose()).await,
        Err(KeyAuthError::Unknown)
    ));
    // Without previous peppers, one look-up (the strict mock panics on a second).
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash()
        .times(1)
        .returning(|_| Box::pin(async { Ok(None) }));
    let (service, _) = build(keys, MockMembershipDirectory::new());
    assert!(matches!(
        service.authenticate(secret.expose()).await,
        Err(KeyAuthError::Unknown)
    ));
}

#[tokio::test]
async fn a_refused_key_under_a_previous_pepper_is_not_rewritten() {
    let owner = user_principal(OrganizationId::new());
    let secret = ApiKeySecret::generate(Environment::Production);
    let mut revoked = record(key_of(&owner), &secret);
    revoked.key.revoked_at = Some(now() - Duration::seconds(1));
    let mut keys = holding(revoked);
    keys.expect_rewrite_hash().never();
    assert!(matches!(
        build_rotating(keys).authenticate(secret.expose()).await,
        Err(KeyAuthError::Revoked)
    ));
    // Nor is a stored hash that does not match what was looked up.
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash().returning(|_| {
        Box::pin(async {
            Ok(Some(ApiKeyRecord {
                hash: KeyHash::from_stored("00"),
                ..record(
                    key_of(&user_principal(OrganizationId::new())),
                    &ApiKeySecret::generate(Environment::Production),
                )
            }))
        })
    });
    keys.expect_rewrite_hash().never();
    assert!(matches!(
        build_rotating(keys).authenticate(secret.expose()).await,
        Err(KeyAuthError::Unknown)
    ));
}

#[tokio::test]
async fn a_failed_rewrite_still_accepts_the_key() {
    let owner = user_principal(OrganizationId::new());
    let secret = ApiKeySecret::generate(Environment::Production);
    let mut keys = holding(record(key_of(&owner), &secret));
    keys.expect_rewrite_hash()
        .times(1)
        .returning(|_, _, _| Box::pin(async { Err(StoreError::unavailable("down")) }));
    assert!(
        build_rotating(keys)
            .authenticate(secret.expose())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn keys_are_created_and_rotated_under_the_current_pepper_only() {
    let org = OrganizationId::new();
    let caller = user_principal(org);
    let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut keys = MockApiKeyRepository::new();
    let seen = stored.clone();
    keys.expect_insert_within_cap()
        .times(1)
        .returning(move |_, hash, _, _| {
            seen.lock().unwrap().push(hash);
            Box::pin(async { Ok(()) })
        });
    let old = key_of(&caller);
    let found = old.clone();
    keys.expect_find().returning(move |_, _| {
        let key = found.clone();
        Box::pin(async move { Ok(Some(key)) })
    });
    let seen = stored.clone();
    keys.expect_rotate()
        .times(1)
        .returning(move |_, _, _, hash, _| {
            seen.lock().unwrap().push(hash);
            Box::pin(async { Ok(true) })
        });
    let service = ApiKeyService::new(
        keys,
        members_with(Some(OrganizationRole::Owner)),
        FixedClock::new(now()),
        rotating_hasher(),
        Arc::new(LastUsedTracker::new(Duration::minutes(1))),
        KeyPolicy::default(),
    );
    let created = service
        .create(&caller, None, "deploy", Environment::Production, None)
        .await
        .unwrap();
    let rotated = service
        .rotate(&caller, None, old.id, Duration::zero())
        .await
        .unwrap();
    let current = KeyHasher::new(b"new pepper");
    assert_eq!(
        *stored.lock().unwrap(),
        vec![
            current.hash(created.secret.expose()),
            current.hash(rotated.secret.expose())
        ]
    );
}
