//! Organisations as tenants: members share an organisation's data by role, and a user of
//! another organisation walking every tenant route gets 404 and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{TestApp, assert_problem, spawn};

crate::tests_on_both_backends!(
    members_share_an_organisation_by_role_and_outsiders_see_nothing,
    ownership_moves_and_the_last_owner_stays,
);

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn patch(app: &TestApp, path: &str, body: Value, bearer: &str) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Alice's team "Acme" with Bob as member and Carol as admin; returns their tokens and ids.
async fn acme(app: &TestApp) -> (String, String, String, String, String, String) {
    let (alice, _) = app.new_user("alice@example.com").await;
    let (bob, _) = app.new_user("bob@example.com").await;
    let (carol, _) = app.new_user("carol@example.com").await;
    let created = app
        .post(
            "/api/v1/organizations",
            json!({"name": "Acme", "plan": "enterprise"}),
            Some(&alice),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created).await;
    assert_eq!(created["plan"], "free", "plans change only through billing");
    let org = created["id"].as_str().unwrap().to_owned();
    let members = format!("/api/v1/organizations/{org}/members");
    let bob_member = app
        .post(
            &members,
            json!({"email": "bob@example.com", "role": "member"}),
            Some(&alice),
        )
        .await;
    assert_eq!(bob_member.status(), StatusCode::CREATED);
    let bob_id = json_of(bob_member).await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol_member = app
        .post(
            &members,
            json!({"email": "carol@example.com", "role": "admin"}),
            Some(&alice),
        )
        .await;
    assert_eq!(carol_member.status(), StatusCode::CREATED);
    let carol_id = json_of(carol_member).await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (alice, bob, carol, org, bob_id, carol_id)
}

