//! URL normalization compatible with npm `normalize-url` 5.3.1 called with
//! `{ forceHttps: true, stripHash: false }`, so that links deduplicate exactly as they did in
//! Node Blink (which used those options, except that it stripped the fragment; issue #751).
//!
//! The algorithm mirrors normalize-url step by step, on top of the WHATWG parser in the `url`
//! crate (the same URL standard Node's `URL` implements), including its quirks: every path
//! change goes back through the WHATWG path setter, the query is re-serialized as
//! `application/x-www-form-urlencoded`, and the trailing `/` is dropped from the final string.
//!
//! Deliberate differences from normalize-url 5.3.1, all outside the compatibility vectors:
//! - Inputs that carry a scheme other than http(s) (`mailto:`, `ftp://`, `data:`, ...) are
//!   parsed and returned untouched; normalize-url mangles them (`mailto:a@b.c` becomes
//!   `https://b.c`) or rewrites them (`data:`), and the caller applies a scheme allowlist anyway.
//!   The cost: a scheme-less `user:pw@example.net` reads as scheme `user` and passes through
//!   (normalize-url gives `https://example.net`), since it cannot be told apart from `mailto:`.
//! - `http:`/`https:` without `//` (`http:example.net`, `https:\\example.net`) are read as
//!   written; normalize-url prepends a second `http:` and then fails or produces `https://http/...`.
//! - `strip_text_fragment` (off by default, as 5.3.1 had no such rule) removes `#:~:text=`
//!   directives the way normalize-url 6 does. An empty fragment (`#`) is kept, unlike normalize-url 6.

use std::borrow::Cow;
use std::fmt;

use url::Url;
use url::form_urlencoded;

pub use crate::config::NormalizeOptions;

/// A normalized URL: the dedupe `key` plus the parsed `url` it denotes.
///
/// Both are needed because `url::Url` cannot hold normalize-url's output exactly: an http(s)
/// `Url` always serializes a path (`https://example.net/`), while normalize-url yields
/// `https://example.net`. `url` is `key` parsed back, so `url.as_str()` differs from `key` at
/// most by that `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedUrl {
    /// The parsed form, suitable for redirects and for inspecting scheme or host.
    pub url: Url,
    /// The exact string normalize-url would return; use it as the dedupe key.
    pub key: String,
}

impl NormalizedUrl {
    /// The dedupe key, i.e. the normalized string.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for NormalizedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// Why a URL could not be normalized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NormalizeError {
    /// The input was empty or only whitespace.
    #[error("not a valid URL: empty input")]
    Empty,
    /// The input could not be parsed as a URL; the payload says why.
    #[error("not a valid URL: {0}")]
    Invalid(String),
}

/// Normalizes `input` (trimmed first) per `options`.
pub fn normalize(input: &str, options: &NormalizeOptions) -> Result<NormalizedUrl, NormalizeError> {
    let trimmed = js_trim(input);
    if trimmed.is_empty() {
        return Err(NormalizeError::Empty);
    }
    let candidate = with_scheme(trimmed)?;
    let url = Url::parse(&candidate).map_err(|e| NormalizeError::Invalid(e.to_string()))?;
    if matches!(url.scheme(), "http" | "https") {
        Ok(normalize_http(url, options))
    } else {
        let key = url.as_str().to_owned();
        Ok(NormalizedUrl { url, key })
    }
}

/// Trims like JavaScript's `String.prototype.trim`, which is what normalize-url calls: its
/// whitespace set is Rust's minus U+0085 and plus U+FEFF.
fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}')
}

/// Adds `http:` where normalize-url would (`//x` and scheme-less input), so the WHATWG parser
/// sees an absolute URL.
fn with_scheme(s: &str) -> Result<Cow<'_, str>, NormalizeError> {
    // normalize-url replaces the `//` itself with `http:`; WHATWG reads `http:x` as `http://x`.
    if let Some(rest) = s.strip_prefix("//") {
        return Ok(Cow::Owned(format!("http:{rest}")));
    }
    // normalize-url leaves `/x`, `./x`, `../x` alone, and `new URL` then rejects them.
    if s.trim_start_matches('.').starts_with('/') {
        return Err(NormalizeError::Invalid("relative URL without a base".to_owned()));
    }
    if has_explicit_scheme(s) { Ok(Cow::Borrowed(s)) } else { Ok(Cow::Owned(format!("http:{s}"))) }
}

