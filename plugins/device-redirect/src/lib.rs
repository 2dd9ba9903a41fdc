//! `device-redirect`: send phones to the app stores.
//!
//! Config: `ios` (an App Store URL) and/or `android` (a Google Play URL);
//! optional `slugs`, a comma-separated list of the slugs this applies to
//! (default: every link). Other devices get the link's own target.
blink_plugin_sdk::generate!(redirect_rules);

use blink_plugin_sdk::config;
use exports::blink::plugin::redirect_rules::{Guest, Link, RequestInfo};

struct DeviceRedirect;

impl Guest for DeviceRedirect {
    fn resolve(request: RequestInfo, link: Link) -> Option<String> {
        let slugs = config::list("slugs");
        if !slugs.is_empty() && !slugs.contains(&link.slug) {
            return None;
        }
        let agent = request.user_agent?;
        if ["iPhone", "iPad", "iPod"].iter().any(|d| agent.contains(d)) {
            return config::get("ios");
        }
        if agent.contains("Android") {
            return config::get("android");
        }
        None
    }
}

export!(DeviceRedirect);
