//! Scenario 5: the wall at 1920x1080 in one browser shows a visitor who issues from
//! another browser (a phone) without reloading. The time from the phone landing on its
//! certificate page to the wall showing the visitor is printed, not asserted (machines
//! here are noisy; the bound is the harness' wait). Screenshots in `target/e2e/12-wall-live/`.

use std::time::Instant;

use serde_json::json;

use super::flows;
use super::session::{Browser, Window};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_wall_shows_a_visitor_issued_from_another_window_without_reloading() {
    let data = tempfile::tempdir().unwrap();
    let k = Kiosk::start(data.path(), &[]);
    let wall = Browser::open(Window::wall("12-wall-live")).await;
    wall.goto(&k.at("/wall")).await;
    wall.find("h1").await;
    assert!(wall.text_now("main").await.contains("No certificates yet"));
    wall.c.execute("window.stillHere = true", vec![]).await.unwrap();

    let phone = Browser::open(Window::phone("12-wall-live-phone")).await;
    phone.goto(&k.at("/")).await;
    phone.type_into("#name", "Grace Hopper").await;
    phone.type_into("#email", "grace@example.org").await;
    phone.click("#consent").await;
    phone.click("#wall").await;
    phone.click_and_wait("form[action='/issue'] button[type=submit]").await;
    assert!(phone.url().await.starts_with(&k.at("/c/")), "{}", phone.url().await);
    let issued = Instant::now();
    phone.shot("issued").await;

    wall.wait_for("the wall to show the new visitor", async || {
        wall.text_now(".wall-stats").await.contains("1 certificate issued")
            && wall.text_now(".wall-name").await == "Grace"
    })
    .await;
    println!(
        "the wall showed the visitor {:?} after the phone's page",
        issued.elapsed()
    );
    assert_eq!(
        wall.c
            .execute("return window.stillHere === true", vec![])
            .await
            .unwrap(),
        json!(true),
        "the wall reloaded instead of updating in place"
    );
    wall.shot("updated").await;

    // The same for a visitor who did not tick the box: a seal, no name.
    flows::issue(&phone, &k, "Alan Turing", "alan@example.org").await;
    wall.wait_for("the wall to show the second visitor", async || {
        wall.text_now(".wall-stats").await.contains("2 certificates issued")
    })
    .await;
    let main = wall.text_now("main").await;
    assert!(!main.contains("Alan") && !main.contains('@'), "{main}");
    wall.shot("anonymous").await;
    phone.finish().await;
    wall.finish().await;
}
