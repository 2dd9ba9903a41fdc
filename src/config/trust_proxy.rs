//! Which proxies may tell us the client's address, in the vocabulary of Express's `trust proxy` setting that
//! Node Blink's `TRUST_PROXY` used.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The parsed `TRUST_PROXY` setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustProxy {
    rule: Rule,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Everyone,
    Nobody,
    Hops(usize),
    Networks(Vec<IpNet>),
}

/// Why a `TRUST_PROXY` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a proxy address, network or name (use loopback, linklocal, uniquelocal, an IP or a CIDR)")]
pub struct TrustProxyError(String);

const NAMED: &[(&str, &[&str])] = &[
    ("loopback", &["127.0.0.0/8", "::1/128"]),
    ("linklocal", &["169.254.0.0/16", "fe80::/10"]),
    ("uniquelocal", &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
];

impl TrustProxy {
    /// Resolves the client address from the socket peer and the `X-Forwarded-For` entries (left to right),
    /// believing only trusted hops, as Express's `proxy-addr` does.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        let mut hops = forwarded_for.rev().map(parse_forwarded_entry);
        match &self.rule {
            Rule::Nobody => peer,
            Rule::Everyone => {
                let mut client = peer;
                for hop in hops {
                    match hop {
                        Some(ip) => client = ip,
                        None => break,
                    }
                }
                client
            }
            Rule::Hops(count) => {
                let mut client = peer;
                for hop in hops.by_ref().take(*count) {
                    match hop {
                        Some(ip) => client = ip,
                        None => break,
                    }
                }
                client
            }
            Rule::Networks(networks) => {
                let mut client = peer;
                while networks.iter().any(|net| net.contains(&client)) {
                    match hops.next() {
                        Some(Some(ip)) => client = ip,
                        _ => break,
                    }
                }
                client
            }
        }
    }
}

