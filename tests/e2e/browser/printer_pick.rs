//! Picking a printer where several serve the booth: a kiosk and two print agents (spool
//! folders standing for two printers) share a PostgreSQL. In Chromium the visitor picks
//! the back printer on their certificate page, and staff reprint the ticket on the front
//! one from the console, with JavaScript and without; both pages stay axe-clean.

use std::path::Path;
use std::time::Duration;

use super::flows;
use super::session::{Browser, Window};
use crate::replicas::{shared_ca, testserver};
use crate::replicas_live::{agent_at, printing_to};
use crate::support::Kiosk;

/// Tickets a spool printer has received.
fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".bin"))
            })
            .count()
        })
        .unwrap_or(0)
}

async fn until_spooled(dir: &Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while spooled(dir) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never got {n} tickets",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check(b: &Browser, label: &str) {
    b.find("main").await;
    b.shot(label).await;
    if b.javascript() {
        b.assert_accessible(label).await;
    }
}

async fn pick(window: Window) {
    let pg = testserver::PgServer::start();
    let url = pg.fresh_database();
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let (data, spare, keys, front, back) = (&dirs[0], &dirs[1], &dirs[2], &dirs[3], &dirs[4]);
    shared_ca(data.path(), spare.path());
    let queue_key = keys.path().join("queue.key");
    std::fs::write(&queue_key, rand::random::<[u8; 32]>()).unwrap();
    let spool = |d: &Path| format!("spool:{}", d.join("out").display());
    let (a1, a2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _front = agent_at(&spool(front.path()), "front", &url, &queue_key, a1.path());
    let _back = agent_at(&spool(back.path()), "back", &url, &queue_key, a2.path());
    let mut args = vec!["--database", &url];
    args.extend(printing_to("front", queue_key.to_str().unwrap()));
    let k = Kiosk::start(data.path(), &args);
    let (front_out, back_out) = (front.path().join("out"), back.path().join("out"));
    let b = Browser::open(window).await;

    let page = flows::issue(&b, &k, "Zoë Ångström", "zoe@example.org").await;
    assert_eq!(
        b.value("#print-printer").await,
        "front",
        "this kiosk's own printer first"
    );
    check(&b, "certificate-two-printers").await;
    b.click("#print-printer option[value=back]").await;
    flows::press_print(&b, &k, &page).await;
    until_spooled(&back_out, 1).await;
    assert_eq!(spooled(&front_out), 0, "only the printer picked");

    flows::staff_console(&b, &k).await;
    check(&b, "staff-two-printers").await;
    b.click("select[name=printer] option[value=front]").await;
    // The console posts back to itself: its notice says what happened.
    b.click("form[action$='/reprint'] button[type=submit]").await;
    b.wait_for("the reprint's notice", async || {
        b.text("main").await.contains("queued as a new job on front")
    })
    .await;
    until_spooled(&front_out, 1).await;
    assert_eq!(spooled(&back_out), 1);
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_and_staff_pick_a_printer_in_the_browser() {
    pick(Window::laptop("14-printer-pick")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn picking_a_printer_works_without_javascript() {
    pick(Window::phone("14-printer-pick-no-js").without_javascript()).await;
}
