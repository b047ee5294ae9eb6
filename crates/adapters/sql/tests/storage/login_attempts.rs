use tollgate_identity::EmailAddress;
use tollgate_identity::ports::LoginAttemptLog;
use tollgate_test_support::both_backends;

use crate::{minutes, now, store};

both_backends!(
    failures_are_counted_per_email_inside_the_window,
    |url: String| async move {
        let store = store(&url).await;
        let alice = EmailAddress::parse("alice@example.com").unwrap();
        let bob = EmailAddress::parse("bob@example.com").unwrap();
        let t0 = now();
        store
            .record_failure(alice.clone(), t0 - minutes(20))
            .await
            .unwrap();
        store
            .record_failure(alice.clone(), t0 - minutes(10))
            .await
            .unwrap();
        store
            .record_failure(alice.clone(), t0 - minutes(5))
            .await
            .unwrap();
        store.record_failure(bob.clone(), t0).await.unwrap();

        let failures = store
            .failures_since(alice.clone(), t0 - minutes(15))
            .await
            .unwrap();
        assert_eq!(failures.count, 2);
        assert_eq!(failures.oldest, Some(t0 - minutes(10)));

        store.clear_failures(alice.clone()).await.unwrap();
        let failures = store.failures_since(alice, t0 - minutes(60)).await.unwrap();
        assert_eq!(failures.count, 0);
        assert_eq!(failures.oldest, None);
        assert_eq!(
            store
                .failures_since(bob, t0 - minutes(1))
                .await
                .unwrap()
                .count,
            1
        );
    }
);
