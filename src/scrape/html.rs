//! Reads what a page says about itself from its HTML head: title, description, author, date, language, publisher, logo.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use encoding_rs::{Encoding, UTF_8};
use html5gum::{DefaultEmitter, StartTag, Token, Tokenizer};
use url::Url;

use super::PageMeta;

/// The longest text kept in a field, in characters; longer text is cut, longer logo URLs are dropped.
const MAX_FIELD_CHARS: usize = 1000;

// Meta names and properties that feed each field, most trusted first (the order metascraper uses).
const TITLE: &[&str] = &["og:title", "twitter:title"];
const DESCRIPTION: &[&str] = &["og:description", "twitter:description", "description"];
const AUTHOR: &[&str] = &["author", "article:author"];
const DATE: &[&str] =
    &["article:published_time", "date", "dc.date", "dcterms.created", "article:modified_time", "og:updated_time"];
const PUBLISHER: &[&str] = &["og:site_name", "application-name", "publisher"];
const LOCALE: &[&str] = &["og:locale"];
const LOGO: &[&str] = &["og:logo", "logo"];
const WANTED: &[&[&str]] = &[TITLE, DESCRIPTION, AUTHOR, DATE, PUBLISHER, LOCALE, LOGO];

/// How far into the page a `<meta charset>` is looked for (the HTML standard's prescan window).
const PRESCAN_BYTES: usize = 1024;

/// Decodes a page to text: a byte-order mark wins, then the `Content-Type` charset, then a `<meta charset>` near the
/// top, then UTF-8. Undecodable bytes (and a character cut by the size limit) become U+FFFD.
pub(super) fn decode(body: &[u8], content_type: &str) -> String {
    let from_header = charset_param(content_type).and_then(|label| Encoding::for_label(label.as_bytes()));
    // A page read as ASCII cannot truly be UTF-16, so the standard reads that declaration in a <meta> as UTF-8.
    let from_meta = || prescan_charset(body).and_then(Encoding::for_label).map(Encoding::output_encoding);
    let encoding = from_header.or_else(from_meta).unwrap_or(UTF_8);
    let (text, _, _) = encoding.decode(body);
    text.into_owned()
}

/// The `charset` parameter of a `Content-Type` value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches(['"', '\'']))
    })
}

/// A charset label declared near the top of the page (`<meta charset=…>` or `content="…; charset=…"`).
fn prescan_charset(body: &[u8]) -> Option<&[u8]> {
    let head = &body[..body.len().min(PRESCAN_BYTES)];
    let mut from = 0;
    while let Some(found) = head[from..].windows(7).position(|w| w.eq_ignore_ascii_case(b"charset")) {
        from += found + 7;
        let rest = trim_start(&head[from..]);
        let Some(rest) = rest.strip_prefix(b"=") else { continue };
        let rest = trim_start(rest);
        let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
        let end = rest.iter().position(|b| b"\"'; />".contains(b) || b.is_ascii_whitespace()).unwrap_or(rest.len());
        if end > 0 {
            return Some(&rest[..end]);
        }
    }
    None
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Reads the metadata of `html`, a page whose final URL (after redirects) is `page_url`.
pub(super) fn parse(html: &str, page_url: &Url) -> PageMeta {
    let mut emitter = DefaultEmitter::default();
    // Without state switches the text of <script>, <style> and <title> would be read as markup.
    emitter.naively_switch_states(true);
    let mut found = Found::default();
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        found.take(token);
    }
    found.into_meta(page_url)
}

/// What the tokens said so far; each slot keeps the page's first answer.
#[derive(Default)]
struct Found {
    meta: HashMap<String, String>,
    title: Option<String>,
    open_title: Option<String>,
    svg_depth: usize,
    html_lang: Option<String>,
    base: Option<String>,
    touch_icon: Option<String>,
    icon: Option<String>,
}

impl Found {
    fn take(&mut self, token: Token) {
        match token {
            Token::StartTag(tag) => self.start_tag(&tag),
            Token::EndTag(tag) if tag.name == b"title" => {
                if let Some(text) = self.open_title.take() {
                    self.title = Some(text);
                }
            }
            Token::EndTag(tag) if tag.name == b"svg" => self.svg_depth = self.svg_depth.saturating_sub(1),
            Token::String(text) => {
                // An unclosed <title> swallows the rest of the page; what is past the field limit is never shown.
                if let Some(open) = self.open_title.as_mut().filter(|open| open.len() < MAX_FIELD_CHARS * 4) {
                    open.push_str(&String::from_utf8_lossy(&text.value));
                }
            }
            _ => {}
        }
    }

