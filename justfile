# Shortcuts; every recipe is a plain cargo command you can run yourself.

# Run the server on the embedded SQLite default.
run:
    cargo run --release --bin tollgate

# The whole test suite (Postgres tests run when TEST_DATABASE_URL is set; see db-up).
test:
    cargo test --workspace

# Formatting and lints as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs, including the Postgres-backed tests.
ci:
    bash .ci/run

# Regenerate the committed OpenAPI document.
openapi:
    cargo run --quiet --bin tollgate -- openapi > docs/openapi.json

# Start the local PostgreSQL if needed and print the TEST_DATABASE_URL to export.
db-up:
    pg_isready -h 127.0.0.1 -q || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -n 1) main start
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'tollgate_dev'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE tollgate_dev"
    @echo 'export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tollgate_dev'

# Benchmarks: key verification (criterion) and the authenticated hot path under load.
bench:
    cargo bench -p tollgate-keys --bench verify
    cargo run --release -p tollgate-server --example load
    cargo run --release -p tollgate-sql --example reservations
    cargo run --release -p tollgate-ratelimit --example gcra -- redis://127.0.0.1:6379/

# Fuzz every parser that sees attacker input, SECONDS per target (fuzz/run.sh; nightly with
# AddressSanitizer when installed, else stable). Crashes are left in fuzz/artifacts/.
fuzz seconds="60":
    bash fuzz/run.sh {{seconds}}

# The web console's end-to-end tests in headless Chromium; `just console-e2e docs/images`
# also refreshes the README's screenshots.
console-e2e screenshots="":
    SCREENSHOT_DIR={{screenshots}} bash scripts/console-e2e.sh
