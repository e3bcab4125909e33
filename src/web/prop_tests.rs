//! Property tests over the routes that take text from anybody: the form (`POST /issue`),
//! signing the guestbook (through the kiosk and over mutual TLS), and the token and page
//! routes. Arbitrary Unicode, control and invisible characters, very long values, invalid
//! UTF-8, duplicate fields, wrong content types and oversized bodies go through the real
//! router in process. Every answer must be a success or a 4xx with a message (a panic or
//! any 5xx fails), and nothing invisible or direction-changing may be stored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use axum_server::tls::TlsInfo;
use clap::Parser;
use percent_encoding::{NON_ALPHANUMERIC, percent_encode, utf8_percent_encode};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt;

use crate::app::App;
use crate::config::Cli;
use crate::issuer::local::LocalIssuer;
use crate::pki::pem_certs;
use crate::validate::is_plain;

/// Characters that have caused trouble somewhere: invisible, direction, breaks, controls,
/// combining marks, tags, fillers.
const NASTY: &[char] = &[
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{200E}',
    '\u{200F}',
    '\u{061C}',
    '\u{202A}',
    '\u{202E}',
    '\u{2066}',
    '\u{2069}',
    '\u{2028}',
    '\u{2029}',
    '\u{0301}',
    '\u{0308}',
    '\u{20DD}',
    '\u{034F}',
    '\u{1B}',
    '\u{7}',
    '\n',
    '\r',
    '\t',
    '\0',
    '\u{85}',
    '\u{9B}',
    '\u{E0041}',
    '\u{E007F}',
    '\u{3164}',
    '\u{115F}',
    '\u{FFFD}',
    '\u{10FFFF}',
    '<',
    '>',
    '&',
    '"',
    '%',
    '+',
    '=',
];

fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        4 => select(NASTY),
        4 => proptest::char::range('a', 'z'),
        1 => Just(' '),
    ]
}

/// Text that mostly passes the rules once its invisible characters are removed: letters of
/// several scripts, spaces, invisible characters and a few accents.
fn likely_text() -> impl Strategy<Value = Vec<u8>> {
    let c = prop_oneof![
        8 => proptest::char::range('a', 'z'),
        3 => select(&['é', 'ß', '李', 'Σ', 'ж', 'ع', 'ש', 'क', '😀', ' '][..]),
        3 => select(&['\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2060}', '\u{E0041}', '\u{3164}'][..]),
        1 => select(&['\u{0301}', '\u{0308}', '\u{0323}'][..]),
    ];
    vec(c, 1..60).prop_map(|c| format!("x{}", String::from_iter(c)).into_bytes())
}

/// A field value as bytes: text (short, or thousands of characters) or arbitrary bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => vec(nasty_char(), 0..70).prop_map(|c| String::from_iter(c).into_bytes()),
        1 => (vec(nasty_char(), 1..4), 2_000..9_000usize)
            .prop_map(|(c, n)| c.iter().cycle().take(n).collect::<String>().into_bytes()),
        2 => vec(any::<u8>(), 0..40),
    ]
}

/// A request body.
#[derive(Debug, Clone)]
enum Payload {
    /// Form fields, percent-encoded; `"{csrf}"` and `"{email}"` values are filled in.
    Form(Vec<(String, Vec<u8>)>),
    /// Raw bytes, form-shaped or not.
    Raw(Vec<u8>),
}

