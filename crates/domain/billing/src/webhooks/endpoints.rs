//! [`WebhookEndpoints`]: an organisation's endpoints and their delivery logs. The host resolves
//! which organisation a request acts for, and that its caller may manage it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tollgate_kernel::{Clock, OrganizationId, StoreError};
use uuid::Uuid;

use super::events::EventType;
use super::ports::UrlGuard;
use super::store::{DeliveryRecord, WebhookEndpoint, WebhookStore};

/// Live endpoints one organisation may have.
pub const MAX_ENDPOINTS: u32 = 20;

/// The longest URL accepted.
const MAX_URL: usize = 2_048;

/// How long a rotated-out secret keeps signing deliveries when the request names no period.
pub const DEFAULT_SECRET_GRACE: Duration = Duration::hours(24);

/// The longest grace period a secret rotation may give the old secret.
pub const MAX_SECRET_GRACE: Duration = Duration::days(30);

/// A rotated endpoint secret, returned once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    /// The endpoint.
    pub id: Uuid,
    /// The new secret: signs every delivery from now on. Shown only here.
    pub secret: String,
    /// Until when deliveries also carry a signature by the old secret; `None` when the old
    /// secret stopped at once (a zero grace period).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// A registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where deliveries go.
    pub url: String,
    /// Event type names it receives; `None`: all.
    pub events: Option<Vec<String>>,
}

/// Why a request about endpoints was refused.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL may not receive webhooks (not http(s), or a private address).
    #[error("url: {0}")]
    InvalidUrl(String),
    /// An event type that does not exist.
    #[error("events: unknown event type {0:?}")]
    UnknownEvent(String),
    /// The organisation has [`MAX_ENDPOINTS`] already.
    #[error("an organization has at most {MAX_ENDPOINTS} webhook endpoints")]
    TooMany,
    /// No such endpoint in this organisation.
    #[error("webhook endpoint not found")]
    NotFound,
    /// A secret rotation's grace period below zero or above [`MAX_SECRET_GRACE`].
    #[error("grace_period_seconds must be between 0 and {} (30 days)", MAX_SECRET_GRACE.num_seconds())]
    InvalidGrace,
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Manages endpoints.
pub struct WebhookEndpoints<S, G, C> {
    store: S,
    guard: G,
    clock: Arc<C>,
    new_secret: fn() -> String,
}

impl<S: WebhookStore, G: UrlGuard, C: Clock> WebhookEndpoints<S, G, C> {
    /// A service over `store`, checking URLs with `guard`; `new_secret` makes an endpoint's
    /// signing secret (`whsec_` + base64 of random bytes).
    pub fn new(store: S, guard: G, clock: Arc<C>, new_secret: fn() -> String) -> Self {
        Self {
            store,
            guard,
            clock,
            new_secret,
        }
    }

    /// Registers an endpoint of `organization`; the secret is in the answer, and only there.
    ///
    /// # Errors
    /// [`EndpointError`].
    pub async fn create(
        &self,
        organization: OrganizationId,
        request: NewEndpoint,
    ) -> Result<WebhookEndpoint, EndpointError> {
        let url = request.url.trim().to_owned();
        if url.len() > MAX_URL {
            return Err(EndpointError::InvalidUrl(format!(
                "at most {MAX_URL} characters"
            )));
        }
        let events = match request.events {
            None => None,
            Some(names) => {
                let mut types = Vec::with_capacity(names.len());
                for name in names {
                    let kind = EventType::parse(&name).ok_or(EndpointError::UnknownEvent(name))?;
                    if !types.contains(&kind) {
                        types.push(kind);
                    }
                }
                Some(types)
            }
        };
        self.guard
            .check(&url)
            .await
            .map_err(EndpointError::InvalidUrl)?;
        let endpoint = WebhookEndpoint {
            id: Uuid::now_v7(),
            organization,
            url,
            events,
            secret: (self.new_secret)(),
            created_at: self.clock.now(),
            disabled_reason: None,
        };
        if !self
            .store
            .create_endpoint(endpoint.clone(), MAX_ENDPOINTS)
            .await?
        {
            return Err(EndpointError::TooMany);
        }
        Ok(endpoint)
    }

