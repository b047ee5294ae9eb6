use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_problem, eventually, spawn_sqlite};

#[tokio::test]
async fn password_change_needs_the_current_password_and_revokes_every_session() {
    let (app, _db) = spawn_sqlite().await;
    let (access, refresh) = app.new_user("alice@example.com").await;
    let (second_access, second_refresh) = app.tokens("alice@example.com", PASSWORD).await;

    let wrong = app
        .post(
            "/auth/password",
            json!({"current_password": "not it at all", "new_password": "brand new password"}),
            Some(&access),
        )
        .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "forbidden").await;
    let weak = app
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
            Some(&access),
        )
        .await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let unauthenticated = app
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "brand new password"}),
            None,
        )
        .await;
    assert_problem(unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.me_status(&access).await,
        StatusCode::OK,
        "refused attempts change nothing"
    );

    let changed = app
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "brand new password"}),
            Some(&access),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    for refresh in [&refresh, &second_refresh] {
        assert_eq!(
            app.refresh(refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for access in [&access, &second_access] {
        assert!(
            eventually(Duration::from_secs(5), || async {
                app.me_status(access).await == StatusCode::UNAUTHORIZED
            })
            .await
        );
    }
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice@example.com", "brand new password")
            .await
            .status(),
        StatusCode::OK
    );
}
