//! Render + encode timing: `cargo bench -p certstamp-printer`.
//! Plain `main` with `Instant` to keep criterion out of the dependency tree. Besides wall time it
//! reports on-CPU time from /proc/thread-self/schedstat (Linux), which stays honest on a busy
//! shared machine.

use certstamp_printer::{Profile, render, sample_ticket, seal};
use std::hint::black_box;
use std::time::Instant;

/// Nanoseconds this thread has run on a CPU, if the kernel tells us.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn time(n: u32, mut f: impl FnMut()) -> (f64, Option<f64>) {
    for _ in 0..n / 10 {
        f();
    }
    let (start, cpu0) = (Instant::now(), cpu_ns());
    for _ in 0..n {
        f();
    }
    let wall = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let cpu = cpu0.zip(cpu_ns()).map(|(a, b)| (b - a) as f64 / 1e3 / f64::from(n));
    (wall, cpu)
}

fn fmt(cpu: Option<f64>) -> String {
    cpu.map_or_else(|| "n/a".into(), |c| format!("{c:.0} us"))
}

fn main() {
    let ticket = sample_ticket("https://certstamp.example/c/3f2a91c0d4e5b6a7");
    let n = 500;
    for name in Profile::names() {
        let profile = Profile::by_name(name).expect("built-in profile");
        let job = render(&ticket, &profile).expect("sample renders");
        let (wall, cpu) = time(n, || {
            black_box(render(black_box(&ticket), &profile).expect("render"));
        });
        let (seal_wall, seal_cpu) = time(n, || {
            black_box(seal::raster(black_box(&ticket.seal_seed), profile.seal_size));
        });
        println!(
            "{name}: render+encode mean {wall:.0} us wall, {} on-CPU ({n} runs); escpos {} bytes ({:.1} KiB); \
             preview {}x{}, png {} bytes; of which seal raster {seal_wall:.0} us wall, {} on-CPU",
            fmt(cpu),
            job.escpos.len(),
            job.escpos.len() as f64 / 1024.0,
            job.preview.width(),
            job.preview.height(),
            job.preview_png().len(),
            fmt(seal_cpu),
        );
    }
}
