//! The console's files as the server serves them: the browser behaviour itself is tested in
//! headless Chromium by scripts/console-e2e.sh.

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};

use crate::helpers::spawn_sqlite;

#[tokio::test]
async fn pages_and_assets_are_served_with_their_type_and_a_strict_policy() {
    let (app, _db) = spawn_sqlite().await;
    for (path, content_type, marker) in [
        ("/console", "text/html", "customer.js"),
        ("/console/", "text/html", "customer.js"),
        ("/console/admin", "text/html", "admin.js"),
        (
            "/console/assets/customer.js",
            "text/javascript",
            "startPage",
        ),
        (
            "/console/assets/console.css",
            "text/css",
            "prefers-color-scheme",
        ),
        ("/console/assets/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {:?}",
            headers[CONTENT_TYPE]
        );
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }
}

#[tokio::test]
async fn an_unchanged_asset_is_revalidated_without_its_body() {
    let (app, _db) = spawn_sqlite().await;
    let first = app.get("/console/assets/api.js", None).await;
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = app
        .client
        .get(app.url("/console/assets/api.js"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let other = app
        .client
        .get(app.url("/console/assets/api.js"))
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_files_are_a_problem_404_and_pages_are_not_assets() {
    let (app, _db) = spawn_sqlite().await;
    for path in [
        "/console/assets/nothing.js",
        "/console/assets/index.html",
        "/console/assets/..%2FCargo.toml",
        "/console/other",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
    }
}
