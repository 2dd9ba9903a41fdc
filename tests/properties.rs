//! Property tests: arbitrary strings and bytes fed to everything that reads untrusted text (slugs, target URLs,
//! normalization, the hashid decoder, `X-Forwarded-For`). Nothing may panic, and what is accepted must be what the
//! rest of Blink relies on: targets are absolute http(s) URLs that are not Blink's own host, automatic slugs round
//! trip, brand slugs are made of slug characters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use blink::config::{TrustProxy, parse_forwarded_entry};
use blink::links::{Hashids, NormalizeOptions, SlugRef, SlugRules, TargetRules, normalize};
use proptest::prelude::*;
use proptest::sample::select;
use url::{Host, Url};

/// Hosts worth trying on purpose: Blink's own in many spellings, loopback ones, odd encodings.
const HOSTS: &[&str] = &[
    "example.com",
    "www.example.com",
    "blink.example",
    "WWW.Blink.Example.",
    "blink.example..",
    "localhost",
    "LOCALHOST.",
    "app.localhost",
    "localhost.example",
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "0177.0.0.1",
    "2130706433",
    "127.0.0.1.",
    "0.0.0.0",
    "0",
    "[::1]",
    "[0:0::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::]",
    "192.0.2.10",
    "[::ffff:192.0.2.10]",
    "%6c%6fcalhost",
    "ｌｏｃａｌｈｏｓｔ",
    "１２７.０.０.１",
    "bücher.example",
    "xn--bcher-kva.example",
    "xn--",
    "[::1",
    "",
];

/// The paths Blink routes itself; building the routes to learn them takes a while, so once.
static RESERVED: LazyLock<Vec<&'static str>> = LazyLock::new(blink::http::reserved_paths);

/// `BASE_URL` hosts the target rules are tried with.
const BASE_HOSTS: &[&str] = &["blink.example:3000", "localhost:3000", "127.0.0.1:8080", "[::1]", "192.0.2.10"];

/// Strings shaped like URLs, mixing the awkward parts on purpose.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = select(
        &[
            "",
            "http://",
            "https://",
            "HTTP://",
            "//",
            "ftp://",
            "javascript:",
            "mailto:",
            "http:",
            "https:\\\\",
            "data:,",
            "http:///",
            "blink:",
        ][..],
    );
    let userinfo = select(&["", "user@", "u:p@", "@", "a:b@c@"][..]);
    let host = prop_oneof![
        3 => select(HOSTS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9.%\\-]{0,20}",
        1 => "\\PC{0,8}",
    ];
    let port = select(&["", ":80", ":443", ":3000", ":", ":99999", ":0x10", ":-1"][..]);
    let rest = "[a-zA-Z0-9/?#&=%._~:@!$'()*+,;\\\\ \\[\\]-]{0,30}";
    (scheme, userinfo, host, port, rest).prop_map(|(scheme, userinfo, host, port, rest)| {
        let rest = if rest.is_empty() || rest.starts_with(['/', '?', '#']) { rest } else { format!("/{rest}") };
        format!("{scheme}{userinfo}{host}{port}{rest}")
    })
}

/// Any text: URL-shaped, arbitrary Unicode, or arbitrary bytes read as UTF-8 the lossy way.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => url_like(),
        1 => any::<String>(),
        1 => any::<Vec<u8>>().prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

fn normalize_options() -> impl Strategy<Value = NormalizeOptions> {
    prop::array::uniform10(any::<bool>()).prop_map(|flags| NormalizeOptions {
        force_https: flags[0],
        strip_www: flags[1],
        strip_credentials: flags[2],
        strip_utm_params: flags[3],
        sort_query: flags[4],
        strip_trailing_slash: flags[5],
        collapse_slashes: flags[6],
        decode_path: flags[7],
        keep_fragment: flags[8],
        strip_text_fragment: flags[9],
    })
}

/// The name the own-host rule compares: lower case, no trailing dot, no leading `www.`.
fn bare(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name.strip_prefix("www.").map(str::to_owned).unwrap_or(name)
}

