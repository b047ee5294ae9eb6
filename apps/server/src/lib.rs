//! The Tollgate server: HTTP API, OpenAPI document and admin commands, wired from the domain
//! crates and their adapters. Handlers stay thin; rules live in the domain crates.

mod account_cache;
pub mod auth;
pub mod billing_report;
mod billing_workers;
mod chat;
pub mod cli;
mod client_address;
mod config_check;
mod detached;
mod domain_errors;
pub mod error;
mod idempotency;
mod json;
pub mod jwt_secret;
mod key_cache;
mod key_cap_cache;
mod last_used;
mod lease_keeper;
pub mod logging;
mod middleware;
pub mod openapi;
mod password_hasher;
mod plan_cache;
pub mod pricing;
pub mod rate_headers;
mod request_log;
mod reservation_sweeper;
mod retention;
mod revocations;
pub mod routes;
mod services;
pub mod settings;
mod settlements;
pub mod startup;
mod state;
mod suspension;
pub mod telemetry;
mod trace_context;
pub mod trace_export;
mod usage_source;

pub use settings::Settings;
pub use startup::Application;
