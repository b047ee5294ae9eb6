//! The check on an endpoint URL, when it is registered and again before every attempt: its
//! name may have been re-pointed at a private address since (DNS rebinding).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tollgate_billing::UrlGuard;
use url::{Host, Url};

use crate::address::is_public;

/// Longer than a healthy resolver needs, short enough for an API request to wait on.
const RESOLUTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`UrlGuard`] that resolves the URL's host and refuses it when any address it resolves to
/// is not public (see [`is_public`](crate::is_public)), unless private addresses are allowed
/// (for development, or receivers on the operator's own network).
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolvingGuard {
    allow_private: bool,
}

impl ResolvingGuard {
    /// A guard; `allow_private` lets URLs resolve to any address, the scheme and form checks
    /// still apply.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Checks `url` as [`UrlGuard::check`] does and returns the addresses its host resolved to,
    /// every one of them allowed, with the URL's port: the sender connects to these and no
    /// others.
    ///
    /// # Errors
    /// Why the URL may not receive webhooks, in English fit for an API error's detail.
    pub async fn resolve_checked(&self, url: &Url) -> Result<Vec<SocketAddr>, Refusal> {
        let not_allowed = Refusal::NotAllowed;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(not_allowed(format!(
                "the URL must start with http:// or https://, not {}://",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(not_allowed(
                "the URL must not contain a user name or password".to_owned(),
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| not_allowed("the URL has no host".to_owned()))?;
        let port = url.port_or_known_default().ok_or_else(|| {
            not_allowed("the URL has no port and its scheme has no default one".to_owned())
        })?;
        let addresses = match host {
            Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Host::Domain(name) => resolve(name, port).await.map_err(Refusal::Unresolvable)?,
        };
        if !self.allow_private
            && let Some(refused) = addresses.iter().find(|address| !is_public(address.ip()))
        {
            return Err(not_allowed(match host {
                Host::Domain(name) => format!(
                    "the host {name} resolves to {}, which is not a public internet address \
                     (loopback, private, link-local or reserved); webhooks are only sent to \
                     public addresses",
                    refused.ip()
                ),
                _ => format!(
                    "{} is not a public internet address (loopback, private, link-local or \
                     reserved); webhooks are only sent to public addresses",
                    refused.ip()
                ),
            }));
        }
        Ok(addresses)
    }
}

impl UrlGuard for ResolvingGuard {
    async fn check(&self, url: &str) -> Result<(), String> {
        let url = Url::parse(url).map_err(|error| format!("the URL is not valid: {error}"))?;
        self.resolve_checked(&url)
            .await
            .map(drop)
            .map_err(|refusal| refusal.to_string())
    }
}

/// Why a URL may not be sent to now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Never: not http(s), credentials in it, or an address that is not public.
    #[error("{0}")]
    NotAllowed(String),
    /// Its host did not resolve (DNS may be down): worth trying again later.
    #[error("{0}")]
    Unresolvable(String),
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((name, port));
    let addresses: Vec<SocketAddr> = tokio::time::timeout(RESOLUTION_TIMEOUT, lookup)
        .await
        .map_err(|_| format!("the host {name} could not be resolved in time"))?
        .map_err(|error| format!("the host {name} could not be resolved: {error}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("the host {name} resolves to no address"));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verdict(guard: ResolvingGuard, url: &str) -> Result<(), String> {
        guard.check(url).await
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_public_http_url() {
        let guard = ResolvingGuard::new(false);
        for (url, reason) in [
            ("http://127.0.0.1:9/x", "127.0.0.1 is not a public"),
            ("http://localhost/x", "the host localhost resolves to"),
            ("http://[::1]/", "::1 is not a public"),
            ("http://10.0.0.1/", "10.0.0.1 is not a public"),
            (
                "http://169.254.169.254/latest/meta-data",
                "169.254.169.254 is not a public",
            ),
            ("http://[::ffff:127.0.0.1]/", "is not a public"),
            // The URL parser reads other spellings of IPv4 as what they stand for.
            ("http://2130706433/", "127.0.0.1 is not a public"),
            ("http://0x7f.1/", "127.0.0.1 is not a public"),
            (
                "ftp://example.com",
                "must start with http:// or https://, not ftp://",
            ),
            ("file:///etc/passwd", "not file://"),
            ("http://user:pw@example.com", "user name or password"),
            ("http://user@example.com", "user name or password"),
            ("not a url", "the URL is not valid"),
            ("http://", "the URL is not valid"),
        ] {
            let error = verdict(guard, url).await.expect_err(url);
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    #[tokio::test]
    async fn allows_private_addresses_when_told_to() {
        let guard = ResolvingGuard::new(true);
        assert_eq!(verdict(guard, "http://127.0.0.1:9/x").await, Ok(()));
        // The form checks still apply.
        assert!(verdict(guard, "ftp://127.0.0.1/").await.is_err());
        assert!(verdict(guard, "http://u:p@127.0.0.1/").await.is_err());
    }

    #[tokio::test]
    async fn allows_a_public_address() {
        let guard = ResolvingGuard::new(false);
        assert_eq!(verdict(guard, "http://93.184.216.34/").await, Ok(()));
        assert_eq!(
            verdict(guard, "https://[2606:2800:220:1::1]/hook").await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn returns_the_checked_addresses_with_the_url_port() {
        let guard = ResolvingGuard::new(false);
        let https = Url::parse("https://93.184.216.34/hook").unwrap();
        let explicit = Url::parse("http://93.184.216.34:8080/hook").unwrap();
        assert_eq!(
            guard.resolve_checked(&https).await.unwrap(),
            vec!["93.184.216.34:443".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            guard.resolve_checked(&explicit).await.unwrap(),
            vec!["93.184.216.34:8080".parse::<SocketAddr>().unwrap()]
        );
    }
}
