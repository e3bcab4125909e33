//! What the consent box promises, kept: after the retention date no byte of the data dir
//! (database, WAL, spool) and no log line holds a purged visitor's email, name, token or
//! certificate, while the counts and seals on the wall stay. Everything the kiosk writes
//! is private (files 0600, directories 0700) under the usual umask 022.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::printing::{press_print, wait_for};
use crate::support::*;

/// Every file under `dir`, with its mode; directories too.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32, bool)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        let mode = meta.permissions().mode() & 0o777;
        out.push((e.path(), mode, meta.is_dir()));
        if meta.is_dir() {
            walk(&e.path(), out);
        }
    }
}

fn assert_private(data: &Path) {
    let mode = std::fs::metadata(data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data dir mode {mode:o}");
    let mut all = Vec::new();
    walk(data, &mut all);
    let wrong: Vec<String> = all
        .iter()
        .filter(|(_, mode, dir)| *mode != if *dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(wrong.is_empty(), "not private: {wrong:?}");
    assert!(all.iter().any(|(p, ..)| p.ends_with("certstamp.db-wal")), "{all:?}");
}

/// Log text without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The wall's counts and seal drawings (without their "n min ago" captions).
async fn wall(c: &reqwest::Client, k: &Kiosk) -> (String, String, Vec<String>) {
    let html = c.get(k.at("/wall")).send().await.unwrap().text().await.unwrap();
    let count = |label: &str| {
        let end = html.find(label).unwrap_or_else(|| panic!("{label} not on the wall"));
        let start = html[..end].rfind("<strong>").unwrap() + "<strong>".len();
        html[start..end].trim_end_matches("</strong> ").to_string()
    };
    let seals = html
        .split("<div class=\"wall-seal\">")
        .skip(1)
        .map(|f| f.split("</div>").next().unwrap().to_string())
        .collect();
    (count("certificates issued"), count("tickets printed"), seals)
}

#[tokio::test(flavor = "multi_thread")]
async fn after_retention_nothing_personal_is_left_and_the_wall_stays() {
    let data = tempfile::tempdir().unwrap();
    // A conference whose retention ended long ago: the purge at the next start takes everyone.
    let args = [
        "--conference-start",
        "2020-01-01",
        "--conference-end",
        "2020-01-02",
        "--retention-days",
        "0",
    ];
    let limits = ChildLimits {
        open_files: None,
        umask: Some(0o022),
    };
    let k = Kiosk::start_limited(data.path(), &args, limits);
    let c = client();
    let html = c.get(k.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("then delete them and everything that carries them"),
        "the consent says what goes"
    );

    let visitors = [
        ("Quentin Purgewell", "Quentin.Purgewell@example.org"),
        ("Zoë Vergessen", "zoe.vergessen@example.org"),
    ];
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut pages = Vec::new();
    for (name, email) in visitors {
        let page = issue(&c, &k, name, email).await;
        let dir = tempfile::tempdir().unwrap();
        fetch_bundle(&c, &k, &page, dir.path()).await;
        let cert = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
        // Every line of the certificate's PEM: the stored certificate names the visitor.
        secrets.extend(
            cert.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(|l| l.as_bytes().to_vec()),
        );
        let token = page.trim_start_matches("/c/").to_string();
        secrets.extend([name, email, &email.to_lowercase(), &token].map(|s| s.as_bytes().to_vec()));
        // A printed ticket (its spool files hold the link) and a guestbook entry.
        press_print(&c, &k, &page).await;
        wait_for(&c, &k, &page, 30, |j| j["state"] == "printed").await;
        let res = sign_at_kiosk(&c, &k.at(&page), "remember me?").await;
        assert_eq!(res.status(), 303);
        pages.push(page);
    }
    let spool = data.path().join("spool");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        4,
        "two tickets, .bin and .png each"
    );
    let before = wall(&c, &k).await;
    assert_eq!((before.0.as_str(), before.1.as_str(), before.2.len()), ("2", "2", 2));
    assert_private(data.path());
    let first_logs = k.logs();

    let k = k.restart();
    let logs = format!("{first_logs}\n{}", k.logs());
    let plain = strip_ansi(&k.logs());
    let purge_line = plain
        .lines()
        .find(|l| l.contains("purged personal data past retention"))
        .unwrap_or_else(|| panic!("no purge logged:\n{}", k.logs()))
        .to_string();
    assert!(
        purge_line.contains("visitors=2")
            && purge_line.contains("guestbook_entries=2")
            && purge_line.contains("spool_files=4"),
        "{purge_line}"
    );

    // Counts and seals are unchanged; the pages still answer, without anything personal.
    assert_eq!(wall(&c, &k).await, before);
    for (page, (name, email)) in pages.iter().zip(visitors) {
        let res = c.get(k.at(page)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Deleted as promised") && html.contains("SHA-256 fingerprint"),
            "{html}"
        );
        assert!(!html.contains(name) && !html.contains(email), "{html}");
        let res = c.get(k.at(&format!("{page}/bundle.zip"))).send().await.unwrap();
        assert_eq!(res.status(), 410);
    }
    let gb = c
        .get(k.at("/guestbook.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(gb.contains("\"total\":0"), "{gb}");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "spooled tickets deleted");
    // Staff still see the rows and their tickets, marked, without the names.
    let console = staff_page(&client(), &k).await;
    assert_eq!(console.matches(">purged</span>").count(), 2, "{console}");
    assert_eq!(
        console.matches("name deleted").count(),
        4,
        "two rows, two tickets: {console}"
    );
    assert!(!visitors.iter().any(|(name, _)| console.contains(name)));

    // Not one byte of the data dir or the logs holds an email, name, token or certificate.
    let mut files = Vec::new();
    walk(data.path(), &mut files);
    let mut searched = 0;
    for (path, _, dir) in &files {
        if *dir {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        searched += bytes.len();
        for s in &secrets {
            assert!(
                !contains(&bytes, s),
                "{} still holds {:?}",
                path.display(),
                String::from_utf8_lossy(s)
            );
        }
    }
    assert!(searched > 10_000, "searched only {searched} bytes");
    for s in &secrets {
        assert!(
            !contains(logs.as_bytes(), s),
            "the log holds {:?}",
            String::from_utf8_lossy(s)
        );
    }
    assert_private(data.path());
}
