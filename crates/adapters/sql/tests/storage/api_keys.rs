use std::sync::Arc;

use chrono::Duration;
use tollgate_identity::ports::AccountRepository;
use tollgate_identity::{OrganizationRole, Role};
use tollgate_kernel::OrganizationId;
use tollgate_keys::ports::{ApiKeyRepository, InsertKeyError, MembershipDirectory};
use tollgate_keys::{ApiKey, ApiKeyId, ApiKeySecret, Environment, KeyEnd, KeyHasher, KeyName};
use tollgate_test_support::both_backends;

use crate::{create, now, store};

fn hasher() -> KeyHasher {
    KeyHasher::new(b"storage test pepper")
}

fn new_key(
    account: &tollgate_identity::Account,
    environment: Environment,
) -> (ApiKey, ApiKeySecret) {
    let secret = ApiKeySecret::generate(environment);
    let key = ApiKey {
        id: ApiKeyId::new(),
        organization_id: account.organization.id,
        created_by: account.user.id,
        name: KeyName::parse("ci").unwrap(),
        environment,
        prefix: secret.display_prefix(),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    (key, secret)
}

both_backends!(key_round_trip_by_hash, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    store.set_role(alice.user.id, Role::Admin).await.unwrap();
    let (key, secret) = new_key(&alice, Environment::Staging);
    store
        .insert_within_cap(key.clone(), hasher().hash(secret.expose()), 50, now())
        .await
        .unwrap();
    let record = store
        .find_by_hash(hasher().hash(secret.expose()))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(record.key, key);
    assert!(record.hash.matches(&hasher().hash(secret.expose())));
    assert_eq!(record.creator_role, Role::Admin);
    assert!(!record.organization_suspended);
    assert!(
        store
            .find_by_hash(hasher().hash("tg_prod_other"))
            .await
            .unwrap()
            .is_none()
    );
});

both_backends!(
    cap_holds_under_concurrent_creation,
    |url: String| async move {
        let store = Arc::new(store(&url).await);
        let alice = create(&store, "alice@example.com").await;
        let attempts = (0..20).map(|_| {
            let store = store.clone();
            let (key, secret) = new_key(&alice, Environment::Production);
            tokio::spawn(async move {
                store
                    .insert_within_cap(key, hasher().hash(secret.expose()), 5, now())
                    .await
            })
        });
        let results = futures::future::join_all(attempts).await;
        let created = results
            .iter()
            .filter(|r| r.as_ref().unwrap().is_ok())
            .count();
        let capped = results
            .iter()
            .filter(|r| matches!(r.as_ref().unwrap(), Err(InsertKeyError::CapReached)))
            .count();
        assert_eq!((created, capped), (5, 15), "{results:?}");
        assert_eq!(store.list(alice.organization.id).await.unwrap().len(), 5);

        // Revoked and expired keys do not count.
        let first = store.list(alice.organization.id).await.unwrap()[0].clone();
        store
            .revoke(alice.organization.id, first.id, now())
            .await
            .unwrap();
        let (key, secret) = new_key(&alice, Environment::Production);
        store
            .insert_within_cap(key, hasher().hash(secret.expose()), 5, now())
            .await
            .unwrap();
    }
);

both_backends!(
    list_is_per_organization_newest_first,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let bob = create(&store, "bob@example.com").await;
        let (mut older, s1) = new_key(&alice, Environment::Development);
        older.created_at = now() - Duration::minutes(5);
        let (newer, s2) = new_key(&alice, Environment::Production);
        let (bobs, s3) = new_key(&bob, Environment::Production);
        for (key, secret) in [(&older, &s1), (&newer, &s2), (&bobs, &s3)] {
            store
                .insert_within_cap(key.clone(), hasher().hash(secret.expose()), 50, now())
                .await
                .unwrap();
        }
        let listed: Vec<ApiKeyId> = store
            .list(alice.organization.id)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(listed, vec![newer.id, older.id]);
        assert!(
            store
                .find(alice.organization.id, bobs.id)
                .await
                .unwrap()
                .is_none(),
            "another tenant's key"
        );
        assert!(
            !store
                .revoke(alice.organization.id, bobs.id, now())
                .await
                .unwrap()
        );
        assert!(
            store
                .find(bob.organization.id, bobs.id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
    }
);

both_backends!(revoke_keeps_the_first_time, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    let (key, secret) = new_key(&alice, Environment::Production);
    store
        .insert_within_cap(key.clone(), hasher().hash(secret.expose()), 50, now())
        .await
        .unwrap();
    let t = now();
    assert!(
        store
            .revoke(alice.organization.id, key.id, t)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke(alice.organization.id, key.id, t + Duration::minutes(1))
            .await
            .unwrap()
    );
    let stored = store
        .find(alice.organization.id, key.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(t));
});

