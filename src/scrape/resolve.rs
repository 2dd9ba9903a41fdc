//! DNS resolution for reqwest that hands back only vetted addresses, so the address checked is the one connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::AddressPolicy;

/// Why a host name gave no address the scraper may connect to.
#[derive(Clone, Debug, thiserror::Error)]
pub(super) enum Refusal {
    /// The name resolves to at least one address the policy refuses.
    #[error("{host} resolves to {addr}, which is not a public address")]
    Blocked { host: String, addr: IpAddr },
    /// The lookup failed or found nothing.
    #[error("could not resolve {host}: {reason}")]
    Lookup { host: String, reason: String },
}

/// A resolver that refuses names pointing at addresses outside the policy.
#[derive(Debug)]
pub(super) struct VettedResolver {
    policy: Arc<AddressPolicy>,
}

impl VettedResolver {
    /// A resolver enforcing `policy`.
    pub(super) fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }

    /// Resolves `host` with the system resolver and vets every answer.
    pub(super) async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let found = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|err| Refusal::Lookup { host: host.to_owned(), reason: err.to_string() })?;
        vet(host, found.collect(), &self.policy)
    }
}

impl Resolve for VettedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let addrs = VettedResolver { policy }.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Keeps `addrs` only if every one of them is permitted.
///
/// One refused address refuses the name: an answer mixing public and internal addresses is how rebinding and
/// probing tricks look, and the connector would try the internal one as a fallback.
pub(super) fn vet(host: &str, addrs: Vec<SocketAddr>, policy: &AddressPolicy) -> Result<Vec<SocketAddr>, Refusal> {
    if let Some(refused) = addrs.iter().find(|addr| !policy.permits(addr.ip())) {
        return Err(Refusal::Blocked { host: host.to_owned(), addr: refused.ip() });
    }
    if addrs.is_empty() {
        return Err(Refusal::Lookup { host: host.to_owned(), reason: "no addresses".to_owned() });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        SocketAddr::new(text.parse().expect("test address"), 0)
    }

    #[test]
    fn an_answer_mixing_public_and_internal_addresses_is_refused() {
        let refusal = vet("evil.example", vec![addr("93.184.216.34"), addr("10.0.0.5")], &AddressPolicy::default())
            .expect_err("mixed answer");
        assert!(matches!(refusal, Refusal::Blocked { addr, .. } if addr == "10.0.0.5".parse::<IpAddr>().expect("ip")));
    }

    #[test]
    fn an_empty_answer_is_a_lookup_failure() {
        let refusal = vet("nothing.example", Vec::new(), &AddressPolicy::default()).expect_err("empty answer");
        assert!(matches!(refusal, Refusal::Lookup { .. }));
    }

    #[test]
    fn public_answers_are_returned_unchanged() {
        let addrs = vec![addr("93.184.216.34"), addr("2606:2800:220:1:248:1893:25c8:1946")];
        assert_eq!(vet("example.com", addrs.clone(), &AddressPolicy::default()).expect("public"), addrs);
    }

    #[tokio::test]
    async fn localhost_is_resolved_and_refused() {
        let resolver = VettedResolver::new(Arc::new(AddressPolicy::default()));
        let refusal = resolver.lookup("localhost").await.expect_err("loopback");
        assert!(matches!(refusal, Refusal::Blocked { ref host, addr } if host == "localhost" && addr.is_loopback()));
    }

    #[tokio::test]
    async fn an_allowlisted_name_resolves_to_checked_addresses_only() {
        let allow = ["127.0.0.0/8".parse().expect("net"), "::1/128".parse().expect("net")];
        let resolver = VettedResolver::new(Arc::new(AddressPolicy::new(&allow)));
        let addrs = resolver.lookup("localhost").await.expect("allowlisted");
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|addr| addr.ip().is_loopback()));
    }
}
