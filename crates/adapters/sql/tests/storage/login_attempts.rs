use tollgate_identity::ports::LoginAttemptLog;
use tollgate_identity::{EmailAddress, LoginSource};
use tollgate_test_support::both_backends;

use crate::{minutes, now, store};

fn source(ip: &str) -> LoginSource {
    LoginSource::from_ip(ip.parse().unwrap())
}

both_backends!(
    failures_are_counted_per_email_and_source_inside_the_window,
    |url: String| async move {
        let store = store(&url).await;
        let alice = EmailAddress::parse("alice@example.com").unwrap();
        let bob = EmailAddress::parse("bob@example.com").unwrap();
        let stranger = source("203.0.113.9");
        let owner = source("198.51.100.1");
        let t0 = now();
        for ago in [20, 10, 5] {
            store
                .record_failure(alice.clone(), stranger.clone(), t0 - minutes(ago))
                .await
                .unwrap();
        }
        store
            .record_failure(alice.clone(), owner.clone(), t0 - minutes(1))
            .await
            .unwrap();
        store
            .record_failure(bob.clone(), stranger.clone(), t0)
            .await
            .unwrap();

        let failures = store
            .failures_since(alice.clone(), stranger.clone(), t0 - minutes(15))
            .await
            .unwrap();
        assert_eq!(failures.count, 2);
        assert_eq!(failures.oldest, Some(t0 - minutes(10)));
        let owners = store
            .failures_since(alice.clone(), owner.clone(), t0 - minutes(15))
            .await
            .unwrap();
        assert_eq!(owners.count, 1);

        // A success from one source forgets that source's failures only.
        store
            .clear_failures(alice.clone(), owner.clone())
            .await
            .unwrap();
        let count = |email: EmailAddress, from: LoginSource| {
            let store = store.clone();
            async move {
                store
                    .failures_since(email, from, t0 - minutes(60))
                    .await
                    .unwrap()
                    .count
            }
        };
        assert_eq!(count(alice.clone(), owner.clone()).await, 0);
        assert_eq!(count(alice.clone(), stranger.clone()).await, 3);

        // An operator's reset forgets every source of that e-mail, and only of that e-mail.
        store.clear_all_failures(alice.clone()).await.unwrap();
        assert_eq!(count(alice, stranger.clone()).await, 0);
        assert_eq!(count(bob, stranger).await, 1);
    }
);
