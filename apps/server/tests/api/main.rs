//! HTTP tests: the real server on port 0, spoken to over HTTP. One binary, so it links once.

mod call_lifecycle;
mod chat;
mod errors;
mod first_run;
mod health;
mod helpers;
mod invites;
mod keys;
mod lease_crash;
mod lease_instances;
mod lease_limits;
mod lease_processes;
mod legacy;
mod lockout;
mod login;
mod metered_concurrency;
mod openai_sdk;
mod password;
mod plans;
mod server_process;
mod sessions;
mod signup;
mod stream_faults;
mod stripe_webhooks;
mod timestamps;
mod tokens;
