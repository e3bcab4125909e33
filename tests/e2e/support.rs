//! Test fixtures: start and kill the real kiosk binary, a cookie-keeping HTTP client
//! that submits forms like a browser, and wrappers for the command-line peers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running kiosk process.
pub struct Kiosk {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    /// The mTLS guestbook's port (kept across restarts).
    pub guestbook_port: u16,
    /// `https://127.0.0.1:GUESTBOOK_PORT`
    pub guestbook_url: String,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Extra arguments it was started with.
    pub args: Vec<String>,
    /// Extra environment variables it was started with (e.g. `KUBECONFIG`).
    pub envs: Vec<(String, String)>,
    /// Process limits it was started with.
    pub limits: ChildLimits,
    logs: Arc<Mutex<String>>,
}

/// What the kiosk's process gets besides arguments: an open-file limit, a umask.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildLimits {
    /// Soft and hard RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// The umask it starts under.
    pub umask: Option<u32>,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Kiosk {
    /// Start on fresh ports.
    pub fn start(data_dir: &Path, args: &[&str]) -> Kiosk {
        Self::start_on(data_dir, free_port(), free_port(), args)
    }

    /// Start on fresh ports with extra environment variables (an empty value unsets one).
    pub fn start_with_env(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Kiosk {
        let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_full(data_dir, free_port(), free_port(), args, envs, ChildLimits::default())
    }

    /// Start on fresh ports under process limits.
    pub fn start_limited(data_dir: &Path, args: &[&str], limits: ChildLimits) -> Kiosk {
        Self::start_full(data_dir, free_port(), free_port(), args, Vec::new(), limits)
    }

    /// Start on `port` (web) and `guestbook_port` (mTLS) and wait until both listen.
    pub fn start_on(data_dir: &Path, port: u16, guestbook_port: u16, args: &[&str]) -> Kiosk {
        Self::start_full(data_dir, port, guestbook_port, args, Vec::new(), ChildLimits::default())
    }

    fn start_full(
        data_dir: &Path,
        port: u16,
        guestbook_port: u16,
        args: &[&str],
        envs: Vec<(String, String)>,
        limits: ChildLimits,
    ) -> Kiosk {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certstamp"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--guestbook-listen")
            .arg(format!("127.0.0.1:{guestbook_port}"))
            .args(args)
            .env("RUST_LOG", "info")
            .env("CERTSTAMP_STAFF_PASSWORD_HASH", staff_password_hash())
            .env("CERTSTAMP_ISSUE_RATE_PER_MINUTE", "1000")
            .envs(envs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        // An empty value in `envs` means "not set at all".
        for (k, _) in envs.iter().filter(|(_, v)| v.is_empty()) {
            cmd.env_remove(k);
        }
        if limits.open_files.is_some() || limits.umask.is_some() {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit and umask are async-signal-safe, as pre_exec requires.
            unsafe {
                cmd.pre_exec(move || {
                    if let Some(n) = limits.open_files {
                        let lim = libc::rlimit {
                            rlim_cur: n as libc::rlim_t,
                            rlim_max: n as libc::rlim_t,
                        };
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    if let Some(mask) = limits.umask {
                        libc::umask(mask as libc::mode_t);
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn certstamp");
        let logs = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("certstamp exited early with {status}:\n{}", logs.lock().unwrap());
            }
            // The guestbook line comes first, so the web line means both listen.
            if logs.lock().unwrap().contains("certstamp listening on") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "certstamp did not start:\n{}",
                logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Kiosk {
            child,
            url,
            port,
            guestbook_port,
            guestbook_url: format!("https://127.0.0.1:{guestbook_port}"),
            data_dir: data_dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs,
            limits,
            logs,
        }
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// How it exited, once it has.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL: no graceful shutdown, like a power cut.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd or Kubernetes stop it; returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "certstamp ignored SIGTERM:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill and start again on the same ports and data dir.
    pub fn restart(self) -> Kiosk {
        let args: Vec<String> = self.args.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.restart_with(&args)
    }

    /// Kill and start again on the same ports and data dir with other arguments.
    pub fn restart_with(mut self, args: &[&str]) -> Kiosk {
        self.kill();
        Kiosk::start_full(
            &self.data_dir.clone(),
            self.port,
            self.guestbook_port,
            args,
            self.envs.clone(),
            self.limits,
        )
    }

    /// `http://127.0.0.1:PORT/path`
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Pull `value="..."` of the hidden `csrf` input out of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("page has a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// GET / for a CSRF token, then POST /issue; returns the response (not followed).
pub async fn submit(c: &reqwest::Client, k: &Kiosk, name: &str, email: &str) -> reqwest::Response {
    submit_at(c, &k.url, name, email).await.unwrap()
}

/// [`submit`] to the kiosk at `base`, with connection errors returned (a kiosk may be
/// killed mid-request).
pub async fn submit_at(c: &reqwest::Client, base: &str, name: &str, email: &str) -> reqwest::Result<reqwest::Response> {
    let html = c.get(format!("{base}/")).send().await?.text().await?;
    let csrf = csrf_of(&html);
    c.post(format!("{base}/issue"))
        .form(&[
            ("name", name),
            ("email", email),
            ("consent", "yes"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
}

/// Submit and follow the 303; returns the certificate page path `/c/{token}`.
pub async fn issue(c: &reqwest::Client, k: &Kiosk, name: &str, email: &str) -> String {
    let res = submit(c, k, name, email).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/c/"), "{location}");
    location
}

/// Run a command and return its output; panics with a hint when the tool is missing.
pub fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}. Install the test tools: bash .ci/install-test-deps"))
}

/// Wait for a spawned child to exit and collect its output; kill it and fail naming
/// `what` when it takes longer than `limit`.
pub fn wait_output(mut child: std::process::Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Decode every QR code in an image file with the real `zbarimg`.
pub fn zbar(image: &Path) -> Vec<String> {
    let out = run("zbarimg", &["-q", "--raw", image.to_str().unwrap()], Path::new("."));
    assert!(
        out.status.success(),
        "zbarimg found no QR code in {} (exit {:?})",
        image.display(),
        out.status.code()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Unzip bytes into `dir`.
pub fn unzip(bytes: &[u8], dir: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        std::fs::write(dir.join(&name), buf).unwrap();
        names.push(name);
    }
    names
}

/// Download and unpack a visitor's zip; returns the PKCS#12 password from the page.
pub async fn fetch_bundle(c: &reqwest::Client, k: &Kiosk, page: &str, dir: &Path) -> String {
    let html = c.get(k.at(page)).send().await.unwrap().text().await.unwrap();
    let password = between(&html, "PKCS#12 password: <code>", "</code>").to_string();
    let res = c.get(k.at(&format!("{page}/bundle.zip"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"certificate.zip\""
    );
    let names = unzip(&res.bytes().await.unwrap(), dir);
    assert_eq!(
        names,
        [
            "cert.pem",
            "chain.pem",
            "ca.pem",
            "key.pem",
            "certificate.p12",
            "README.txt"
        ]
    );
    password
}

/// A rustls (ring) HTTPS client trusting `ca_pem` only, presenting `identity`
/// (chain PEM, PKCS#8 key PEM) when asked for a client certificate.
pub fn tls_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => {
            let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            builder
                .with_client_auth_cert(certs, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Text between `start` and the next `end` in `s`.
pub fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).unwrap_or_else(|| panic!("{start:?} not in page")) + start.len();
    &s[i..i + s[i..].find(end).unwrap()]
}

/// The staff passphrase every fixture kiosk accepts (its hash is in the environment).
pub const STAFF_PASSPHRASE: &str = "correct staff passphrase";

/// argon2id hash of [`STAFF_PASSPHRASE`], made once per test run.
pub fn staff_password_hash() -> &'static str {
    static HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        certstamp::passphrase::PassphraseHash::new(STAFF_PASSPHRASE)
            .unwrap()
            .as_str()
            .to_string()
    });
    &HASH
}

/// Log in at /staff/login with `passphrase`; returns the answer (303 on success).
pub async fn staff_login_with(c: &reqwest::Client, k: &Kiosk, passphrase: &str) -> reqwest::Response {
    let html = c.get(k.at("/staff/login")).send().await.unwrap().text().await.unwrap();
    c.post(k.at("/staff/login"))
        .form(&[("password", passphrase), ("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap()
}

/// The staff console's HTML, logging in first when this client has no session.
pub async fn staff_page(c: &reqwest::Client, k: &Kiosk) -> String {
    let mut res = c.get(k.at("/staff")).send().await.unwrap();
    if res.status() == 303 {
        assert_eq!(res.headers()["location"], "/staff/login");
        let login = staff_login_with(c, k, STAFF_PASSPHRASE).await;
        assert_eq!(login.status(), 303, "{}", login.text().await.unwrap());
        res = c.get(k.at("/staff")).send().await.unwrap();
    }
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// A staff form post to `path`, with the console's CSRF token (not followed).
pub async fn staff_post(c: &reqwest::Client, k: &Kiosk, path: &str) -> reqwest::Response {
    let csrf = csrf_of(&staff_page(c, k).await);
    c.post(k.at(path))
        .form(&[("csrf", csrf.as_str()), ("back", "/staff")])
        .send()
        .await
        .unwrap()
}

/// Sign the guestbook through the kiosk from a certificate page (its full URL), with the
/// page's CSRF token, as the page's form does.
pub async fn sign_at_kiosk(c: &reqwest::Client, page_url: &str, message: &str) -> reqwest::Response {
    let html = c.get(page_url).send().await.unwrap().text().await.unwrap();
    c.post(format!("{page_url}/guestbook"))
        .form(&[("csrf", csrf_of(&html).as_str()), ("message", message)])
        .send()
        .await
        .unwrap()
}

/// The id of the visitor whose row shows `email` on the console.
pub fn visitor_id(console: &str, email: &str) -> String {
    let at = console
        .find(email)
        .unwrap_or_else(|| panic!("{email} not on the console"));
    between(&console[at..], "/staff/visitors/", "/").to_string()
}

/// Make `booth` the booth screen: staff (`staff`, logged in) create an enrolment link in
/// the console, and the booth opens it without logging in.
pub async fn enrol_booth_screen(staff: &reqwest::Client, booth: &reqwest::Client, k: &Kiosk) {
    let res = staff_post(staff, k, "/staff/kiosk/enrol").await;
    assert_eq!(res.status(), 303);
    let console = staff_page(staff, k).await;
    let link = format!("/kiosk/enrol/{}", between(&console, "/kiosk/enrol/", "\""));
    let res = booth.get(k.at(&link)).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/");
}

/// Read the first inline QR code (`<svg class="qr…">` of `qr::svg`) of a page with the
/// real `zbarimg`, after drawing its path at 8 pixels a module.
pub fn inline_qr(html: &str) -> String {
    let svg = &html[html
        .find("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr")
        .expect("page has a QR code")..];
    let size: u32 = between(svg, "viewBox=\"0 0 ", " ").parse().unwrap();
    let d = between(svg, "<path fill=\"#000\" d=\"", "\"");
    const SCALE: u32 = 8;
    let mut bm = certstamp_printer::Bitmap::new(size * SCALE, size * SCALE);
    for run in d.split('z').filter(|r| !r.is_empty()) {
        // M{x} {y}h{w}v1h-{w}
        let (xy, rest) = run[1..].split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
        let w: u32 = rest.split('v').next().unwrap().parse().unwrap();
        for dy in 0..SCALE {
            bm.fill_span(x * SCALE, y * SCALE + dy, w * SCALE);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("qr.png");
    std::fs::write(&png, bm.to_png()).unwrap();
    let mut found = zbar(&png);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// A server-sent event stream being read.
pub struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    /// Open `path` as an event stream (after checking its content type).
    pub async fn open(c: &reqwest::Client, k: &Kiosk, path: &str) -> Sse {
        // A stream outlives the client's 30 s limit for ordinary requests.
        let res = c
            .get(k.at(path))
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "text/event-stream", "{path}");
        Sse {
            res,
            buf: String::new(),
        }
    }

    /// Wait (at most `limit`) for the next event named `name`; returns its data and how
    /// long it took. Keep-alive comments and other events are skipped.
    pub async fn next(&mut self, name: &str, limit: Duration) -> (String, Duration) {
        let started = Instant::now();
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let field = |f: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(f))
                        .map(|v| v.trim().to_string())
                };
                if field("event:").as_deref() == Some(name) {
                    return (field("data:").unwrap_or_default(), started.elapsed());
                }
            }
            let left = limit.checked_sub(started.elapsed()).unwrap_or_default();
            let chunk = tokio::time::timeout(left, self.res.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {name:?} event within {limit:?}; got {:?}", self.buf))
                .unwrap()
                .expect("the stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The `job` events from `first` (already read) until the ticket is printed.
    pub async fn job_states_until_printed(&mut self, first: String, limit: Duration) -> Vec<String> {
        let mut states = vec![first];
        while !states.last().unwrap().contains("printed") {
            states.push(self.next("job", limit).await.0);
        }
        states
    }
}
