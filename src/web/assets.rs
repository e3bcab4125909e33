//! Static files (stylesheet, scripts; listed in `crate::assets`) served from
//! `/assets/{file}` with a year-long, immutable cache life. Pages link them with
//! `?v=<version>`, a hash of every asset, so an upgrade is never served stale.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use crate::assets::version;
use crate::error::Error;

/// Routes for the assets; both listeners serve them (the guestbook's page uses the stylesheet).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Result<Response, Error> {
    let (_, content_type, bytes) = crate::assets::FILES
        .iter()
        .find(|(n, _, _)| *n == file)
        .ok_or(Error::NotFound)?;
    let mut res = ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(res)
}
