use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_server::settings::{DoorLimitSettings, ModelPriceSettings, PerSourceSettings};
use tollgate_server::{Application, Settings};
use tollgate_test_support::{Backend, TestDatabase};

pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "root password 1";
pub const PASSWORD: &str = "a good long password";
pub const JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Settings for a test server on `database_url`: port 0, a known admin and JWT secret, cheap
/// argon2 parameters.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::from_toml(&format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [database]
        url = "{database_url}"
        [auth]
        admin_email = "{ADMIN_EMAIL}"
        admin_password = "{ADMIN_PASSWORD}"
        jwt_secret = "{JWT_SECRET}"
        password_hash_memory_kib = 256
        "#
    ))
    .expect("test settings");
    settings.auth.revocation_poll_millis = 1000;
    // Every test client is 127.0.0.1: the per-source limits have tests of their own.
    let unlimited = DoorLimitSettings::new(0, 0);
    settings.rate_limit.per_source = PerSourceSettings {
        signup: unlimited,
        redemption: unlimited,
        login: unlimited,
        refresh: unlimited,
    };
    settings
}

impl TestApp {
    pub async fn start(settings: Settings) -> Self {
        let app = Application::build(settings)
            .await
            .expect("build application");
        let address = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        Self {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn tokens(&self, email: &str, password: &str) -> (String, String) {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn admin_token(&self) -> String {
        self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await.0
    }

    pub async fn invite(&self, email: &str) -> String {
        let admin = self.admin_token().await;
        let response = self
            .post("/admin/invites", json!({"email": email}), Some(&admin))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["invite_token"].as_str().unwrap().to_owned()
    }

    /// Invites, signs up and logs in a new user; returns (access token, refresh token).
    pub async fn new_user(&self, email: &str) -> (String, String) {
        let invite = self.invite(email).await;
        let response = self
            .post(
                "/auth/signup",
                json!({"email": email, "password": PASSWORD, "invite_token": invite}),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "signup of {email}");
        self.tokens(email, PASSWORD).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/auth/refresh",
            json!({"refresh_token": refresh_token}),
            None,
        )
        .await
    }

    pub async fn me_status(&self, access_token: &str) -> StatusCode {
        self.get("/api/v1/me", Some(access_token)).await.status()
    }
}

/// A server on a fresh database of `backend`; `None` when that backend is not available.
pub async fn spawn(backend: Backend) -> Option<(TestApp, TestDatabase)> {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<(TestApp, TestDatabase)> {
    let db = TestDatabase::new(backend).await?;
    let mut settings = test_settings(db.url());
    configure(&mut settings);
    Some((TestApp::start(settings).await, db))
}

pub async fn spawn_sqlite() -> (TestApp, TestDatabase) {
    spawn(Backend::Sqlite)
        .await
        .expect("sqlite is always available")
}

/// Asserts an RFC 9457 problem response with the given status and `type`; returns its body.
pub async fn assert_problem(response: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Polls until `check` is true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the same async test body against a server on SQLite and one on Postgres.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, _db) = $crate::helpers::spawn(tollgate_test_support::Backend::Sqlite)
                    .await
                    .unwrap();
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, _db)) =
                    $crate::helpers::spawn(tollgate_test_support::Backend::Postgres).await
                else {
                    return;
                };
                ($body)(app).await;
            }
        }
    };
}

/// Runs each named `async fn(Backend)` as two tests, `<name>::sqlite` and `<name>::postgres`,
/// for tests that set up more than a server (a fake upstream, settings of their own) and so
/// spawn it themselves. The function spawns its server on the backend it is given and returns
/// early when that backend is not available (Postgres without `TEST_DATABASE_URL`); a fake
/// upstream with expectations is mounted after that, so that a skipped test verifies none.
#[macro_export]
macro_rules! tests_on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(tollgate_test_support::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(tollgate_test_support::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A model priced in round numbers, so that a test's expected charges are sums a reader checks
/// by hand: 1 µ$ per input token (cached or not) and 2 µ$ per output token. Add it with
/// [`price_test_model`]. It is counted with `o200k_base`, as the GPT-4o family is.
pub const TEST_MODEL: &str = "test-model";

/// Adds [`TEST_MODEL`] to the price catalogue of `settings`: 1 000 000 micro-dollars per million
/// input tokens and 2 000 000 per million output tokens. A priced model is served unless
/// `openai.allowed_models` leaves it out.
pub fn price_test_model(settings: &mut Settings) {
    settings.models.insert(
        TEST_MODEL.to_owned(),
        ModelPriceSettings {
            input_per_million_micros: Some(1_000_000),
            cached_input_per_million_micros: Some(1_000_000),
            output_per_million_micros: Some(2_000_000),
        },
    );
}

impl TestApp {
    /// `GET /api/v1/usage` as `bearer`; the body.
    pub async fn usage(&self, bearer: &str) -> Value {
        let response = self.get("/api/v1/usage", Some(bearer)).await;
        assert_eq!(response.status(), StatusCode::OK, "reading usage");
        response.json().await.unwrap()
    }

    /// Creates an API key with the caller's access token; returns the whole response body.
    pub async fn create_key(&self, access_token: &str, name: &str, environment: &str) -> Value {
        let response = self
            .post(
                "/api/v1/keys",
                json!({"name": name, "environment": environment}),
                Some(access_token),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating key {name}"
        );
        response.json().await.unwrap()
    }

    pub async fn delete(&self, path: &str, bearer: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("request")
    }
}

/// `key` with its last character changed: a typo the checksum must catch.
pub fn mistyped(key: &str) -> String {
    let mut changed = key.to_owned();
    let last = changed.pop().unwrap_or('A');
    changed.push(if last == 'A' { 'B' } else { 'A' });
    changed
}

/// A fake OpenAI-compatible upstream on loopback: every POST is answered with one gpt-4o-mini
/// completion that used `prompt` input and `completion` output tokens.
pub async fn fake_upstream(prompt: u64, completion: u64) -> wiremock::MockServer {
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}
        })))
        .mount(&upstream)
        .await;
    upstream
}

/// Points `settings` at `upstream` (a server root), without retries.
pub fn use_upstream(settings: &mut Settings, upstream: &wiremock::MockServer) {
    settings.openai.base_url = format!("{}/v1", upstream.uri());
    settings.openai.api_key = Some("sk-upstream".to_owned().into());
    settings.openai.max_retries = 0;
}
