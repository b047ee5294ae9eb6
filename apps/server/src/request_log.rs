//! One log line and one metrics sample per request: method, route, status, latency, request id,
//! and who called — the organisation and, for an API key, its display prefix (`tg_prod_a1B2c3`,
//! never the secret). Never a credential, a body or a query string (which may carry an
//! organisation id but also anything a client puts there).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tollgate_kernel::OrganizationId;
use tracing::Instrument as _;

use crate::middleware::REQUEST_ID;
use crate::{telemetry, trace_context};

/// Filled in by authentication, read when the response leaves.
#[derive(Clone, Default)]
pub struct RequestCaller(Arc<Caller>);

#[derive(Default)]
struct Caller {
    organization: OnceLock<OrganizationId>,
    key_prefix: OnceLock<String>,
}

impl RequestCaller {
    pub fn record(&self, organization: OrganizationId) {
        let _ = self.0.organization.set(organization);
    }

    /// The display prefix of the API key that authenticated the request.
    pub fn record_key_prefix(&self, prefix: &str) {
        let _ = self.0.key_prefix.set(prefix.to_owned());
    }
}

pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let caller = RequestCaller::default();
    request.extensions_mut().insert(caller.clone());
    let method = request.method().clone();
    // The route's pattern, not the path: ids in paths would make every line unique. Both it and
    // the request id are reference-counted: nothing is copied per request.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let id_header = request
        .headers()
        .get(REQUEST_ID)
        .cloned()
        .unwrap_or(HeaderValue::from_static(""));
    let id = id_header.to_str().unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id, method = %method,
        route = %route.as_ref().map_or("(no route)", MatchedPath::as_str));
    trace_context::adopt_client_trace(&span, request.headers());
    let serve = trace_context::scope(id_header.clone(), next.run(request));
    let response = serve.instrument(span).await;
    let elapsed = started.elapsed();
    let route = route.as_ref().map_or("(no route)", MatchedPath::as_str);
    let status = response.status().as_u16();
    telemetry::record_request(method.as_str(), route, status, elapsed);
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = %format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
        request_id = %id,
        organization = %Optional(caller.0.organization.get()),
        key_prefix = %Optional(caller.0.key_prefix.get()),
        "request"
    );
    response
}

/// Displays nothing for `None`, so that an unauthenticated request logs `organization=`.
struct Optional<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Optional<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => Ok(()),
        }
    }
}
