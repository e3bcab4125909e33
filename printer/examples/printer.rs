//! Poke a printer without the kiosk:
//!
//! ```text
//! cargo run -p certstamp-printer --example printer -- preview OUTDIR [NAME]   # PNG + .bin per profile
//! cargo run -p certstamp-printer --example printer -- seal OUTDIR             # sample seal.svg + seal.png
//! cargo run -p certstamp-printer --example printer -- status URI
//! cargo run -p certstamp-printer --example printer -- send URI [80mm|58mm] [NAME]
//! ```
//! URI is `spool:DIR`, `file:/dev/usb/lp0` or `tcp://HOST[:PORT]`.

use certstamp_printer::{Driver, PrinterUri, Profile, render, sample_ticket};
use std::process::ExitCode;

const URL: &str = "https://certstamp.example/c/3f2a91c0d4e5b6a7";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let mut ticket = sample_ticket(URL);
    let result: Result<(), String> = match arg(0) {
        Some("preview") => {
            let out = std::path::PathBuf::from(arg(1).unwrap_or("."));
            if let Some(name) = arg(2) {
                ticket.name = name.to_string();
            }
            Profile::names().iter().try_for_each(|p| {
                let profile = Profile::by_name(p).expect("built-in profile");
                let job = render(&ticket, &profile).map_err(|e| e.to_string())?;
                std::fs::write(out.join(format!("{p}.png")), job.preview_png()).map_err(|e| e.to_string())?;
                std::fs::write(out.join(format!("{p}.bin")), &job.escpos).map_err(|e| e.to_string())?;
                println!(
                    "{p}: {} bytes, preview {}x{}",
                    job.escpos.len(),
                    job.preview.width(),
                    job.preview.height()
                );
                Ok(())
            })
        }
        Some("seal") => {
            let out = std::path::PathBuf::from(arg(1).unwrap_or("."));
            let svg = certstamp_printer::seal::svg(&ticket.seal_seed);
            let png = certstamp_printer::seal::raster(&ticket.seal_seed, 400).to_png();
            std::fs::write(out.join("seal.svg"), svg)
                .and_then(|()| std::fs::write(out.join("seal.png"), png))
                .map_err(|e| e.to_string())
        }
        Some("status") => arg(1)
            .ok_or("status needs a URI".to_string())
            .and_then(|u| u.parse::<PrinterUri>().map_err(|e| e.to_string()))
            .and_then(|uri| Driver::open(&uri).status().map_err(|e| e.to_string()))
            .map(|s| println!("{s:?}")),
        Some("send") => (|| {
            let uri: PrinterUri = arg(1)
                .ok_or("send needs a URI")?
                .parse()
                .map_err(|e: certstamp_printer::PrintError| e.to_string())?;
            let profile = Profile::by_name(arg(2).unwrap_or("80mm")).ok_or("unknown profile")?;
            if let Some(name) = arg(3) {
                ticket.name = name.to_string();
            }
            let job = render(&ticket, &profile).map_err(|e| e.to_string())?;
            Driver::open(&uri).send("sample", &job).map_err(|e| {
                format!(
                    "{e} ({})",
                    if e.retryable() {
                        "retryable"
                    } else {
                        "needs an operator"
                    }
                )
            })?;
            println!("sent {} bytes", job.escpos.len());
            Ok(())
        })(),
        _ => Err("usage: printer preview OUTDIR [NAME] | seal OUTDIR | status URI | send URI [PROFILE] [NAME]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
