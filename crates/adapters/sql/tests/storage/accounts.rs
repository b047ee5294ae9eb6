use tollgate_identity::ports::{
    AccountRepository, CreateAccountError, InvitationRedemption, InvitationRepository,
};
use tollgate_identity::{EmailAddress, OpaqueToken, PasswordHash, Role};
use tollgate_test_support::both_backends;

use crate::{create, minutes, new_account, now, store};

both_backends!(account_round_trip, |url: String| async move {
    let store = store(&url).await;
    let created = create(&store, "alice@example.com").await;
    assert!(created.organization.personal);
    assert_eq!(created.organization.plan, "free");

    let creds = store
        .find_credentials(EmailAddress::parse("alice@example.com").unwrap())
        .await
        .unwrap()
        .expect("found by email");
    assert_eq!(creds.user, created.user);
    assert_eq!(creds.personal_organization, created.organization.id);
    assert!(creds.password_hash.as_phc().starts_with("$argon2id$"));

    let account = store
        .find_account(created.user.id)
        .await
        .unwrap()
        .expect("found by id");
    assert_eq!(account, created);
    assert!(
        store
            .find_credentials(EmailAddress::parse("nobody@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
});

both_backends!(
    duplicate_email_is_email_taken_and_creates_nothing,
    |url: String| async move {
        let store = store(&url).await;
        create(&store, "alice@example.com").await;
        let duplicate = new_account("alice@example.com");
        let duplicate_org = duplicate.organization_id;
        let duplicate_user = duplicate.user_id;
        let result = store.create_account(duplicate, None).await;
        assert!(
            matches!(result, Err(CreateAccountError::EmailTaken)),
            "{result:?}"
        );
        assert!(store.find_account(duplicate_user).await.unwrap().is_none());
        let _ = duplicate_org;
    }
);

both_backends!(
    invitation_is_consumed_once_for_its_email_only,
    |url: String| async move {
        let store = store(&url).await;
        let admin = create(&store, "root@example.com").await;
        let token = OpaqueToken::generate();
        let email = EmailAddress::parse("bob@example.com").unwrap();
        store
            .create_invitation(
                email.clone(),
                token.hash(),
                admin.user.id,
                now(),
                now() + minutes(60),
            )
            .await
            .unwrap();
        let redeem = |email: &str| {
            Some(InvitationRedemption {
                token_hash: token.hash(),
                email: EmailAddress::parse(email).unwrap(),
                at: now(),
            })
        };

        // Another email cannot use it.
        let wrong = store
            .create_account(new_account("eve@example.com"), redeem("eve@example.com"))
            .await;
        assert!(matches!(wrong, Err(CreateAccountError::InvitationUnusable)));

        // A sign-up that fails for a duplicate email leaves the invitation unused.
        create(&store, "carol@example.com").await;
        let token2 = OpaqueToken::generate();
        store
            .create_invitation(
                EmailAddress::parse("carol@example.com").unwrap(),
                token2.hash(),
                admin.user.id,
                now(),
                now() + minutes(60),
            )
            .await
            .unwrap();
        let dup = store
            .create_account(
                new_account("carol@example.com"),
                Some(InvitationRedemption {
                    token_hash: token2.hash(),
                    email: EmailAddress::parse("carol@example.com").unwrap(),
                    at: now(),
                }),
            )
            .await;
        assert!(matches!(dup, Err(CreateAccountError::EmailTaken)));

        store
            .create_account(new_account("bob@example.com"), redeem("bob@example.com"))
            .await
            .unwrap();
        let again = store
            .create_account(new_account("bob2@example.com"), redeem("bob@example.com"))
            .await;
        assert!(
            matches!(again, Err(CreateAccountError::InvitationUnusable)),
            "used once only"
        );
    }
);

both_backends!(expired_invitation_is_unusable, |url: String| async move {
    let store = store(&url).await;
    let admin = create(&store, "root@example.com").await;
    let token = OpaqueToken::generate();
    let email = EmailAddress::parse("late@example.com").unwrap();
    store
        .create_invitation(
            email.clone(),
            token.hash(),
            admin.user.id,
            now() - minutes(120),
            now() - minutes(60),
        )
        .await
        .unwrap();
    let result = store
        .create_account(
            new_account("late@example.com"),
            Some(InvitationRedemption {
                token_hash: token.hash(),
                email,
                at: now(),
            }),
        )
        .await;
    assert!(matches!(
        result,
        Err(CreateAccountError::InvitationUnusable)
    ));
});

both_backends!(password_and_role_updates, |url: String| async move {
    let store = store(&url).await;
    let alice = create(&store, "alice@example.com").await;
    assert!(
        store
            .set_password_hash(alice.user.id, PasswordHash::from_phc("$new"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_password_hash(tollgate_kernel::UserId::new(), PasswordHash::from_phc("$x"))
            .await
            .unwrap()
    );
    assert_eq!(store.count_admins().await.unwrap(), 0);
    store.set_role(alice.user.id, Role::Admin).await.unwrap();
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let creds = store
        .find_credentials(alice.user.email.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash.as_phc(), "$new");
    assert_eq!(creds.user.role, Role::Admin);
});
