//! Who clicked, as far as a user agent tells: a person, a link-preview fetcher or another bot; and for people, the
//! browser, operating system and device class. Only these names are kept, never the user agent itself.

use std::sync::{Arc, LazyLock};

/// What kind of visit a click was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A person following the link.
    Click,
    /// A chat or social app fetching the page to show a preview (Slack, Discord, WhatsApp, …).
    Preview,
    /// Any other automated client: crawlers, monitors, scripts, no user agent at all.
    Bot,
}

/// What the figures keep of a user agent.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Agent {
    /// Click, preview or bot.
    pub class: Class,
    /// Browser family, e.g. `Chrome`; for people only.
    pub browser: Option<Box<str>>,
    /// Operating system family, e.g. `iOS`; for people only.
    pub os: Option<Box<str>>,
    /// `desktop`, `phone`, `tablet` or `other`; for people only.
    pub device: Option<&'static str>,
}

/// Link-preview fetchers, by a distinctive part of their user agent (compared in lower case). They fetch once per
/// share, not per reader, so they are counted apart from clicks.
const PREVIEW_FETCHERS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "discordbot",
    "whatsapp",
    "linkedinbot",
    "telegrambot",
    "skypeuripreview",
    "microsoftpreview",
    "pinterestbot",
    "redditbot",
    "embedly",
    "iframely",
    "vkshare",
    "bluesky",
    "cardyb",
    "mastodon",
    "pleroma",
    "misskey",
    "google-pagerenderer",
    "googleother",
    "yahoo link preview",
    "bitlybot",
    "viberbot",
    "zoominfobot",
    "snap url preview",
];

/// Automated clients that woothee does not call crawlers, by a part of their user agent (lower case).
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "python-",
    "python/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
    "axios/",
    "node-fetch",
    "undici",
    "headlesschrome",
    "phantomjs",
    "monitor",
    "uptime",
    "pingdom",
    "scanner",
    "httpx",
    "aiohttp",
    "ruby",
    "php/",
    "perl",
    "postman",
    "insomnia",
    "lighthouse",
];

/// User agents read lately. Reading one takes microseconds (woothee's parser and some 70 substring searches, the
/// largest cost of counting a person's click), and visitors share few of them, so a busy server mostly finds its
/// answer here.
static RECENT: LazyLock<quick_cache::sync::Cache<String, Arc<Agent>>> =
    LazyLock::new(|| quick_cache::sync::Cache::new(RECENT_AGENTS));
/// User agents [`RECENT`] keeps.
const RECENT_AGENTS: usize = 2048;
/// Longer user agents are read every time, so that odd ones cannot fill [`RECENT`] with kilobytes each.
const MAX_RECENT_LEN: usize = 512;

/// Reads `user_agent` (absent counts as a bot: every browser sends one), or finds it among those read lately.
pub fn classify(user_agent: Option<&str>) -> Arc<Agent> {
    static NONE: LazyLock<Arc<Agent>> = LazyLock::new(|| Arc::new(read(None)));
    let Some(user_agent) = user_agent else { return NONE.clone() };
    if user_agent.len() > MAX_RECENT_LEN {
        return Arc::new(read(Some(user_agent)));
    }
    if let Some(agent) = RECENT.get(user_agent) {
        return agent;
    }
    let agent = Arc::new(read(Some(user_agent)));
    RECENT.insert(user_agent.to_owned(), agent.clone());
    agent
}

/// Reads `user_agent`.
fn read(user_agent: Option<&str>) -> Agent {
    let bot = Agent { class: Class::Bot, browser: None, os: None, device: None };
    let Some(user_agent) = user_agent.filter(|ua| !ua.trim().is_empty()) else { return bot };
    let lower = user_agent.to_ascii_lowercase();
    if PREVIEW_FETCHERS.iter().any(|marker| lower.contains(marker)) {
        return Agent { class: Class::Preview, ..bot };
    }
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let crawler = parsed.as_ref().is_some_and(|p| p.category == "crawler");
    if crawler || BOT_MARKERS.iter().any(|marker| lower.contains(marker)) {
        return bot;
    }
    let Some(parsed) = parsed else {
        return Agent { class: Class::Click, browser: None, os: None, device: Some("other") };
    };
    let tablet =
        lower.contains("ipad") || lower.contains("tablet") || (lower.contains("android") && !lower.contains("mobile"));
    let device = match parsed.category {
        _ if tablet => "tablet",
        "pc" => "desktop",
        "smartphone" | "mobilephone" => "phone",
        _ => "other",
    };
    Agent { class: Class::Click, browser: known(parsed.name), os: known(parsed.os), device: Some(device) }
}

/// woothee's name, unless it is "UNKNOWN".
fn known(name: &str) -> Option<Box<str>> {
    (!name.is_empty() && name != "UNKNOWN").then(|| name.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_previews_and_bots_are_told_apart() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/17.4 Mobile/15E148 Safari/604.1";
        let agent = classify(Some(iphone));
        assert_eq!(
            (agent.class, agent.browser.as_deref(), agent.os.as_deref(), agent.device),
            (Class::Click, Some("Safari"), Some("iPhone"), Some("phone"))
        );
        let desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/124.0.0.0 Safari/537.36";
        let agent = classify(Some(desktop));
        assert_eq!(
            (agent.class, agent.browser.as_deref(), agent.device),
            (Class::Click, Some("Chrome"), Some("desktop"))
        );
        let ipad =
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
        assert_eq!(classify(Some(ipad)).device, Some("tablet"));

        for preview in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "WhatsApp/2.23.20.0",
            "Twitterbot/1.0",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "TelegramBot (like TwitterBot)",
        ] {
            assert_eq!(classify(Some(preview)).class, Class::Preview, "{preview}");
        }
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.5.0",
            "python-requests/2.31",
            "Go-http-client/1.1",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        ] {
            assert_eq!(classify(Some(bot)).class, Class::Bot, "{bot}");
        }
        assert_eq!(classify(None).class, Class::Bot);
        assert_eq!(classify(Some("  ")).class, Class::Bot);
    }

    #[test]
    fn an_agent_read_before_is_read_the_same() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
        let first = classify(Some(firefox));
        let again = classify(Some(firefox));
        assert!(Arc::ptr_eq(&first, &again), "the second reading comes from the recent ones");
        assert_eq!(*again, read(Some(firefox)));
        let long = format!("{firefox} {}", "x".repeat(MAX_RECENT_LEN));
        assert_eq!(classify(Some(&long)).browser.as_deref(), Some("Firefox"));
    }
}