/// One `X-Forwarded-For` entry as an address: `203.0.113.7`, `203.0.113.7:1234`, `2001:db8::7`,
/// `[2001:db8::7]` or `[2001:db8::7]:1234`, with spaces around. Some proxies (Azure's, IIS's ARR) append the
/// client's port; dropping such entries would put every client behind them in the proxy's rate-limit bucket.
pub fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(addr) = entry.parse::<SocketAddr>() {
        addr.ip()
    } else {
        IpAddr::V6(entry.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

impl Default for TrustProxy {
    fn default() -> Self {
        "loopback,linklocal,uniquelocal".parse().unwrap_or_else(|_| Self { rule: Rule::Nobody, text: String::new() })
    }
}

impl FromStr for TrustProxy {
    type Err = TrustProxyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let rule = match trimmed.to_ascii_lowercase().as_str() {
            "true" => Rule::Everyone,
            "false" | "" => Rule::Nobody,
            lowered => match lowered.parse::<usize>() {
                Ok(count) => Rule::Hops(count),
                Err(_) => Rule::Networks(parse_networks(lowered)?),
            },
        };
        Ok(Self { rule, text: trimmed.to_owned() })
    }
}

fn parse_networks(list: &str) -> Result<Vec<IpNet>, TrustProxyError> {
    let mut networks = Vec::new();
    for token in list.split(',').map(str::trim).filter(|token| !token.is_empty()) {
        if let Some((_, cidrs)) = NAMED.iter().find(|(name, _)| *name == token) {
            networks.extend(cidrs.iter().filter_map(|cidr| cidr.parse::<IpNet>().ok()));
        } else if let Ok(net) = token.parse::<IpNet>() {
            networks.push(net);
        } else if let Ok(ip) = token.parse::<IpAddr>() {
            networks.push(IpNet::from(ip));
        } else {
            return Err(TrustProxyError(token.to_owned()));
        }
    }
    Ok(networks)
}

impl fmt::Display for TrustProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for TrustProxy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for TrustProxy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Node Blink accepted `TRUST_PROXY=true` and `TRUST_PROXY=2` as well as lists.
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Bool(flag) => flag.to_string(),
            serde_json::Value::Number(number) => number.to_string(),
            other => return Err(serde::de::Error::custom(format!("expected a string, found {other}"))),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn resolve(setting: &str, peer: &str, xff: &[&str]) -> IpAddr {
        setting.parse::<TrustProxy>().unwrap().client_ip(ip(peer), xff.iter().copied())
    }

    #[test]
    fn default_trusts_private_proxies_only() {
        let default = TrustProxy::default();
        assert_eq!(default.client_ip(ip("10.0.0.2"), ["203.0.113.9"].into_iter()), ip("203.0.113.9"));
        assert_eq!(default.client_ip(ip("198.51.100.7"), ["203.0.113.9"].into_iter()), ip("198.51.100.7"));
    }

    #[test]
    fn a_spoofed_left_entry_is_ignored_behind_one_trusted_proxy() {
        let client = resolve("loopback", "127.0.0.1", &["6.6.6.6", "203.0.113.9"]);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn false_ignores_forwarded_for() {
        assert_eq!(resolve("false", "127.0.0.1", &["203.0.113.9"]), ip("127.0.0.1"));
    }

    #[test]
    fn true_takes_the_leftmost_entry() {
        assert_eq!(resolve("true", "198.51.100.1", &["203.0.113.9", "10.0.0.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn hop_count_trusts_that_many_proxies() {
        assert_eq!(resolve("1", "198.51.100.1", &["203.0.113.9", "10.0.0.1"]), ip("10.0.0.1"));
        assert_eq!(resolve("2", "198.51.100.1", &["203.0.113.9", "10.0.0.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn cidrs_and_mapped_ipv6_are_understood() {
        assert_eq!(resolve("192.0.2.0/24", "::ffff:192.0.2.5", &["203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_in_forwarded_for_stops_the_walk() {
        assert_eq!(resolve("loopback", "127.0.0.1", &["not-an-ip"]), ip("127.0.0.1"));
    }

    #[test]
    fn entries_with_a_port_or_brackets_name_their_address() {
        for (entry, expected) in [
            ("203.0.113.7:1234", "203.0.113.7"),
            (" 203.0.113.7:1234 ", "203.0.113.7"),
            ("[2001:db8::7]:1234", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
            ("\t2001:db8::7 ", "2001:db8::7"),
            ("[::ffff:203.0.113.7]:80", "203.0.113.7"),
        ] {
            assert_eq!(parse_forwarded_entry(entry), Some(ip(expected)), "{entry:?}");
            assert_eq!(resolve("loopback", "127.0.0.1", &[entry]), ip(expected), "{entry:?}");
        }
    }

    #[test]
    fn malformed_entries_name_no_address() {
        for entry in
            ["", "unknown", "203.0.113.7:", "203.0.113.7:port", "[203.0.113.7]", "[2001:db8::7", "2001:db8::7]:1"]
        {
            assert_eq!(parse_forwarded_entry(entry), None, "{entry:?}");
        }
    }

    #[test]
    fn an_entry_with_a_port_is_trusted_no_more_than_one_without() {
        // The port changes how an entry reads, not whom Blink believes: an untrusted hop still ends the walk.
        assert_eq!(resolve("loopback", "127.0.0.1", &["6.6.6.6:1", "203.0.113.9:2"]), ip("203.0.113.9"));
        assert_eq!(resolve("loopback", "198.51.100.1", &["203.0.113.9:2"]), ip("198.51.100.1"));
        assert_eq!(resolve("loopback", "127.0.0.1", &["6.6.6.6", "garbage:1", "127.0.0.2:5"]), ip("127.0.0.2"));
    }

    #[test]
    fn unknown_names_are_refused() {
        assert_eq!("loopback,intranet".parse::<TrustProxy>(), Err(TrustProxyError("intranet".into())));
    }
}