/// Whether `host` reaches Blink at `base` (one of [`BASE_HOSTS`]): an oracle written per base, independent of
/// how `TargetRules` decides.
fn is_blinks_own(base: &str, host: &Host<&str>) -> bool {
    let loopback = match host {
        Host::Domain(name) => bare(name) == "localhost" || bare(name).ends_with(".localhost"),
        Host::Ipv4(ip) => ip.is_loopback() || ip.is_unspecified(),
        Host::Ipv6(ip) => {
            let ip = IpAddr::V6(*ip).to_canonical();
            ip.is_loopback() || ip.is_unspecified()
        }
    };
    match base {
        "blink.example:3000" => matches!(host, Host::Domain(name) if bare(name) == "blink.example"),
        "192.0.2.10" => {
            let own = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
            match host {
                Host::Ipv4(ip) => IpAddr::V4(*ip) == own,
                Host::Ipv6(ip) => IpAddr::V6(*ip).to_canonical() == own,
                Host::Domain(_) => false,
            }
        }
        _ => loopback,
    }
}

/// What every accepted target must be: an absolute http(s) URL with a host, stable when parsed again, whose
/// dedupe key denotes the same URL, and not Blink's own host.
fn assert_valid_target(base: &str, input: &str, url: &Url, key: &str) -> Result<(), TestCaseError> {
    prop_assert!(matches!(url.scheme(), "http" | "https"), "{input:?} gave {url}");
    let host = url.host_str().unwrap_or_default();
    prop_assert!(!host.is_empty(), "{input:?} gave {url} without a host");
    let reparsed = Url::parse(url.as_str());
    prop_assert_eq!(reparsed.as_ref().ok(), Some(url), "{:?} gave {} which parses differently", input, url);
    let host_again = Host::parse(host).map(|parsed| parsed.to_string());
    prop_assert_eq!(host_again.as_deref().ok(), Some(host), "{:?}: the host does not parse to itself", input);
    let from_key = Url::parse(key);
    prop_assert_eq!(
        from_key.as_ref().ok().and_then(Url::host_str),
        Some(host),
        "{:?}: key {} names another host than {}",
        input,
        key,
        url
    );
    prop_assert!(!url.host().is_some_and(|h| is_blinks_own(base, &h)), "{input:?} gave {url}, Blink's own ({base})");
    Ok(())
}

fn target_rules(base: &str, options: NormalizeOptions) -> TargetRules {
    TargetRules::new(2048, vec!["http".into(), "https".into()], options, base)
}