fn payload(fields: &'static [&'static str]) -> impl Strategy<Value = Payload> {
    let field = select(fields).prop_map(str::to_string);
    let filled = prop_oneof![
        6 => value(),
        2 => Just(b"{csrf}".to_vec()),
        2 => Just(b"{email}".to_vec()),
        1 => Just(b"yes".to_vec()),
    ];
    prop_oneof![
        8 => vec((field, filled), 0..7).prop_map(Payload::Form),
        // The likely-good shape, so that many cases get as far as storing something.
        6 => likely_text().prop_map(|v| Payload::Form(vec![
            ("csrf".into(), b"{csrf}".to_vec()),
            ("name".into(), v.clone()),
            ("message".into(), v),
            ("email".into(), b"{email}".to_vec()),
            ("consent".into(), b"yes".to_vec()),
        ])),
        1 => vec(any::<u8>(), 0..400).prop_map(Payload::Raw),
        1 => (17_000..40_000usize).prop_map(|n| Payload::Raw(b"name=".iter().copied().chain(std::iter::repeat_n(b'a', n)).collect())),
    ]
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        8 => Just("application/x-www-form-urlencoded"),
        1 => Just("application/json"),
        1 => Just("text/plain"),
        1 => Just("multipart/form-data; boundary=x"),
        1 => Just(""),
        1 => Just("application/x-www-form-urlencoded; charset=iso-8859-1"),
    ]
}

/// A running app with a browser session, and issued visitors to sign with.
struct Fixture {
    app: App,
    router: Router,
    mtls: Router,
    cookie: String,
    csrf: String,
    visitors: Vec<(String, Vec<Vec<u8>>)>,
    emails: AtomicUsize,
    _dir: tempfile::TempDir,
}

async fn text_of(res: Response<Body>) -> (StatusCode, String, String) {
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(res.into_body(), 1 << 22).await.unwrap_or_default();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli::try_parse_from([
            "certstamp",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--issue-rate-per-minute",
            "1000000",
        ])
        .unwrap();
        let settings = cli.serve.settings().unwrap();
        let issuer = Arc::new(LocalIssuer::open(dir.path(), &settings.conference).unwrap());
        let app = App::with_parts(settings, crate::store::Store::in_memory().unwrap(), issuer).unwrap();
        let router = super::router(app.clone());
        let res = router
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cookie = res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let (_, _, html) = text_of(res).await;
        let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        let csrf = html[at..].split('"').next().unwrap().to_string();
        let mut f = Fixture {
            mtls: super::mtls::router(app.clone()),
            app,
            router,
            cookie,
            csrf,
            visitors: Vec::new(),
            emails: AtomicUsize::new(0),
            _dir: dir,
        };
        // Signing is limited to 30 a minute per certificate: enough signers for every case.
        for i in 0..8 {
            let form = format!(
                "csrf={}&name=Signer+{i}&email=signer{i}%40example.org&consent=yes",
                f.csrf
            );
            let (status, location) = f
                .post("/issue", "application/x-www-form-urlencoded", form.into_bytes())
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER);
            let token = location.trim_start_matches("/c/").to_string();
            let (_, v) = f.app.visitor(&token).await.unwrap();
            let chain = [v.cert_pem.unwrap(), v.intermediates_pem.unwrap()]
                .iter()
                .flat_map(|p| pem_certs(p).unwrap())
                .collect();
            f.visitors.push((token, chain));
        }
        f
    }

    fn request(&self, method: &str, uri: &str, ct: &str, body: Vec<u8>) -> Request<Body> {
        let mut req = Request::builder().method(method).uri(uri);
        if !ct.is_empty() {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let mut req = req.header(header::COOKIE, &self.cookie).body(Body::from(body)).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        req
    }

    /// POST and return the status and `Location`, checking the answer on the way.
    async fn post(&self, uri: &str, ct: &str, body: Vec<u8>) -> (StatusCode, String) {
        let res = self
            .router
            .clone()
            .oneshot(self.request("POST", uri, ct, body))
            .await
            .unwrap();
        let location = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (answer_is_fine(res).await, location)
    }

    fn encode(&self, p: &Payload) -> Vec<u8> {
        match p {
            Payload::Raw(b) => b.clone(),
            Payload::Form(fields) => fields
                .iter()
                .map(|(k, v)| {
                    let v = match v.as_slice() {
                        b"{csrf}" => self.csrf.clone().into_bytes(),
                        b"{email}" => {
                            format!("prop{}@example.org", self.emails.fetch_add(1, Ordering::Relaxed)).into_bytes()
                        }
                        v => v.to_vec(),
                    };
                    format!("{k}={}", percent_encode(&v, NON_ALPHANUMERIC))
                })
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
        }
    }
}

