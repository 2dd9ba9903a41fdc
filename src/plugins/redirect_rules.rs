//! Hook `redirect-rules`: choose the target of a redirect per request. On the
//! hot path: call it only when [`PluginHost::has_hook`] says so.

use super::bindings::redirect_rules::{Link, RequestInfo};
use super::config::{CallRole, Hook, VaryOn};
use super::error::PluginError;
use super::host::PluginHost;

/// What the redirect-rules plugins' answers depend on, from their `vary` declarations: what decides whether a
/// shared cache may keep a redirect they take part in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectVary {
    /// Some plugin declared nothing: its answer may depend on anything.
    Undeclared,
    /// Every plugin declared what it reads: these request properties (sorted, without repeats).
    On(Vec<VaryOn>),
}

impl RedirectVary {
    /// Whether an answer may differ between requests for the same URL (so only the query does not count).
    pub fn depends_on_headers(&self) -> bool {
        match self {
            Self::Undeclared => true,
            Self::On(on) => on.iter().any(|v| *v != VaryOn::Query),
        }
    }

    /// Whether every redirect-rules plugin declared what it reads.
    pub fn is_declared(&self) -> bool {
        matches!(self, Self::On(_))
    }

    /// The `Vary` header of a redirect the plugins took part in: the request headers they declared to read
    /// (`country_header` for `country`); `None` when they read none (or declared nothing: such a redirect is
    /// private anyway).
    pub fn header_names(&self, country_header: &str) -> Option<String> {
        let Self::On(on) = self else {
            return None;
        };
        let names: Vec<&str> = on
            .iter()
            .filter_map(|v| match v {
                VaryOn::UserAgent => Some("user-agent"),
                VaryOn::AcceptLanguage => Some("accept-language"),
                VaryOn::Country => Some(country_header),
                VaryOn::Referrer => Some("referer"),
                VaryOn::Query => None,
            })
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    }

    /// Together, over the redirect-rules plugins of `host`.
    pub(crate) fn of(host: &PluginHost) -> Self {
        let mut all = Vec::new();
        for plugin in host.with_hook(Hook::RedirectRules) {
            match &plugin.config.vary {
                Some(on) => all.extend(on.iter().copied()),
                None => return Self::Undeclared,
            }
        }
        all.sort();
        all.dedup();
        Self::On(all)
    }
}

impl PluginHost {
    /// The first plugin (in order) that returns a target wins; `None` means
    /// the link's own target. Check the returned URL's scheme before
    /// redirecting to it.
    pub async fn resolve_redirect(&self, request: &RequestInfo, link: &Link) -> Result<Option<String>, PluginError> {
        for plugin in self.with_hook(Hook::RedirectRules) {
            let Some(indices) = &plugin.redirect_rules else {
                continue;
            };
            let trace = self.new_trace();
            let call = async {
                let (mut store, instance) = self.instantiate(plugin, Hook::RedirectRules, &trace).await?;
                let guest = indices.load(&mut store, &instance)?;
                guest.call_resolve(&mut store, request, link).await
            };
            match self.guarded(plugin, Hook::RedirectRules, &trace, call).await {
                Ok(Some(target)) => return Ok(Some(target)),
                Ok(None) => {}
                Err(failure) => Self::on_failure(plugin, Hook::RedirectRules, CallRole::Choice, failure)?,
            }
        }
        Ok(None)
    }
}
