//! One delivery attempt over HTTP: check the URL again, sign, POST to the checked address, and
//! read the status.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Client, ClientBuilder, StatusCode, redirect};
use tollgate_billing::{DeliveryResponse, OutboundMessage, WebhookSender};
use url::{Host, Url};

use crate::guard::{Refusal, ResolvingGuard};
use crate::signature::{SecretError, sign};

/// The time limit of one attempt when the host sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sent on every attempt so that receivers can recognise (and allow-list) the sender.
pub const USER_AGENT: &str = "Tollgate-Webhooks/1";

/// Why a sender cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    /// A zero time limit would fail every attempt.
    #[error("the webhook timeout must be longer than zero")]
    ZeroTimeout,
    /// The HTTP client cannot be set up (its TLS configuration, usually).
    #[error("could not build the webhook HTTP client: {0}")]
    Client(String),
}

/// A [`WebhookSender`] over reqwest. Each attempt resolves the URL through its
/// [`ResolvingGuard`] and connects only to the addresses that guard allowed, so a name
/// re-pointed between the check and the connection (DNS rebinding) cannot redirect it;
/// redirects are not followed, and no proxy is used, for the same reason.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    guard: ResolvingGuard,
    timeout: Duration,
}

impl HttpWebhookSender {
    /// A sender whose attempts, resolution included, each end after `timeout`
    /// ([`DEFAULT_TIMEOUT`] unless the host has a reason to differ).
    ///
    /// # Errors
    /// [`SenderError::ZeroTimeout`], or [`SenderError::Client`] when no HTTP client can be built:
    /// found here rather than at every delivery.
    pub fn new(guard: ResolvingGuard, timeout: Duration) -> Result<Self, SenderError> {
        if timeout.is_zero() {
            return Err(SenderError::ZeroTimeout);
        }
        client_builder()
            .build()
            .map_err(|error| SenderError::Client(error.to_string()))?;
        Ok(Self { guard, timeout })
    }

    async fn attempt(&self, message: &OutboundMessage) -> DeliveryResponse {
        let url = match Url::parse(&message.url) {
            Ok(url) => url,
            Err(error) => {
                return DeliveryResponse::Refused(format!("the URL is not valid: {error}"));
            }
        };
        let addresses = match self.guard.resolve_checked(&url).await {
            Ok(addresses) => addresses,
            Err(Refusal::Unresolvable(error)) => {
                return DeliveryResponse::Failed {
                    status: None,
                    retry_after: None,
                    error,
                };
            }
            Err(Refusal::NotAllowed(reason)) => {
                tracing::warn!(webhook_id = %message.webhook_id, %reason, "webhook refused");
                return DeliveryResponse::Refused(reason);
            }
        };
        let signature = match signatures(message) {
            Ok(signature) => signature,
            Err(error) => return unanswered(error.to_string()),
        };
        // One client per attempt: the pinned addresses are the client's, and a pooled
        // connection would outlive the check it was made under.
        let client = match pinned_client(&url, &addresses) {
            Ok(client) => client,
            Err(error) => return unanswered(describe(&error)),
        };
        let sent = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &message.webhook_id)
            .header("webhook-timestamp", message.timestamp)
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => answered(response.status(), response.headers(), SystemTime::now()),
            Err(error) => unanswered(describe(&error)),
        }
    }
}

impl WebhookSender for HttpWebhookSender {
    async fn deliver(&self, message: OutboundMessage) -> DeliveryResponse {
        let response = tokio::time::timeout(self.timeout, self.attempt(&message))
            .await
            .unwrap_or_else(|_| unanswered(format!("no answer within {:?}", self.timeout)));
        if let DeliveryResponse::Failed { error, .. } = &response {
            tracing::debug!(webhook_id = %message.webhook_id, %error, "webhook attempt failed");
        }
        response
    }
}

