//! The container image, built and run here. No base image can be pulled on these machines, so
//! deploy/Containerfile's final stage is rebuilt `FROM scratch` with buildah: its own
//! instructions, verbatim, over the local release binary, the libraries `ldd` names and the
//! CA certificates and users distroless/cc carries. The container then runs with the mounts
//! and environment of deploy/k3s-pi's Deployment, in cert-manager mode against the API
//! stand-in, as the image's non-root user with only its data volume writable.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use certstamp::issuer::local::{self, CaPaths};
use certstamp::pki;
use serde_json::Value;

use crate::kube_standin::{StandIn, eventually};
use crate::support::{client, free_port, submit_at};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release build next to the test's debug binary; refuses a missing or stale one.
fn release_binary() -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_certstamp"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let bin = target.join("release/certstamp");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: the image test packs the release build. Run `cargo build --release --locked` (bash .ci/test does)",
                bin.display()
            )
        });
    fn newest(p: &Path) -> SystemTime {
        let m = std::fs::metadata(p).unwrap();
        if m.is_dir() {
            std::fs::read_dir(p)
                .unwrap()
                .map(|e| newest(&e.unwrap().path()))
                .max()
                .unwrap_or(SystemTime::UNIX_EPOCH)
        } else {
            m.modified().unwrap()
        }
    }
    let sources = [
        "src",
        "templates",
        "printer/src",
        "printer/profiles",
        "Cargo.toml",
        "Cargo.lock",
    ]
    .iter()
    .map(|p| newest(&repo().join(p)))
    .max()
    .unwrap();
    assert!(
        built >= sources,
        "{} is older than the sources: run `cargo build --release --locked` again",
        bin.display()
    );
    bin
}

/// buildah with its own storage in a temp dir, so tests neither share nor leave images.
struct Buildah {
    root: tempfile::TempDir,
}

impl Buildah {
    fn new() -> Buildah {
        let found = Command::new("buildah").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "buildah is missing: install it with `apt-get install buildah` (bash .ci/install-test-deps)"
        );
        Buildah {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.root.path().join("storage"))
            .arg("--runroot")
            .arg(self.root.path().join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    }

    fn output<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "buildah {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `buildah run` in the container, chroot isolation (no runtime needed), no capabilities.
    fn run_args(container: &str, env: &[(String, String)], mounts: &[String], cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = ["run", "--isolation", "chroot", "--cap-drop", "ALL"]
            .map(String::from)
            .to_vec();
        for (k, v) in env {
            a.extend(["-e".into(), format!("{k}={v}")]);
        }
        for m in mounts {
            a.extend(["-v".into(), m.clone()]);
        }
        a.push(container.into());
        a.push("--".into());
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.output(&["umount", "--all"]);
        let _ = self.output(&["rm", "--all"]);
    }
}

/// The last stage of a Containerfile: its instructions, continuation lines joined.
fn final_stage(text: &str) -> Vec<String> {
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(t);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let from = instructions.iter().rposition(|i| i.starts_with("FROM ")).unwrap();
    instructions.split_off(from)
}

fn copy_file(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// What the runtime base (distroless/cc, nonroot) gives the binary: the libraries it links,
/// CA certificates, and the users. No shell, no /tmp: under a read-only root nothing else is
/// writable anyway.
fn base_layer(dir: &Path, bin: &Path) {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    assert!(out.status.success());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let lib = match line.split_once("=>") {
            Some((_, right)) => right.trim().split(' ').next().unwrap().to_string(),
            None => line.trim().split(' ').next().unwrap().to_string(),
        };
        if lib.starts_with('/') {
            copy_file(Path::new(&lib), &dir.join(lib.trim_start_matches('/')));
        }
    }
    copy_file(
        Path::new("/etc/ssl/certs/ca-certificates.crt"),
        &dir.join("etc/ssl/certs/ca-certificates.crt"),
    );
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n").unwrap();
}