/// Whether `s` already names its scheme, so that `http:` must not be prepended.
fn has_explicit_scheme(s: &str) -> bool {
    // normalize-url's own test: `^(?:\w+:)?//` means the scheme is present.
    let word_len = s.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    if word_len > 0 && s[word_len..].starts_with("://") {
        return true;
    }
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    let valid_scheme = scheme
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_alphabetic() || (i > 0 && (b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))));
    if !valid_scheme || scheme.is_empty() {
        return false;
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return true;
    }
    // A dotted "scheme" or `localhost` is a host (`example.net:8080`, `localhost:/x`), and
    // `myhost:8080/x` is host:port, as normalize-url reads them; `mailto:a@b.c` or `data:,x`
    // are real schemes to pass through.
    if scheme.contains('.') || scheme.eq_ignore_ascii_case("localhost") {
        return false;
    }
    let rest = &s[colon + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let port_like = digits > 0 && rest[digits..].bytes().next().is_none_or(|b| matches!(b, b'/' | b'?' | b'#' | b'\\'));
    !port_like
}

/// Applies normalize-url's steps, in its order, to an http(s) URL.
fn normalize_http(mut url: Url, options: &NormalizeOptions) -> NormalizedUrl {
    if options.force_https && url.scheme() == "http" {
        // Cannot fail between special schemes; a now-default `:443` is dropped as in WHATWG.
        let _ = url.set_scheme("https");
    }

    if options.strip_credentials {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }

    if !options.keep_fragment {
        url.set_fragment(None);
    } else if options.strip_text_fragment {
        strip_text_fragment(&mut url);
    }

    // normalize-url assigns `pathname` unconditionally, so the path is re-parsed each time.
    if options.collapse_slashes {
        let collapsed = collapse_slashes(url.path());
        url.set_path(&collapsed);
    }

    if options.decode_path {
        // Like normalize-url's `try { decodeURI } catch {}`: any malformed escape keeps the path.
        if let Some(decoded) = decode_uri(url.path()) {
            url.set_path(&decoded);
        }
    }

    normalize_host(&mut url, options.strip_www);
    normalize_query(&mut url, options);

    if options.strip_trailing_slash {
        let path = url.path();
        let trimmed = path.strip_suffix('/').unwrap_or(path).to_owned();
        url.set_path(&trimmed);
    }

    let mut key = url.as_str().to_owned();
    // normalize-url tests `hash === ''`, which also holds for an empty `#`; the string then ends
    // in `#`, so only a `/` ending the path (or a raw query) is removed.
    let hash_empty = url.fragment().is_none_or(str::is_empty);
    if (options.strip_trailing_slash || url.path() == "/") && hash_empty && key.ends_with('/') {
        key.pop();
    }

    let url = Url::parse(&key).unwrap_or(url);
    NormalizedUrl { url, key }
}

/// normalize-url 6's `hash.replace(/#?:~:text.*?$/i, '')`.
fn strip_text_fragment(url: &mut Url) {
    const DIRECTIVE: &[u8] = b":~:text";
    let Some(fragment) = url.fragment() else {
        return;
    };
    let hash = format!("#{fragment}");
    let bytes = hash.as_bytes();
    let Some(at) = bytes.windows(DIRECTIVE.len()).position(|w| w.eq_ignore_ascii_case(DIRECTIVE)) else {
        return;
    };
    // The regex's `#?` takes a `#` right before the directive, which starts the leftmost match.
    let start = if at > 0 && bytes[at - 1] == b'#' { at - 1 } else { at };
    match hash[..start].strip_prefix('#') {
        // Setting `hash = ''` removes the fragment, `#` included.
        None => url.set_fragment(None),
        Some(kept) => {
            let kept = kept.to_owned();
            url.set_fragment(Some(&kept));
        }
    }
}

