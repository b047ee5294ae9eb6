//! `IdempotencyStore`: an `Idempotency-Key` is held by one request at a time, replays that
//! request's response once it completed, and refuses a different request.

use chrono::{DateTime, Duration, Utc};
use tollgate_costing::{IdempotencyBegin, IdempotencyStore};
use tollgate_kernel::OrganizationId;

use crate::{Subject, T0};

const BODY: &str = r#"{"id":"an-1","output":"…"}"#;

/// Claims `key` at `now` for a request hashed `hash`, counting claims from the day before.
async fn begin<I: IdempotencyStore>(
    store: &I,
    org: OrganizationId,
    key: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> IdempotencyBegin {
    store
        .begin(
            org,
            key.to_owned(),
            hash.to_owned(),
            now,
            now - Duration::days(1),
        )
        .await
        .unwrap()
}

/// The first request claims the key (`Fresh`); while it runs the same request is `InProgress`
/// and another is `Mismatch`. Once it completed, the same request gets its response (`Replay`),
/// another still `Mismatch`; abandoning a completed key changes nothing.
pub async fn a_key_is_claimed_then_replayed_and_refuses_another_request<S: Subject>(subject: S)
where
    S::Store: IdempotencyStore,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    assert_eq!(
        begin(&store, org, "k", "h1", T0).await,
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        begin(&store, org, "k", "h1", T0).await,
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        begin(&store, org, "k", "h2", T0).await,
        IdempotencyBegin::Mismatch
    );
    store
        .complete(org, "k".into(), 201, BODY.into(), T0)
        .await
        .unwrap();
    let replay = IdempotencyBegin::Replay {
        status: 201,
        body: BODY.into(),
    };
    let later = T0 + Duration::hours(1);
    assert_eq!(begin(&store, org, "k", "h1", later).await, replay);
    assert_eq!(
        begin(&store, org, "k", "h2", later).await,
        IdempotencyBegin::Mismatch
    );
    store.abandon(org, "k".into()).await.unwrap();
    assert_eq!(
        begin(&store, org, "k", "h1", later).await,
        replay,
        "a completed key is not given up"
    );
}

/// A request that failed gives its key up: the next request with it, the same or another,
/// claims it afresh.
pub async fn an_abandoned_key_is_fresh_again<S: Subject>(subject: S)
where
    S::Store: IdempotencyStore,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    assert_eq!(
        begin(&store, org, "k", "h1", T0).await,
        IdempotencyBegin::Fresh
    );
    store.abandon(org, "k".into()).await.unwrap();
    assert_eq!(
        begin(&store, org, "k", "h2", T0).await,
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        begin(&store, org, "k", "h2", T0).await,
        IdempotencyBegin::InProgress
    );
    store.abandon(org, "never-used".into()).await.unwrap();
}

/// A claim made before `expired_before` no longer counts, completed or not: the key is
/// `Fresh` again. A claim made at `expired_before` still counts.
pub async fn an_expired_key_is_fresh_again<S: Subject>(subject: S)
where
    S::Store: IdempotencyStore,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    assert_eq!(
        begin(&store, org, "done", "h1", T0).await,
        IdempotencyBegin::Fresh
    );
    store
        .complete(org, "done".into(), 200, BODY.into(), T0)
        .await
        .unwrap();
    assert_eq!(
        begin(&store, org, "held", "h1", T0).await,
        IdempotencyBegin::Fresh
    );

    let a_day_later = T0 + Duration::days(1);
    assert_eq!(
        begin(&store, org, "done", "h1", a_day_later).await,
        IdempotencyBegin::Replay {
            status: 200,
            body: BODY.into()
        },
        "not before expired_before"
    );
    assert_eq!(
        begin(&store, org, "held", "h1", a_day_later).await,
        IdempotencyBegin::InProgress
    );

    let past_it = a_day_later + Duration::milliseconds(1);
    assert_eq!(
        begin(&store, org, "done", "h2", past_it).await,
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        begin(&store, org, "held", "h2", past_it).await,
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        begin(&store, org, "held", "h2", past_it).await,
        IdempotencyBegin::InProgress,
        "the new claim holds the key"
    );
}

/// Keys are per organisation: the same key in another organisation is another key.
pub async fn keys_belong_to_their_organisation<S: Subject>(subject: S)
where
    S::Store: IdempotencyStore,
{
    let store = subject.store();
    let alice = subject.tenant().await.organization;
    let bob = subject.tenant().await.organization;
    assert_eq!(
        begin(&store, alice, "k", "h1", T0).await,
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        begin(&store, bob, "k", "h2", T0).await,
        IdempotencyBegin::Fresh
    );
    store
        .complete(alice, "k".into(), 201, BODY.into(), T0)
        .await
        .unwrap();
    assert_eq!(
        begin(&store, bob, "k", "h2", T0).await,
        IdempotencyBegin::InProgress
    );
    store.abandon(bob, "k".into()).await.unwrap();
    assert!(matches!(
        begin(&store, alice, "k", "h1", T0).await,
        IdempotencyBegin::Replay { status: 201, .. }
    ));
}

/// 16 requests presenting the same new key at once: one claims it, fifteen find it in progress.
pub async fn concurrent_claims_of_one_key_let_one_request_through<S: Subject>(subject: S)
where
    S::Store: IdempotencyStore,
{
    let org = subject.tenant().await.organization;
    let attempts = (0..16).map(|_| {
        let store = subject.store();
        tokio::spawn(async move { begin(&store, org, "k", "h1", T0).await })
    });
    let outcomes: Vec<IdempotencyBegin> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let fresh = outcomes
        .iter()
        .filter(|o| **o == IdempotencyBegin::Fresh)
        .count();
    let in_progress = outcomes
        .iter()
        .filter(|o| **o == IdempotencyBegin::InProgress)
        .count();
    assert_eq!((fresh, in_progress), (1, 15), "{outcomes:?}");
}