/// deploy/Containerfile's final stage over a scratch base; the builder's outputs come from
/// the local release build. Returns the Containerfile text.
fn assemble(ctx: &Path, bin: &Path) -> String {
    let stage = final_stage(&std::fs::read_to_string(repo().join("deploy/Containerfile")).unwrap());
    base_layer(&ctx.join("base"), bin);
    let mut out = vec!["FROM scratch".to_string(), "COPY base/ /".to_string()];
    for instr in &stage[1..] {
        let Some(args) = instr.strip_prefix("COPY ") else {
            out.push(instr.clone());
            continue;
        };
        let mut words: Vec<&str> = args.split_whitespace().collect();
        assert!(
            words.remove(0) == "--from=build",
            "unexpected COPY in the runtime stage: {instr}"
        );
        let dst = words.pop().unwrap();
        let src = words.pop().unwrap();
        let local = ctx.join("stage").join(src.trim_start_matches('/'));
        match src {
            "/out/certstamp" => copy_file(bin, &local),
            "/out/data" => std::fs::create_dir_all(&local).unwrap(),
            other => panic!("the image test does not know the builder's {other}: teach tests/e2e/image.rs"),
        }
        let flags = words.join(" ");
        out.push(format!(
            "COPY {flags} {} {dst}",
            local.strip_prefix(ctx).unwrap().display()
        ));
    }
    out.join("\n") + "\n"
}

/// Every path under `dir`, files with their size and mtime, to prove nothing changed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            // Directories by name only: buildah (as root) touches its own mount points.
            let seen = if m.is_dir() {
                stack.push(p.clone());
                (0, 0)
            } else {
                (m.size(), m.mtime())
            };
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), seen);
        }
    }
    out
}

/// The certstamp process under `ancestor` (buildah's chroot helper sits in between).
fn serve_pid(ancestor: u32) -> u32 {
    let parent_of = |pid: u32| -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .map(|v| v.trim().parse().unwrap())
    };
    for e in std::fs::read_dir("/proc").unwrap() {
        let Ok(pid) = e.unwrap().file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmdline.starts_with(b"/usr/local/bin/certstamp\0serve") {
            continue;
        }
        let mut p = pid;
        while let Some(pp) = parent_of(p) {
            if pp == ancestor {
                return pid;
            }
            if pp <= 1 {
                break;
            }
            p = pp;
        }
    }
    panic!("no certstamp process under buildah ({ancestor})")
}

fn status_line(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap()
}

