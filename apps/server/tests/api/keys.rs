use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{
    TestApp, assert_problem, eventually, spawn_sqlite, spawn_with, test_settings,
};

#[tokio::test]
async fn a_key_is_shown_once_and_authenticates_as_its_user() {
    let (app, _db) = spawn_sqlite().await;
    let (access, _) = app.new_user("alice@example.com").await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    let created = app.create_key(&access, "ci", "production").await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("tg_prod_"), "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["name"], "ci");
    assert_eq!(created["environment"], "production");
    assert!(created["created_at"].is_string() && created["expires_at"].is_null());

    let listed = app.get("/api/v1/keys", Some(&access)).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let text = listed.text().await.unwrap();
    assert!(!text.contains(key), "the secret is never listed");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let entry = &listed["keys"][0];
    assert_eq!(entry["id"], created["id"]);
    assert!(entry.get("key").is_none());
    for field in [
        "prefix",
        "name",
        "environment",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ] {
        assert!(entry.get(field).is_some(), "{field} missing in {entry}");
    }

    let as_key: Value = app.get("/api/v1/me", Some(key)).await.json().await.unwrap();
    assert_eq!(as_key["user"]["id"], me["user"]["id"]);
    assert_eq!(as_key["organization"]["id"], me["organization"]["id"]);
    // The key alone in X-Api-Key works too.
    let via_header = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_holds_keys_for_three_environments_and_revoking_one_spares_the_rest() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let (bob, _) = app.new_user("bob@example.com").await;
    let dev = app.create_key(&alice, "laptop", "development").await;
    let stg = app.create_key(&alice, "staging box", "staging").await;
    let prod = app.create_key(&alice, "prod", "production").await;
    let bobs = app.create_key(&bob, "bob's", "production").await;
    for (created, tag) in [(&dev, "tg_dev_"), (&stg, "tg_stg_"), (&prod, "tg_prod_")] {
        assert!(created["key"].as_str().unwrap().starts_with(tag));
        assert_eq!(
            app.me_status(created["key"].as_str().unwrap()).await,
            StatusCode::OK
        );
    }
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 3);

    let revoked = app
        .delete(
            &format!("/api/v1/keys/{}", stg["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let refused = app
        .get("/api/v1/me", Some(stg["key"].as_str().unwrap()))
        .await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for other in [&dev, &prod, &bobs] {
        assert_eq!(
            app.me_status(other["key"].as_str().unwrap()).await,
            StatusCode::OK
        );
    }
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == stg["id"])
        .unwrap()
        .clone();
    assert!(entry["revoked_at"].is_string());
    let bob_listed: Value = app
        .get("/api/v1/keys", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        bob_listed["keys"].as_array().unwrap().len(),
        1,
        "tenants see only their keys"
    );
}

#[tokio::test]
async fn rotation_without_grace_cuts_the_old_key_at_once() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let old = app.create_key(&alice, "ci", "production").await;
    let old_key = old["key"].as_str().unwrap();
    assert_eq!(app.me_status(old_key).await, StatusCode::OK);
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/keys/{}/rotate",
            old["id"].as_str().unwrap()
        )))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "rotation without a body"
    );
    let new: Value = response.json().await.unwrap();
    assert_ne!(new["id"], old["id"]);
    assert_eq!(new["name"], "ci");
    assert_eq!(new["environment"], "production");
    assert_eq!(
        app.me_status(new["key"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(app.me_status(old_key).await, StatusCode::UNAUTHORIZED);
    // A revoked key cannot be rotated again.
    let again = app
        .post(
            &format!("/api/v1/keys/{}/rotate", old["id"].as_str().unwrap()),
            json!({}),
            Some(&alice),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_key_for_the_grace_period() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let old = app.create_key(&alice, "ci", "staging").await;
    let old_key = old["key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/keys/{}/rotate", old["id"].as_str().unwrap());
    let bad = app
        .post(&path, json!({"grace_period_seconds": -1}), Some(&alice))
        .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let new: Value = app
        .post(&path, json!({"grace_period_seconds": 2}), Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.me_status(&old_key).await,
        StatusCode::OK,
        "inside the grace period"
    );
    assert_eq!(
        app.me_status(new["key"].as_str().unwrap()).await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(
        app.me_status(&old_key).await,
        StatusCode::UNAUTHORIZED,
        "after the grace period"
    );
    assert_eq!(
        app.me_status(new["key"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn keys_expire() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let refused = app
        .post(
            "/api/v1/keys",
            json!({"name": "old", "environment": "development", "expires_at": past}),
            Some(&alice),
        )
        .await;
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let created: Value = app
        .post(
            "/api/v1/keys",
            json!({"name": "short", "environment": "development", "expires_at": soon}),
            Some(&alice),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(created["expires_at"].is_string());
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.me_status(key).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert_problem(
        app.get("/api/v1/me", Some(key)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn invalid_key_requests_are_validation_problems() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    for body in [
        json!({"name": "x", "environment": "prod"}),
        json!({"name": "", "environment": "production"}),
        json!({"name": "x".repeat(101), "environment": "production"}),
        json!({"environment": "production"}),
        json!({"name": "x", "environment": "production", "expires_at": "tomorrow"}),
    ] {
        let response = app.post("/api/v1/keys", body.clone(), Some(&alice)).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed["keys"].as_array().unwrap().is_empty(),
        "nothing was created"
    );
    // Fields a client may not set are ignored.
    let created = app
        .post("/api/v1/keys", json!({"name": "x", "environment": "production", "revoked_at": "2020-01-01T00:00:00Z", "id": "mine"}), Some(&alice))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_cap_of_live_keys_per_organization_is_409() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| s.api_keys.max_per_organization = 3)
        .await
        .unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    let first = app.create_key(&alice, "1", "production").await;
    app.create_key(&alice, "2", "production").await;
    app.create_key(&alice, "3", "production").await;
    let fourth = app
        .post(
            "/api/v1/keys",
            json!({"name": "4", "environment": "production"}),
            Some(&alice),
        )
        .await;
    assert_problem(fourth, StatusCode::CONFLICT, "conflict").await;
    app.delete(
        &format!("/api/v1/keys/{}", first["id"].as_str().unwrap()),
        &alice,
    )
    .await;
    app.create_key(&alice, "4", "production").await;
}

#[tokio::test]
async fn another_tenants_keys_are_404() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let (mallory, _) = app.new_user("mallory@example.com").await;
    let key = app.create_key(&alice, "ci", "production").await;
    let id = key["id"].as_str().unwrap();
    assert_problem(
        app.delete(&format!("/api/v1/keys/{id}"), &mallory).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let rotate = app
        .post(
            &format!("/api/v1/keys/{id}/rotate"),
            json!({}),
            Some(&mallory),
        )
        .await;
    assert_problem(rotate, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.me_status(key["key"].as_str().unwrap()).await,
        StatusCode::OK,
        "untouched"
    );

    let alice_me: Value = app
        .get("/api/v1/me", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let alice_org = alice_me["organization"]["id"].as_str().unwrap();
    let peek = app
        .get(
            &format!("/api/v1/keys?organization_id={alice_org}"),
            Some(&mallory),
        )
        .await;
    assert_problem(peek, StatusCode::NOT_FOUND, "not_found").await;
    let create = app
        .post(
            &format!("/api/v1/keys?organization_id={alice_org}"),
            json!({"name": "x", "environment": "production"}),
            Some(&mallory),
        )
        .await;
    assert_problem(create, StatusCode::NOT_FOUND, "not_found").await;
    // A key is bound to its organisation.
    let mallory_key = app.create_key(&mallory, "m", "production").await;
    let with_key = app
        .get(
            &format!("/api/v1/keys?organization_id={alice_org}"),
            Some(mallory_key["key"].as_str().unwrap()),
        )
        .await;
    assert_problem(with_key, StatusCode::NOT_FOUND, "not_found").await;
    // Malformed ids name nothing.
    assert_problem(
        app.delete("/api/v1/keys/not-a-uuid", &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/keys?organization_id=nope", Some(&alice))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Alice can name her own organisation explicitly.
    assert_eq!(
        app.get(
            &format!("/api/v1/keys?organization_id={alice_org}"),
            Some(&alice)
        )
        .await
        .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_credentials_are_401_never_5xx() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&alice, "ci", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad_checksum = crate::helpers::mistyped(&key);
    let unknown_but_well_formed = {
        // A different valid-looking key with a correct checksum is simply unknown.
        let other = app.create_key(&alice, "tmp", "production").await;
        let id = other["id"].as_str().unwrap().to_owned();
        app.delete(&format!("/api/v1/keys/{id}"), &alice).await;
        other["key"].as_str().unwrap().to_owned()
    };
    let long = format!("tg_prod_{}", "a".repeat(10_000));
    let cases = vec![
        "tg_".to_owned(),
        "tg_prod_".to_owned(),
        key[..key.len() - 1].to_owned(),
        format!("{key}x"),
        bad_checksum,
        long,
        unknown_but_well_formed,
        key.replacen("tg_prod_", "tg_dev_", 1),
    ];
    for credential in cases {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Bearer {credential}"))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let non_ascii = app
        .client
        .get(app.url("/api/v1/me"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes("Bearer tg_prod_é".as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_problem(non_ascii, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// With the database gone, a key with a bad checksum is still a plain 401: it never reached
/// storage. A well-formed key does need storage and gets 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_failures_cost_no_database_round_trip() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::start(test_settings(db.url())).await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&alice, "ci", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mistyped = crate::helpers::mistyped(&key);
    let fresh = tollgate_keys::ApiKeySecret::generate(tollgate_keys::Environment::Production);
    drop(db);
    assert_problem(
        app.get("/api/v1/me", Some(&mistyped)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.get("/api/v1/me", Some(fresh.expose())).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
}

#[tokio::test]
async fn last_used_at_is_recorded_and_survives_a_restart() {
    let db = TestDatabase::sqlite();
    let app = TestApp::start(test_settings(db.url())).await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&alice, "ci", "production").await;
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["keys"][0]["last_used_at"].is_null());
    assert_eq!(
        app.me_status(key["key"].as_str().unwrap()).await,
        StatusCode::OK
    );
    app.stop().await; // a graceful stop writes what is pending
    let app = TestApp::start(test_settings(db.url())).await;
    let listed: Value = app
        .get("/api/v1/keys", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["keys"][0]["last_used_at"].is_string(), "{listed}");
}

async fn revocation_reaches_the_other_instance(db: TestDatabase) {
    let first = TestApp::start(test_settings(db.url())).await;
    let second = TestApp::start(test_settings(db.url())).await;
    let (alice, _) = first.new_user("alice@example.com").await;
    let created = first.create_key(&alice, "ci", "production").await;
    let key = created["key"].as_str().unwrap().to_owned();
    // Warm the second instance's cache with the live key.
    assert_eq!(second.me_status(&key).await, StatusCode::OK);
    assert_eq!(
        first
            .delete(
                &format!("/api/v1/keys/{}", created["id"].as_str().unwrap()),
                &alice
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        first.me_status(&key).await,
        StatusCode::UNAUTHORIZED,
        "at once where it was revoked"
    );
    let started = tokio::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            second.me_status(&key).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the other instance still accepts a revoked key after 5 s"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_revocation_reaches_another_instance_on_sqlite() {
    revocation_reaches_the_other_instance(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_revocation_reaches_another_instance_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        revocation_reaches_the_other_instance(db).await;
    }
}

/// The rotation body is optional (the document says so): none, or JSON `null`, rotates at once;
/// and a whole number written with a fraction (`5.0`, the same number in JSON) is a whole
/// number of seconds.
#[tokio::test]
async fn rotation_takes_no_body_a_null_body_or_a_whole_number_written_with_a_fraction() {
    let (app, _db) = spawn_sqlite().await;
    let (alice, _) = app.new_user("alice@example.com").await;
    let mut id = app.create_key(&alice, "ci", "staging").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (content_type, body) in [
        (None, ""),
        (Some("application/json"), "null"),
        (Some("application/json"), "{\"grace_period_seconds\": 5.0}"),
        (Some("application/json"), "{\"grace_period_seconds\": 1e1}"),
    ] {
        let mut request = app
            .client
            .post(app.url(&format!("/api/v1/keys/{id}/rotate")))
            .bearer_auth(&alice)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        let created: Value = response.json().await.unwrap();
        id = created["id"].as_str().unwrap().to_owned();
    }
    let fraction = app
        .post(
            &format!("/api/v1/keys/{id}/rotate"),
            json!({"grace_period_seconds": 2.5}),
            Some(&alice),
        )
        .await;
    let body = assert_problem(fraction, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["error"]["param"], "grace_period_seconds", "{body}");
}
