//! The seal is a function of its seed: stable per seed, distinct across seeds.

use certstamp_printer::{Bitmap, seal};
use std::collections::HashSet;

/// SplitMix64, so the "random" seeds are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        for chunk in s.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        s
    }
}

fn hamming(a: &Bitmap, b: &Bitmap) -> u32 {
    a.data().iter().zip(b.data()).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[test]
fn thousand_seeds_thousand_seals() {
    let mut rng = Rng(0xC0FFEE);
    let mut rasters = HashSet::new();
    let mut svgs = HashSet::new();
    for _ in 0..1000 {
        let seed = rng.seed();
        assert!(rasters.insert(seal::raster(&seed, 160).data().to_vec()));
        assert!(svgs.insert(seal::svg(&seed)));
    }
    assert_eq!(rasters.len(), 1000);
}

#[test]
fn same_seed_same_bytes() {
    let mut rng = Rng(42);
    for _ in 0..20 {
        let seed = rng.seed();
        assert_eq!(seal::svg(&seed), seal::svg(&seed));
        for size in [96, 160, 192] {
            assert_eq!(seal::raster(&seed, size), seal::raster(&seed, size));
        }
    }
}

/// Even a one-bit change in the fingerprint changes the seal visibly, not in a dot or two.
#[test]
fn one_bit_apart_is_visibly_different() {
    let mut rng = Rng(7);
    let size = 160;
    let mut min = u32::MAX;
    for _ in 0..40 {
        let seed = rng.seed();
        let base = seal::raster(&seed, size);
        for bit in [0usize, 1, 63, 64, 127, 128, 200, 255] {
            let mut other = seed;
            other[bit / 8] ^= 1 << (bit % 8);
            min = min.min(hamming(&base, &seal::raster(&other, size)));
        }
    }
    // 1% of the seal's area.
    assert!(min > size * size / 100, "closest pair differs in only {min} dots");
}

#[test]
fn svg_is_inline_able() {
    let s = seal::svg(&[0xA5; 32]);
    assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(s.ends_with("</svg>"));
    assert!(!s.contains("<?xml") && !s.contains("<!DOCTYPE"));
    assert_eq!(s.matches("<svg").count(), 1);
    assert_eq!(s.matches("<path").count(), s.matches("/>").count());
    assert!(s.contains("currentColor"));
    assert!(s.len() < 64 * 1024, "{} bytes", s.len());
}

/// A sheet of seals to look at: target/tmp/certstamp-printer/seals.png
#[test]
fn seal_sheet() {
    let mut rng = Rng(2026);
    let (size, cols, rows) = (160u32, 4u32, 3u32);
    let mut sheet = Bitmap::new(cols * (size + 8), rows * (size + 8));
    for i in 0..cols * rows {
        let s = seal::raster(&rng.seed(), size);
        sheet.blit(&s, i64::from(i % cols * (size + 8)), i64::from(i / cols * (size + 8)));
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("certstamp-printer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("seals.png"), sheet.to_png()).unwrap();
    std::fs::write(dir.join("seal.svg"), seal::svg(&rng.seed())).unwrap();
}
