//! Which client a request comes from, for the per-source login lockout: the TCP peer, or —
//! behind a reverse proxy named by `server.client_address_header` — the address that proxy
//! reports. The header is trusted only when configured: a client could write it itself.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use tollgate_identity::LoginSource;

use crate::state::AppState;

/// How to find the client's address.
#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    /// Set by a trusted reverse proxy, e.g. `x-forwarded-for` or `x-real-ip`.
    header: Option<HeaderName>,
}

impl ClientAddresses {
    pub fn from_header(header: Option<HeaderName>) -> Self {
        Self { header }
    }

    /// The proxy's report when configured and readable, else the TCP peer.
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        self.header
            .as_ref()
            // A proxy may append its hop as a header line of its own (HAProxy does), after any
            // the client sent: the last line, then its last entry, is our own proxy's.
            .and_then(|name| headers.get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            // X-Forwarded-For lists every hop; the last one was appended by our own proxy.
            .and_then(|text| text.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .or(peer)
    }
}

/// The login source of the request; `unknown` when neither a peer nor a header tells.
pub struct ClientSource(pub LoginSource);

impl FromRequestParts<AppState> for ClientSource {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let source = state
            .client_addresses
            .client_ip(&parts.headers, peer)
            .map_or_else(LoginSource::unknown, LoginSource::from_ip);
        Ok(Self(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        headers
    }

    #[test]
    fn the_proxys_own_header_line_wins_over_one_the_client_sent() {
        let mut two_lines = headers("x-forwarded-for", "198.51.100.7");
        two_lines.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        let addresses =
            ClientAddresses::from_header(Some(HeaderName::from_static("x-forwarded-for")));
        assert_eq!(
            addresses.client_ip(&two_lines, None),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn without_a_configured_header_the_peer_counts_and_forwarded_headers_are_ignored() {
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let spoofed = headers("x-forwarded-for", "198.51.100.7");
        assert_eq!(
            ClientAddresses::default().client_ip(&spoofed, Some(peer)),
            Some(peer)
        );
    }

    #[test]
    fn a_configured_proxy_header_gives_the_last_hop() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let addresses =
            ClientAddresses::from_header(Some(HeaderName::from_static("x-forwarded-for")));
        let forwarded = headers("x-forwarded-for", "203.0.113.5, 198.51.100.7");
        assert_eq!(
            addresses.client_ip(&forwarded, Some(proxy)),
            Some("198.51.100.7".parse().unwrap())
        );
        // Absent or unreadable: the peer (the proxy itself), never nothing.
        assert_eq!(
            addresses.client_ip(&HeaderMap::new(), Some(proxy)),
            Some(proxy)
        );
        let garbage = headers("x-forwarded-for", "not an address");
        assert_eq!(addresses.client_ip(&garbage, Some(proxy)), Some(proxy));
    }
}