    fn start_tag(&mut self, tag: &StartTag<()>) {
        match tag.name.as_slice() {
            b"html" if self.html_lang.is_none() => self.html_lang = attr(tag, "lang"),
            // An <svg> has its own <title>, a tooltip rather than the page's name.
            b"svg" if !tag.self_closing => self.svg_depth += 1,
            b"title" if self.svg_depth == 0 && self.title.is_none() && self.open_title.is_none() => {
                self.open_title = Some(String::new());
            }
            b"base" if self.base.is_none() => self.base = attr(tag, "href"),
            b"meta" => {
                let Some(content) = attr(tag, "content") else { return };
                for key_attr in ["property", "name", "itemprop"] {
                    let Some(key) = attr(tag, key_attr).map(|key| key.trim().to_ascii_lowercase()) else { continue };
                    if WANTED.iter().any(|keys| keys.contains(&key.as_str())) {
                        self.meta.entry(key).or_insert_with(|| content.clone());
                    }
                }
            }
            b"link" => {
                let (Some(rel), Some(href)) = (attr(tag, "rel"), attr(tag, "href")) else { return };
                let rel = rel.to_ascii_lowercase();
                let mut kinds = rel.split_ascii_whitespace();
                let slot = if kinds.clone().any(|kind| kind.starts_with("apple-touch-icon")) {
                    &mut self.touch_icon
                } else if kinds.any(|kind| kind == "icon") {
                    &mut self.icon
                } else {
                    return;
                };
                slot.get_or_insert(href);
            }
            _ => {}
        }
    }

    /// The first of `keys` the page gave a usable value for, made usable by `clean`.
    fn first(&self, keys: &[&str], clean: impl Fn(&str) -> Option<String>) -> Option<String> {
        keys.iter().find_map(|key| self.meta.get(*key).and_then(|value| clean(value)))
    }

    fn into_meta(mut self, page_url: &Url) -> PageMeta {
        // A <title> still open at the end of the page (or of what was read of it) ran to the end.
        self.title = self.title.take().or(self.open_title.take());
        let base = self.base.as_deref().and_then(|href| web_url(page_url, href)).unwrap_or_else(|| page_url.clone());
        let logo_url = |href: &str| web_url(&base, href).map(String::from).filter(|url| url.len() <= MAX_FIELD_CHARS);
        PageMeta {
            author: self.first(AUTHOR, clean_text),
            date: self.first(DATE, normalize_date),
            description: self.first(DESCRIPTION, clean_text),
            lang: self.html_lang.as_deref().and_then(normalize_lang).or_else(|| self.first(LOCALE, normalize_lang)),
            logo: self
                .first(LOGO, logo_url)
                .or_else(|| self.touch_icon.as_deref().and_then(logo_url))
                .or_else(|| self.icon.as_deref().and_then(logo_url)),
            publisher: self.first(PUBLISHER, clean_text),
            title: self.first(TITLE, clean_text).or_else(|| self.title.as_deref().and_then(clean_text)),
        }
    }
}

fn attr(tag: &StartTag<()>, name: &str) -> Option<String> {
    tag.attributes.get(name.as_bytes()).map(|value| String::from_utf8_lossy(&value.value).into_owned())
}

