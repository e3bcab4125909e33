//! Extractors shared by the routes: the visitor behind a `{token}` path segment, and
//! the staff check.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine as _;

use crate::app::App;
use crate::error::Error;
use crate::store::visitors::Visitor;
use crate::token::{Token, ct_eq};

/// The visitor a `/c/{token}/...` link belongs to. An unknown or mangled token is a
/// plain 404 like any other: it reveals nothing about why.
pub struct Holder {
    /// The link's token.
    pub token: Token,
    /// Their stored row.
    pub visitor: Visitor,
}

impl FromRequestParts<App> for Holder {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        let raw = Path::<String>::from_request_parts(parts, app)
            .await
            .map(|p| p.0)
            .unwrap_or_default();
        let (token, visitor) = app.visitor(&raw).await?;
        Ok(Holder { token, visitor })
    }
}

/// Proof that the request carries staff credentials (HTTP Basic, user `staff`).
pub struct Staff;

impl FromRequestParts<App> for Staff {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        if is_staff(&parts.headers, &app.staff_password) {
            Ok(Staff)
        } else {
            Err(Error::Unauthorized)
        }
    }
}

/// Check HTTP Basic credentials (`staff:<password>`) in constant time.
fn is_staff(headers: &HeaderMap, password: &str) -> bool {
    let decoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok());
    decoded.is_some_and(|d| ct_eq(&d, format!("staff:{password}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_auth_needs_user_staff_and_the_password() {
        let mut h = HeaderMap::new();
        assert!(!is_staff(&h, "pw"));
        let b = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&b("staff:pw")).unwrap());
        assert!(is_staff(&h, "pw"));
        assert!(!is_staff(&h, "other"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&b("admin:pw")).unwrap());
        assert!(!is_staff(&h, "pw"));
    }
}
