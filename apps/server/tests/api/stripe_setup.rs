//! `tollgate stripe setup` as an operator runs it, against the stateful stand-in for Stripe the
//! adapter's own tests use: the first run creates the catalogue of the configured plans and
//! prints configuration the server accepts; a second run creates nothing and prints the same.

#[path = "../../../../crates/adapters/stripe/tests/catalog/fake.rs"]
#[allow(dead_code)]
mod fake;
#[path = "../../../../crates/adapters/stripe/tests/catalog/objects.rs"]
#[allow(dead_code)]
mod objects;

use std::process::Command;

use self::fake::{FakeStripe, SECRET};

fn setup(stripe: &str, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["stripe", "setup"])
        .args(args)
        .current_dir(dir.path())
        .env("TOLLGATE_DATABASE__URL", "sqlite://unused.db")
        .env("TOLLGATE_STRIPE__API_BASE", stripe)
        .env("TOLLGATE_STRIPE__SECRET_KEY", SECRET)
        .env("TOLLGATE_STRIPE__WEBHOOK_SECRET", "whsec_setup")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_setup_creates_the_catalogue_once_and_prints_its_configuration() {
    let (server, fake) = FakeStripe::start().await;
    let (ok, config, errors) = setup(&server.uri(), &["--metered", "pro"]);
    assert!(ok, "{errors}");
    {
        let state = fake.state();
        // The built-in paid plans: Pro (metered) and Enterprise; Free needs nothing in Stripe.
        assert_eq!(state.meters.len(), 1);
        assert_eq!(state.products.len(), 2);
        assert_eq!(
            state.prices.len(),
            3,
            "two monthly prices and Pro's metered one"
        );
    }
    assert!(
        config.contains("meter_event_name = \"tollgate_usage\""),
        "{config}"
    );
    assert!(config.contains("[plans.pro]"), "{config}");
    assert!(config.contains("[plans.enterprise]"), "{config}");
    assert!(!config.contains("[plans.free]"), "{config}");
    assert_eq!(
        config.matches("stripe_metered_price_id").count(),
        1,
        "{config}"
    );

    // What it printed is configuration the server reads.
    let toml = config
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let toml = toml.replace(
        "[stripe]",
        "[stripe]\nsecret_key = \"sk_test\"\nwebhook_secret = \"whsec_x\"",
    );
    let settings = tollgate_server::Settings::from_toml(&toml);
    assert!(settings.is_ok(), "{toml}\n{:?}", settings.err());

    let posts = fake.state().posts().len();
    let (ok, again, errors) = setup(&server.uri(), &["--metered", "pro"]);
    assert!(ok, "{errors}");
    assert_eq!(
        fake.state().posts().len(),
        posts,
        "a second run creates nothing"
    );
    assert!(again.contains("nothing was created"), "{again}");
    let ids = |text: &str| {
        text.lines()
            .filter(|line| line.contains("price_id"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&config));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_setup_with_a_wrong_key_fails_and_says_why() {
    let (server, fake) = FakeStripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["stripe", "setup"])
        .current_dir(dir.path())
        .env("TOLLGATE_STRIPE__API_BASE", server.uri())
        .env("TOLLGATE_STRIPE__SECRET_KEY", "sk_test_wrong")
        .env("TOLLGATE_STRIPE__WEBHOOK_SECRET", "whsec_setup")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("Stripe catalogue"), "{errors}");
    assert!(fake.state().products.is_empty());
}