/// `href` made absolute against `base`, if it is a web address (no `javascript:` or `data:` logos).
fn web_url(base: &Url, href: &str) -> Option<Url> {
    base.join(href.trim()).ok().filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// Text as a person would read it: runs of whitespace (no-break spaces too) collapsed to one space, control
/// characters dropped, at most [`MAX_FIELD_CHARS`] characters; `None` when nothing is left.
fn clean_text(raw: &str) -> Option<String> {
    let mut text = String::with_capacity(raw.len().min(MAX_FIELD_CHARS * 4));
    for (count, word) in raw.split_whitespace().enumerate() {
        if count > 0 {
            text.push(' ');
        }
        text.extend(word.chars().filter(|c| !c.is_control()));
        if text.len() >= MAX_FIELD_CHARS * 4 {
            break;
        }
    }
    if let Some((cut, _)) = text.char_indices().nth(MAX_FIELD_CHARS) {
        text.truncate(cut);
        text.truncate(text.trim_end().len());
    }
    (!text.is_empty()).then_some(text)
}

/// A date as JavaScript's `toISOString()` writes it (what Node Blink stored); `None` when it is not a date.
fn normalize_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let utc = DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%#z"))
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M%#z"))
        .or_else(|_| DateTime::parse_from_rfc2822(raw))
        .map(|date| date.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|date| date.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").map(|date| date.and_utc()))
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d").map(|day| day.and_time(NaiveTime::MIN).and_utc()))
        .ok()?;
    Some(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The language subtag of a language tag or locale (`en-GB`, `pt_BR` → `en`, `pt`), as metascraper gives it.
fn normalize_lang(raw: &str) -> Option<String> {
    let primary = raw.trim().split(['-', '_']).next()?;
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> PageMeta {
        parse(html, &Url::parse("https://example.com/articles/1").expect("url"))
    }

    #[test]
    fn open_graph_wins_over_plain_tags() {
        let meta = page(
            r#"<!doctype html><html lang="en-GB"><head>
            <title>Plain title</title>
            <meta name="description" content="Plain description">
            <meta property="og:title" content="OG title">
            <meta property="og:description" content="OG description">
            <meta property="og:site_name" content="Example News">
            <meta name="author" content="Ada Lovelace">
            <meta property="article:published_time" content="2024-03-05T10:20:30+01:00">
            <link rel="icon" href="/favicon.png">
            </head><body></body></html>"#,
        );
        assert_eq!(
            meta,
            PageMeta {
                author: Some("Ada Lovelace".into()),
                date: Some("2024-03-05T09:20:30.000Z".into()),
                description: Some("OG description".into()),
                lang: Some("en".into()),
                logo: Some("https://example.com/favicon.png".into()),
                publisher: Some("Example News".into()),
                title: Some("OG title".into()),
            }
        );
    }

    #[test]
    fn plain_tags_are_the_fallback() {
        let meta = page(
            r#"<html><head><title>  Plain
                 title </title><meta name="DESCRIPTION" content="Plain description">
                 <meta property="og:locale" content="pt_BR"><meta name="date" content="2023-12-01">
                 <meta property="article:author" content="https://example.com/ada"></head></html>"#,
        );
        assert_eq!(meta.title.as_deref(), Some("Plain title"));
        assert_eq!(meta.description.as_deref(), Some("Plain description"));
        assert_eq!(meta.lang.as_deref(), Some("pt"));
        assert_eq!(meta.date.as_deref(), Some("2023-12-01T00:00:00.000Z"));
        assert_eq!(meta.author.as_deref(), Some("https://example.com/ada"));
    }

    #[test]
    fn entities_are_decoded_in_text_and_attributes() {
        let meta = page(
            r#"<title>Tom &amp; Jerry &#8212; &eacute;t&eacute; &lt;3 &#x1F600;</title>
               <meta name="description" content="&quot;Quoted&quot; &amp; caf&eacute;&nbsp;au lait">"#,
        );
        assert_eq!(meta.title.as_deref(), Some("Tom & Jerry — été <3 😀"));
        assert_eq!(meta.description.as_deref(), Some("\"Quoted\" & café au lait"));
    }

    #[test]
    fn markup_in_scripts_and_svg_titles_is_not_the_page_title() {
        let meta = page(
            r#"<head><script>document.write("<title>fake</title>")</script>
               <style>title { color: red }</style></head>
               <body><svg><title>tooltip</title></svg><title>Real title</title></body>"#,
        );
        assert_eq!(meta.title.as_deref(), Some("Real title"));
    }

    #[test]
    fn logos_are_absolute_and_prefer_og_logo_then_touch_icons() {
        let meta = page(r#"<link rel="shortcut icon" href="fav.ico"><link rel="apple-touch-icon" href="touch.png">"#);
        assert_eq!(meta.logo.as_deref(), Some("https://example.com/articles/touch.png"));
        let meta =
            page(r#"<link rel="icon" href="//cdn.example.net/i.png"><meta property="og:logo" content="/l.svg">"#);
        assert_eq!(meta.logo.as_deref(), Some("https://example.com/l.svg"));
        let meta = page(r#"<base href="https://static.example.org/x/"><link rel="icon" href="i.png">"#);
        assert_eq!(meta.logo.as_deref(), Some("https://static.example.org/x/i.png"));
    }

    #[test]
    fn script_and_data_logos_are_dropped() {
        let meta = page(r#"<link rel="icon" href="javascript:alert(1)"><link rel="apple-touch-icon" href="data:,x">"#);
        assert_eq!(meta.logo, None);
    }

    #[test]
    fn long_fields_are_cut_and_blank_ones_dropped() {
        let long = "é".repeat(MAX_FIELD_CHARS + 50);
        let meta = page(&format!(r#"<title>{long}</title><meta name="description" content="  ">"#));
        assert_eq!(meta.title.map(|title| title.chars().count()), Some(MAX_FIELD_CHARS));
        assert_eq!(meta.description, None);
    }

    #[test]
    fn an_unclosed_title_is_still_read_and_capped() {
        let meta = page(&format!("<title>Start {}", "word ".repeat(10_000)));
        let title = meta.title.expect("title");
        assert!(title.starts_with("Start word"));
        assert!(title.chars().count() <= MAX_FIELD_CHARS);
    }

    #[test]
    fn unparseable_dates_and_languages_are_dropped() {
        let meta = page(r#"<html lang="!!"><meta name="date" content="last Tuesday">"#);
        assert_eq!((meta.date, meta.lang), (None, None));
    }

    #[test]
    fn the_header_charset_decodes_the_page() {
        let body = b"<title>Caf\xe9 cr\xe8me</title>";
        assert_eq!(decode(body, "text/html; charset=ISO-8859-1"), "<title>Café crème</title>");
    }

    #[test]
    fn a_meta_charset_decodes_the_page() {
        let body = b"<meta charset=\"windows-1252\"><title>\x93Quoted\x94</title>";
        assert!(decode(body, "text/html").ends_with("<title>\u{201c}Quoted\u{201d}</title>"));
        let body = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-15\"><p>\xa4";
        assert!(decode(body, "text/html").ends_with("<p>\u{20ac}"));
    }

    #[test]
    fn utf8_is_the_default_and_bad_bytes_are_replaced() {
        assert_eq!(decode("<title>été</title>".as_bytes(), "text/html"), "<title>été</title>");
        assert_eq!(decode(b"<title>\xff</title>", "text/html"), "<title>\u{fffd}</title>");
    }
}
