use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{PASSWORD, assert_problem, spawn_sqlite, spawn_with};

#[tokio::test]
async fn invite_only_signup_needs_a_valid_invitation_for_that_email() {
    let (app, _db) = spawn_sqlite().await;
    let no_invite = app
        .post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    let problem = assert_problem(no_invite, StatusCode::FORBIDDEN, "forbidden").await;
    // A newcomer learns how to get in, not only that they cannot.
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("POST /admin/invites"),
        "{problem}"
    );
    let bogus = app
        .post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": PASSWORD, "invite_token": "bogus"}),
            None,
        )
        .await;
    assert_problem(bogus, StatusCode::FORBIDDEN, "forbidden").await;

    let invite = app.invite("bob@example.com").await;
    let other_email = app
        .post(
            "/auth/signup",
            json!({"email": "eve@example.com", "password": PASSWORD, "invite_token": invite}),
            None,
        )
        .await;
    assert_problem(other_email, StatusCode::FORBIDDEN, "forbidden").await;

    let created = app
        .post(
            "/auth/signup",
            json!({"email": "Bob@Example.com ", "password": PASSWORD, "invite_token": invite}),
            None,
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["user"]["email"], "bob@example.com");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["organization"]["plan"], "free");
    assert!(
        body.to_string().find(PASSWORD).is_none(),
        "the password never comes back"
    );

    let reused = app
        .post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": PASSWORD, "invite_token": invite}),
            None,
        )
        .await;
    assert_eq!(
        reused.status(),
        StatusCode::FORBIDDEN,
        "an invitation works once"
    );
}

#[tokio::test]
async fn open_signup_normalises_emails_and_refuses_duplicates() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.auth.signup = tollgate_server::settings::SignupSetting::Open
    })
    .await
    .unwrap();
    let created = app
        .post("/auth/signup", json!({"email": "  Carol@Example.COM", "password": PASSWORD, "role": "admin", "plan": "enterprise"}), None)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body["user"]["role"], "user",
        "role is not for the client to set"
    );
    assert_eq!(
        body["organization"]["plan"], "free",
        "plan is not for the client to set"
    );

    let duplicate = app
        .post(
            "/auth/signup",
            json!({"email": "carol@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_problem(duplicate, StatusCode::CONFLICT, "conflict").await;

    let (access, _) = app.tokens("CAROL@example.com", PASSWORD).await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "carol@example.com");
    assert_eq!(me["user"]["id"], body["user"]["id"]);
    assert_eq!(me["organization"]["id"], body["organization"]["id"]);
    assert_eq!(me["organization"]["plan"], "free");
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_422() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.auth.signup = tollgate_server::settings::SignupSetting::Open
    })
    .await
    .unwrap();
    let short = app
        .post(
            "/auth/signup",
            json!({"email": "d@example.com", "password": "123456789"}),
            None,
        )
        .await;
    assert_problem(short, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let bad_email = app
        .post(
            "/auth/signup",
            json!({"email": "not-an-email", "password": PASSWORD}),
            None,
        )
        .await;
    assert_problem(bad_email, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // Nothing was created by the refused attempts.
    assert_eq!(
        app.login("d@example.com", "123456789").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
