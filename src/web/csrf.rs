//! Forms can't be driven from elsewhere. Two independent checks on every state-changing
//! request of the web listener:
//!
//! - a same-origin layer refuses what a browser marks as cross-site (`Sec-Fetch-Site`) or
//!   sends from a foreign `Origin`, before any handler runs;
//! - each form carries a token that is an HMAC (the kiosk's `FormKey`) of the browser's
//!   session id, kept in an HttpOnly, SameSite=Strict cookie (`__Host-` prefixed over
//!   https, so no subdomain can plant it). A cookie alone, or a token of another session,
//!   does not pass.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::error::Error;

/// The session cookie's name: `__Host-` prefixed when served over https.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-certstamp_sid"
    } else {
        "certstamp_sid"
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The browser's session id, if it sent a well-formed one.
pub fn session(app: &App, headers: &HeaderMap) -> Option<String> {
    cookie(headers, cookie_name(app.secure_cookies()))
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The form token for this browser, and a `Set-Cookie` when it has no session yet.
pub fn csrf_for(app: &App, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(sid) = session(app, headers) {
        return (app.form_key.token(&sid), None);
    }
    let sid: String = crate::token::random_hex::<16>();
    let secure = app.secure_cookies();
    let attrs = if secure { "; Secure" } else { "" };
    let set = HeaderValue::from_str(&format!(
        "{}={sid}; Path=/; HttpOnly; SameSite=Strict{attrs}",
        cookie_name(secure)
    ))
    .ok();
    (app.form_key.token(&sid), set)
}

/// Check a submitted form token against this browser's session.
pub fn check_csrf(app: &App, headers: &HeaderMap, field: &str) -> Result<(), Error> {
    match session(app, headers) {
        Some(sid) if app.form_key.verify(&sid, field) => Ok(()),
        _ => Err(Error::Csrf),
    }
}

/// Whether a request comes from a page of another site, as far as the browser says.
/// `Sec-Fetch-Site`, when sent, decides: our pages' `no-referrer` policy makes browsers
/// send `Origin: null` even for our own forms. Requests without either header (curl,
/// old browsers) rely on the form token alone.
pub fn cross_site(headers: &HeaderMap, public_url: &str) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site == "cross-site" || site == "same-site";
    }
    let Some(origin) = get(header::ORIGIN.as_str()) else {
        return false;
    };
    let host = get(header::HOST.as_str());
    let ours = origin_of(public_url);
    let same_host = host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
    !(same_host || ours.is_some_and(|o| o == origin))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let after = url.find("://")? + 3;
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    Some(&url[..end])
}

/// The layer: unsafe methods from another site are refused before any handler runs.
pub async fn same_origin(State(app): State<App>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && cross_site(req.headers(), &app.settings.public_url) {
        return Error::Forbidden("Requests from other sites cannot use this kiosk's forms.".into()).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_rules() {
        let url = "https://booth.example.org";
        assert!(!cross_site(&headers(&[]), url));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")]), url));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "none")]), url));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")]), url));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")]), url));
        assert!(!cross_site(&headers(&[("origin", "https://booth.example.org")]), url));
        assert!(cross_site(&headers(&[("origin", "https://evil.example")]), url));
        assert!(cross_site(&headers(&[("origin", "null")]), url));
        // What Chromium sends for a form on a `no-referrer` page of the same origin.
        assert!(!cross_site(
            &headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
            url
        ));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "cross-site"), ("origin", "null")]),
            url
        ));
        // Reached on its LAN address rather than the public name.
        let lan = [("origin", "http://10.0.0.5:8080"), ("host", "10.0.0.5:8080")];
        assert!(!cross_site(&headers(&lan), url));
        let spoof = [("origin", "http://evil.example"), ("host", "10.0.0.5:8080")];
        assert!(cross_site(&headers(&spoof), url));
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(origin_of("https://a.example:8443/x/y"), Some("https://a.example:8443"));
        assert_eq!(origin_of("http://127.0.0.1:8080"), Some("http://127.0.0.1:8080"));
        assert_eq!(origin_of("nonsense"), None);
    }
}
