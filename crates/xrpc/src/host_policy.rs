//! Which network destinations count as private.
//!
//! PDS endpoints, did:web hosts and redirect targets come from data anyone can publish. Without
//! this check a DID document could point the backfiller at an operator's internal services
//! (metadata endpoints, admin ports). Loopback, private, link-local, shared (CGNAT), unspecified,
//! multicast and reserved ranges are refused unless the operator allows private hosts; so is the
//! name `localhost`. Names that resolve to such addresses are refused by the client's resolver
//! (see [`crate::client`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether `ip` is an address on the public internet.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10: carrier-grade NAT, often a provider's internal network.
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24: IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15: benchmarking.
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4: reserved.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 deprecated site-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // 2001:db8::/32 documentation.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Whether a host name is one of the names that always mean this machine.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether the URL's host is private: a non-public IP literal, or `localhost`. A URL without a
/// host (e.g. `data:`) counts as private, since it cannot be a legitimate remote endpoint.
pub fn is_private_url(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => !is_public_v4(ip),
        Some(Host::Ipv6(ip)) => !is_public_v6(ip),
        Some(Host::Domain(name)) => is_local_name(name),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_public_destinations() {
        for private in [
            "http://127.0.0.1:2583",
            "http://localhost:2583",
            "https://LOCALHOST./",
            "http://pds.localhost",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "http://192.168.1.1",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://[::1]:80",
            "http://[fe80::1]",
            "http://[fd00::1]",
            "http://[::ffff:127.0.0.1]",
            "http://[::]",
        ] {
            let url = Url::parse(private).expect("url");
            assert!(is_private_url(&url), "{private} should be private");
        }
        for public in [
            "https://bsky.network",
            "https://8.8.8.8",
            "https://[2606:4700::1111]",
            "https://localhost.example.com",
        ] {
            let url = Url::parse(public).expect("url");
            assert!(!is_private_url(&url), "{public} should be public");
        }
    }
}
