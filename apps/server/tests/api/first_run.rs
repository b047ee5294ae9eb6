//! What a newcomer meets: getting the first account, the operator's way back from a lockout,
//! and start-up errors that say what is wrong. Runs the real `tollgate` binary where the
//! command line itself is the subject.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::{Application, Settings};
use tollgate_test_support::TestDatabase;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, test_settings};
use crate::server_process::ServerProcess;

/// `tollgate ARGS` in a clean directory, on `database_url`, with `stdin` piped in.
fn tollgate(database_url: &str, args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(dir.path())
        .env("TOLLGATE_DATABASE__URL", database_url)
        .env("TOLLGATE_AUTH__PASSWORD_HASH_MEMORY_KIB", "256")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tollgate");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Settings for a server without a configured administrator.
fn settings_without_admin(database_url: &str) -> Settings {
    let mut settings = test_settings(database_url);
    settings.auth.admin_email = None;
    settings.auth.admin_password = None;
    settings
}

async fn role_of(app: &TestApp, email: &str, password: &str) -> String {
    let (access, _) = app.tokens(email, password).await;
    let me: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    me["user"]["role"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_admin_makes_the_first_account_which_can_invite() {
    let db = TestDatabase::sqlite();
    let output = tollgate(
        db.url(),
        &["create-admin", "--email", "ops@example.com"],
        "first admin password\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("created administrator ops@example.com"),
        "{}",
        text(&output.stdout)
    );

    let app = TestApp::start(settings_without_admin(db.url())).await;
    assert_eq!(
        role_of(&app, "ops@example.com", "first admin password").await,
        "admin"
    );
    let (admin, _) = app.tokens("ops@example.com", "first admin password").await;
    let invite = app
        .post(
            "/admin/invites",
            json!({"email": "bob@example.com"}),
            Some(&admin),
        )
        .await;
    assert_eq!(invite.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn create_admin_refuses_a_weak_or_missing_password_and_takes_none_from_argv() {
    let db = TestDatabase::sqlite();
    let weak = tollgate(
        db.url(),
        &["create-admin", "--email", "a@example.com"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("at least 10"),
        "{}",
        text(&weak.stderr)
    );
    let missing = tollgate(db.url(), &["create-admin", "--email", "a@example.com"], "");
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no password on standard input"),
        "{}",
        text(&missing.stderr)
    );
    let argv = tollgate(
        db.url(),
        &[
            "create-admin",
            "--email",
            "a@example.com",
            "--password",
            "in argv!!",
        ],
        "",
    );
    assert!(!argv.status.success());
}

#[tokio::test]
async fn create_admin_gets_a_locked_out_operator_back_in_and_ends_old_sessions() {
    let db = TestDatabase::sqlite();
    let app = TestApp::start(test_settings(db.url())).await;
    let (_, old_refresh) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for _ in 0..10 {
        app.login(ADMIN_EMAIL, "not the password").await;
    }
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // While the server runs, on the same database.
    let output = tollgate(
        db.url(),
        &["create-admin", "--email", ADMIN_EMAIL],
        "a brand new admin password\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("reset the password"),
        "{}",
        text(&output.stdout)
    );

    assert_eq!(
        app.login(ADMIN_EMAIL, "a brand new admin password")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&old_refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "sessions opened with the old password must end"
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_email_never_promotes_an_existing_user() {
    let db = TestDatabase::sqlite();
    let mut open = settings_without_admin(db.url());
    open.auth.signup = tollgate_server::settings::SignupSetting::Open;
    let app = TestApp::start(open).await;
    let signup = app
        .post(
            "/auth/signup",
            json!({"email": "squatter@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(signup.status(), StatusCode::CREATED);
    app.stop().await;

    let mut claiming = test_settings(db.url());
    claiming.auth.admin_email = Some("squatter@example.com".into());
    let error = match Application::build(claiming).await {
        Ok(_) => panic!("start-up promoted an existing user"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("not an administrator") && error.contains("tollgate create-admin"),
        "{error}"
    );

    let app = TestApp::start(settings_without_admin(db.url())).await;
    assert_eq!(
        role_of(&app, "squatter@example.com", PASSWORD).await,
        "user"
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_password_is_not_applied_to_an_existing_admin() {
    let db = TestDatabase::sqlite();
    TestApp::start(test_settings(db.url())).await.stop().await;
    let mut changed = test_settings(db.url());
    changed.auth.admin_password = Some("some other password".to_owned().into());
    let app = TestApp::start(changed).await;
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, "some other password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[test]
fn migrate_says_what_it_applied_and_what_changed_nothing_on_sqlite() {
    let db = TestDatabase::sqlite();
    let first = tollgate(db.url(), &["migrate"], "");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    let applied: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("applied "))
        .collect();
    assert!(applied.len() >= 10, "{stdout}");
    let postgres_only: Vec<&&str> = applied
        .iter()
        .filter(|l| l.contains("Postgres only"))
        .collect();
    assert_eq!(postgres_only.len(), 4, "{stdout}");
    assert!(
        applied
            .iter()
            .any(|l| l.contains("identity") && !l.contains("Postgres only")),
        "{stdout}"
    );
    let again = tollgate(db.url(), &["migrate"], "");
    assert!(
        text(&again.stdout).contains("no migration to apply"),
        "{}",
        text(&again.stdout)
    );
}

async fn startup_error(configure: impl FnOnce(&mut Settings)) -> String {
    let db = TestDatabase::sqlite();
    let mut settings = test_settings(db.url());
    configure(&mut settings);
    match Application::build(settings).await {
        Ok(_) => panic!("the server started"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn database_url_mistakes_are_reported_as_what_they_are() {
    for (url, expected) in [
        ("my.db", "\"my.db\" is not a database URL"),
        (
            "mysql://root@localhost/x",
            "mysql:// databases are not supported",
        ),
        (
            "sqlite://no-such-dir-for-tollgate/x.db",
            "directory no-such-dir-for-tollgate",
        ),
    ] {
        let error = startup_error(|s| {
            s.database.url = url.to_owned();
            s.auth.jwt_secret = None;
        })
        .await;
        assert!(error.starts_with("database.url: "), "{url}: {error}");
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("jwt"), "{url}: {error}");
    }
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_host_and_the_reason() {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    let error =
        startup_error(|s| s.database.url = "postgres://postgres@127.0.0.1:1/tollgate".into()).await;
    assert!(error.contains("127.0.0.1:1/tollgate"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert_eq!(error.matches("pool timed out").count(), 0, "{error}");
}

#[tokio::test]
async fn an_invalid_openai_base_url_stops_start_up() {
    let error = startup_error(|s| s.openai.base_url = "api.openai.com/v1".into()).await;
    assert!(error.starts_with("openai.base_url: "), "{error}");
}

/// The binary's own first run: a line says how to get the first account, logs have no colour
/// codes when not on a terminal, and every request gets one line.
#[tokio::test]
async fn first_start_explains_how_to_get_in_and_logs_each_request() {
    let server = ServerProcess::start(&[]);
    let startup = &server.startup_log;
    assert!(
        startup.contains("tollgate create-admin --email"),
        "{startup}"
    );
    assert!(
        !startup.contains('\u{1b}'),
        "ANSI codes in a log file:\n{startup}"
    );

    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let lines = server.lines_until("route=/healthz");
    let line = lines.last().unwrap();
    assert!(line.contains(" INFO "), "{line}");
    for field in ["method=GET", "status=200", "latency_ms=", "request_id="] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

/// An AI provider that cannot be reached is one ERROR line (with its cause) and one request
/// line, not the same failure twice.
#[tokio::test]
async fn an_upstream_failure_is_logged_once() {
    let server = ServerProcess::start(&[
        ("TOLLGATE_AUTH__ADMIN_EMAIL", ADMIN_EMAIL),
        ("TOLLGATE_AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("TOLLGATE_AUTH__PASSWORD_HASH_MEMORY_KIB", "256"),
        ("TOLLGATE_OPENAI__BASE_URL", "http://127.0.0.1:1/v1"),
        ("TOLLGATE_OPENAI__MAX_RETRIES", "0"),
    ]);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(server.url("/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let response = client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let lines = server.lines_until("request method=POST route=/v1/chat/completions");
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0].contains("127.0.0.1:1") || errors[0].contains("connect"),
        "{}",
        errors[0]
    );
    assert!(lines.last().unwrap().contains("status=502"));
}

#[tokio::test]
async fn set_plan_moves_an_organisation_onto_a_paid_plan_while_the_server_runs() {
    let db = TestDatabase::sqlite();
    let app = TestApp::start(test_settings(db.url())).await;
    let (bob, _) = app.new_user("bob@example.com").await;

    let unknown = tollgate(
        db.url(),
        &[
            "set-plan",
            "--email",
            "bob@example.com",
            "--plan",
            "platinum",
        ],
        "",
    );
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("free, pro, enterprise")
            || text(&unknown.stderr).contains("enterprise, free, pro"),
        "{}",
        text(&unknown.stderr)
    );

    let output = tollgate(
        db.url(),
        &["set-plan", "--email", "bob@example.com", "--plan", "pro"],
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let on_pro = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let me: Value = app
            .get("/api/v1/me", Some(&bob))
            .await
            .json()
            .await
            .unwrap();
        me["organization"]["plan"] == "pro"
    })
    .await;
    assert!(on_pro, "the running server did not see the new plan");
    let usage = app.usage(&bob).await;
    assert_eq!(usage["plan"], "pro");
    app.stop().await;
}

#[tokio::test]
async fn reconcile_usage_rebuilds_the_rollups_while_the_server_runs() {
    let db = TestDatabase::sqlite();
    let app = TestApp::start(test_settings(db.url())).await;
    let output = tollgate(db.url(), &["reconcile-usage"], "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("usage rollups rebuilt"),
        "{}",
        text(&output.stdout)
    );
    app.stop().await;
}
