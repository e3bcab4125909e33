//! What one visitor costs the kiosk, on one core: signing a leaf, sealing its key,
//! and building the zip with its PKCS#12. Plain `Instant` timing (no harness), so
//! `cargo bench --bench issue` prints mean microseconds per step.

use std::time::Instant;

use certstamp::bundle::{BundleInput, zip};
use certstamp::config::Conference;
use certstamp::issuer::LeafRequest;
use certstamp::issuer::local::LocalIssuer;
use certstamp::token::{Token, seal};

fn time<T>(label: &str, n: u32, mut f: impl FnMut() -> T) {
    let _ = f();
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{label:<28} {us:>10.1} µs/op  ({n} runs)");
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let conf = Conference {
        name: "Bench".into(),
        slug: "bench".into(),
        city: "Loopback".into(),
        start: today,
        end: today,
        leaf_validity_days: 365,
        retention_days: 30,
    };
    let ca = LocalIssuer::open(dir.path(), &conf).unwrap();
    let req = LeafRequest {
        visitor_id: "v".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
    };
    time("sign leaf (P-256)", 200, || ca.sign(&req).unwrap());
    let issued = ca.sign(&req).unwrap();
    let token = Token::generate();
    time("seal key to token", 500, || {
        seal(&token.public_key(), issued.leaf.key_pem.as_bytes())
    });
    let sealed = seal(&token.public_key(), issued.leaf.key_pem.as_bytes());
    time("open sealed key", 500, || token.open(&sealed).unwrap());
    let input = BundleInput {
        name: "Ada Lovelace",
        cert_pem: &issued.leaf.cert_pem,
        intermediates_pem: &issued.intermediates_pem,
        root_pem: &issued.root_pem,
        key_pem: &issued.leaf.key_pem,
        p12_password: "abcd-efghj-kmnpq",
        guestbook_url: "https://localhost:8443/sign",
    };
    time("zip with PKCS#12", 50, || zip(&input).unwrap());
}