async fn members_share_an_organisation_by_role_and_outsiders_see_nothing(backend: Backend) {
    let Some((app, _db)) = spawn(backend).await else {
        return;
    };
    let (alice, bob, _carol, org, bob_id, carol_id) = acme(&app).await;
    let (mallory, _) = app.new_user("mallory@example.com").await;
    let members = format!("/api/v1/organizations/{org}/members");

    let listed = json_of(app.get("/api/v1/organizations", Some(&bob)).await).await;
    let orgs = listed["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 2, "{listed}");
    assert_eq!(orgs[0]["personal"], true);
    assert_eq!(orgs[1]["id"], org.as_str());
    assert_eq!(orgs[1]["role"], "member");

    // Bob reads what members read, and no more.
    let usage = app
        .get(&format!("/api/v1/usage?organization_id={org}"), Some(&bob))
        .await;
    assert_eq!(usage.status(), StatusCode::OK);
    assert_eq!(json_of(usage).await["organization_id"], org.as_str());
    assert_eq!(app.get(&members, Some(&bob)).await.status(), StatusCode::OK);
    let member_refusals = [
        app.post(
            &members,
            json!({"email": "mallory@example.com", "role": "member"}),
            Some(&bob),
        )
        .await,
        patch(
            &app,
            &format!("{members}/{carol_id}"),
            json!({"role": "member"}),
            &bob,
        )
        .await,
        app.delete(&format!("{members}/{carol_id}"), &bob).await,
        app.post(
            &format!("/api/v1/billing/checkout?organization_id={org}"),
            json!({"plan": "pro"}),
            Some(&bob),
        )
        .await,
        app.post(
            &format!("/api/v1/organizations/{org}/owner"),
            json!({"user_id": bob_id}),
            Some(&bob),
        )
        .await,
    ];
    for response in member_refusals {
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }

    // Mallory, of another organisation, walks every tenant route: 404, nothing changes.
    let outsider = [
        app.get(&members, Some(&mallory)).await,
        app.post(
            &members,
            json!({"email": "mallory@example.com", "role": "admin"}),
            Some(&mallory),
        )
        .await,
        patch(
            &app,
            &format!("{members}/{bob_id}"),
            json!({"role": "admin"}),
            &mallory,
        )
        .await,
        app.delete(&format!("{members}/{bob_id}"), &mallory).await,
        app.post(
            &format!("/api/v1/organizations/{org}/owner"),
            json!({"user_id": bob_id}),
            Some(&mallory),
        )
        .await,
        app.get(
            &format!("/api/v1/usage?organization_id={org}"),
            Some(&mallory),
        )
        .await,
        app.get(
            &format!("/api/v1/keys?organization_id={org}"),
            Some(&mallory),
        )
        .await,
        app.post(
            &format!("/api/v1/keys?organization_id={org}"),
            json!({"name": "steal", "environment": "production"}),
            Some(&mallory),
        )
        .await,
        app.post(
            &format!("/api/v1/billing/checkout?organization_id={org}"),
            json!({"plan": "pro"}),
            Some(&mallory),
        )
        .await,
        app.post(
            &format!("/api/v1/billing/portal?organization_id={org}"),
            json!({}),
            Some(&mallory),
        )
        .await,
    ];
    for response in outsider {
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let after = json_of(app.get(&members, Some(&alice)).await).await;
    let emails: Vec<&str> = after["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["alice@example.com", "carol@example.com", "bob@example.com"],
        "owners first, then admins, then members; Mallory never got in"
    );
    let keys = json_of(
        app.get(&format!("/api/v1/keys?organization_id={org}"), Some(&alice))
            .await,
    )
    .await;
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(0), "{keys}");

    // Input errors are 4xx and change nothing.
    assert_problem(
        app.post(
            &members,
            json!({"email": "nobody@example.com", "role": "member"}),
            Some(&alice),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(
            &members,
            json!({"email": "mallory@example.com", "role": "king"}),
            Some(&alice),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.post(
            &members,
            json!({"email": "bob@example.com", "role": "member"}),
            Some(&alice),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let personal = json_of(app.get("/api/v1/organizations", Some(&alice)).await).await
        ["organizations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.post(
            &format!("/api/v1/organizations/{personal}/members"),
            json!({"email": "bob@example.com", "role": "member"}),
            Some(&alice),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

async fn ownership_moves_and_the_last_owner_stays(backend: Backend) {
    let Some((app, _db)) = spawn(backend).await else {
        return;
    };
    let (alice, bob, carol, org, bob_id, carol_id) = acme(&app).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let alice_id = json_of(app.get(&members, Some(&alice)).await).await["members"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.delete(&format!("{members}/{alice_id}"), &alice).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Carol, an admin, cannot demote the owner nor make herself one.
    assert_problem(
        patch(
            &app,
            &format!("{members}/{alice_id}"),
            json!({"role": "member"}),
            &carol,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        patch(
            &app,
            &format!("{members}/{carol_id}"),
            json!({"role": "owner"}),
            &carol,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Carol promotes Bob to admin; Alice hands ownership to Carol and leaves.
    assert_eq!(
        patch(
            &app,
            &format!("{members}/{bob_id}"),
            json!({"role": "admin"}),
            &carol
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/organizations/{org}/owner"),
            json!({"user_id": carol_id}),
            Some(&alice),
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("{members}/{alice_id}"), &alice)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&members, Some(&alice)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let roles: Vec<(String, String)> =
        json_of(app.get(&members, Some(&bob)).await).await["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["email"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    assert_eq!(
        roles,
        [
            ("carol@example.com".to_owned(), "owner".to_owned()),
            ("bob@example.com".to_owned(), "admin".to_owned()),
        ]
    );
    let admin = app.admin_token().await;
    let audit = json_of(app.get("/admin/audit?limit=3", Some(&admin)).await).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["member_remove", "ownership_transfer", "role_change"]
    );
}

/// An owner's spending cap lowers the budget the calls are admitted against, on the next call.
#[tokio::test]
async fn an_owners_spending_cap_refuses_calls_beyond_it() {
    let upstream = crate::helpers::fake_upstream(10, 2).await;
    let (app, _db) = crate::helpers::spawn_with(Backend::Sqlite, |s| {
        crate::helpers::use_upstream(s, &upstream)
    })
    .await
    .unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&alice, "ai", "production").await;
    let bearer = key["key"].as_str().unwrap().to_owned();
    let org = key["organization_id"].as_str().unwrap().to_owned();
    let cap = format!("/api/v1/organizations/{org}/spending-cap");
    let call = || {
        app.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "max_tokens": 5,
                   "messages": [{"role": "user", "content": "Hi"}]}),
            Some(&bearer),
        )
    };
    assert_eq!(call().await.status(), StatusCode::OK);

    let set = app
        .client
        .put(app.url(&cap))
        .bearer_auth(&alice)
        .json(&json!({"monthly_cap_micros": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let refused = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        call().await.status() == StatusCode::PAYMENT_REQUIRED
    })
    .await;
    assert!(refused, "calls beyond the cap are refused");
    let usage = app.usage(&bearer).await;
    assert_eq!(usage["budget"]["limit_micros"], 1, "{usage}");

    for (body, status) in [
        (
            json!({"monthly_cap_micros": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"monthly_cap_micros": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let response = app
            .client
            .put(app.url(&cap))
            .bearer_auth(&alice)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    let (mallory, _) = app.new_user("mallory@example.com").await;
    let outsider = app
        .client
        .put(app.url(&cap))
        .bearer_auth(&mallory)
        .json(&json!({"monthly_cap_micros": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(outsider.status(), StatusCode::NOT_FOUND);

    let lifted = app
        .client
        .put(app.url(&cap))
        .bearer_auth(&alice)
        .json(&json!({"monthly_cap_micros": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), StatusCode::OK);
    let admitted = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        call().await.status() == StatusCode::OK
    })
    .await;
    assert!(admitted);
}

/// With team invitations on, adding an e-mail without an account invites it: the invitee signs
/// up with the token and is a member as the invitation said.
#[tokio::test]
async fn a_team_invitation_lets_its_holder_sign_up_into_the_organisation() {
    let (app, _db) = crate::helpers::spawn_with(Backend::Sqlite, |s| {
        s.auth.team_invitations = true;
    })
    .await
    .unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    let org = json_of(
        app.post(
            "/api/v1/organizations",
            json!({"name": "Acme"}),
            Some(&alice),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invited = app
        .post(
            &format!("/api/v1/organizations/{org}/members"),
            json!({"email": "dana@example.com", "role": "admin"}),
            Some(&alice),
        )
        .await;
    assert_eq!(invited.status(), StatusCode::ACCEPTED);
    let invited = json_of(invited).await;
    assert_eq!(invited["role"], "admin");
    let token = invited["invite_token"].as_str().unwrap().to_owned();

    // Someone else cannot use Dana's invitation.
    let stolen = app
        .post(
            "/auth/signup",
            json!({"email": "eve@example.com", "password": crate::helpers::PASSWORD,
                   "invite_token": token}),
            None,
        )
        .await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    let signed_up = app
        .post(
            "/auth/signup",
            json!({"email": "dana@example.com", "password": crate::helpers::PASSWORD,
                   "invite_token": token}),
            None,
        )
        .await;
    assert_eq!(signed_up.status(), StatusCode::CREATED);
    let (dana, _) = app
        .tokens("dana@example.com", crate::helpers::PASSWORD)
        .await;
    let listed = json_of(app.get("/api/v1/organizations", Some(&dana)).await).await;
    let acme = listed["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == org.as_str())
        .cloned()
        .expect("Dana is a member of Acme");
    assert_eq!(acme["role"], "admin");
}

/// A key's own cap refuses its calls once spent, while the organisation's other keys go on.
#[tokio::test]
async fn a_keys_spending_cap_refuses_only_that_keys_calls() {
    let upstream = crate::helpers::fake_upstream(10, 2).await;
    let (app, _db) = crate::helpers::spawn_with(Backend::Sqlite, |s| {
        crate::helpers::use_upstream(s, &upstream)
    })
    .await
    .unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    let capped = app.create_key(&alice, "capped", "production").await;
    let free = app.create_key(&alice, "free", "production").await;
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let capped_key = capped["key"].as_str().unwrap().to_owned();
    let free_key = free["key"].as_str().unwrap().to_owned();
    let call = |key: &'static str| {
        let bearer = if key == "capped" {
            capped_key.clone()
        } else {
            free_key.clone()
        };
        let body = body.clone();
        let app = &app;
        async move { app.post("/v1/chat/completions", body, Some(&bearer)).await }
    };
    let cap_path = format!(
        "/api/v1/keys/{}/spending-cap",
        capped["id"].as_str().unwrap()
    );
    let put = |bearer: &str, cap: Value| {
        app.client
            .put(app.url(&cap_path))
            .bearer_auth(bearer)
            .json(&json!({ "monthly_cap_micros": cap }))
            .send()
    };
    assert_eq!(
        put(&alice, json!(1)).await.unwrap().status(),
        StatusCode::OK
    );
    let refused = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        call("capped").await.status() == StatusCode::PAYMENT_REQUIRED
    })
    .await;
    assert!(refused);
    assert_problem(
        call("capped").await,
        StatusCode::PAYMENT_REQUIRED,
        "key_budget_exceeded",
    )
    .await;
    assert_eq!(call("free").await.status(), StatusCode::OK);

    let (mallory, _) = app.new_user("mallory@example.com").await;
    assert_eq!(
        put(&mallory, json!(null)).await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "another organisation's key"
    );
    assert_eq!(
        put(&alice, json!(0)).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put(&alice, json!(null)).await.unwrap().status(),
        StatusCode::OK
    );
    let admitted = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        call("capped").await.status() == StatusCode::OK
    })
    .await;
    assert!(admitted, "a lifted cap admits again");
}

/// Ownership is handed to a member named in the body: a `user_id` that names no member (someone
/// outside, or no user at all) is an invalid field, 422 naming `user_id`, not a missing
/// organisation; the organisation itself is still 404 to an outsider. Nothing changes.
#[tokio::test]
async fn handing_ownership_to_a_non_member_is_422_naming_user_id() {
    let (app, _db) = crate::helpers::spawn_sqlite().await;
    let (alice, _, _, org, _, _) = acme(&app).await;
    let (mallory, _) = app.new_user("mallory@example.com").await;
    let mallory_id = json_of(app.get("/api/v1/me", Some(&mallory)).await).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = format!("/api/v1/organizations/{org}/owner");
    for user_id in [
        json!(mallory_id),
        json!("01a22a80-0000-7000-8000-000000000000"),
        json!("not a user id"),
    ] {
        let body = assert_problem(
            app.post(&owner, json!({"user_id": user_id}), Some(&alice))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(body["error"]["param"], "user_id", "{body}");
    }
    // The caller's own standing comes first: an outsider still finds no organisation.
    assert_problem(
        app.post(&owner, json!({"user_id": "not a user id"}), Some(&mallory))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let members = json_of(
        app.get(
            &format!("/api/v1/organizations/{org}/members"),
            Some(&alice),
        )
        .await,
    )
    .await;
    assert_eq!(members["members"][0]["email"], "alice@example.com");
    assert_eq!(members["members"][0]["role"], "owner");
}