proptest! {
    #[test]
    fn every_accepted_target_is_an_http_url_of_another_host(
        input in text(),
        base in select(BASE_HOSTS),
        options in normalize_options(),
    ) {
        let rules = target_rules(base, options);
        if let Ok(target) = rules.check(&input) {
            assert_valid_target(base, &input, &target.url, &target.key)?;
        }
        if let Ok(target) = rules.check_rewrite(&input) {
            assert_valid_target(base, &input, &target.url, &target.key)?;
        }
    }

    #[test]
    fn normalization_never_panics_and_its_key_parses_to_its_url(input in text(), options in normalize_options()) {
        if let Ok(normalized) = normalize(&input, &options)
            && matches!(normalized.url.scheme(), "http" | "https")
        {
            let from_key = Url::parse(&normalized.key);
            prop_assert_eq!(from_key.as_ref().ok(), Some(&normalized.url), "{:?}", input);
        }
    }

    #[test]
    fn hashids_round_trip_and_decode_only_their_own_encodings(
        salt in "\\PC{0,40}",
        min_length in 0usize..=64,
        id in any::<u64>(),
        garbage in text(),
    ) {
        let hashids = Hashids::new(&salt, min_length);
        let hash = hashids.encode(id);
        prop_assert!(hash.len() >= min_length, "{hash} is shorter than {min_length}");
        prop_assert_eq!(hashids.decode(&hash), Some(id));
        if let Some(decoded) = hashids.decode(&garbage) {
            prop_assert_eq!(hashids.encode(decoded), garbage);
        }
    }

    #[test]
    fn slug_parsing_classifies_every_string_consistently(
        salt in "\\PC{0,20}",
        min_length in 0usize..=20,
        id in 0i64..=i64::MAX,
        input in prop_oneof![text(), "[a-zA-Z0-9_-]{1,12}"],
    ) {
        let rules = SlugRules::new(&salt, min_length, 4, 25, &RESERVED);
        let slug = rules.encode(id);
        prop_assert_eq!(rules.parse(&slug), SlugRef::Id(id), "{}", slug);
        match rules.parse(&input) {
            SlugRef::Id(found) => prop_assert_eq!(rules.encode(found), input),
            SlugRef::Brand(brand) => {
                prop_assert_eq!(brand, input.as_str());
                prop_assert!(brand.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
            SlugRef::Invalid => {}
        }
    }

    #[test]
    fn accepted_brand_slugs_are_slug_characters_and_never_hashids_or_routes(
        salt in "\\PC{0,20}",
        (brand_min, brand_max) in (1usize..=10).prop_flat_map(|min| (Just(min), min..=64)),
        input in prop_oneof![text(), "[a-zA-Z0-9_-]{1,30}", select(&["api", "API", "health", "static", "Robots.txt"][..]).prop_map(str::to_owned)],
    ) {
        let rules = SlugRules::new(&salt, 4, brand_min, brand_max, &RESERVED);
        if rules.validate_brand(&input).is_ok() {
            prop_assert!((brand_min..=brand_max).contains(&input.len()), "{input:?}");
            prop_assert!(input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{input:?}");
            prop_assert!(!RESERVED.iter().any(|word| word.eq_ignore_ascii_case(&input)), "{input:?}");
            prop_assert_eq!(rules.parse(&input), SlugRef::Brand(&input));
        }
    }

    #[test]
    fn forwarded_for_resolves_to_the_peer_or_one_of_its_entries(
        header in prop_oneof![
            text(),
            prop::collection::vec(prop_oneof![select(&["203.0.113.7", "203.0.113.7:1234", "[2001:db8::7]:80",
                "2001:db8::7", "[2001:db8::7]", "unknown", "10.0.0.1", "127.0.0.1", " 198.51.100.2 ", ""][..])
                .prop_map(str::to_owned), text()], 0..6).prop_map(|entries| entries.join(",")),
        ],
        setting in select(&["true", "false", "0", "1", "3", "loopback", "loopback,uniquelocal", "0.0.0.0/0,::/0"][..]),
        peer in prop_oneof![Just(IpAddr::V4(Ipv4Addr::LOCALHOST)), Just(IpAddr::V6(Ipv6Addr::LOCALHOST)), any::<IpAddr>()],
    ) {
        let trust: TrustProxy = setting.parse().expect("a valid setting");
        let entries: Vec<&str> = header.split(',').collect();
        let client = trust.client_ip(peer, entries.iter().copied());
        let candidates: Vec<IpAddr> = entries.iter().filter_map(|entry| parse_forwarded_entry(entry)).collect();
        prop_assert!(client == peer.to_canonical() || candidates.contains(&client), "{header:?} gave {client}");
    }

    #[test]
    fn a_forwarded_for_entry_names_its_address_with_or_without_a_port(ip in any::<IpAddr>(), port in any::<u16>()) {
        let expected = Some(ip.to_canonical());
        let with_port = match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        prop_assert_eq!(parse_forwarded_entry(&ip.to_string()), expected);
        prop_assert_eq!(parse_forwarded_entry(&format!(" {with_port} ")), expected);
        if let IpAddr::V6(v6) = ip {
            prop_assert_eq!(parse_forwarded_entry(&format!("[{v6}]")), expected);
        }
    }

    #[test]
    fn forwarded_for_headers_of_any_bytes_resolve_without_panicking(bytes in any::<Vec<u8>>()) {
        use blink::http::middleware::ClientIp;
        let Ok(value) = poem::http::HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        let request = poem::Request::builder().header("x-forwarded-for", value).finish();
        let _ = ClientIp::resolve(&request, &"true".parse().expect("a valid setting"));
    }
}