/// A success or redirect, or a 4xx that says something; never a 5xx.
async fn answer_is_fine(res: Response<Body>) -> StatusCode {
    let (status, ct, body) = text_of(res).await;

    assert!(
        status.is_success() || status.is_redirection() || status.is_client_error(),
        "{status}: {body}"
    );
    if status.is_client_error() {
        assert!(
            ct.starts_with("text/html") || ct.starts_with("text/plain") || ct.starts_with("application/json"),
            "{status} with content type {ct:?}"
        );
        assert!(body.trim().len() > 10, "{status} without a message: {body:?}");
    }
    status
}

/// Nothing [`crate::validate::visible`] would escape: no control, format, invisible or
/// direction characters, no line separators, no leading accent or more than
/// [`crate::validate::MAX_MARKS`] on one letter.
fn assert_stored_plain(what: &str, s: &str) {
    assert!(is_plain(s), "{what} stored with hidden or direction characters: {s:?}");
    assert!(!s.trim().is_empty() && s.trim() == s, "{what} stored untrimmed: {s:?}");
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_form_answers_everything_and_stores_only_plain_names() {
    let rt = runtime();
    let f = rt.block_on(Fixture::new());
    let strategy = (payload(&["name", "email", "consent", "csrf", "x"]), content_type());
    runner(160)
        .run(&strategy, |(p, ct)| {
            rt.block_on(async {
                let (status, location) = f.post("/issue", ct, f.encode(&p)).await;
                if status == StatusCode::SEE_OTHER {
                    let (_, v) = f.app.visitor(location.trim_start_matches("/c/")).await.unwrap();
                    assert_stored_plain("name", &v.name);
                    assert!(v.name.chars().count() <= 64);
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn signing_through_the_kiosk_and_over_mutual_tls_stores_only_plain_messages() {
    let rt = runtime();
    let f = rt.block_on(Fixture::new());
    let turn = AtomicUsize::new(0);
    let strategy = (payload(&["message", "csrf", "x"]), content_type(), any::<bool>());
    runner(160)
        .run(&strategy, |(p, ct, over_tls)| {
            rt.block_on(async {
                let (token, chain) = &f.visitors[turn.fetch_add(1, Ordering::Relaxed) / 25 % f.visitors.len()];
                let body = f.encode(&p);
                let status = if over_tls {
                    let mut req = f.request("POST", "/sign", ct, body);
                    let mut info = TlsInfo::default();
                    info.peer_certificates = chain.clone();
                    req.extensions_mut().insert(Arc::new(info));
                    answer_is_fine(f.mtls.clone().oneshot(req).await.unwrap()).await
                } else {
                    f.post(&format!("/c/{token}/guestbook"), ct, body).await.0
                };
                if status.is_success() || status.is_redirection() {
                    let (entries, _) = f.app.store.entries_page(100, 0).await.unwrap();
                    for e in entries {
                        assert_stored_plain("message", &e.message);
                    }
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn token_and_page_routes_answer_anything() {
    let rt = runtime();
    let f = rt.block_on(Fixture::new());
    let segment = prop_oneof![
        4 => vec(nasty_char(), 0..60).prop_map(String::from_iter),
        1 => Just(f.visitors[0].0.clone()),
        1 => "[A-Za-z0-9_-]{43}",
    ];
    let tail = select(&["", "/bundle.zip", "/qr.svg", "/qr.png", "/print", "/guestbook"][..]);
    runner(160)
        .run(&(segment, tail, any::<bool>()), |(seg, tail, page_query)| {
            rt.block_on(async {
                let uri = if page_query {
                    format!("/guestbook.txt?page={}", utf8_percent_encode(&seg, NON_ALPHANUMERIC))
                } else {
                    format!("/c/{}{tail}", utf8_percent_encode(&seg, NON_ALPHANUMERIC))
                };
                let res = f
                    .router
                    .clone()
                    .oneshot(f.request("GET", &uri, "", Vec::new()))
                    .await
                    .unwrap();
                answer_is_fine(res).await;
            });
            Ok(())
        })
        .unwrap();
}