both_backends!(rotation_replaces_atomically, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    let (old, old_secret) = new_key(&alice, Environment::Production);
    store
        .insert_within_cap(old.clone(), hasher().hash(old_secret.expose()), 50, now())
        .await
        .unwrap();

    let (replacement, new_secret) = new_key(&alice, Environment::Production);
    let grace_end = now() + Duration::hours(1);
    assert!(
        store
            .rotate(
                old.id,
                KeyEnd::ExpireAt(grace_end),
                replacement.clone(),
                hasher().hash(new_secret.expose()),
                now()
            )
            .await
            .unwrap()
    );
    let old_now = store
        .find(alice.organization.id, old.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_now.expires_at, Some(grace_end));
    assert!(old_now.revoked_at.is_none());
    assert!(
        store
            .find_by_hash(hasher().hash(new_secret.expose()))
            .await
            .unwrap()
            .is_some()
    );

    // Rotating the replacement without grace revokes it; rotating a revoked key does nothing.
    let (third, third_secret) = new_key(&alice, Environment::Production);
    assert!(
        store
            .rotate(
                replacement.id,
                KeyEnd::RevokeAt(now()),
                third.clone(),
                hasher().hash(third_secret.expose()),
                now()
            )
            .await
            .unwrap()
    );
    let (fourth, fourth_secret) = new_key(&alice, Environment::Production);
    assert!(
        !store
            .rotate(
                replacement.id,
                KeyEnd::RevokeAt(now()),
                fourth.clone(),
                hasher().hash(fourth_secret.expose()),
                now()
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .find(alice.organization.id, fourth.id)
            .await
            .unwrap()
            .is_none(),
        "nothing inserted"
    );
});

both_backends!(
    a_hash_is_rewritten_once_and_only_from_the_old_value,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let (key, secret) = new_key(&alice, Environment::Production);
        let (other, other_secret) = new_key(&alice, Environment::Production);
        let old = hasher().hash(secret.expose());
        let new = KeyHasher::new(b"rotated pepper").hash(secret.expose());
        store
            .insert_within_cap(key.clone(), old.clone(), 50, now())
            .await
            .unwrap();
        store
            .insert_within_cap(
                other.clone(),
                hasher().hash(other_secret.expose()),
                50,
                now(),
            )
            .await
            .unwrap();
        assert!(
            store
                .rewrite_hash(key.id, old.clone(), new.clone())
                .await
                .unwrap()
        );
        let record = store
            .find_by_hash(new.clone())
            .await
            .unwrap()
            .expect("found");
        assert_eq!(record.key, key);
        assert!(record.hash.matches(&new));
        assert!(store.find_by_hash(old.clone()).await.unwrap().is_none());
        // A second rewrite from the old hash (a racing request) changes nothing.
        assert!(
            !store
                .rewrite_hash(
                    key.id,
                    old.clone(),
                    KeyHasher::new(b"x").hash(secret.expose())
                )
                .await
                .unwrap()
        );
        assert!(store.find_by_hash(new.clone()).await.unwrap().is_some());
        // Another key's id with this key's old hash changes nothing either.
        assert!(
            !store
                .rewrite_hash(other.id, old, new.clone())
                .await
                .unwrap()
        );
        // A hash another key holds is a conflict, and changes nothing.
        assert!(matches!(
            store
                .rewrite_hash(other.id, hasher().hash(other_secret.expose()), new)
                .await,
            Err(tollgate_identity::StoreError::Conflict)
        ));
        assert!(
            store
                .find_by_hash(hasher().hash(other_secret.expose()))
                .await
                .unwrap()
                .is_some()
        );
    }
);

both_backends!(last_used_only_moves_forward, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    let (key, secret) = new_key(&alice, Environment::Production);
    store
        .insert_within_cap(key.clone(), hasher().hash(secret.expose()), 50, now())
        .await
        .unwrap();
    let t = now();
    store.record_last_used(vec![(key.id, t)]).await.unwrap();
    store
        .record_last_used(vec![(key.id, t - Duration::minutes(5))])
        .await
        .unwrap();
    assert_eq!(
        store
            .find(alice.organization.id, key.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(t)
    );
});

both_backends!(membership_roles, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    let bob = create(&store, "bob@example.com").await;
    assert_eq!(
        store
            .role_in(alice.organization.id, alice.user.id)
            .await
            .unwrap(),
        Some(OrganizationRole::Owner)
    );
    assert_eq!(
        store
            .role_in(alice.organization.id, bob.user.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .role_in(OrganizationId::new(), alice.user.id)
            .await
            .unwrap(),
        None
    );
});
