//! Render + encode timing: `cargo bench -p certstamp-printer`.
//! Plain `main` with `Instant` to keep criterion out of the dependency tree.

use certstamp_printer::{Profile, render, sample_ticket};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let ticket = sample_ticket("https://certstamp.example/c/3f2a91c0d4e5b6a7");
    for name in Profile::names() {
        let profile = Profile::by_name(name).expect("built-in profile");
        let job = render(&ticket, &profile).expect("sample renders");
        for _ in 0..20 {
            black_box(render(black_box(&ticket), &profile).expect("render"));
        }
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            black_box(render(black_box(&ticket), &profile).expect("render"));
        }
        let mean_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let png = job.preview_png();
        println!(
            "{name}: render+encode mean {mean_us:.0} us over {n} runs; escpos {} bytes ({:.1} KiB); preview {}x{}, png {} bytes",
            job.escpos.len(),
            job.escpos.len() as f64 / 1024.0,
            job.preview.width(),
            job.preview.height(),
            png.len()
        );
    }
}
