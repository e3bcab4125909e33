//! The ticket layout: any text in any field, on either paper width, renders or refuses in
//! words, and a rendered ticket is a whole ESC/POS job with a preview of the paper's width.
#![no_main]

use certstamp_printer::{Profile, Ticket, render};
use libfuzzer_sys::arbitrary::{self, Arbitrary};

use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    narrow: bool,
    title: String,
    subtitle: String,
    seal_seed: [u8; 32],
    name: String,
    kind_line: String,
    fields: Vec<(String, String)>,
    qr_payload: String,
    qr_caption: String,
    footer: String,
}

fuzz_target!(|input: Input| {
    let profile = Profile::by_name(if input.narrow { "58mm" } else { "80mm" }).expect("built-in profile");
    let ticket = Ticket {
        title: input.title,
        subtitle: input.subtitle,
        seal_seed: input.seal_seed,
        name: input.name,
        kind_line: input.kind_line,
        fields: input.fields,
        qr_payload: input.qr_payload,
        qr_caption: input.qr_caption,
        footer: input.footer,
    };
    if let Ok(r) = render(&ticket, &profile) {
        assert_eq!(r.preview.width(), profile.dots);
        assert!(r.escpos.starts_with(b"\x1b@"), "starts with ESC @");
        assert!(!r.preview_png().is_empty());
    }
});
