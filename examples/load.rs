//! Load harness: the real kiosk (release build) on loopback, driven by concurrent
//! clients. One command:
//!
//! ```sh
//! cargo run --release --example load                     # 1k stored certificates, 1/16/64/256 clients, 5 s each
//! cargo run --release --example load -- --stored 1000,10000,100000 --clients 1,16,64,256 --seconds 5
//! cargo run --release --example load -- --nginx           # also GET /c/{token} against nginx serving the same bytes (wrk)
//! cargo run --release --example load -- --stored 1000,100000 --rounds 2  # each run twice, sizes in ABBA order
//! cargo run --release --example load -- --wrk --only issue  # also POST /issue driven by wrk (as issue 10 measured it)
//! cargo run --release --example load -- --postgres --kiosks 2 --only issue   # two kiosks on a private PostgreSQL
//! cargo run --release --example load -- --database postgres://u:pw@host/empty_db --kiosks 2
//! ```
//!
//! With `--postgres` (a private server from Debian's `postgresql`, on loopback, as the tests
//! start it) or `--database URL` (an empty database), every kiosk shares that database and
//! one CA, and clients are spread over `--kiosks N` kiosk processes round robin.
//!
//! For each store size it seeds a fresh data dir through the store API (certificates
//! signed by the kiosk's own CA), starts `target/release/certstamp serve` on it and times
//! exec to the first 200 on `/readyz`. With every size up, it runs each scenario for each
//! client count on each size in turn, and prints throughput, p50/p99 latency, errors,
//! each kiosk's RSS (from /proc) and the mean response body (KB: pages with seals differ in
//! size from store to store, as seals are drawn from keys), then how p50 moved from the
//! first size to the last.
//! With `--rounds N` each run is repeated N times, the sizes in order and then backwards,
//! and a row counts all of its size's runs.
//! It prints `openssl speed -seconds 2 ecdsap256` first, so the numbers read as ratios.
//! Numbers go to stdout only: nothing here asserts a timing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certstamp::config::Conference;
use certstamp::issuer::LeafRequest;
use certstamp::issuer::local::LocalIssuer;
use certstamp::store::Store;
use certstamp::store::visitors::NewVisitor;
use certstamp::token::Token;
use futures::StreamExt;

struct Args {
    stored: Vec<usize>,
    clients: Vec<usize>,
    seconds: u64,
    nginx: bool,
    wrk: bool,
    only: Option<String>,
    database: Option<String>,
    postgres: bool,
    kiosks: usize,
    rounds: usize,
}

#[path = "../src/store/postgres/testserver.rs"]
mod testserver;

