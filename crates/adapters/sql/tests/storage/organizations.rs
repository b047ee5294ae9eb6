//! Organisations and members: the owner rules hold in storage, also when two demotions race,
//! and every change is audited.

use tollgate_identity::{
    ChangeOutcome, MembershipChange, Organization, OrganizationAdmin, OrganizationRepository,
    OrganizationRole,
};
use tollgate_kernel::{OrganizationId, PlanId, UserId};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

async fn team(store: &SqlStore, owner: UserId) -> OrganizationId {
    let org = Organization {
        id: OrganizationId::new(),
        name: "Acme".into(),
        plan: PlanId::free(),
        personal: false,
        created_at: now(),
    };
    store.create_organization(org.clone(), owner).await.unwrap();
    org.id
}

async fn change(store: &SqlStore, org: OrganizationId, change: MembershipChange) -> ChangeOutcome {
    store
        .change_membership(org, change, UserId::new(), now())
        .await
        .unwrap()
}

both_backends!(
    members_join_change_role_and_leave_by_the_owner_rules,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await;
        let bob = create(&store, "bob@example.com").await.user.id;
        let org = team(&store, alice.user.id).await;
        let listed = store.organizations_of(alice.user.id).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].organization.personal, "personal first");
        assert_eq!(listed[1].organization.id, org);
        assert_eq!(listed[1].role, OrganizationRole::Owner);

        let add = MembershipChange::Add {
            user: bob,
            role: OrganizationRole::Member,
        };
        assert_eq!(change(&store, org, add).await, ChangeOutcome::Done);
        assert_eq!(change(&store, org, add).await, ChangeOutcome::AlreadyMember);
        assert_eq!(
            change(&store, alice.organization.id, add).await,
            ChangeOutcome::Personal
        );
        assert_eq!(
            change(&store, OrganizationId::new(), add).await,
            ChangeOutcome::NoOrganization
        );
        let members = store.members_of(org).await.unwrap();
        assert_eq!(
            members
                .iter()
                .map(|m| (m.email.as_str(), m.role))
                .collect::<Vec<_>>(),
            vec![
                ("alice@example.com", OrganizationRole::Owner),
                ("bob@example.com", OrganizationRole::Member),
            ]
        );

        // The only owner cannot go, be removed or be demoted; an admin cannot touch an owner.
        let alice_id = alice.user.id;
        for refused in [
            MembershipChange::Remove {
                user: alice_id,
                by_owner: true,
            },
            MembershipChange::SetRole {
                user: alice_id,
                role: OrganizationRole::Admin,
                by_owner: true,
            },
        ] {
            assert_eq!(change(&store, org, refused).await, ChangeOutcome::LastOwner);
        }
        assert_eq!(
            change(
                &store,
                org,
                MembershipChange::Remove {
                    user: alice_id,
                    by_owner: false
                }
            )
            .await,
            ChangeOutcome::OwnerProtected
        );
        // Ownership passes to Bob; Alice stays as admin and may now leave.
        assert_eq!(
            change(
                &store,
                org,
                MembershipChange::Transfer {
                    from: alice_id,
                    to: bob
                }
            )
            .await,
            ChangeOutcome::Done
        );
        assert_eq!(
            store.role_in(org, bob).await.unwrap(),
            Some(OrganizationRole::Owner)
        );
        assert_eq!(
            store.role_in(org, alice_id).await.unwrap(),
            Some(OrganizationRole::Admin)
        );
        assert_eq!(
            change(
                &store,
                org,
                MembershipChange::Remove {
                    user: alice_id,
                    by_owner: true
                }
            )
            .await,
            ChangeOutcome::Done
        );
        assert_eq!(store.role_in(org, alice_id).await.unwrap(), None);

        let actions: Vec<String> = store
            .audit_log(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            ["member_remove", "ownership_transfer", "member_add"],
            "refused changes are not audited"
        );
    }
);

both_backends!(
    two_owners_demoting_each_other_at_once_leave_one_owner,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await.user.id;
        let bob = create(&store, "bob@example.com").await.user.id;
        let org = team(&store, alice).await;
        change(
            &store,
            org,
            MembershipChange::Add {
                user: bob,
                role: OrganizationRole::Admin,
            },
        )
        .await;
        change(
            &store,
            org,
            MembershipChange::SetRole {
                user: bob,
                role: OrganizationRole::Owner,
                by_owner: true,
            },
        )
        .await;
        let demote = |user: UserId| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .change_membership(
                        org,
                        MembershipChange::SetRole {
                            user,
                            role: OrganizationRole::Member,
                            by_owner: true,
                        },
                        user,
                        now(),
                    )
                    .await
            })
        };
        let (a, b) = (demote(alice), demote(bob));
        let outcomes = [a.await.unwrap(), b.await.unwrap()];
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(ChangeOutcome::Done)))
            .count();
        assert_eq!(done, 1, "{outcomes:?}");
        let owners = store
            .members_of(org)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == OrganizationRole::Owner)
            .count();
        assert_eq!(owners, 1);
    }
);
