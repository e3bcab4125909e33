//! Reading form posts safely (size, UTF-8, shape), the kiosk-mode cookie, and the client
//! address for rate limits. Form tokens are in `csrf`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use super::csrf::cookie;
use crate::app::App;
use crate::error::Error;
use crate::token::ct_eq;

/// A form-encoded body, read with the router's body limit (413) within the body timeout
/// (408), checked for UTF-8 after percent-decoding (400), then deserialized (400).
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for FormBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, app: &App) -> Result<Self, Error> {
        let within = app.settings.connections.body_timeout;
        let bytes = tokio::time::timeout(within, Bytes::from_request(req, app))
            .await
            .map_err(|_| Error::TooSlow)?
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge
                } else {
                    Error::Invalid("The form data could not be read.".into())
                }
            })?;
        parse_form(&bytes).map(FormBody)
    }
}

/// Parse `application/x-www-form-urlencoded` strictly ([`crate::validate::form`]).
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    crate::validate::form(bytes).map_err(|m| Error::Invalid(m.into()))
}

/// A form that carries nothing but its CSRF field (print, staff actions).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    /// The form token.
    pub csrf: String,
}

const KIOSK_COOKIE: &str = "certstamp_kiosk";
const KIOSK_PURPOSE: &str = "kiosk screen v1";

/// Whether this browser is the booth's own screen: it carries a kiosk cookie this kiosk
/// signed (a random id and its HMAC), so nobody can switch a browser into or out of
/// kiosk mode by writing a cookie by hand.
pub fn is_kiosk(app: &App, headers: &HeaderMap) -> bool {
    cookie(headers, KIOSK_COOKIE)
        .and_then(|v| {
            let (id, tag) = v.split_once('.')?;
            (id.len() == 32 && ct_eq(app.form_key.tag(KIOSK_PURPOSE, id).as_bytes(), tag.as_bytes())).then_some(())
        })
        .is_some()
}

/// The cookie that switches kiosk mode on (for a year, with a fresh signed id) or off.
pub fn kiosk_cookie(app: &App, on: bool) -> HeaderValue {
    let attrs = if app.secure_cookies() { "; Secure" } else { "" };
    let (value, age) = if on {
        let id: String = crate::token::random_hex::<16>();
        (format!("{id}.{}", app.form_key.tag(KIOSK_PURPOSE, &id)), 31_536_000)
    } else {
        (String::new(), 0)
    };
    HeaderValue::from_str(&format!(
        "{KIOSK_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{attrs}"
    ))
    .expect("ASCII cookie")
}

/// The client address for rate limits: the TCP peer, or, behind a trusted proxy, the last
/// (proxy-appended, so not client-forgeable) address in X-Forwarded-For.
pub fn client_ip(headers: &HeaderMap, peer: std::net::IpAddr, trust_forwarded_for: bool) -> std::net::IpAddr {
    if !trust_forwarded_for {
        return peer;
    }
    // Only the very last hop counts: anything before it came from the client.
    let last_hop = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok());
    last_hop
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct F {
        name: String,
    }

    #[test]
    fn strict_utf8_forms() {
        let f: F = parse_form(b"name=Zo%C3%AB+A").unwrap();
        assert_eq!(f.name, "Zoë A");
        assert!(parse_form::<F>(b"name=%FF").is_err());
        assert!(parse_form::<F>(b"name=\xff").is_err());
    }

    #[test]
    fn forwarded_for_only_when_trusted_and_last_hop_wins() {
        let peer: std::net::IpAddr = "10.42.0.7".parse().unwrap();
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.4"));
        assert_eq!(client_ip(&h, peer, false), peer);
        assert_eq!(client_ip(&h, peer, true).to_string(), "198.51.100.4");
        assert_eq!(client_ip(&HeaderMap::new(), peer, true), peer);
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, peer, true), peer);
    }
}