/// A `buildah run` in the background with its output collected.
struct Running {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    /// The kiosk inside, once found: killing buildah alone would leave it running.
    inner: Option<u32>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        for (stream, buf) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                out.clone(),
            ),
            (Box::new(child.stderr.take().unwrap()), err.clone()),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut b = buf.lock().unwrap();
                    b.push_str(&line);
                    b.push('\n');
                }
            });
        }
        Running {
            child,
            out,
            err,
            inner: None,
        }
    }

    fn logs(&self) -> String {
        format!("{}{}", self.out.lock().unwrap(), self.err.lock().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = self.inner
            && self.child.try_wait().ok().flatten().is_none()
        {
            // SAFETY: signalling the process this test started inside the container.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn container_image_serves_a_visitor_as_non_root_with_only_its_data_volume_writable() {
    let bin = release_binary();
    let b = Buildah::new();
    let ctx = tempfile::tempdir().unwrap();
    let containerfile = assemble(ctx.path(), &bin);
    std::fs::write(ctx.path().join("Containerfile"), &containerfile).unwrap();
    let started = Instant::now();
    let ctx_dir = ctx.path().to_str().unwrap();
    let file = format!("{ctx_dir}/Containerfile");
    b.ok(&[
        "bud",
        "--isolation",
        "chroot",
        "-q",
        "-t",
        "localhost/certstamp:test",
        "-f",
        &file,
        ctx_dir,
    ]);
    let images: Value = serde_json::from_str(&b.ok(&["images", "--json"])).unwrap();
    eprintln!(
        "image built in {:.1} s: {} (release binary {} bytes)",
        started.elapsed().as_secs_f64(),
        images[0]["size"],
        std::fs::metadata(&bin).unwrap().len(),
    );

    // The image's user is the pod's, and its volume is where the Deployment mounts the PVC.
    let rendered = crate::deploy::kustomize(&repo().join("deploy/k3s-pi"));
    let deployment = rendered.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let user = b.ok(&[
        "inspect",
        "--format",
        "{{.OCIv1.Config.User}}",
        "localhost/certstamp:test",
    ]);
    assert_eq!(
        user.trim(),
        format!(
            "{}:{}",
            pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
        )
    );
    let volumes = b.ok(&[
        "inspect",
        "--format",
        "{{.OCIv1.Config.Volumes}}",
        "localhost/certstamp:test",
    ]);
    let container = &pod["containers"][0];
    let mounts = container["volumeMounts"].as_array().unwrap();
    let data_mount = mounts.iter().find(|m| m["name"] == "data").unwrap();
    assert!(
        // Go's map syntax: map[/data:{}]
        volumes.contains(&format!("[{}:", data_mount["mountPath"].as_str().unwrap())),
        "{volumes}"
    );

    let c = b.ok(&["from", "-q", "localhost/certstamp:test"]).trim().to_string();
    let version = b.ok(&Buildah::run_args(
        &c,
        &[],
        &[],
        &["/usr/local/bin/certstamp", "--version"],
    ));
    assert_eq!(version.trim(), format!("certstamp {}", env!("CARGO_PKG_VERSION")));

    // The image's files are not writable by its user.
    for probe in ["/probe", "/usr/local/bin/probe", "/etc/probe"] {
        let out = b.output(&Buildah::run_args(
            &c,
            &[],
            &[],
            &["/usr/local/bin/certstamp", "ca", "init", "--data-dir", probe],
        ));
        assert!(!out.status.success(), "{probe} was writable");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Permission denied"), "{probe}: {err}");
    }

    // The cluster, as the overlay gives it to the pod: the booth root from its ConfigMap, the
    // per-event certstamp.toml, and an API server (the stand-in; in a pod the service account
    // token replaces the kubeconfig).
    let booth = tempfile::tempdir().unwrap();
    let root = local::load_or_create_root(&CaPaths::new(booth.path())).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let toml = rendered.iter().find(|d| d["kind"] == "ConfigMap").unwrap()["data"]["certstamp.toml"]
        .as_str()
        .unwrap()
        .to_string();
    let slug = toml
        .lines()
        .find_map(|l| l.strip_prefix("slug = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let int = pki::new_intermediate(&root, "KubeCon EU", &slug, "Amsterdam", now, 10).unwrap();
    let api = StandIn::start(booth.path(), &slug, int, &root.cert_pem).await;
    let host_dir = |name: &str, file: &str, text: &str| {
        let d = booth.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(file), text).unwrap();
        d
    };
    let mut volume_dirs: BTreeMap<&str, PathBuf> = BTreeMap::new();
    volume_dirs.insert("config", host_dir("config", "certstamp.toml", &toml));
    volume_dirs.insert("root-ca", host_dir("root-ca", "ca.crt", &root.cert_pem));
    let kubeconfig = std::fs::read_to_string(&api.kubeconfig).unwrap();
    let kube_dir = host_dir("kube", "config", &kubeconfig);
    let mut binds = vec![format!("{}:/etc/certstamp/kube:ro", kube_dir.display())];
    for m in mounts {
        let name = m["name"].as_str().unwrap();
        if name == "data" {
            continue; // the image's own volume
        }
        assert_eq!(m["readOnly"], true);
        binds.push(format!(
            "{}:{}:ro",
            volume_dirs[name].display(),
            m["mountPath"].as_str().unwrap()
        ));
    }
    let (port, guestbook_port) = (free_port(), free_port());
    let mut env: Vec<(String, String)> = Vec::new();
    for e in container["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match name.as_str() {
            // Shared network namespace: loopback, on free ports.
            "CERTSTAMP_LISTEN" => format!("127.0.0.1:{port}"),
            "CERTSTAMP_GUESTBOOK_LISTEN" => format!("127.0.0.1:{guestbook_port}"),
            "CERTSTAMP_NAMESPACE" => "certstamp".into(),
            // No USB printer here: the spool on the data volume.
            "CERTSTAMP_PRINTER" => "spool:/data/spool".into(),
            "CERTSTAMP_STAFF_PASSWORD_HASH" => continue,
            _ => e["value"].as_str().unwrap().to_string(),
        };
        env.push((name, value));
    }
    env.push(("KUBECONFIG".into(), "/etc/certstamp/kube/config".into()));
    // buildah makes its mount points in the image's tree on the first run with them; only
    // then is the tree what the kiosk must leave untouched.
    b.ok(&Buildah::run_args(
        &c,
        &env,
        &binds,
        &["/usr/local/bin/certstamp", "--version"],
    ));
    let rootfs = PathBuf::from(b.ok(&["mount", &c]).trim());
    let before = snapshot(&rootfs);
    let mut cmd = b.cmd();
    cmd.args(Buildah::run_args(
        &c,
        &env,
        &binds,
        &["/usr/local/bin/certstamp", "serve"],
    ));
    let mut serve = Running::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !serve.logs().contains("certstamp listening on") {
        assert!(
            Instant::now() < deadline,
            "the kiosk did not start in the container:\n{}",
            serve.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = serve_pid(serve.child.id());
    serve.inner = Some(pid);
    assert_eq!(
        status_line(pid, "Uid:"),
        "65532 65532 65532 65532",
        "runs as the image's user"
    );
    assert_eq!(status_line(pid, "CapEff:"), "0000000000000000", "with no capabilities");

    let url = format!("http://127.0.0.1:{port}");
    let http = client();
    assert_eq!(http.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    eventually("/readyz to answer 200", || async {
        (http.get(format!("{url}/readyz")).send().await.ok()?.status() == 200).then_some(())
    })
    .await;

    // A visitor: the form for its CSRF cookie, POST /issue, 303, the certificate page.
    let email = "grace.hopper@example.org";
    let res = submit_at(&http, &url, "Grace Hopper", email).await.unwrap();
    assert_eq!(res.status(), 303);
    let page = res.headers()["location"].to_str().unwrap().to_string();
    assert!(page.starts_with("/c/"), "{page}");
    let html = eventually("the certificate page", || async {
        let html = http.get(format!("{url}{page}")).send().await.ok()?.text().await.ok()?;
        html.contains("Your X.509 client certificate is ready").then_some(html)
    })
    .await;
    assert!(html.contains("Grace Hopper"));
    assert_eq!(
        api.visitor_certificates("certstamp").len(),
        1,
        "issued through cert-manager"
    );

    // auto_print (from certstamp.toml) spools the ticket onto the data volume.
    let volume = {
        let storage = b.root.path().join("storage");
        let mut found = None;
        let mut stack = vec![storage];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.file_name().is_some_and(|n| n == "buildah-volumes") {
                    found = std::fs::read_dir(&p).unwrap().next().map(|e| e.unwrap().path());
                } else if p.is_dir() && !p.starts_with(&rootfs) {
                    stack.push(p);
                }
            }
        }
        found.expect("the container's data volume")
    };
    eventually("a spooled ticket on the data volume", || async {
        let spool = std::fs::read_dir(volume.join("spool")).ok()?;
        spool
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "bin"))
            .then_some(())
    })
    .await;

    // SIGTERM, as the kubelet sends it: a clean stop, exit 0.
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no stop after SIGTERM:\n{}", serve.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}:\n{}", serve.logs());
    std::thread::sleep(Duration::from_millis(300)); // the last lines through the pipe readers

    // Logs: JSON lines (CERTSTAMP_LOG_FORMAT from the Deployment), no email, no token.
    let err = serve.err.lock().unwrap().clone();
    assert!(err.contains("shutting down"), "{err}");
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
    }
    assert!(
        !err.contains(email) && !err.contains(page.trim_start_matches("/c/")),
        "{err}"
    );

    // Written: the database and spool on the data volume, as the image's user. Unchanged:
    // every file of the image.
    let db = std::fs::metadata(volume.join("certstamp.db")).unwrap();
    assert_eq!(db.uid(), 65532);
    assert_eq!(snapshot(&rootfs), before, "the container wrote outside its data volume");
    drop(api);
}
