//! Says at build time which external-service tests will be skipped, since libtest captures what
//! the tests themselves print.

fn main() {
    for (variable, what) in [
        ("TEST_DATABASE_URL", "Postgres"),
        ("TEST_REDIS_URL", "Redis"),
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
        if std::env::var_os(variable).is_none() {
            println!(
                "cargo:warning={variable} is not set: {what}-backed tests will be skipped (see README)"
            );
        }
    }
}
