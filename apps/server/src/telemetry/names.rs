//! Every metric Tollgate exports, named once. docs/operations.md lists them with their labels.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

pub const HTTP_REQUESTS: &str = "tollgate_http_requests_total";
pub const HTTP_DURATION: &str = "tollgate_http_request_duration_seconds";
pub const AUTH_FAILURES: &str = "tollgate_auth_failures_total";
pub const REFUSALS: &str = "tollgate_admission_refusals_total";
pub const SOURCE_REFUSALS: &str = "tollgate_source_limit_refusals_total";
pub const RESERVATIONS_PENDING: &str = "tollgate_reservations_pending";
pub const RESERVED_MICROS: &str = "tollgate_reserved_micros";
pub const LEASES_ACTIVE: &str = "tollgate_leases_active";
pub const LEASED_MICROS: &str = "tollgate_leased_unsettled_micros";
pub const SWEEPER_RELEASES: &str = "tollgate_sweeper_released_reservations_total";
pub const UPSTREAM_DURATION: &str = "tollgate_upstream_request_duration_seconds";
pub const UPSTREAM_ERRORS: &str = "tollgate_upstream_errors_total";
pub const UPSTREAM_TOKENS: &str = "tollgate_upstream_tokens_total";
pub const UPSTREAM_COST: &str = "tollgate_upstream_cost_micros_total";
pub const CHARGED: &str = "tollgate_charged_micros_total";
pub const METER_EVENTS_PENDING: &str = "tollgate_stripe_outbox_pending";
pub const METER_EVENTS_HELD: &str = "tollgate_stripe_outbox_held";
pub const METER_EVENT_AGE: &str = "tollgate_stripe_outbox_oldest_age_seconds";
pub const WEBHOOKS_PENDING: &str = "tollgate_webhook_deliveries_pending";
pub const WEBHOOKS_FAILED: &str = "tollgate_webhook_deliveries_failed";
pub const WEBHOOK_AGE: &str = "tollgate_webhook_oldest_pending_age_seconds";
pub const WEBHOOK_ATTEMPTS: &str = "tollgate_webhook_attempts_total";
pub const METER_SENDS: &str = "tollgate_stripe_meter_sends_total";
pub const DB_UP: &str = "tollgate_database_up";
pub const DB_POOL_OPEN: &str = "tollgate_db_pool_connections_open";
pub const DB_POOL_IDLE: &str = "tollgate_db_pool_connections_idle";
pub const DB_POOL_MAX: &str = "tollgate_db_pool_connections_max";
pub const BUILD_INFO: &str = "tollgate_build_info";
pub const PURGED_ROWS: &str = "tollgate_retention_purged_rows_total";

/// The `# HELP` lines.
pub fn describe_all() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route pattern and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response's head, by method, route pattern and status."
    );
    describe_counter!(AUTH_FAILURES, "Refused credentials and logins, by reason.");
    describe_counter!(
        REFUSALS,
        "Metered calls refused by a limit, by reason (rate_limited, quota_exceeded, \
         budget_exceeded, key_cap_exceeded, capacity_exhausted, not_in_plan, suspended), plan \
         and action."
    );
    describe_counter!(
        SOURCE_REFUSALS,
        "Sign-ups, logins, refreshes and redemptions refused by the per-source limit, by door."
    );
    describe_gauge!(
        RESERVATIONS_PENDING,
        "Budget reservations of calls in flight (all instances)."
    );
    describe_gauge!(
        RESERVED_MICROS,
        "Micro-dollars held by pending reservations (all instances)."
    );
    describe_gauge!(LEASES_ACTIVE, "Active quota/budget leases (all instances).");
    describe_gauge!(
        LEASED_MICROS,
        "Micro-dollars granted to active leases and not yet settled (all instances)."
    );
    describe_counter!(
        SWEEPER_RELEASES,
        "Reservations of crashed requests released by this instance's sweeper."
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Provider calls: time to the whole answer, or to a stream's first event, by model and \
         outcome."
    );
    describe_counter!(
        UPSTREAM_ERRORS,
        "Provider calls that failed, by model and kind."
    );
    describe_counter!(
        UPSTREAM_TOKENS,
        "Tokens settled, by model and kind (input, cached_input, output)."
    );
    describe_counter!(
        UPSTREAM_COST,
        "AI cost settled, in micro-dollars, by model."
    );
    describe_counter!(
        CHARGED,
        "Price charged to customers for settled calls, in micro-dollars, by model."
    );
    describe_gauge!(
        METER_EVENTS_PENDING,
        "Stripe meter events not yet sent (all instances)."
    );
    describe_gauge!(
        METER_EVENTS_HELD,
        "Stripe meter events held for an operator (tollgate billing reconcile)."
    );
    describe_gauge!(
        METER_EVENT_AGE,
        Unit::Seconds,
        "Age of the oldest unsent Stripe meter event (0 when none)."
    );
    describe_gauge!(
        WEBHOOKS_PENDING,
        "Outbound webhook deliveries not yet acknowledged (all instances)."
    );
    describe_gauge!(
        WEBHOOKS_FAILED,
        "Outbound webhook deliveries given up after their last attempt (all instances)."
    );
    describe_gauge!(
        WEBHOOK_AGE,
        Unit::Seconds,
        "Age of the oldest pending webhook delivery (0 when none)."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts made by this instance, by outcome (delivered, retrying, \
         failed: given up)."
    );
    describe_counter!(
        METER_SENDS,
        "Stripe meter events sent by this instance, by outcome (delivered, retrying, held)."
    );
    describe_gauge!(
        DB_UP,
        "1 when the database answered the last scrape's queries, else 0."
    );
    describe_gauge!(DB_POOL_OPEN, "Database connections open in this process.");
    describe_gauge!(DB_POOL_IDLE, "Of those, idle.");
    describe_gauge!(DB_POOL_MAX, "The most connections this process opens.");
    describe_gauge!(BUILD_INFO, "1, labelled with the running version.");
    describe_counter!(
        PURGED_ROWS,
        "Rows deleted by this instance's retention passes, by table."
    );
}
