//! Per-key caps in storage: concurrent reservations never pass the cap, settlement charges what
//! the call cost once, released and expired reservations stop counting, and only the key's own
//! organisation sets its cap.

use chrono::{Duration, Utc};
use tollgate_billing::{KeyBudgets, KeyReservation};
use tollgate_identity::OrganizationRepository;
use tollgate_kernel::{ApiKeyId, Micros, Period, UserId};
use tollgate_quotas::ReservationId;
use tollgate_test_support::both_backends;

use crate::store;

both_backends!(
    key_reservations_hold_the_cap_under_concurrency,
    |url: String| async move {
        let store = store(&url).await;
        let key = ApiKeyId::new();
        let month = Period::utc_month(Utc::now());
        let later = Utc::now() + Duration::minutes(5);
        let cap = Micros::new(1_000);
        // Ten calls of 300 race for a cap of 1 000: at most three fit.
        let races = (0..10).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve(
                        key,
                        month,
                        ReservationId::new(),
                        Micros::new(300),
                        cap,
                        later,
                    )
                    .await
            })
        });
        let mut held = Vec::new();
        for race in races {
            if let Ok(KeyReservation::Reserved) = race.await.unwrap() {
                held.push(());
            }
        }
        assert!(
            held.len() <= 3,
            "{} reservations of 300 in a cap of 1 000",
            held.len()
        );

        // Settling charges the actual cost once; releasing and expiry free the estimate.
        let store2 = store.clone();
        let fresh = ApiKeyId::new();
        let (a, b) = (ReservationId::new(), ReservationId::new());
        assert_eq!(
            store2
                .reserve(fresh, month, a, Micros::new(600), cap, later)
                .await
                .unwrap(),
            KeyReservation::Reserved
        );
        assert!(matches!(
            store2.reserve(fresh, month, b, Micros::new(600), cap, later).await.unwrap(),
            KeyReservation::Exceeded { reserved, .. } if reserved == Micros::new(600)
        ));
        store2.settle(a, Micros::new(250)).await.unwrap();
        store2.settle(a, Micros::new(250)).await.unwrap();
        assert!(matches!(
            store2.reserve(fresh, month, b, Micros::new(800), cap, later).await.unwrap(),
            KeyReservation::Exceeded { spent, reserved } if spent == Micros::new(250) && reserved == Micros::ZERO
        ));
        assert_eq!(
            store2
                .reserve(fresh, month, b, Micros::new(700), cap, later)
                .await
                .unwrap(),
            KeyReservation::Reserved
        );
        store2.release(b).await.unwrap();
        let expired = ReservationId::new();
        assert_eq!(
            store2
                .reserve(
                    fresh,
                    month,
                    expired,
                    Micros::new(750),
                    cap,
                    Utc::now() - Duration::seconds(1)
                )
                .await
                .unwrap(),
            KeyReservation::Reserved
        );
        assert_eq!(
            store2
                .reserve(
                    fresh,
                    month,
                    ReservationId::new(),
                    Micros::new(750),
                    cap,
                    later
                )
                .await
                .unwrap(),
            KeyReservation::Reserved,
            "released and expired reservations no longer count"
        );
    }
);

both_backends!(
    only_the_keys_organisation_sets_its_cap,
    |url: String| async move {
        use tollgate_keys::ports::ApiKeyRepository;
        use tollgate_keys::{ApiKey, ApiKeySecret, Environment, KeyHasher, KeyName};
        let store = store(&url).await;
        let alice = crate::create(&store, "alice@example.com").await;
        let bob = crate::create(&store, "bob@example.com").await;
        let secret = ApiKeySecret::generate(Environment::Production);
        let key = ApiKeyId::new();
        store
            .insert_within_cap(
                ApiKey {
                    id: key,
                    organization_id: alice.organization.id,
                    created_by: alice.user.id,
                    name: KeyName::parse("ci").unwrap(),
                    environment: Environment::Production,
                    prefix: secret.display_prefix(),
                    created_at: crate::now(),
                    expires_at: None,
                    revoked_at: None,
                    last_used_at: None,
                },
                KeyHasher::new(b"pepper").hash(secret.expose()),
                50,
                crate::now(),
            )
            .await
            .unwrap();
        assert!(
            !store
                .set_key_cap(bob.organization.id, key, Some(5), UserId::new(), Utc::now())
                .await
                .unwrap()
        );
        assert_eq!(store.cap_of(key).await.unwrap(), None);
        assert!(
            store
                .set_key_cap(
                    alice.organization.id,
                    key,
                    Some(5),
                    alice.user.id,
                    Utc::now()
                )
                .await
                .unwrap()
        );
        assert_eq!(store.cap_of(key).await.unwrap(), Some(Micros::new(5)));
        assert!(
            store
                .set_key_cap(alice.organization.id, key, None, alice.user.id, Utc::now())
                .await
                .unwrap()
        );
        assert_eq!(store.cap_of(key).await.unwrap(), None);
    }
);
