//! `/crl/{slug}.crl` (DER) and `/crl/{slug}.pem`: each conference's revocation list,
//! public, signed by its intermediate, valid for an hour and signed again on every void.
//! In cert-manager mode the kiosk holds no intermediate key: 404 saying so.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::app::App;
use crate::error::Error;

/// Routes for the CRLs.
pub fn routes() -> Router<App> {
    Router::new().route("/crl/{file}", get(crl))
}

async fn crl(State(app): State<App>, Path(file): Path<String>) -> Result<Response, Error> {
    let (slug, pem) = match (file.strip_suffix(".crl"), file.strip_suffix(".pem")) {
        (Some(slug), _) => (slug, false),
        (_, Some(slug)) => (slug, true),
        _ => return Err(Error::NotFound),
    };
    crate::config::check_slug(slug).map_err(|_| Error::NotFound)?;
    let crl = app.crl(slug).await?;
    let mut res = if pem {
        super::bytes_response("application/x-pem-file", crl.pem)
    } else {
        super::bytes_response("application/pkix-crl", crl.der)
    };
    // Caches may keep it for a minute; it is signed again on every void.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    Ok(res)
}
