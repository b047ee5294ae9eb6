//! Which IP addresses a webhook may be sent to: only those reachable on the public internet,
//! so that a customer's endpoint URL cannot make the server call into its own network
//! (loopback, the cloud metadata service, private subnets).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address. Loopback, private, shared (CGNAT), link-local,
/// unique-local, unspecified, multicast, broadcast, reserved, benchmarking and documentation
/// addresses are not; an IPv6 address that embeds an IPv4 one (mapped, compatible, NAT64,
/// 6to4) is judged by the IPv4 address, since that is where its packets end up.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network"; 0.0.0.0 reaches the local host on Linux
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, where cloud metadata services answer
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
        || ip.is_multicast()
        || a >= 240; // reserved 240/4, including the broadcast address
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // Global unicast is 2000::/3; everything outside it (unique-local fc00::/7, link-local
    // fe80::/10, multicast ff00::/8, discard 100::/64, ...) is refused.
    if segments[0] & 0xe000 != 0x2000 {
        return false;
    }
    let refused = (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] & 0xfff0 == 0x3ff0) // documentation, 3fff::/20
        || (segments[0] == 0x2001 && segments[1] == 0x0002 && segments[2] == 0) // benchmarking
        || (segments[0] == 0x2001 && segments[1] == 0); // Teredo tunnels, 2001::/32
    !refused
}

/// The IPv4 address an IPv6 one carries and is delivered to, if any.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let octets = ip.octets();
    let last_four = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    match segments {
        // IPv4-mapped ::ffff:0:0/96 and the deprecated IPv4-compatible ::/96.
        [0, 0, 0, 0, 0, 0xffff | 0, _, _] => Some(last_four),
        // NAT64, 64:ff9b::/96: the gateway forwards to the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last_four),
        // 6to4, 2002::/16: the address is bits 16 to 48.
        [0x2002, ..] => Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(cases: &[(&str, bool)]) {
        for (address, public) in cases {
            let ip: IpAddr = address.parse().unwrap();
            assert_eq!(is_public(ip), *public, "{address}");
        }
    }

    #[test]
    fn ipv4() {
        judged(&[
            ("93.184.216.34", true),
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("192.169.0.1", true),
            ("223.255.255.255", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("198.51.100.1", false),
            ("203.0.113.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
        ]);
    }

    #[test]
    fn ipv6() {
        judged(&[
            ("2606:2800:220:1:248:1893:25c8:1946", true),
            ("2001:4860:4860::8888", true),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fc00::1", false),
            ("fd12:3456:789a::1", false),
            ("ff02::1", false),
            ("100::1", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("2001:2::1", false),
            ("2001:0:4136:e378::1", false),
        ]);
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_by_the_ipv4() {
        judged(&[
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.1.2.3", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:93.184.216.34", true),
            ("::127.0.0.1", false),
            ("::93.184.216.34", true),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a00:1", false),
            ("64:ff9b::5db8:d822", true),
            ("2002:7f00:1::1", false),
            ("2002:c0a8:101::1", false),
            ("2002:5db8:d822::1", true),
        ]);
    }
}
