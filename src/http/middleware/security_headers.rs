//! Security headers on every response, close to what Node Blink's `helmet` sent.

use poem::middleware::SetHeader;

use crate::config::Config;

/// The header-setting middleware for `config` (HSTS only when Blink is served over HTTPS).
pub fn layer(config: &Config) -> SetHeader {
    let headers = SetHeader::new()
        .overriding("x-content-type-options", "nosniff")
        .overriding("x-frame-options", "SAMEORIGIN")
        .overriding("referrer-policy", "strict-origin-when-cross-origin")
        .overriding("cross-origin-opener-policy", "same-origin")
        .overriding(
            "content-security-policy",
            "default-src 'self'; base-uri 'self'; frame-ancestors 'self'; object-src 'none'; form-action 'self'",
        );
    if config.server.base_url.starts_with("https://") {
        headers.overriding("strict-transport-security", "max-age=15552000; includeSubDomains")
    } else {
        headers
    }
}