fn parse_args() -> Args {
    let mut a = Args {
        stored: vec![1000],
        clients: vec![1, 16, 64, 256],
        seconds: 5,
        nginx: false,
        wrk: false,
        only: None,
        database: None,
        postgres: false,
        kiosks: 1,
        rounds: 1,
    };
    let list = |s: String| -> Vec<usize> { s.split(',').map(|n| n.trim().parse().expect("a number")).collect() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--stored" => a.stored = list(it.next().expect("--stored N,N")),
            "--clients" => a.clients = list(it.next().expect("--clients N,N")),
            "--seconds" => a.seconds = it.next().expect("--seconds N").parse().expect("a number"),
            "--only" => a.only = it.next(),
            "--nginx" => a.nginx = true,
            "--wrk" => a.wrk = true,
            "--database" => a.database = it.next(),
            "--postgres" => a.postgres = true,
            "--kiosks" => a.kiosks = it.next().expect("--kiosks N").parse().expect("a number"),
            "--rounds" => a.rounds = it.next().expect("--rounds N").parse().expect("a number"),
            other => {
                eprintln!(
                    "unknown argument {other}\nusage: load [--stored N,N] [--clients N,N] [--seconds S] [--only SCENARIO] [--nginx] [--wrk] [--postgres | --database URL] [--kiosks N] [--rounds N]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

fn conference() -> Conference {
    // The kiosk's defaults: slug "demo", today to today + 2 days.
    let today = time::OffsetDateTime::now_utc().date();
    Conference {
        name: "certstamp demo conference".into(),
        slug: "demo".into(),
        city: "Internet".into(),
        start: today,
        end: today + time::Duration::days(2),
        leaf_validity_days: 365,
        retention_days: 30,
    }
}

/// Fill a data dir with `n` issued visitors; returns a few of their tokens.
async fn seed(dir: &Path, database: &str, n: usize) -> Vec<Token> {
    let started = Instant::now();
    let conf = conference();
    let ca = Arc::new(LocalIssuer::open(dir, &conf).expect("CA"));
    let store = Store::connect(database).await.expect("store");
    // Distinct rows, each sealed to its own token; leaves are signed in a small pool
    // and reused, so seeding 100k takes seconds, not minutes.
    let leaves: Vec<_> = (0..64)
        .map(|i| {
            ca.sign(&LeafRequest {
                visitor_id: format!("seed{i}"),
                name: format!("Seed Visitor {i}"),
                email: format!("seed{i}@example.org"),
            })
            .expect("sign")
        })
        .collect();
    let leaves = Arc::new(leaves);
    let keep = 64.min(n);
    let tokens: Vec<Token> = futures::stream::iter(0..n)
        .map(|i| {
            let (store, leaves) = (store.clone(), leaves.clone());
            async move {
                let token = Token::generate();
                let id = format!("seed{i:07}");
                let v = NewVisitor {
                    id: id.clone(),
                    conference: "demo".into(),
                    name: format!("Seed Visitor {i}"),
                    email: format!("seed{i}@example.org"),
                    email_lc: format!("seed{i}@example.org"),
                    issuer_kind: "local".into(),
                    backend_ref: None,
                    retention_until: certstamp::store::now_ts() + 86_400 * 30,
                    show_on_wall: i.is_multiple_of(2),
                };
                store.insert_visitor(v, &token).await.expect("insert");
                store
                    .complete_issuance(&id, leaves[i % leaves.len()].clone())
                    .await
                    .expect("complete");
                (i, token)
            }
        })
        .buffer_unordered(256)
        .filter_map(|(i, t)| async move { (i < keep).then_some(t) })
        .collect()
        .await;
    println!(
        "seeded {n} issued visitors in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    tokens
}

/// The kiosk under test, killed on drop.
struct Kiosk {
    child: Child,
    base: String,
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kiosk_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        // With the example in the same build, features resolve as for `cargo run --example`,
        // so this reuses the artifacts just built instead of building the kiosk again.
        .args(["build", "--release", "--bin", "certstamp", "--example", "load"])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build --release failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("release/certstamp")
}

/// Start the kiosk, and time exec to the first 200 on /readyz.
async fn start(bin: &Path, dir: &Path, database: &str, form_key: &Path) -> (Kiosk, Duration) {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--guestbook-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--issue-rate-per-minute", "100000000"])
        .args(["--database", database])
        .arg("--form-key-file")
        .arg(form_key)
        // Every client comes from 127.0.0.1: lift the per-address connection bound too.
        .args(["--max-connections", "1000", "--max-connections-per-client", "1000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the kiosk");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("certstamp listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("kiosk did not start");
    let kiosk = Kiosk { child, base };
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", kiosk.base)).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (kiosk, started.elapsed())
}

/// Resident and peak resident set size of a process, in MiB, from /proc.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Issue,
    Page,
    Zip,
    Guestbook,
    Wall,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Issue,
        Scenario::Page,
        Scenario::Zip,
        Scenario::Guestbook,
        Scenario::Wall,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Issue => "POST /issue (CSRF fetch + durable 303)",
            Scenario::Page => "GET /c/{token}",
            Scenario::Zip => "GET /c/{token}/bundle.zip",
            Scenario::Guestbook => "GET /guestbook",
            Scenario::Wall => "GET /wall",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::Issue => "issue",
            Scenario::Page => "page",
            Scenario::Zip => "zip",
            Scenario::Guestbook => "guestbook",
            Scenario::Wall => "wall",
        }
    }
}

static EMAILS: AtomicU64 = AtomicU64::new(0);

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_string())
}

/// One request of a scenario: `Some(body bytes)` if the answer was the expected one.
async fn once(s: Scenario, c: &reqwest::Client, base: &str, token: &Token) -> reqwest::Result<Option<usize>> {
    let expect = |ok: bool, len: usize| ok.then_some(len);
    Ok(match s {
        Scenario::Issue => {
            let form = c.get(format!("{base}/")).send().await?.text().await?;
            let Some(csrf) = csrf_of(&form) else { return Ok(None) };
            let n = EMAILS.fetch_add(1, Ordering::Relaxed);
            let res = c
                .post(format!("{base}/issue"))
                .form(&[
                    ("name", format!("Load Visitor {n}")),
                    ("email", format!("load{n}-{}@example.org", std::process::id())),
                    ("consent", "yes".into()),
                    ("csrf", csrf),
                ])
                .send()
                .await?;
            expect(res.status() == 303, 0)
        }
        Scenario::Page | Scenario::Zip | Scenario::Guestbook | Scenario::Wall => {
            let url = match s {
                Scenario::Page => format!("{base}/c/{}", token.as_str()),
                Scenario::Zip => format!("{base}/c/{}/bundle.zip", token.as_str()),
                Scenario::Wall => format!("{base}/wall"),
                _ => format!("{base}/guestbook"),
            };
            let r = c.get(url).send().await?;
            let ok = r.status() == 200;
            let len = r.bytes().await?.len();
            expect(ok, len)
        }
    })
}

#[derive(Default)]
struct Outcome {
    done: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
    /// Body bytes of the successful requests (pages differ: seals are drawn from keys).
    bytes: u64,
}

impl Outcome {
    /// Count another client's or run's results of the same scenario in.
    fn add(&mut self, o: Outcome) {
        self.done += o.done;
        self.errors += o.errors;
        self.latencies_us.extend(o.latencies_us);
        self.elapsed += o.elapsed;
        self.bytes += o.bytes;
    }
}

async fn drive(s: Scenario, clients: usize, secs: u64, bases: &[String], tokens: &[Token]) -> Outcome {
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let base = bases[i % bases.len()].clone();
        let token = tokens[i % tokens.len()].clone();
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut o = Outcome::default();
            while Instant::now() < until {
                let t = Instant::now();
                match once(s, &c, &base, &token).await {
                    Ok(Some(len)) => {
                        o.latencies_us
                            .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        o.done += 1;
                        o.bytes += len as u64;
                    }
                    _ => o.errors += 1,
                }
            }
            o
        }));
    }
    let mut out = Outcome::default();
    for t in tasks {
        out.add(t.await.expect("client task"));
    }
    // One run's time, not the sum of the clients' (their runs overlap).
    out.elapsed = started.elapsed();
    out
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn openssl_sign_rate() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "ecdsap256"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  69000.0  22000.0"
    let line = text.lines().find(|l| l.contains("ecdsa (nistp256)"))?;
    line.split_whitespace().rev().nth(1)?.parse().ok()
}

