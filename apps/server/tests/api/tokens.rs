//! Access-token forgeries and expiry: every one is a 401 problem.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::Backend;

use crate::helpers::{JWT_SECRET, assert_problem, spawn_sqlite, spawn_with};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, alg: Algorithm, typ: Option<&str>, secret: &str) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_401() {
    let (app, _db) = spawn_sqlite().await;
    let (access, _) = app.new_user("alice@example.com").await;
    assert_eq!(app.me_status(&access).await, StatusCode::OK);
    let claims = claims_of(&access);
    // Re-signing the genuine claims with the real key and header works: the forgeries below
    // fail for the one thing each changes.
    assert_eq!(
        app.me_status(&sign(&claims, Algorithm::HS256, Some("at+jwt"), JWT_SECRET))
            .await,
        StatusCode::OK
    );

    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let payload = access.split('.').nth(1).unwrap();
    let mut tampered_sig = access.clone();
    tampered_sig.pop();
    tampered_sig.push(if access.ends_with('A') { 'B' } else { 'A' });
    let admin_payload = URL_SAFE_NO_PAD.encode(with("role", json!("admin")).to_string());
    let forgeries = vec![
        ("alg none", format!("{header_none}.{payload}.")),
        (
            "HS512 with the same key",
            sign(&claims, Algorithm::HS512, Some("at+jwt"), JWT_SECRET),
        ),
        (
            "other key",
            sign(
                &claims,
                Algorithm::HS256,
                Some("at+jwt"),
                "another-secret-another-secret-another",
            ),
        ),
        (
            "wrong typ",
            sign(&claims, Algorithm::HS256, Some("JWT"), JWT_SECRET),
        ),
        ("no typ", sign(&claims, Algorithm::HS256, None, JWT_SECRET)),
        (
            "wrong iss",
            sign(
                &with("iss", json!("evil")),
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
            ),
        ),
        (
            "wrong aud",
            sign(
                &with("aud", json!("other")),
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
            ),
        ),
        (
            "missing exp",
            sign(
                &without("exp"),
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
            ),
        ),
        (
            "past exp",
            sign(
                &with("exp", json!(chrono::Utc::now().timestamp() - 60)),
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
            ),
        ),
        (
            "unknown role",
            sign(
                &with("role", json!("root")),
                Algorithm::HS256,
                Some("at+jwt"),
                JWT_SECRET,
            ),
        ),
        ("tampered signature", tampered_sig),
        (
            "tampered payload",
            format!(
                "{}.{admin_payload}.{}",
                access.split('.').next().unwrap(),
                access.split('.').nth(2).unwrap()
            ),
        ),
        ("garbage", "garbage".to_owned()),
        ("non-ascii", "jwt-ä".to_owned()),
        ("huge", "a".repeat(10_000)),
        ("api key shaped", "tg_prod_notarealkey".to_owned()),
    ];
    for (name, token) in forgeries {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for header in [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        &format!("Token {access}"),
    ] {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_problem(
        app.get("/api/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Lower-case scheme is fine (RFC 9110: schemes are case-insensitive).
    let lower = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);
}

#[tokio::test]
async fn access_tokens_expire_after_the_configured_ttl() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| s.auth.access_token_ttl_seconds = 1)
        .await
        .unwrap();
    let (access, refresh) = app.new_user("alice@example.com").await;
    let claims = claims_of(&access);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );
    assert_eq!(app.me_status(&access).await, StatusCode::OK);
    // 1 s of life plus the 5 s leeway.
    tokio::time::sleep(Duration::from_millis(7_200)).await;
    let expired = app.get("/api/v1/me", Some(&access)).await;
    assert_problem(expired, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The refresh token still works and gives a fresh access token.
    let renewed: Value = app.refresh(&refresh).await.json().await.unwrap();
    assert_eq!(
        app.me_status(renewed["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_carry_the_documented_claims() {
    let (app, _db) = spawn_sqlite().await;
    let (access, _) = app.new_user("alice@example.com").await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = claims_of(&access);
    for claim in [
        "sub", "org", "role", "sid", "iat", "exp", "jti", "iss", "aud",
    ] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing: {claims}"
        );
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["sub"], me["user"]["id"]);
    assert_eq!(claims["org"], me["organization"]["id"]);
}