/// The `webhook-signature` value: `v1,<sig>` by the endpoint's secret and, during a rotation's
/// grace period, a space and `v1,<sig>` by the previous one (the specification's list of
/// signatures, any of which verifies).
fn signatures(message: &OutboundMessage) -> Result<String, SecretError> {
    let sign_with = |secret: &str| {
        sign(
            secret,
            &message.webhook_id,
            message.timestamp,
            message.body.as_bytes(),
        )
    };
    let current = sign_with(&message.secret)?;
    match &message.previous_secret {
        Some(previous) => Ok(format!("{current} {}", sign_with(previous)?)),
        None => Ok(current),
    }
}

fn client_builder() -> ClientBuilder {
    Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .user_agent(USER_AGENT)
        .dns_resolver(UncheckedNamesRefused)
}

fn pinned_client(url: &Url, addresses: &[SocketAddr]) -> reqwest::Result<Client> {
    let builder = client_builder();
    // An IP literal is connected to as it is; only names go through resolution.
    match url.host() {
        Some(Host::Domain(name)) => builder.resolve_to_addrs(name, addresses),
        _ => builder,
    }
    .build()
}

/// The resolver behind the pinned addresses: a name that reaches it was not checked, so it is
/// not connected to (were the URL's host spelled differently from the pinned name).
struct UncheckedNamesRefused;

impl Resolve for UncheckedNamesRefused {
    fn resolve(&self, name: Name) -> Resolving {
        let error = format!("{} was not checked before connecting", name.as_str());
        Box::pin(async move { Err(error.into()) })
    }
}

fn answered(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> DeliveryResponse {
    if status.is_success() {
        return DeliveryResponse::Delivered;
    }
    if status == StatusCode::GONE {
        return DeliveryResponse::Gone;
    }
    // Only these two statuses mean "come back later" with Retry-After; on a 3xx it names
    // nothing we would use.
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, now)),
        _ => None,
    };
    let error = if status.is_redirection() {
        format!("HTTP {} (redirects are not followed)", status.as_u16())
    } else {
        format!("HTTP {}", status.as_u16())
    };
    DeliveryResponse::Failed {
        status: Some(status.as_u16()),
        retry_after,
        error,
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date already past asks
/// for no wait.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn unanswered(error: String) -> DeliveryResponse {
    DeliveryResponse::Failed {
        status: None,
        retry_after: None,
        error,
    }
}

/// What kind of failure, and its innermost cause (refused, reset, a certificate): reqwest's own
/// message names the URL, which the delivery log already has.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_builder() {
        "could not build the request"
    } else {
        "the request failed"
    };
    let mut cause: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(error);
    while let Some(source) = next {
        cause = Some(source);
        next = source.source();
    }
    match cause {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        let now = at(1_445_412_480 - 90);
        for (value, expected) in [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(90)),
            ("Wednesday, 21-Oct-15 07:28:00 GMT", Some(90)),
            ("Wed Oct 21 07:28:00 2015", Some(90)),
            ("Tue, 20 Oct 2015 07:28:00 GMT", Some(0)),
            ("+5", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ] {
            assert_eq!(
                retry_after(value, now),
                expected.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn retry_after_counts_only_for_429_and_503() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        let retry_after_of = |status: u16| match answered(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            SystemTime::now(),
        ) {
            DeliveryResponse::Failed { retry_after, .. } => retry_after,
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(retry_after_of(429), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_of(503), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_of(500), None);
        assert_eq!(retry_after_of(301), None);
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let headers = HeaderMap::new();
        let now = SystemTime::now();
        assert_eq!(
            answered(StatusCode::OK, &headers, now),
            DeliveryResponse::Delivered
        );
        assert_eq!(
            answered(StatusCode::NO_CONTENT, &headers, now),
            DeliveryResponse::Delivered
        );
        assert_eq!(
            answered(StatusCode::GONE, &headers, now),
            DeliveryResponse::Gone
        );
        assert_eq!(
            answered(StatusCode::NOT_FOUND, &headers, now),
            DeliveryResponse::Failed {
                status: Some(404),
                retry_after: None,
                error: "HTTP 404".to_owned(),
            }
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        assert_eq!(
            HttpWebhookSender::new(ResolvingGuard::new(false), Duration::ZERO).unwrap_err(),
            SenderError::ZeroTimeout
        );
    }
}
