//! A busy booth: 200 visitors, each from their own loopback address with their own cookies,
//! for 30 seconds of mixed traffic (issue, view, download, guestbook and wall reads). No
//! answer may be a 5xx, no request may fail in transport, and the log has no error.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::support::*;

const CLIENTS: u8 = 200;
const RUN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<(&'static str, u16), u32>,
    failures: Vec<String>,
}

impl Tally {
    fn note(
        &mut self,
        what: &'static str,
        res: Result<reqwest::Response, reqwest::Error>,
    ) -> Option<reqwest::Response> {
        match res {
            Ok(r) => {
                *self.by_status.entry((what, r.status().as_u16())).or_default() += 1;
                Some(r)
            }
            Err(e) => {
                self.failures.push(format!("{what}: {e:?}"));
                None
            }
        }
    }
}

async fn visitor(n: u8, base: String, until: Instant, tally: Arc<Mutex<Tally>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(n));
    let mut pages: Vec<String> = Vec::new();
    let mut issued = 0;
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..3000))).await;
    while Instant::now() < until {
        let roll = rng.random_range(0..100);
        if pages.is_empty() || roll < 8 {
            let form = c.get(format!("{base}/")).send().await;
            let Some(form) = tally.lock().unwrap().note("form", form) else {
                continue;
            };
            let csrf = csrf_of(&form.text().await.unwrap_or_default());
            let email = format!("load{n}.{issued}@example.org");
            issued += 1;
            let res = c
                .post(format!("{base}/issue"))
                .form(&[
                    ("name", format!("Load Visitor {n}").as_str()),
                    ("email", &email),
                    ("consent", "yes"),
                    ("csrf", &csrf),
                ])
                .send()
                .await;
            if let Some(r) = tally.lock().unwrap().note("issue", res)
                && let Some(l) = r.headers().get("location")
            {
                pages.push(l.to_str().unwrap().to_string());
            }
        } else {
            let page = &pages[rng.random_range(0..pages.len())];
            let (what, path) = match roll {
                8..45 => ("view", page.clone()),
                45..55 => ("download", format!("{page}/bundle.zip")),
                55..62 => ("qr", format!("{page}/qr.png")),
                62..75 => ("guestbook", "/guestbook".to_string()),
                75..85 => ("guestbook.txt", "/guestbook.txt".to_string()),
                85..92 => ("guestbook.json", "/guestbook.json?page=2".to_string()),
                _ => ("wall", "/wall".to_string()),
            };
            let res = c.get(format!("{base}{path}")).send().await;
            let res = tally.lock().unwrap().note(what, res);
            if let Some(r) = res
                && let Err(e) = r.bytes().await
            {
                tally.lock().unwrap().failures.push(format!("{what} body: {e:?}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_visitors_for_thirty_seconds_get_no_server_error() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let until = Instant::now() + RUN;
    let started = Instant::now();
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|n| tokio::spawn(visitor(n, k.url.clone(), until, tally.clone())))
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let took = started.elapsed();
    let t = tally.lock().unwrap();
    let total: u32 = t.by_status.values().sum();
    let summary: Vec<String> = t.by_status.iter().map(|((w, s), n)| format!("{w} {s}: {n}")).collect();
    eprintln!(
        "{total} requests from {CLIENTS} clients in {took:?}:\n{}",
        summary.join("\n")
    );
    assert!(
        t.failures.is_empty(),
        "{} failed requests: {:?}",
        t.failures.len(),
        &t.failures[..t.failures.len().min(10)]
    );
    let server_errors: u32 = t.by_status.iter().filter(|((_, s), _)| *s >= 500).map(|(_, n)| n).sum();
    assert_eq!(server_errors, 0, "{}", summary.join("\n"));
    let issued = t.by_status.get(&("issue", 303)).copied().unwrap_or_default();
    assert!(
        issued >= u32::from(CLIENTS),
        "only {issued} issued:\n{}",
        summary.join("\n")
    );
    for (what, status) in t.by_status.keys() {
        assert!(
            matches!((*what, *status), (_, 200) | ("issue", 303)),
            "unexpected {what} {status}:\n{}",
            summary.join("\n")
        );
    }
    // The one expected warning: the test kiosk's QR codes point at loopback.
    let logs = k.logs();
    let unexpected = logs
        .lines()
        .filter(|l| (l.contains("ERROR") || l.contains("WARN")) && !l.contains("--public-url"))
        .collect::<Vec<_>>();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}
