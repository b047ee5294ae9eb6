//! Every time in every response: RFC 3339, UTC, exactly three fractional digits (storage keeps
//! milliseconds), so a time reads the same from the call that made it and from a later read.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_sqlite;

/// `2026-11-29T17:16:10.123Z`.
fn assert_millisecond_utc(field: &str, value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("{field}: {value}"));
    let (seconds, fraction) = text
        .strip_suffix('Z')
        .and_then(|t| t.split_once('.'))
        .unwrap_or_else(|| panic!("{field}: {text} is not UTC with a fraction"));
    assert_eq!(
        seconds.len(),
        "2026-11-29T17:16:10".len(),
        "{field}: {text}"
    );
    assert!(
        fraction.len() == 3 && fraction.bytes().all(|b| b.is_ascii_digit()),
        "{field}: {text} has not exactly three fractional digits"
    );
    chrono::DateTime::parse_from_rfc3339(text).unwrap();
}

#[tokio::test]
async fn a_created_key_shows_the_same_created_at_as_the_key_list() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let expires = chrono::Utc::now() + chrono::Duration::days(30);
    let created: Value = app
        .post(
            "/api/v1/keys",
            json!({"name": "ci", "environment": "staging", "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)}),
            Some(&alice),
        )
        .await
        .json()
        .await
        .unwrap();
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let entry = &listed["keys"][0];
    for field in ["created_at", "expires_at"] {
        assert_millisecond_utc(field, &created[field]);
        assert_eq!(created[field], entry[field], "{field}");
    }

    // Rotated without grace, the old key is revoked at once: revoked_at too.
    let id = created["id"].as_str().unwrap();
    let rotated = app
        .post(
            &format!("/api/v1/keys/{id}/rotate"),
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let old = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap();
    assert_millisecond_utc("revoked_at", &old["revoked_at"]);
}

#[tokio::test]
async fn invitations_accounts_and_usage_give_millisecond_utc_times() {
    let (app, _db) = spawn_sqlite().await;
    let admin = app.admin_token().await;
    let invite: Value = app
        .post(
            "/admin/invites",
            json!({"email": "bob@example.com"}),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_millisecond_utc("expires_at", &invite["expires_at"]);

    let account: Value = app
        .post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": crate::helpers::PASSWORD, "invite_token": invite["invite_token"]}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_millisecond_utc("user.created_at", &account["user"]["created_at"]);

    let usage = app.usage(&admin).await;
    assert_millisecond_utc("period.start", &usage["period"]["start"]);
    assert_millisecond_utc("period.end", &usage["period"]["end"]);
    for quota in usage["quotas"].as_array().unwrap() {
        assert_millisecond_utc("quotas[].resets_at", &quota["resets_at"]);
    }
}