/// One store size: its data dir, its kiosk(s) and a few of its visitors' tokens.
struct Section {
    n: usize,
    kiosk: Kiosk,
    _rest: Vec<Kiosk>,
    bases: Vec<String>,
    tokens: Vec<Token>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Seed a store of `n` visitors and start its kiosk(s) on it.
async fn section(args: &Args, bin: &Path, server: Option<&testserver::PgServer>, n: usize) -> Section {
    let data = tempfile::tempdir().expect("temp dir");
    let database = match (server, &args.database) {
        (Some(pg), _) => pg.fresh_database(),
        (None, Some(url)) => url.clone(),
        (None, None) => data.path().join("certstamp.db").display().to_string(),
    };
    let which = if database.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("\n## {n} stored certificates, {which}, {} kiosk(s)", args.kiosks);
    let tokens = seed(data.path(), &database, n).await;
    // One CA and one form key for every kiosk, as deploy/booth-ha shares them.
    let form_key = data.path().join("form.key");
    std::fs::write(&form_key, rand::random::<[u8; 32]>()).expect("form key");
    let mut dirs = Vec::new();
    for _ in 1..args.kiosks {
        let dir = tempfile::tempdir().expect("temp dir");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(data.path().join("ca"))
            .arg(dir.path())
            .status();
        assert!(copied.is_ok_and(|s| s.success()), "copy the CA");
        dirs.push(dir);
    }
    let (kiosk, ready) = start(bin, data.path(), &database, &form_key).await;
    let mut rest = Vec::new();
    for dir in &dirs {
        rest.push(start(bin, dir.path(), &database, &form_key).await.0);
    }
    let bases = std::iter::once(&kiosk).chain(&rest).map(|k| k.base.clone()).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle, _) = rss_mib(kiosk.child.id());
    println!(
        "exec to 200 on /readyz: {} ms; idle RSS {idle:.1} MiB",
        ready.as_millis()
    );
    dirs.insert(0, data);
    Section {
        n,
        kiosk,
        _rest: rest,
        bases,
        tokens,
        _dirs: dirs,
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = parse_args();
    if args.database.is_some() && args.stored.len() > 1 {
        eprintln!("--database URL seeds that one database: give one --stored size with it");
        std::process::exit(2);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "# certstamp load harness: {cores} cores, loopback, {} s per run",
        args.seconds
    );
    match openssl_sign_rate() {
        Some(r) => println!("openssl speed -seconds 2 ecdsap256: {r:.0} signs/s on one core"),
        None => println!("openssl speed: not available (install openssl for the ratio)"),
    }
    let bin = kiosk_binary();
    let server = args.postgres.then(testserver::PgServer::start);
    // Every store size is up at once, and each run of one size is followed at once by
    // the same run on the next: a shared machine's speed drifts over minutes, so sizes
    // compared seconds apart compare the store, not the machine.
    let mut sections = Vec::new();
    for &n in &args.stored {
        sections.push(section(&args, &bin, server.as_ref(), n).await);
    }
    println!(
        "\n{:<40} {:>7} {:>8} {:>10} {:>9} {:>9} {:>7} {:>9} {:>7}",
        "scenario", "clients", "stored", "req/s", "p50 ms", "p99 ms", "errors", "peak MiB", "KB"
    );
    let mut flat = Vec::new();
    for s in Scenario::ALL {
        if args.only.as_deref().is_some_and(|o| o != s.key()) {
            continue;
        }
        for &clients in &args.clients {
            // Round 1 runs the sizes in order, round 2 backwards, and so on (ABBA):
            // each size's runs sit on both sides of the others', so a drift cancels.
            let mut runs: Vec<Outcome> = sections.iter().map(|_| Outcome::default()).collect();
            for round in 0..args.rounds.max(1) {
                let mut order: Vec<usize> = (0..sections.len()).collect();
                if round % 2 == 1 {
                    order.reverse();
                }
                for i in order {
                    let sec = &sections[i];
                    let o = drive(s, clients, args.seconds, &sec.bases, &sec.tokens).await;
                    runs[i].add(o);
                }
            }
            let mut p50s = Vec::new();
            for (sec, mut o) in sections.iter().zip(runs) {
                o.latencies_us.sort_unstable();
                let (_, peak) = rss_mib(sec.kiosk.child.id());
                let p50 = pct(&o.latencies_us, 0.50);
                p50s.push(p50);
                println!(
                    "{:<40} {:>7} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>9.1} {:>7.1}",
                    s.name(),
                    clients,
                    sec.n,
                    o.done as f64 / o.elapsed.as_secs_f64(),
                    p50,
                    pct(&o.latencies_us, 0.99),
                    o.errors,
                    peak,
                    o.bytes as f64 / o.done.max(1) as f64 / 1000.0
                );
            }
            if let (Some(first), Some(last)) = (p50s.first(), p50s.last())
                && p50s.len() > 1
            {
                flat.push((s.name(), clients, (last / first - 1.0) * 100.0));
            }
        }
    }
    if let (Some(first), Some(last)) = (sections.first(), sections.last())
        && !flat.is_empty()
    {
        println!("\np50 with {} stored against {} stored:", last.n, first.n);
        for (name, clients, change) in flat {
            println!("  {name:<40} {clients:>4} clients {change:>+6.1} %");
        }
    }
    for sec in &sections {
        if !args.nginx && !args.wrk {
            break;
        }
        println!("\n## {} stored certificates: wrk", sec.n);
        if args.nginx {
            let url = format!("{}/c/{}", sec.kiosk.base, sec.tokens[0].as_str());
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/compare-nginx.sh");
            let _ = Command::new("bash").arg(script).arg(&url).status();
        }
        if args.wrk && args.only.as_deref().is_none_or(|o| o == "issue") {
            // wrk needs at least one connection per thread (-t2).
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/issue-wrk.sh");
            for &clients in args.clients.iter().filter(|&&c| c >= 2) {
                let _ = Command::new("bash")
                    .arg(&script)
                    .arg(&sec.kiosk.base)
                    .arg(clients.to_string())
                    .status();
            }
        }
    }
    println!();
    for sec in &sections {
        let (rss, peak) = rss_mib(sec.kiosk.child.id());
        println!(
            "kiosk with {} stored, after every run above: RSS {rss:.1} MiB, peak {peak:.1} MiB (VmHWM)",
            sec.n
        );
    }
}
