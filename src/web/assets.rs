//! Static files (stylesheet, scripts) compiled into the binary and served from
//! `/assets/{file}` with a year-long, immutable cache life. Pages link them with
//! `?v=<version>`, a hash of every asset, so an upgrade is never served stale.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::Error;

/// Name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[(
    "certstamp.css",
    "text/css; charset=utf-8",
    include_bytes!("../../assets/certstamp.css"),
)];

/// Routes for the assets; both listeners serve them (the guestbook's page uses the stylesheet).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(asset))
}

/// A short hash of every asset, for cache-busting links.
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, _, bytes) in ASSETS {
            ctx.update(name.as_bytes());
            ctx.update(bytes);
        }
        ctx.finish().as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
    });
    &VERSION
}

async fn asset(Path(file): Path<String>) -> Result<Response, Error> {
    let (_, content_type, bytes) = ASSETS.iter().find(|(n, _, _)| *n == file).ok_or(Error::NotFound)?;
    let mut res = ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(res)
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
