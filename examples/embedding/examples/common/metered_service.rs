//! Someone else's axum service — `POST /summarize` does its own work — with Tollgate's rate
//! limit, daily quota and budget reservation in front of it as a middleware. Shared by the
//! in-memory and the Postgres example; only the storage differs.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tollgate_kernel::{Clock, Micros, OrganizationId};
use tollgate_quotas::ports::{PlanDirectory, QuotaLedger, RateLimiter};
use tollgate_quotas::{Action, AdmitError, MeteringService, PlanCatalog, PlanSpec};
use tower::ServiceExt as _;

/// What we reserve per call before running it: our worst case.
const ESTIMATE: Micros = Micros::new(2_000);
/// The header our handler reports its actual cost in (micro-dollars).
const COST_HEADER: &str = "x-cost-micros";

/// A plan of our own: 10 summaries a day, a $0.01 monthly budget.
pub fn catalog() -> Arc<PlanCatalog> {
    let specs = BTreeMap::from([(
        "starter".to_owned(),
        PlanSpec {
            name: Some("Starter".into()),
            price_cents: Some(500),
            stripe_price_id: None,
            stripe_metered_price_id: None,
            requests_per_minute: Some(60),
            burst: None,
            daily_quota: Some(BTreeMap::from([("analysis".to_owned(), 10)])),
            monthly_budget_micros: Some(10_000),
            unlimited_budget: None,
        },
    )]);
    Arc::new(PlanCatalog::from_specs(&specs).expect("a valid plan"))
}

/// The service with Tollgate in front.
pub fn router<L, Q, P, C>(metering: Arc<MeteringService<L, Q, P, C>>) -> Router
where
    L: RateLimiter,
    Q: QuotaLedger,
    P: PlanDirectory,
    C: Clock,
{
    Router::new()
        .route("/summarize", post(summarize))
        .layer(from_fn_with_state(metering, meter::<L, Q, P, C>))
}

/// Our own handler: knows nothing of Tollgate; reports what it cost.
async fn summarize(text: String) -> Response {
    let summary = text.split('.').next().unwrap_or_default().trim().to_owned();
    let mut response = summary.into_response();
    // Say 1,500 µ$ of work per call (a real service would measure its AI tokens).
    response
        .headers_mut()
        .insert(COST_HEADER, HeaderValue::from_static("1500"));
    response
}

/// Admit (rate limit, daily quota, budget reservation), run the handler, then settle what it
/// cost — or release the reservation when it failed.
async fn meter<L, Q, P, C>(
    State(metering): State<Arc<MeteringService<L, Q, P, C>>>,
    request: Request,
    next: Next,
) -> Response
where
    L: RateLimiter,
    Q: QuotaLedger,
    P: PlanDirectory,
    C: Clock,
{
    let Some(organization) = request
        .headers()
        .get("x-organization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<OrganizationId>().ok())
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let admission = match metering
        .admit(organization, Action::Analysis, ESTIMATE)
        .await
    {
        Ok(admission) => admission,
        Err(AdmitError::RateLimited { .. } | AdmitError::QuotaExceeded { .. }) => {
            return StatusCode::TOO_MANY_REQUESTS.into_response();
        }
        Err(AdmitError::BudgetExceeded { .. }) => {
            return StatusCode::PAYMENT_REQUIRED.into_response();
        }
        Err(error) => return (StatusCode::FORBIDDEN, error.to_string()).into_response(),
    };
    let response = next.run(request).await;
    let cost = response
        .headers()
        .get(COST_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Micros::new);
    match (response.status().is_success(), cost) {
        (true, Some(cost)) => {
            if let Err(error) = metering.settle(&admission.reservation, cost).await {
                // The reservation keeps the worst case until the sweeper expires it.
                eprintln!("could not settle: {error}");
            }
        }
        _ => {
            let _ = metering.release(&admission.reservation).await;
        }
    }
    response
}

/// Calls the service seven times in process and prints what each call got: six fit the $0.01
/// budget (each reserves 2,000 µ$ and costs 1,500), the seventh does not.
pub async fn demo(router: Router, organization: OrganizationId) {
    for call in 1..=7 {
        let request = Request::post("/summarize")
            .header("x-organization", organization.to_string())
            .body(Body::from("Tollgate meters calls. It also prices them."))
            .expect("a request");
        let response = router.clone().oneshot(request).await.expect("a response");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap_or_default();
        println!("call {call}: {status} {}", String::from_utf8_lossy(&body));
    }
}
