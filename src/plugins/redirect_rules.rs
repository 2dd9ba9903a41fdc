//! Hook `redirect-rules`: choose the target of a redirect per request. On the
//! hot path: call it only when [`PluginHost::has_hook`] says so.

use super::bindings::redirect_rules::{Link, RequestInfo};
use super::config::Hook;
use super::error::PluginError;
use super::host::PluginHost;

impl PluginHost {
    /// The first plugin (in order) that returns a target wins; `None` means
    /// the link's own target. Check the returned URL's scheme before
    /// redirecting to it.
    pub async fn resolve_redirect(&self, request: &RequestInfo, link: &Link) -> Result<Option<String>, PluginError> {
        for plugin in self.with_hook(Hook::RedirectRules) {
            let Some(indices) = &plugin.redirect_rules else {
                continue;
            };
            let call = async {
                let (mut store, instance) = self.instantiate(plugin, Hook::RedirectRules).await?;
                let guest = indices.load(&mut store, &instance)?;
                guest.call_resolve(&mut store, request, link).await
            };
            match self.guarded(plugin, Hook::RedirectRules, call).await {
                Ok(Some(target)) => return Ok(Some(target)),
                Ok(None) => {}
                Err(failure) => Self::on_failure(plugin, Hook::RedirectRules, failure)?,
            }
        }
        Ok(None)
    }
}
