//! The running process: bind both listeners, start the app's workers, serve until
//! SIGINT/SIGTERM, then let a ticket being sent finish. The only place that knows both
//! the web layer and the app.

use std::time::Duration;

use axum_server::{Control, Handle};

use crate::app::App;
use crate::config::Settings;

/// Both listeners: connection limits, header, body and idle timeouts.
pub mod listen;

/// How long start-up waits for the guestbook before going on without it.
const GUESTBOOK_FIRST_TRY: Duration = Duration::from_secs(10);
/// How long the listeners wait for open connections at shutdown.
const GRACE: Duration = Duration::from_secs(5);
/// How long a stop waits for the ticket being sent.
const DRAIN: Duration = Duration::from_secs(15);

/// Run the kiosk (web pages and the mTLS guestbook) until SIGINT/SIGTERM.
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if let Some(warning) = settings.public_url_warning() {
        tracing::warn!("{warning}");
    }
    if settings.public_url == format!("http://{listen}") {
        // The default public URL follows the real port when asked for port 0.
        settings.public_url = format!("http://{addr}");
    }
    let app = App::open(settings).await?;
    app.start().await?;
    let limits = listen::Limits::new(&app.settings.connections);
    let control = Control::new();
    // Without its server certificate (say cert-manager cannot sign it yet) the guestbook
    // comes up later from a background retry; the kiosk still issues and prints meanwhile.
    let first = tokio::time::timeout(
        GUESTBOOK_FIRST_TRY,
        listen::guestbook(app.clone(), Handle::with_control(control.clone()), &limits),
    )
    .await;
    let guestbook = match first {
        Ok(Ok((guestbook_addr, server))) => {
            println!("certstamp guestbook listening on https://{guestbook_addr}");
            tracing::info!(%guestbook_addr, "guestbook ready");
            Some(server)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "guestbook listener not started; retrying in the background");
            tokio::spawn(retry_guestbook(app.clone(), control.clone(), limits.clone()));
            None
        }
        Err(_) => {
            tracing::error!("guestbook server certificate is slow to arrive; retrying in the background");
            tokio::spawn(retry_guestbook(app.clone(), control.clone(), limits.clone()));
            None
        }
    };
    let web = listen::web(listener, app.clone(), Handle::with_control(control.clone()), &limits)?;
    // Tests and humans read this line to find the port; it comes after the guestbook's.
    println!("certstamp listening on http://{addr}");
    tracing::info!(%addr, issuer = app.issuer.kind(), "kiosk ready");
    let stop = control.clone();
    let events = app.events.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        // Live screens' streams end now, or they would hold the shutdown open.
        events.close();
        stop.graceful_shutdown(Some(GRACE));
    });
    match guestbook {
        // Either listener failing stops the kiosk rather than leaving half of it up.
        Some(guestbook) => drop(tokio::try_join!(web, guestbook)?),
        None => web.await?,
    }
    app.drain(DRAIN).await;
    Ok(())
}

/// `certstamp print-agent`: serve one printer until SIGTERM or Ctrl-C.
pub async fn print_agent(settings: Settings) -> anyhow::Result<()> {
    crate::app::agent::run(settings, shutdown_signal()).await?;
    Ok(())
}

/// Keep trying to start the guestbook (5 s doubling to 5 min), then serve it.
async fn retry_guestbook(app: App, control: Control, limits: listen::Limits) {
    let mut delay = Duration::from_secs(5);
    loop {
        tokio::time::sleep(delay).await;
        match listen::guestbook(app.clone(), Handle::with_control(control.clone()), &limits).await {
            Ok((guestbook_addr, server)) => {
                tracing::info!(%guestbook_addr, "guestbook ready");
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "guestbook listener stopped");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "guestbook listener still not started");
                delay = (delay * 2).min(Duration::from_secs(300));
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    //! The layering in `lib.rs`, checked on the source so it stays true: every
    //! `crate::…` path a file names (in `use` lines and inline, grouped or not) must
    //! point at its own layer or one below, and each external system's crate is named
    //! only by the one module that talks to it.

    use std::path::{Path, PathBuf};

    /// 4 server, 3 web, 2 app, 1 the domain.
    fn layer_of_module(m: &str) -> u8 {
        match m {
            "server" => 4,
            "web" => 3,
            "app" => 2,
            _ => 1,
        }
    }

    fn layer_of_file(rel: &str) -> u8 {
        match rel.split('/').next().unwrap_or_default().trim_end_matches(".rs") {
            m @ ("server" | "web" | "app") => layer_of_module(m),
            _ => 1,
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Source without comments and without its test module: prose and tests may name anything.
    fn code(text: &str) -> String {
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        text.lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The top-level modules a file names through `crate::`, including `crate::{a, b::c}`.
    fn crate_modules(code: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut item = String::new();
                let mut at_start = true;
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 1 => {
                            if !item.is_empty() {
                                found.push(std::mem::take(&mut item));
                            }
                            at_start = true;
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if depth == 1 && at_start && (c.is_alphanumeric() || c == '_') {
                        item.push(c);
                    } else if !item.is_empty() {
                        found.push(std::mem::take(&mut item));
                        at_start = false;
                    }
                }
                if !item.is_empty() {
                    found.push(item);
                }
            } else {
                let m: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push(m);
            }
        }
        found
    }

    #[test]
    fn the_parser_sees_grouped_and_inline_paths() {
        let c = code(
            "use crate::{app::App, web};\nuse crate::{clock, web::x};\nlet x = crate::store::now_ts(); // crate::server\n",
        );
        assert_eq!(crate_modules(&c), ["app", "web", "clock", "web", "store"]);
    }

    #[test]
    fn dependencies_run_one_way() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for f in &files {
            let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            // The binary's own files sit above everything; test files may use anything.
            if rel == "main.rs" || rel == "cli.rs" || rel == "lib.rs" || rel.ends_with("tests.rs") {
                continue;
            }
            let c = code(&std::fs::read_to_string(f).unwrap());
            let own = layer_of_file(&rel);
            for m in crate_modules(&c) {
                if layer_of_module(&m) > own {
                    wrong.push(format!("{rel} reaches up to crate::{m}"));
                }
                if rel.starts_with("store/") && m == "issuer" {
                    wrong.push(format!("{rel} (the store) uses the issuer"));
                }
            }
            let outside = |allowed: &[&str]| !allowed.iter().any(|a| rel.starts_with(a));
            for (krate, allowed) in [
                ("axum::", &["web/", "server.rs", "server/"][..]),
                ("axum_server::", &["web/", "server.rs", "server/"][..]),
                ("kube::", &["issuer/cert_manager/"][..]),
                ("rusqlite::", &["store/sqlite/"][..]),
                ("tokio_postgres", &["store/postgres/"][..]),
                ("deadpool_postgres", &["store/postgres/"][..]),
            ] {
                if c.contains(krate) && outside(allowed) {
                    wrong.push(format!("{rel} names {krate} (allowed only in {allowed:?})"));
                }
            }
        }
        assert!(
            files.len() > 20,
            "found only {} files under {}",
            files.len(),
            src.display()
        );
        assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    }
}
