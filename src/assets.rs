//! The static files compiled into the binary: the kiosk serves them under `/assets/` and
//! the archive ships them, so both link the same bytes under the same version.

use std::sync::LazyLock;

/// Name, content type, bytes.
pub const FILES: &[(&str, &str, &[u8])] = &[
    (
        "certstamp.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/certstamp.css"),
    ),
    // Linked from every page, so browsers never ask for a missing /favicon.ico.
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
    // The staff console's layout and its live updates (the archive ships them unused).
    (
        "staff.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/staff.css"),
    ),
    (
        "staff.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/staff.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        crate::verify::BROWSER_JS.as_bytes(),
    ),
    // The live screens' own scripts (the CSP allows only scripts from here).
    (
        "form.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/form.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/live.js"),
    ),
    (
        "kiosk.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/kiosk.js"),
    ),
    (
        "wall.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/wall.js"),
    ),
];

/// A short hash of every asset, for cache-busting links (`?v=`).
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, _, bytes) in FILES {
            ctx.update(name.as_bytes());
            ctx.update(bytes);
        }
        crate::token::hex(&ctx.finish().as_ref()[..6])
    });
    &VERSION
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_short_hex() {
        let v = super::version();
        assert_eq!(v.len(), 12);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