/// normalize-url's `pathname.replace(/(?<!\b(?:[a-z][a-z\d+\-.]{1,50}:))\/{2,}/g, '/')`, which
/// keeps URLs embedded in the path (`/go/https://x`) intact.
fn collapse_slashes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'/') && !follows_scheme(bytes, i) {
            out.push_str(&path[copied..i]);
            out.push('/');
            while bytes.get(i) == Some(&b'/') {
                i += 1;
            }
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&path[copied..]);
    out
}

/// The lookbehind `\b[a-z][a-z\d+\-.]{1,50}:` ending right before `bytes[at]`.
fn follows_scheme(bytes: &[u8], at: usize) -> bool {
    let Some(colon) = at.checked_sub(1) else {
        return false;
    };
    if bytes[colon] != b':' {
        return false;
    }
    let in_class = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.');
    let run = bytes[..colon].iter().rev().take(51).take_while(|&&b| in_class(b)).count();
    // Token lengths 2..=51 end at the colon; the first character must be a lowercase letter at a
    // word boundary (JS `\b` without the `u` flag: ASCII word characters only).
    (2..=run).any(|len| {
        let start = colon - len;
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        bytes[start].is_ascii_lowercase() && (start == 0 || !word(bytes[start - 1]))
    })
}

/// JavaScript's `decodeURI` for a path, except that escapes whose character would change the target once the path
/// setter reads it are kept as written: `%25` (a bare `%` would start a new escape: `%2541` is not `%41`), `%5C`
/// (a backslash is a path separator in http(s) URLs) and control characters (tab and newlines are dropped by the
/// setter). normalize-url decoded those too, silently sending visitors elsewhere. `None` where decodeURI would throw
/// `URIError`.
fn decode_uri(s: &str) -> Option<String> {
    // decodeURI leaves escapes of these characters as they were written; Blink adds `%` and `\`.
    const RESERVED: &[u8] = b";/?:@&=+$,#%\\";
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let first = hex_escape(bytes, i)?;
        if first < 0x80 {
            if RESERVED.contains(&first) || first.is_ascii_control() {
                out.extend_from_slice(bytes.get(i..i + 3)?);
            } else {
                out.push(first);
            }
            i += 3;
            continue;
        }
        let len = first.leading_ones() as usize;
        if len == 1 || len > 4 {
            return None;
        }
        let mut octets = [first, 0, 0, 0];
        i += 3;
        for octet in octets.iter_mut().take(len).skip(1) {
            let next = hex_escape(bytes, i)?;
            if next & 0xC0 != 0x80 {
                return None;
            }
            *octet = next;
            i += 3;
        }
        // Rejects overlong forms, surrogates and code points above U+10FFFF, as decodeURI does.
        let decoded = std::str::from_utf8(octets.get(..len)?).ok()?;
        out.extend_from_slice(decoded.as_bytes());
    }
    String::from_utf8(out).ok()
}

/// The byte encoded by the `%XX` at `bytes[at]`, if there is one.
fn hex_escape(bytes: &[u8], at: usize) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match bytes.get(at..at + 3)? {
        [b'%', hi, lo] => Some(u8::try_from(digit(*hi)? * 16 + digit(*lo)?).ok()?),
        _ => None,
    }
}

/// Drops a trailing dot and, if enabled and normalize-url's pattern matches, `www.`.
fn normalize_host(url: &mut Url, strip_www: bool) {
    let Some(host) = url.host_str() else {
        return;
    };
    let mut new_host = host.strip_suffix('.').unwrap_or(host);
    if strip_www && is_strippable_www(new_host) {
        new_host = &new_host[4..];
    }
    if new_host != host {
        let new_host = new_host.to_owned();
        // Like the JS `hostname` setter, an unacceptable value (e.g. empty) leaves the host as is.
        let _ = url.set_host(Some(&new_host));
    }
}

/// normalize-url's `/^www\.(?!www\.)(?:[a-z\-\d]{1,63})\.(?:[a-z.\-\d]{2,63})$/`.
fn is_strippable_www(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("www.") else {
        return false;
    };
    if rest.starts_with("www.") {
        return false;
    }
    let Some((label, tail)) = rest.split_once('.') else {
        return false;
    };
    let label_ok = (1..=63).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let tail_ok = (2..=63).contains(&tail.len())
        && tail.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    label_ok && tail_ok
}

