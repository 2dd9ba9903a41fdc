//! The client's address: the socket peer, or what trusted proxies say in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv4Addr};

use poem::Request;
use poem::http::HeaderName;

use crate::config::TrustProxy;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The resolved client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// Resolves the client of `req`, believing `X-Forwarded-For` only as far as `trust` allows.
    pub fn resolve(req: &Request, trust: &TrustProxy) -> Self {
        let peer =
            req.remote_addr().as_socket_addr().map(|addr| addr.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let forwarded = req.headers().get_all(&X_FORWARDED_FOR);
        if forwarded.iter().next().is_none() {
            return Self(trust.client_ip(peer, std::iter::empty()));
        }
        let hops = forwarded.iter().filter_map(|value| value.to_str().ok()).flat_map(|value| value.split(','));
        Self(trust.client_ip(peer, hops.collect::<Vec<_>>().into_iter()))
    }
}
