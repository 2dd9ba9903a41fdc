//! Which IP addresses the scraper may connect to: public ones, plus an intranet allowlist.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 ranges that are not the public internet (IANA special-purpose registry, RFC 6890 and successors).
const RESERVED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network", includes the unspecified 0.0.0.0
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // carrier-grade NAT
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, where cloud metadata services live
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, includes the broadcast 255.255.255.255
];

/// IPv6 ranges that are not the public internet.
const RESERVED_V6: &[Ipv6Net] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
    v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // IPv4-translated (SIIT)
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), // Teredo: tunnels to an IPv4 address we cannot see
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), // benchmarking
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28), // ORCHID
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), // ORCHIDv2
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // segment routing
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique-local (the IPv6 private range)
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated, still routed on old networks)
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

/// NAT64 well-known prefix: the last 32 bits are an IPv4 address a gateway will connect to.
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// 6to4: bits 16..48 are an IPv4 address the relay will connect to.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]), prefix)
}

/// The addresses the scraper may connect to.
#[derive(Clone, Debug, Default)]
pub(super) struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses, plus everything inside `allow` (intranet deployments).
    pub(super) fn new(allow: &[IpNet]) -> Self {
        Self { allow: allow.iter().map(|net| canonical_net(*net)).collect() }
    }

    /// Whether a connection to `addr` is allowed.
    pub(super) fn permits(&self, addr: IpAddr) -> bool {
        // `::ffff:127.0.0.1` reaches 127.0.0.1, so it must be judged (and allowlisted) as that address.
        let addr = addr.to_canonical();
        self.allow.iter().any(|net| net.contains(&addr)) || !is_reserved(addr)
    }
}

/// Whether `addr` lies in a range that is not the public internet.
pub(super) fn is_reserved(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => RESERVED_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => {
            RESERVED_V6.iter().any(|net| net.contains(&v6)) || embedded_v4(v6).is_some_and(|v4| is_reserved(v4.into()))
        }
    }
}

/// The IPv4 address a translating prefix (NAT64, 6to4) would forward to.
fn embedded_v4(addr: Ipv6Addr) -> Option<Ipv4Addr> {
    let octets = addr.octets();
    if NAT64.contains(&addr) {
        Some(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]))
    } else if SIX_TO_FOUR.contains(&addr) {
        Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]))
    } else {
        None
    }
}

/// An allowlist entry written as IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) matches the IPv4 addresses it maps.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new_assert(v4, v6.prefix_len() - 96)),
            None => net,
        },
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn internal_and_special_addresses_are_refused_by_default() {
        let policy = AddressPolicy::default();
        for addr in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0:a00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "100::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!policy.permits(ip(addr)), "{addr} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        let policy = AddressPolicy::default();
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(policy.permits(ip(addr)), "{addr} should be permitted");
        }
    }

    #[test]
    fn the_allowlist_opens_exactly_its_networks() {
        let policy = AddressPolicy::new(&["127.0.0.2/32".parse().expect("net"), "10.8.0.0/16".parse().expect("net")]);
        assert!(policy.permits(ip("127.0.0.2")));
        assert!(policy.permits(ip("::ffff:127.0.0.2")));
        assert!(policy.permits(ip("10.8.3.4")));
        assert!(!policy.permits(ip("127.0.0.1")));
        assert!(!policy.permits(ip("10.9.0.1")));
        assert!(!policy.permits(ip("::1")));
    }

    #[test]
    fn an_ipv4_mapped_allowlist_entry_matches_the_ipv4_address() {
        let policy = AddressPolicy::new(&["::ffff:10.0.0.0/104".parse().expect("net")]);
        assert!(policy.permits(ip("10.1.2.3")));
        assert!(!policy.permits(ip("192.168.0.1")));
    }
}
