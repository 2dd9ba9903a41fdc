//! Hook `slug-rules`: automatic slugs and brand-slug rules.

use super::bindings::slug_rules::SlugRequest;
use super::config::{CallRole, Hook};
use super::error::PluginError;
use super::host::PluginHost;

/// A plugin's answer to a brand slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugVerdict {
    Accept,
    /// Refused by `plugin`; show `message` to the user.
    Refuse {
        plugin: String,
        message: String,
    },
}

impl PluginHost {
    /// The automatic slug for a new link: the first plugin (in file order)
    /// that returns one wins; `None` means use the built-in generator. The
    /// caller still validates the slug ([`Self::validate_slug`]) and checks
    /// that it is unique, retrying with `attempt + 1`.
    pub async fn generate_slug(&self, request: &SlugRequest) -> Result<Option<String>, PluginError> {
        for plugin in self.with_hook(Hook::SlugRules) {
            let Some(indices) = &plugin.slug_rules else {
                continue;
            };
            let trace = self.new_trace();
            let call = async {
                let (mut store, instance) = self.instantiate(plugin, Hook::SlugRules, &trace).await?;
                let guest = indices.load(&mut store, &instance)?;
                guest.call_generate(&mut store, request).await
            };
            match self.guarded(plugin, Hook::SlugRules, &trace, call).await {
                Ok(Some(slug)) => return Ok(Some(slug)),
                Ok(None) => {}
                Err(failure) => Self::on_failure(plugin, Hook::SlugRules, CallRole::Choice, failure)?,
            }
        }
        Ok(None)
    }

    /// Asks every slug-rules plugin, in order, about a slug chosen by a user;
    /// the first refusal wins.
    pub async fn validate_slug(&self, slug: &str) -> Result<SlugVerdict, PluginError> {
        for plugin in self.with_hook(Hook::SlugRules) {
            let Some(indices) = &plugin.slug_rules else {
                continue;
            };
            let trace = self.new_trace();
            let call = async {
                let (mut store, instance) = self.instantiate(plugin, Hook::SlugRules, &trace).await?;
                let guest = indices.load(&mut store, &instance)?;
                guest.call_validate(&mut store, slug).await
            };
            match self.guarded(plugin, Hook::SlugRules, &trace, call).await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Ok(SlugVerdict::Refuse { plugin: plugin.config.name.clone(), message });
                }
                Err(failure) => Self::on_failure(plugin, Hook::SlugRules, CallRole::Policy, failure)?,
            }
        }
        Ok(SlugVerdict::Accept)
    }
}