    /// The organisation's endpoints.
    ///
    /// # Errors
    /// [`EndpointError::Store`].
    pub async fn list(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, EndpointError> {
        Ok(self.store.endpoints_of(organization).await?)
    }

    /// Deletes one of the organisation's endpoints.
    ///
    /// # Errors
    /// [`EndpointError`].
    pub async fn delete(
        &self,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<(), EndpointError> {
        if self.store.delete_endpoint(organization, id).await? {
            Ok(())
        } else {
            Err(EndpointError::NotFound)
        }
    }

    /// Replaces the signing secret of one of the organisation's endpoints; the new secret is
    /// in the answer, and only there. For `grace` (at most [`MAX_SECRET_GRACE`]; zero: none)
    /// deliveries are signed with both secrets, so that the receiver can switch to the new one
    /// at its own pace. A rotation during another's grace period drops the oldest secret.
    ///
    /// # Errors
    /// [`EndpointError::InvalidGrace`], [`EndpointError::NotFound`], [`EndpointError::Store`].
    pub async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: Uuid,
        grace: Duration,
    ) -> Result<RotatedSecret, EndpointError> {
        if grace < Duration::zero() || grace > MAX_SECRET_GRACE {
            return Err(EndpointError::InvalidGrace);
        }
        let secret = (self.new_secret)();
        let previous_until = (!grace.is_zero()).then(|| self.clock.now() + grace);
        if !self
            .store
            .rotate_secret(organization, id, secret.clone(), previous_until)
            .await?
        {
            return Err(EndpointError::NotFound);
        }
        Ok(RotatedSecret {
            id,
            secret,
            previous_secret_expires_at: previous_until,
        })
    }

    /// The newest deliveries (at most 100) of one of the organisation's endpoints.
    ///
    /// # Errors
    /// [`EndpointError`].
    pub async fn deliveries(
        &self,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<Vec<DeliveryRecord>, EndpointError> {
        self.store
            .deliveries_of(organization, id, 100)
            .await?
            .ok_or(EndpointError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tollgate_kernel::FixedClock;

    use super::*;
    use crate::webhooks::ports::MockUrlGuard;
    use crate::webhooks::store::MockWebhookStore;

    fn service(
        store: MockWebhookStore,
        guard: MockUrlGuard,
    ) -> WebhookEndpoints<MockWebhookStore, MockUrlGuard, FixedClock> {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .unwrap();
        WebhookEndpoints::new(store, guard, Arc::new(FixedClock::new(now)), || {
            "whsec_c2VjcmV0".to_owned()
        })
    }

    fn allowing() -> MockUrlGuard {
        let mut guard = MockUrlGuard::new();
        guard
            .expect_check()
            .returning(|_| Box::pin(async { Ok(()) }));
        guard
    }

    #[tokio::test]
    async fn an_endpoint_is_registered_with_its_filter_and_a_fresh_secret() {
        let org = OrganizationId::new();
        let mut store = MockWebhookStore::new();
        store
            .expect_create_endpoint()
            .withf(move |endpoint, max| {
                endpoint.organization == org
                    && endpoint.url == "https://hooks.example.com/t"
                    && endpoint.events == Some(vec![EventType::BudgetExceeded])
                    && endpoint.secret == "whsec_c2VjcmV0"
                    && *max == MAX_ENDPOINTS
            })
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(true) }));
        let created = service(store, allowing())
            .create(
                org,
                NewEndpoint {
                    url: " https://hooks.example.com/t ".into(),
                    events: Some(vec!["budget.exceeded".into(), "budget.exceeded".into()]),
                },
            )
            .await
            .unwrap();
        assert_eq!(created.secret, "whsec_c2VjcmV0");
    }

    #[tokio::test]
    async fn bad_requests_change_nothing() {
        let mut store = MockWebhookStore::new();
        store.expect_create_endpoint().never();
        let mut refusing = MockUrlGuard::new();
        refusing
            .expect_check()
            .returning(|_| Box::pin(async { Err("resolves to 127.0.0.1".to_owned()) }));
        let org = OrganizationId::new();
        assert!(matches!(
            service(store, refusing)
                .create(
                    org,
                    NewEndpoint {
                        url: "http://localhost/x".into(),
                        events: None
                    }
                )
                .await,
            Err(EndpointError::InvalidUrl(reason)) if reason.contains("127.0.0.1")
        ));
        let mut store = MockWebhookStore::new();
        store.expect_create_endpoint().never();
        assert!(matches!(
            service(store, allowing())
                .create(
                    org,
                    NewEndpoint {
                        url: "https://hooks.example.com".into(),
                        events: Some(vec!["quota.everything".into()])
                    }
                )
                .await,
            Err(EndpointError::UnknownEvent(_))
        ));
        let mut full = MockWebhookStore::new();
        full.expect_create_endpoint()
            .returning(|_, _| Box::pin(async { Ok(false) }));
        assert!(matches!(
            service(full, allowing())
                .create(
                    org,
                    NewEndpoint {
                        url: "https://hooks.example.com".into(),
                        events: None
                    }
                )
                .await,
            Err(EndpointError::TooMany)
        ));
    }

    #[tokio::test]
    async fn a_rotation_stores_a_fresh_secret_and_keeps_the_old_one_for_the_grace_period() {
        let org = OrganizationId::new();
        let id = Uuid::now_v7();
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .unwrap();
        for (grace, until) in [
            (Duration::hours(24), Some(now + Duration::hours(24))),
            (MAX_SECRET_GRACE, Some(now + Duration::days(30))),
            (Duration::zero(), None),
        ] {
            let mut store = MockWebhookStore::new();
            store
                .expect_rotate_secret()
                .withf(move |o, i, secret, previous_until| {
                    *o == org && *i == id && secret == "whsec_c2VjcmV0" && *previous_until == until
                })
                .times(1)
                .returning(|_, _, _, _| Box::pin(async { Ok(true) }));
            let rotated = service(store, MockUrlGuard::new())
                .rotate_secret(org, id, grace)
                .await
                .unwrap();
            assert_eq!(
                rotated,
                RotatedSecret {
                    id,
                    secret: "whsec_c2VjcmV0".into(),
                    previous_secret_expires_at: until,
                }
            );
        }
    }

    #[tokio::test]
    async fn a_rotation_refuses_a_bad_grace_period_and_an_unknown_endpoint() {
        let org = OrganizationId::new();
        for grace in [
            Duration::seconds(-1),
            MAX_SECRET_GRACE + Duration::seconds(1),
        ] {
            let mut store = MockWebhookStore::new();
            store.expect_rotate_secret().never();
            assert!(matches!(
                service(store, MockUrlGuard::new())
                    .rotate_secret(org, Uuid::now_v7(), grace)
                    .await,
                Err(EndpointError::InvalidGrace)
            ));
        }
        let mut store = MockWebhookStore::new();
        store
            .expect_rotate_secret()
            .returning(|_, _, _, _| Box::pin(async { Ok(false) }));
        assert!(matches!(
            service(store, MockUrlGuard::new())
                .rotate_secret(org, Uuid::now_v7(), DEFAULT_SECRET_GRACE)
                .await,
            Err(EndpointError::NotFound)
        ));
    }
}
