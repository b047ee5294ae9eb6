//! `tollgate check-config`: the effective settings from file, environment and defaults, secrets
//! masked, and a non-zero exit naming the problem.

use std::process::{Command, Output};

const JWT_SECRET: &str = "check-config-secret-0123456789abcdef0123";
const DB_PASSWORD: &str = "db-pass-5f1c";

fn check_config(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.current_dir(dir).arg("check-config").args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

#[test]
fn prints_the_effective_settings_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tollgate.toml"),
        "[server]\nmax_body_bytes = 4096\n[metrics]\ntoken = \"metrics-token-abc\"\n",
    )
    .unwrap();
    let database_url = format!("postgres://app:{DB_PASSWORD}@db.internal:5432/tollgate");
    let output = check_config(
        dir.path(),
        &[],
        &[
            ("TOLLGATE_AUTH__JWT_SECRET", JWT_SECRET),
            ("TOLLGATE_DATABASE__URL", &database_url),
            ("TOLLGATE_OPENAI__API_KEY", "sk-live-should-not-print"),
        ],
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [
        JWT_SECRET,
        DB_PASSWORD,
        "sk-live-should-not-print",
        "metrics-token-abc",
    ] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    assert!(printed.contains("# file: tollgate.toml"), "{printed}");
    assert!(printed.contains("TOLLGATE_AUTH__JWT_SECRET"), "{printed}");
    assert!(
        printed.contains("rate_limit.backend = \"memory\" on Postgres"),
        "{printed}"
    );
    let settings: toml::Value = toml::from_str(&printed).expect("the settings print as TOML");
    assert_eq!(
        settings["server"]["max_body_bytes"].as_integer(),
        Some(4096),
        "from the file"
    );
    assert_eq!(
        settings["database"]["url"].as_str(),
        Some("postgres://app:********@db.internal:5432/tollgate"),
        "from the environment, password masked"
    );
    assert_eq!(settings["auth"]["jwt_secret"].as_str(), Some("********"));
    assert_eq!(settings["metrics"]["token"].as_str(), Some("********"));
    assert_eq!(
        settings["auth"]["access_token_ttl_seconds"].as_integer(),
        Some(900),
        "a default"
    );
}

#[test]
fn a_bad_setting_exits_non_zero_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("TOLLGATE_SERVER__LISTEN", "not-an-address")],
            "TOLLGATE_SERVER__LISTEN",
        ),
        (&[("TOLLGATE_AUTH__NO_SUCH_KEY", "1")], "no_such_key"),
        (
            &[("TOLLGATE_DATABASE__URL", "postgres://db/tollgate")],
            "auth.jwt_secret is required",
        ),
    ];
    for (env, named) in cases {
        let output = check_config(dir.path(), &[], env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} passed");
        assert!(stderr.contains(named), "{env:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "nothing printed as settings on failure"
        );
    }
    let missing = check_config(dir.path(), &["--config", "absent.toml"], &[]);
    assert!(!missing.status.success());
}
