//! What one visitor costs the kiosk on one core, step by step (criterion):
//! `cargo bench --bench issue`. Compare "leaf: key + sign + PEM" with
//! `openssl speed -seconds 2 ecdsap256` on the same machine (the load harness prints both).

use std::hint::black_box;
use std::time::Duration;

use certstamp::bundle::{BundleInput, pkcs12, zip};
use certstamp::config::Conference;
use certstamp::issuer::LeafRequest;
use certstamp::issuer::local::LocalIssuer;
use certstamp::pki::CertSummary;
use certstamp::token::{Token, seal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn conference() -> Conference {
    let today = time::OffsetDateTime::now_utc().date();
    Conference {
        name: "Bench".into(),
        slug: "bench".into(),
        city: "Loopback".into(),
        start: today,
        end: today,
        leaf_validity_days: 365,
        retention_days: 30,
    }
}

fn issuance(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalIssuer::open(dir.path(), &conference()).unwrap();
    let req = LeafRequest {
        visitor_id: "v".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
    };
    let mut g = c.benchmark_group("issuance");
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf: key + sign + PEM", |b| {
        b.iter(|| ca.sign(black_box(&req)).unwrap())
    });
    let issued = ca.sign(&req).unwrap();
    let token = Token::generate();
    let public = token.public_key();
    g.bench_function("seal key to token", |b| {
        b.iter(|| seal(black_box(&public), issued.leaf.key_pem.as_bytes()).unwrap())
    });
    let sealed = seal(&public, issued.leaf.key_pem.as_bytes()).unwrap();
    g.bench_function("open sealed key", |b| {
        b.iter(|| token.open(black_box(&sealed)).unwrap())
    });
    g.bench_function("parse certificate summary", |b| {
        b.iter(|| CertSummary::parse(black_box(&issued.leaf.cert_pem)).unwrap())
    });
    g.finish();

    let password = token.p12_password();
    let input = BundleInput {
        name: "Ada Lovelace",
        cert_pem: &issued.leaf.cert_pem,
        intermediates_pem: &issued.intermediates_pem,
        root_pem: &issued.root_pem,
        key_pem: &issued.leaf.key_pem,
        p12_password: &password,
        guestbook_url: "https://localhost:8443/sign",
    };
    let mut g = c.benchmark_group("bundle");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("PKCS#12", |b| b.iter(|| pkcs12(black_box(&input)).unwrap()));
    g.bench_function("zip (with PKCS#12)", |b| b.iter(|| zip(black_box(&input)).unwrap()));
    g.finish();
}

fn qr(c: &mut Criterion) {
    let url = format!("https://booth.example.org/c/{}", Token::generate().as_str());
    let mut g = c.benchmark_group("qr");
    g.throughput(Throughput::Elements(1));
    g.bench_function("inline SVG", |b| {
        b.iter(|| certstamp::qr::svg(black_box(&url), "qr").unwrap())
    });
    g.bench_function("PNG, 8 px per module", |b| {
        b.iter(|| certstamp::qr::png(black_box(&url), 8).unwrap())
    });
    g.bench_function("seal SVG", |b| {
        b.iter(|| certstamp_printer::seal::svg(black_box(&[7u8; 32])))
    });
    g.finish();
}

fn ticket(c: &mut Criterion) {
    let ticket = certstamp_printer::sample_ticket("https://booth.example.org/c/3f2a91c0d4e5b6a7");
    let mut g = c.benchmark_group("ticket: render + ESC/POS");
    g.throughput(Throughput::Elements(1));
    for name in certstamp_printer::Profile::names() {
        let profile = certstamp_printer::Profile::by_name(name).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| certstamp_printer::render(black_box(&ticket), &profile).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, issuance, qr, ticket);
criterion_main!(benches);
