//! Hook `link-policy`: allow, deny or rewrite the target of a new link.

use super::bindings::link_policy::Decision;
use super::config::{CallRole, Hook};
use super::error::PluginError;
use super::host::PluginHost;

/// The outcome of every link-policy plugin together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    Allow,
    /// Use this URL instead (after every rewrite); validate it again like
    /// user input.
    Rewrite(String),
    /// Refused by `plugin`; show `reason` to the user.
    Deny {
        plugin: String,
        reason: String,
    },
}

impl PluginHost {
    /// Runs every link-policy plugin in order. A deny stops at once; a
    /// rewrite is what the next plugin sees.
    pub async fn check_link(&self, url: &str, creator: Option<&str>) -> Result<LinkDecision, PluginError> {
        let mut current = url.to_owned();
        for plugin in self.with_hook(Hook::LinkPolicy) {
            let Some(indices) = &plugin.link_policy else {
                continue;
            };
            let target = current.as_str();
            let trace = self.new_trace();
            let call = async {
                let (mut store, instance) = self.instantiate(plugin, Hook::LinkPolicy, &trace).await?;
                let guest = indices.load(&mut store, &instance)?;
                guest.call_check(&mut store, target, creator).await
            };
            match self.guarded(plugin, Hook::LinkPolicy, &trace, call).await {
                Ok(Decision::Allow) => {}
                Ok(Decision::Rewrite(url)) => current = url,
                Ok(Decision::Deny(reason)) => {
                    return Ok(LinkDecision::Deny { plugin: plugin.config.name.clone(), reason });
                }
                Err(failure) => Self::on_failure(plugin, Hook::LinkPolicy, CallRole::Policy, failure)?,
            }
        }
        Ok(if current == url { LinkDecision::Allow } else { LinkDecision::Rewrite(current) })
    }
}
