//! The real `tollgate` binary as a child process, for tests whose subject is the process: its
//! command line, its log, a crash.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// The `tollgate` binary serving on a free port, its log lines collected by a thread.
pub struct ServerProcess {
    child: std::process::Child,
    address: String,
    lines: std::sync::mpsc::Receiver<String>,
    pub startup_log: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// The binary on a fresh SQLite file, with `env` (`TOLLGATE_…` settings) set.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("t.db").display());
        Self::start_on(&database_url, env, dir)
    }

    /// The binary on `database_url`, run in `dir`, with `env` set.
    pub fn start_on(database_url: &str, env: &[(&str, &str)], dir: tempfile::TempDir) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .current_dir(dir.path())
            .env("TOLLGATE_DATABASE__URL", database_url)
            .env("TOLLGATE_SERVER__LISTEN", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut log = BufReader::new(child.stderr.take().unwrap());
        let mut startup_log = String::new();
        let address = loop {
            let mut line = String::new();
            assert!(
                log.read_line(&mut line).unwrap() > 0,
                "server exited:\n{startup_log}"
            );
            startup_log.push_str(&line);
            if line.contains("tollgate listening") {
                break listening_address(&line);
            }
        };
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in log.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            address,
            lines,
            startup_log,
            _dir: dir,
        }
    }

    /// The binary on `database_url` in front of the upstream at `upstream` (a server root), as
    /// the administrator of `helpers`, with rate limits out of the way; `extra` sets the rest.
    pub fn start_metered(database_url: &str, upstream: &str, extra: &[(&str, &str)]) -> Self {
        let base_url = format!("{upstream}/v1");
        let mut env = vec![
            ("TOLLGATE_AUTH__ADMIN_EMAIL", crate::helpers::ADMIN_EMAIL),
            (
                "TOLLGATE_AUTH__ADMIN_PASSWORD",
                crate::helpers::ADMIN_PASSWORD,
            ),
            (
                "TOLLGATE_AUTH__JWT_SECRET",
                "process-test-secret-0123456789abcdef01234567",
            ),
            ("TOLLGATE_AUTH__PASSWORD_HASH_MEMORY_KIB", "256"),
            ("TOLLGATE_OPENAI__BASE_URL", &base_url),
            ("TOLLGATE_OPENAI__API_KEY", "sk-test"),
            ("TOLLGATE_PLANS__FREE__REQUESTS_PER_MINUTE", "1000000"),
            ("TOLLGATE_PLANS__FREE__BURST", "100000"),
        ];
        env.extend_from_slice(extra);
        Self::start_on(database_url, &env, tempfile::tempdir().unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Log lines until one contains `marker` (within 10 s), that one included.
    pub fn lines_until(&self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no {marker:?} in:\n{}", seen.join("\n")));
            let found = line.contains(marker);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
}

/// The address of a "tollgate listening" log line, text or JSON.
fn listening_address(line: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json["address"].as_str().unwrap().to_owned();
    }
    let start = line.find("address=").unwrap() + "address=".len();
    line[start..].split_whitespace().next().unwrap().to_owned()
}

impl ServerProcess {
    /// Every log line written so far (waiting `settle` for the last ones), the start-up included.
    pub fn all_lines(&self, settle: std::time::Duration) -> Vec<String> {
        std::thread::sleep(settle);
        let mut lines: Vec<String> = self.startup_log.lines().map(str::to_owned).collect();
        lines.extend(self.lines.try_iter());
        lines
    }
}

impl ServerProcess {
    /// Kills the process with SIGKILL, as a crash would: nothing is flushed or given back.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// POSTs `body` as JSON, with `bearer` if any; the answer's JSON body.
    pub async fn post_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let mut request = client.post(self.url(path)).json(body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// GETs `path` with `bearer`; the answer's JSON body.
    pub async fn get_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        bearer: &str,
    ) -> serde_json::Value {
        let request = client.get(self.url(path)).bearer_auth(bearer);
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Logs in as the configured administrator (`email`, `password`) and creates a production
    /// API key of the administrator's organisation; returns the key.
    pub async fn admin_key(&self, client: &reqwest::Client, email: &str, password: &str) -> String {
        let credentials = serde_json::json!({"email": email, "password": password});
        let login = self
            .post_json(client, "/auth/login", None, &credentials)
            .await;
        let key = serde_json::json!({"name": "load", "environment": "production"});
        let access = login["access_token"].as_str().unwrap();
        let created = self
            .post_json(client, "/api/v1/keys", Some(access), &key)
            .await;
        created["key"].as_str().unwrap().to_owned()
    }
}

impl ServerProcess {
    /// Stops the process with SIGTERM, as an orchestrator does: it stops accepting, finishes the
    /// requests in flight, records what it owes and gives its leases back. Waits up to `within`
    /// for it to exit; `None` when it had not by then (it is killed).
    pub async fn terminate(
        &mut self,
        within: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Invites `email` as the administrator (`admin_access`), signs it up, logs it in and
    /// creates a production key of its own organisation; (its access token, the created key's
    /// body: `key`, `id`, `organization_id`…).
    pub async fn user_key(
        &self,
        client: &reqwest::Client,
        admin_access: &str,
        email: &str,
    ) -> (String, serde_json::Value) {
        let password = crate::helpers::PASSWORD;
        let invite = self
            .post_json(
                client,
                "/admin/invites",
                Some(admin_access),
                &serde_json::json!({"email": email}),
            )
            .await;
        let token = invite["invite_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{invite}"));
        let signup =
            serde_json::json!({"email": email, "password": password, "invite_token": token});
        let signed_up = client
            .post(self.url("/auth/signup"))
            .json(&signup)
            .send()
            .await
            .unwrap();
        assert_eq!(
            signed_up.status(),
            reqwest::StatusCode::CREATED,
            "sign-up of {email}"
        );
        let credentials = serde_json::json!({"email": email, "password": password});
        let login = self
            .post_json(client, "/auth/login", None, &credentials)
            .await;
        let access = login["access_token"].as_str().unwrap().to_owned();
        let key = serde_json::json!({"name": "faults", "environment": "production"});
        let created = self
            .post_json(client, "/api/v1/keys", Some(&access), &key)
            .await;
        assert!(created["key"].is_string(), "{created}");
        (access, created)
    }
}

/// Runs the `tollgate` CLI (e.g. `set-plan`) on `database_url`, asserts it succeeded and returns
/// what it printed. (On SQLite, beside a running server, it once failed now and then with
/// "database is locked": a read-then-write transaction met the server's commit. Write
/// transactions now begin IMMEDIATE and wait for the lock instead.)
pub fn tollgate(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(tempfile::tempdir().unwrap().path())
        .env("TOLLGATE_DATABASE__URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl ServerProcess {
    /// The process id: tells which process owns a connection a fake receiver was sent.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
