//! One log line per request at INFO: method, route, status, latency, request id and the
//! organisation the caller acted for. Never a credential, a body or a query string (which may
//! carry an organisation id but also anything a client puts there).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tollgate_kernel::OrganizationId;
use tracing::Instrument as _;

use crate::middleware::REQUEST_ID;

/// Filled in by authentication, read when the response leaves.
#[derive(Clone, Default)]
pub struct RequestOrganization(Arc<OnceLock<OrganizationId>>);

impl RequestOrganization {
    pub fn record(&self, organization: OrganizationId) {
        let _ = self.0.set(organization);
    }
}

pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let organization = RequestOrganization::default();
    request.extensions_mut().insert(organization.clone());
    let method = request.method().clone();
    // The route's pattern, not the path: ids in paths would make every line unique. Both it and
    // the request id are reference-counted: nothing is copied per request.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .cloned()
        .unwrap_or(HeaderValue::from_static(""));
    let id = id.to_str().unwrap_or_default();
    let span = tracing::info_span!("request", id = %id);
    let response = next.run(request).instrument(span).await;
    tracing::info!(
        method = %method,
        route = %route.as_ref().map_or("(no route)", MatchedPath::as_str),
        status = response.status().as_u16(),
        latency_ms = %format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
        request_id = %id,
        organization = %Optional(organization.0.get()),
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
