//! Writes sample previews and jobs: `cargo run -p certstamp-printer --example preview -- OUTDIR [NAME]`.

use certstamp_printer::{Profile, render, sample_ticket};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let name = args.next();
    let mut ticket = sample_ticket("https://certstamp.example/c/3f2a91c0d4e5b6a7");
    if let Some(n) = name {
        ticket.name = n;
    }
    for p in Profile::names() {
        let profile = Profile::by_name(p).expect("built-in profile");
        let job = render(&ticket, &profile).expect("render");
        std::fs::write(out.join(format!("{p}.png")), job.preview_png()).expect("write png");
        std::fs::write(out.join(format!("{p}.bin")), &job.escpos).expect("write bin");
        println!(
            "{p}: {} bytes, preview {}x{}",
            job.escpos.len(),
            job.preview.width(),
            job.preview.height()
        );
    }
}
