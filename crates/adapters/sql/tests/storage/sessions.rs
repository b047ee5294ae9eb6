use std::sync::Arc;

use tollgate_identity::ports::{ConsumeOutcome, SessionRepository};
use tollgate_identity::{OpaqueToken, RefreshTokenRecord, SessionId, SessionRecord};
use tollgate_test_support::both_backends;

use crate::{create, minutes, now, store};

fn session_for(account: &tollgate_identity::Account) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(),
        user_id: account.user.id,
        organization_id: account.organization.id,
        created_at: now(),
        revoked_at: None,
    }
}

fn token(session: SessionId, ttl_minutes: i64) -> (OpaqueToken, RefreshTokenRecord) {
    let token = OpaqueToken::generate();
    let record = RefreshTokenRecord {
        hash: token.hash(),
        session_id: session,
        issued_at: now(),
        expires_at: now() + minutes(ttl_minutes),
        consumed_at: None,
    };
    (token, record)
}

both_backends!(
    consume_once_then_replay_is_detected,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let session = session_for(&alice);
        let (first, record) = token(session.id, 60);
        store.start_session(session.clone(), record).await.unwrap();

        match store
            .consume_refresh_token(first.hash(), now())
            .await
            .unwrap()
        {
            ConsumeOutcome::Consumed(found) => assert_eq!(found, session),
            other => panic!("expected Consumed, got {other:?}"),
        }
        assert_eq!(
            store
                .consume_refresh_token(first.hash(), now())
                .await
                .unwrap(),
            ConsumeOutcome::AlreadyConsumed(session.id)
        );
        assert_eq!(
            store
                .consume_refresh_token(OpaqueToken::generate().hash(), now())
                .await
                .unwrap(),
            ConsumeOutcome::Unknown
        );
        let found = store
            .find_refresh_token(first.hash())
            .await
            .unwrap()
            .unwrap();
        assert!(found.consumed_at.is_some());
    }
);

both_backends!(expired_token_is_not_consumed, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    let session = session_for(&alice);
    let (old, record) = token(session.id, -1);
    store.start_session(session, record).await.unwrap();
    assert_eq!(
        store
            .consume_refresh_token(old.hash(), now())
            .await
            .unwrap(),
        ConsumeOutcome::Expired
    );
});

both_backends!(
    tokens_of_a_revoked_session_are_not_consumed,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let session = session_for(&alice);
        let (live, record) = token(session.id, 60);
        store.start_session(session.clone(), record).await.unwrap();
        store.revoke_session(session.id, now()).await.unwrap();
        assert_eq!(
            store
                .consume_refresh_token(live.hash(), now())
                .await
                .unwrap(),
            ConsumeOutcome::SessionRevoked
        );
        assert!(
            store
                .find_refresh_token(live.hash())
                .await
                .unwrap()
                .unwrap()
                .consumed_at
                .is_none()
        );
    }
);

both_backends!(
    fifty_concurrent_consumes_let_exactly_one_through,
    |url: String| async move {
        let store = Arc::new(store(&url).await);
        let alice = create(&store, "alice@example.com").await;
        let session = session_for(&alice);
        let (shared, record) = token(session.id, 60);
        store.start_session(session, record).await.unwrap();
        let attempts = (0..50).map(|_| {
            let store = store.clone();
            let hash = shared.hash();
            tokio::spawn(async move { store.consume_refresh_token(hash, now()).await.unwrap() })
        });
        let outcomes = futures::future::join_all(attempts).await;
        let consumed = outcomes
            .iter()
            .filter(|o| matches!(o.as_ref().unwrap(), ConsumeOutcome::Consumed(_)))
            .count();
        assert_eq!(consumed, 1, "{outcomes:?}");
    }
);

both_backends!(
    revocation_is_idempotent_and_listed,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let bob = create(&store, "bob@example.com").await;
        let (a1, a2, b1) = (session_for(&alice), session_for(&alice), session_for(&bob));
        for s in [&a1, &a2, &b1] {
            store
                .start_session(s.clone(), token(s.id, 60).1)
                .await
                .unwrap();
        }
        let before = now() - minutes(1);
        store.revoke_session(a1.id, now()).await.unwrap();
        store
            .revoke_session(a1.id, now() + minutes(5))
            .await
            .unwrap();
        let listed = store.sessions_revoked_since(before).await.unwrap();
        assert_eq!(listed, vec![a1.id]);
        assert!(
            store
                .sessions_revoked_since(now() + minutes(1))
                .await
                .unwrap()
                .is_empty(),
            "first revocation time is kept"
        );

        let revoked = store
            .revoke_user_sessions(alice.user.id, now())
            .await
            .unwrap();
        assert_eq!(revoked, vec![a2.id], "only sessions that were live");
        let mut listed = store.sessions_revoked_since(before).await.unwrap();
        listed.sort();
        let mut expected = vec![a1.id, a2.id];
        expected.sort();
        assert_eq!(listed, expected, "bob's session is untouched");
    }
);