/// `URLSearchParams` delete of `utm_*` keys and `sort()`, each of which re-serializes the query
/// (so `%20` becomes `+`, `?x` becomes `?x=`, and an empty query loses its `?`).
fn normalize_query(url: &mut Url, options: &NormalizeOptions) {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(url.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut changed = false;

    if options.strip_utm_params && pairs.iter().any(|(k, _)| is_utm_key(k)) {
        pairs.retain(|(k, _)| !is_utm_key(k));
        changed = true;
    }
    if options.sort_query {
        // URLSearchParams sorts stably by UTF-16 code units, not by code points.
        pairs.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
        changed = true;
    }
    if !changed {
        return;
    }
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        url.set_query(Some(&query));
    }
}

/// normalize-url's default `removeQueryParameters: [/^utm_\w+/i]` (a prefix match).
fn is_utm_key(key: &str) -> bool {
    match key.as_bytes() {
        [u, t, m, b'_', next, ..] => {
            [*u, *t, *m].eq_ignore_ascii_case(b"utm") && (next.is_ascii_alphanumeric() || *next == b'_')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/normalize-url-5.3.1-vectors.tsv");

    /// Vector inputs on which Blink deliberately differs from normalize-url 5.3.1, with the
    /// output Blink gives instead. Empty: every row is matched exactly.
    const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[];

    fn norm(input: &str) -> String {
        norm_with(input, &NormalizeOptions::default())
    }

    fn norm_with(input: &str, options: &NormalizeOptions) -> String {
        match normalize(input, options) {
            Ok(n) => n.key,
            Err(e) => panic!("{input:?} failed: {e}"),
        }
    }

    fn opts(edit: impl FnOnce(&mut NormalizeOptions)) -> NormalizeOptions {
        let mut o = NormalizeOptions::default();
        edit(&mut o);
        o
    }

    fn vectors() -> Vec<(String, String)> {
        let text = std::fs::read_to_string(VECTORS).expect("vector file is readable");
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (input, expected) = l.split_once('\t').expect("row is input<TAB>expected");
                (input.to_owned(), expected.to_owned())
            })
            .collect()
    }

    #[test]
    fn vectors_match_normalize_url_5_3_1() {
        let rows = vectors();
        assert_eq!(rows.len(), 30, "vector file should hold 30 rows");
        let mut failures = Vec::new();
        for (input, expected) in &rows {
            let expected =
                DELIBERATE_DIFFERENCES.iter().find(|(i, _)| i == input).map_or(expected.as_str(), |(_, ours)| ours);
            let got = normalize(input, &NormalizeOptions::default()).map(|n| n.key);
            if got.as_deref() != Ok(expected) {
                failures.push(format!("{input:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    }

    #[test]
    fn url_is_the_key_parsed_back() {
        for (input, _) in vectors() {
            let n = normalize(&input, &NormalizeOptions::default()).expect("vector input normalizes");
            assert_eq!(Url::parse(&n.key).as_ref(), Ok(&n.url), "{input}");
            assert_eq!(n.to_string(), n.key);
            assert_eq!(n.as_str(), n.key);
        }
    }

    #[test]
    fn normalizing_is_idempotent_on_vectors() {
        for (input, _) in vectors() {
            let once = norm(&input);
            assert_eq!(norm(&once), once, "{input}");
        }
    }

    #[test]
    fn default_options_are_node_blink_with_fragment_kept() {
        let o = NormalizeOptions::default();
        assert!(o.force_https && o.strip_www && o.strip_credentials && o.strip_utm_params);
        assert!(o.sort_query && o.strip_trailing_slash && o.collapse_slashes && o.decode_path);
        assert!(o.keep_fragment && !o.strip_text_fragment);
    }

    #[test]
    fn options_deserialize_partially_and_reject_unknown_keys() {
        let o: NormalizeOptions =
            toml::from_str("strip_www = false\nkeep_fragment = false\n").expect("partial table deserializes");
        assert_eq!(
            o,
            opts(|o| {
                o.strip_www = false;
                o.keep_fragment = false;
            })
        );
        assert!(toml::from_str::<NormalizeOptions>("strip_hash = true").is_err());
        let json = serde_json::to_string(&NormalizeOptions::default()).expect("serializes");
        let back: NormalizeOptions = serde_json::from_str(&json).expect("round-trips");
        assert_eq!(back, NormalizeOptions::default());
    }

    #[test]
    fn force_https_on_upgrades_http() {
        assert_eq!(norm("http://example.net/a"), "https://example.net/a");
        // The port that becomes the default for https is dropped, as WHATWG does.
        assert_eq!(norm("http://example.net:443/a"), "https://example.net/a");
        assert_eq!(norm("http://example.net:8080/a"), "https://example.net:8080/a");
    }

    #[test]
    fn force_https_off_keeps_http() {
        let o = opts(|o| o.force_https = false);
        assert_eq!(norm_with("http://example.net/a", &o), "http://example.net/a");
        assert_eq!(norm_with("example.net", &o), "http://example.net");
        assert_eq!(norm_with("https://example.net", &o), "https://example.net");
    }

    #[test]
    fn strip_www_on_removes_www() {
        assert_eq!(norm("https://www.example.net/a"), "https://example.net/a");
        assert_eq!(norm("https://www.example.co.uk"), "https://example.co.uk");
        assert_eq!(norm("https://www.example.net./a"), "https://example.net/a");
    }

    #[test]
    fn strip_www_keeps_www_outside_normalize_url_pattern() {
        // `www.www.`, single-letter TLDs, `_` in the label and over-long tails don't match.
        assert_eq!(norm("https://www.www.example.net"), "https://www.www.example.net");
        assert_eq!(norm("https://www.example.x"), "https://www.example.x");
        assert_eq!(norm("https://www.com"), "https://www.com");
        assert_eq!(norm("https://www.my_site.net"), "https://www.my_site.net");
        let long_tail = format!("https://www.a.{}.net", "b".repeat(60));
        assert_eq!(norm(&long_tail), long_tail);
    }

    #[test]
    fn strip_www_off_keeps_www() {
        let o = opts(|o| o.strip_www = false);
        assert_eq!(norm_with("https://www.example.net/a", &o), "https://www.example.net/a");
        // The trailing dot goes regardless, as in normalize-url.
        assert_eq!(norm_with("https://www.example.net./a", &o), "https://www.example.net/a");
    }

    #[test]
    fn strip_credentials_on_removes_userinfo() {
        assert_eq!(norm("https://user:pw@example.net/a"), "https://example.net/a");
        assert_eq!(norm("https://user@example.net/a"), "https://example.net/a");
    }

    #[test]
    fn strip_credentials_off_keeps_userinfo() {
        let o = opts(|o| o.strip_credentials = false);
        assert_eq!(norm_with("https://user:pw@example.net/a", &o), "https://user:pw@example.net/a");
    }

    #[test]
    fn strip_utm_params_on_removes_utm_params() {
        assert_eq!(norm("https://example.net/?UTM_Source=a&utm_x-y=1&utm_=k&x=1"), "https://example.net/?utm_=k&x=1");
        // Names are compared decoded, as URLSearchParams sees them.
        assert_eq!(norm("https://example.net/p?utm%5Fsource=a"), "https://example.net/p");
    }

    #[test]
    fn strip_utm_params_off_keeps_utm_params() {
        let o = opts(|o| o.strip_utm_params = false);
        assert_eq!(
            norm_with("https://example.net/p?utm_source=a&ref=x", &o),
            "https://example.net/p?ref=x&utm_source=a"
        );
    }

    #[test]
    fn utm_removal_without_sorting_still_reserializes() {
        let o = opts(|o| o.sort_query = false);
        assert_eq!(norm_with("https://example.net/p?b=a%20b&utm_term=x&a", &o), "https://example.net/p?b=a+b&a=");
        assert_eq!(norm_with("https://example.net/p?b=a%20b&a", &o), "https://example.net/p?b=a%20b&a");
    }

    #[test]
    fn sort_query_on_sorts_stably_and_reserializes() {
        assert_eq!(norm("https://example.net/?b=2&a=1&b=1&a=0"), "https://example.net/?a=1&a=0&b=2&b=1");
        assert_eq!(norm("https://example.net/?q=%C3%A9~*"), "https://example.net/?q=%C3%A9%7E*");
        assert_eq!(norm("https://example.net/?&&"), "https://example.net");
    }

    #[test]
    fn sort_query_sorts_by_utf16_code_units() {
        // U+FF21 sorts after U+1F600 by UTF-16 code units (0xFF21 > 0xD83D), before it by code point.
        assert_eq!(
            norm("https://example.net/?%EF%BC%A1=1&%F0%9F%98%80=2"),
            "https://example.net/?%F0%9F%98%80=2&%EF%BC%A1=1"
        );
    }

    #[test]
    fn sort_query_off_keeps_order_and_encoding() {
        let o = opts(|o| o.sort_query = false);
        assert_eq!(norm_with("https://example.net/?b=1&a=a%20b&c", &o), "https://example.net/?b=1&a=a%20b&c");
        assert_eq!(norm_with("https://example.net/a?", &o), "https://example.net/a?");
    }

    #[test]
    fn strip_trailing_slash_on_removes_trailing_slash() {
        assert_eq!(norm("https://example.net/a/"), "https://example.net/a");
        assert_eq!(norm("https://example.net/"), "https://example.net");
        assert_eq!(norm("https://example.net/a/?x=1"), "https://example.net/a?x=1");
        // Before a fragment only the path's slash can go; `/#x` keeps it.
        assert_eq!(norm("https://example.net/#x"), "https://example.net/#x");
        assert_eq!(norm("https://example.net/a/#x"), "https://example.net/a#x");
    }

    #[test]
    fn strip_trailing_slash_off_keeps_trailing_slash() {
        let o = opts(|o| o.strip_trailing_slash = false);
        assert_eq!(norm_with("https://example.net/a/", &o), "https://example.net/a/");
        assert_eq!(norm_with("https://example.net/a/?x=1", &o), "https://example.net/a/?x=1");
        // A bare root is still dropped: `https://x` and `https://x/` are the same request.
        assert_eq!(norm_with("https://example.net/", &o), "https://example.net");
    }

    #[test]
    fn collapse_slashes_on_merges_slashes_but_not_embedded_schemes() {
        assert_eq!(norm("https://example.net///a//b"), "https://example.net/a/b");
        assert_eq!(
            norm("https://example.net/go/https://other.example//x"),
            "https://example.net/go/https://other.example/x"
        );
        // The regex is case-sensitive and needs a word boundary before the scheme.
        assert_eq!(norm("https://example.net/go/HTTPS://x"), "https://example.net/go/HTTPS:/x");
        assert_eq!(norm("https://example.net/go/a_b://x"), "https://example.net/go/a_b:/x");
        // A third slash after `scheme://` is a separate run, so it collapses into the second.
        assert_eq!(norm("https://example.net/go/ftp:///x"), "https://example.net/go/ftp://x");
    }

    #[test]
    fn collapse_slashes_off_keeps_duplicate_slashes() {
        let o = opts(|o| o.collapse_slashes = false);
        assert_eq!(norm_with("https://example.net/one//two", &o), "https://example.net/one//two");
        // Trailing-slash removal strips one `/` from the path and the final string one more.
        assert_eq!(norm_with("https://example.net/one//", &o), "https://example.net/one");
    }

    #[test]
    fn decode_path_on_decodes_like_decode_uri() {
        assert_eq!(norm("https://example.net/%7Ealice/%41"), "https://example.net/~alice/A");
        // Reserved characters stay escaped exactly as written.
        assert_eq!(norm("https://example.net/a%2fb%3F%23"), "https://example.net/a%2fb%3F%23");
        // Decoded non-ASCII and spaces are re-encoded by the path setter, in upper case.
        assert_eq!(norm("https://example.net/caf%c3%a9%20x"), "https://example.net/caf%C3%A9%20x");
    }

    #[test]
    fn decode_path_keeps_escapes_whose_decoding_would_change_the_target() {
        // A bare `%` would make `%2541` read as `%41` (`A`), and `%25` alone a stray `%`.
        assert_eq!(norm("https://example.net/a%2541"), "https://example.net/a%2541");
        assert_eq!(norm("https://example.net/a%25b"), "https://example.net/a%25b");
        // A decoded backslash would be a path separator in http(s) URLs.
        assert_eq!(norm("https://example.net/a%5Cb"), "https://example.net/a%5Cb");
        // The path setter drops tabs and newlines, and would hide other control characters.
        assert_eq!(norm("https://example.net/a%0Ab/c"), "https://example.net/a%0Ab/c");
        assert_eq!(norm("https://example.net/a%09b%0d%00"), "https://example.net/a%09b%0d%00");
        assert_eq!(norm("https://example.net/a%7Fb"), "https://example.net/a%7Fb");
    }

    #[test]
    fn decode_path_keeps_path_when_decode_uri_would_throw() {
        assert_eq!(norm("https://example.net/%7E/100%"), "https://example.net/%7E/100%");
        assert_eq!(norm("https://example.net/%7E/caf%E9"), "https://example.net/%7E/caf%E9");
        assert_eq!(norm("https://example.net/%7E/%ED%A0%80"), "https://example.net/%7E/%ED%A0%80");
        assert_eq!(norm("https://example.net/%7E/%C0%AF"), "https://example.net/%7E/%C0%AF");
    }

    #[test]
    fn decode_path_off_keeps_escapes() {
        let o = opts(|o| o.decode_path = false);
        assert_eq!(norm_with("https://example.net/%7Ealice", &o), "https://example.net/%7Ealice");
    }

    #[test]
    fn keep_fragment_on_keeps_fragment() {
        assert_eq!(norm("https://example.net/a#Section-2"), "https://example.net/a#Section-2");
        assert_eq!(norm("https://example.net/a#"), "https://example.net/a#");
    }

    #[test]
    fn keep_fragment_off_strips_fragment() {
        let o = opts(|o| o.keep_fragment = false);
        assert_eq!(norm_with("https://example.net/a#Section-2", &o), "https://example.net/a");
        assert_eq!(norm_with("https://example.net/#top", &o), "https://example.net");
        assert_eq!(norm_with("https://example.net/a#", &o), "https://example.net/a");
    }

    #[test]
    fn strip_text_fragment_on_removes_directive() {
        let on = opts(|o| o.strip_text_fragment = true);
        assert_eq!(norm_with("https://example.net/a#:~:text=hello", &on), "https://example.net/a");
        assert_eq!(norm_with("https://example.net/#:~:TEXT=hello", &on), "https://example.net");
        assert_eq!(norm_with("https://example.net/a#intro:~:text=hi", &on), "https://example.net/a#intro");
        assert_eq!(norm_with("https://example.net/a#x#:~:text=hi", &on), "https://example.net/a#x");
        assert_eq!(norm_with("https://example.net/a#:~:other", &on), "https://example.net/a#:~:other");
    }

    #[test]
    fn strip_text_fragment_off_keeps_directive() {
        let o = opts(|o| o.strip_text_fragment = false);
        assert_eq!(norm_with("https://example.net/a#:~:text=hello", &o), "https://example.net/a#:~:text=hello");
    }

    #[test]
    fn missing_scheme_becomes_https() {
        assert_eq!(norm("example.net/a"), "https://example.net/a");
        assert_eq!(norm("localhost:8080/a/"), "https://localhost:8080/a");
        assert_eq!(norm("example.net:8080"), "https://example.net:8080");
        assert_eq!(norm("  \u{feff}Example.NET/a?b=1\n"), "https://example.net/a?b=1");
        assert_eq!(norm("[::1]:8080/x"), "https://[::1]:8080/x");
        assert_eq!(norm("例え.テスト/パス"), "https://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9");
    }

    #[test]
    fn protocol_relative_becomes_https() {
        assert_eq!(norm("//www.example.net/a/"), "https://example.net/a");
        assert_eq!(norm("///example.net/a"), "https://example.net/a");
    }

    #[test]
    fn explicit_http_scheme_without_slashes_is_read_as_written() {
        assert_eq!(norm("http:example.net/a"), "https://example.net/a");
        assert_eq!(norm("HTTPS:\\\\example.net\\a"), "https://example.net/a");
    }

    #[test]
    fn mailto_passes_through_untouched() {
        let n = normalize("mailto:Someone@Example.NET?subject=Hi%20there", &NormalizeOptions::default())
            .expect("mailto parses");
        assert_eq!(n.url.scheme(), "mailto");
        assert_eq!(n.key, "mailto:Someone@Example.NET?subject=Hi%20there");
        assert_eq!(n.url.as_str(), n.key);
    }

    #[test]
    fn other_schemes_pass_through_untouched() {
        for (input, expected) in [
            ("ftp://user:pw@www.example.net//a/?utm_source=x", "ftp://user:pw@www.example.net//a/?utm_source=x"),
            ("data:Text/HTML;charset=US-ASCII,<b>hi</b>", "data:Text/HTML;charset=US-ASCII,<b>hi</b>"),
            ("git+ssh://git@example.net/repo.git", "git+ssh://git@example.net/repo.git"),
            ("javascript:alert(1)", "javascript:alert(1)"),
            ("view-source:https://example.net", "view-source:https://example.net"),
        ] {
            let n = normalize(input, &NormalizeOptions::default()).expect("parses");
            assert_eq!(n.key, expected);
            assert_ne!(n.url.scheme(), "https");
        }
    }

    #[test]
    fn garbage_input_is_an_error_with_message() {
        assert_eq!(normalize("", &NormalizeOptions::default()), Err(NormalizeError::Empty));
        assert_eq!(normalize(" \t\n", &NormalizeOptions::default()), Err(NormalizeError::Empty));
        let err = normalize("/just/a/path", &NormalizeOptions::default()).expect_err("relative");
        assert_eq!(err.to_string(), "not a valid URL: relative URL without a base");
        for input in ["http://", "%", "exa mple.net", "http://exa<mple.net", "example.net:99999", "1abc://x"] {
            let err = normalize(input, &NormalizeOptions::default()).expect_err(input);
            let message = err.to_string();
            assert!(message.starts_with("not a valid URL: ") && message.len() > 17, "{input}: {message}");
        }
    }

    #[test]
    fn odd_inputs_never_panic() {
        let long_path = format!("https://example.net/{}", "a/".repeat(50_000));
        let long_query = format!("https://example.net/?{}", "utm_a=1&b=%20&".repeat(20_000));
        let long_host = format!("https://{}.example.net/", "a".repeat(100_000));
        let long_slashes = format!("https://example.net{}x", "/".repeat(100_000));
        let long_escapes = format!("https://example.net/{}", "%E2%82%AC%".repeat(20_000));
        let mut inputs: Vec<String> = [
            "http://",
            "https://",
            "https://[::1]:8080/",
            "http://例え.テスト/パス",
            "%",
            "%%",
            "%e9",
            "//",
            "///",
            ":",
            "::",
            "?",
            "#",
            "@",
            "a:",
            "http:",
            "https:/",
            "www.",
            "www..",
            ".",
            "http://./",
            "http://www./",
            "http://../",
            "https://example.net/%",
            "https://example.net/%f0%9f",
            "https://example.net/%F0%9F%98%80",
            "https://example.net/a?%zz=%&&=&",
            "https://ex.net/#%",
            "https://ex.net/#:~:text",
            "https://ex.net/#:~:",
            "https://ex.net/a:/b//",
            "https://a:b@/",
            "http://1.2.3.4./",
            "http://0x7f.1/",
            "http://[::ffff:1.2.3.4]/",
            "https://xn--/",
            "\u{0}",
            "\u{85}example.net",
            "https://example.net/\u{0}\u{7f}\u{ffff}",
            "javascript:",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        inputs.extend([long_path, long_query, long_host, long_slashes, long_escapes]);
        let all_off = NormalizeOptions {
            force_https: false,
            strip_www: false,
            strip_credentials: false,
            strip_utm_params: false,
            sort_query: false,
            strip_trailing_slash: false,
            collapse_slashes: false,
            decode_path: false,
            keep_fragment: false,
            strip_text_fragment: false,
        };
        for input in &inputs {
            for options in [&NormalizeOptions::default(), &all_off] {
                if let Ok(n) = normalize(input, options) {
                    assert!(!n.key.is_empty());
                }
            }
        }
    }
}
