//! Suspension and the audit log: each suspension, invitation and plan change is logged once,
//! by the transaction that makes it, newest first.

use chrono::Duration;
use tollgate_identity::ports::InvitationRepository;
use tollgate_identity::{EmailAddress, OpaqueToken, OrganizationAdmin};
use tollgate_kernel::OrganizationId;
use tollgate_quotas::ports::PlanDirectory;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

both_backends!(
    suspensions_invitations_and_plan_changes_are_audited_newest_first,
    |url: String| async move {
        let store = store(&url).await;
        let admin = create(&store, "root@example.com").await.user.id;
        let org = create(&store, "dave@example.com").await.organization.id;
        let actor = admin.to_string();
        let t = now();

        store
            .create_invitation(
                EmailAddress::parse("erin@example.com").unwrap(),
                OpaqueToken::generate().hash(),
                admin,
                t,
                t + Duration::days(7),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .set_suspended(org, true, actor.clone(), t)
                .await
                .unwrap(),
            Some(true)
        );
        assert!(store.plan_of(org).await.unwrap().unwrap().suspended);
        assert_eq!(
            store
                .set_suspended(org, true, actor.clone(), t)
                .await
                .unwrap(),
            Some(false),
            "already suspended: nothing changes, nothing is logged"
        );
        assert_eq!(
            store
                .set_suspended(org, false, actor.clone(), t)
                .await
                .unwrap(),
            Some(true)
        );
        assert!(!store.plan_of(org).await.unwrap().unwrap().suspended);
        assert_eq!(
            store
                .set_suspended(OrganizationId::new(), true, actor.clone(), t)
                .await
                .unwrap(),
            None
        );
        assert!(store.set_plan(org, "pro".into()).await.unwrap());

        let log = store.audit_log(10).await.unwrap();
        let seen: Vec<(&str, &str)> = log
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("operator", "plan_change"),
                (actor.as_str(), "unsuspend"),
                (actor.as_str(), "suspend"),
                (actor.as_str(), "invite"),
            ]
        );
        assert_eq!(log[0].target, format!("{org} free -> pro"));
        assert_eq!(log[1].target, org.to_string());
        assert_eq!(log[3].target, "erin@example.com");
        assert_eq!(store.audit_log(2).await.unwrap(), log[..2].to_vec());
    }
);
