//! The seal: a round stamp derived deterministically from a 32-byte seed (the certificate's
//! SHA-256 fingerprint).
//!
//! From the outside in: a serrated edge (tooth count, shape and depth from the seed), one or two
//! thin rings or a bead ring, a ring of 64 marks that spells out 128 seed bits (four mark shapes),
//! an inner ring, and a k-pointed emblem (star, rosette, gear or sunburst) with a pierced centre.
//! Everything is rotated by a seed-derived angle.
//!
//! The geometry is a list of polygons built with `+ - * /` and `sqrt` only (our own sine), so the
//! raster and the SVG are bit-identical on every platform, which the golden files rely on.

use crate::bitmap::Bitmap;
use std::fmt::Write as _;

/// A filled shape: closed contours combined with the even-odd rule (inner contours cut holes).
struct Shape {
    contours: Vec<Vec<(f64, f64)>>,
}

/// Sine and cosine of `turns` full turns: quadrant reduction plus Taylor series.
pub(crate) fn sincos(turns: f64) -> (f64, f64) {
    let t = turns - turns.floor(); // [0, 1)
    let q = ((t * 4.0) as u32).min(3);
    let r = (t - f64::from(q) / 4.0) * std::f64::consts::TAU; // [0, pi/2)
    let (s, c) = (sin_small(r), cos_small(r));
    match q {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// 1/n! for n = 0..=21, folded by the compiler (IEEE division, so the same everywhere).
const INV_FACT: [f64; 22] = {
    let mut t = [1.0f64; 22];
    let mut i = 1;
    while i < 22 {
        t[i] = t[i - 1] / i as f64;
        i += 1;
    }
    t
};

/// sin on [0, pi/2] by Horner's rule; error below 1e-14.
fn sin_small(x: f64) -> f64 {
    let x2 = x * x;
    let mut acc = 0.0;
    let mut k = 19;
    while k >= 3 {
        let sign = if (k / 2) % 2 == 1 { -1.0 } else { 1.0 };
        acc = (acc + sign * INV_FACT[k]) * x2;
        k -= 2;
    }
    x * (1.0 + acc)
}

/// cos on [0, pi/2] by Horner's rule; error below 1e-14.
fn cos_small(x: f64) -> f64 {
    let x2 = x * x;
    let mut acc = 0.0;
    let mut k = 20;
    while k >= 2 {
        let sign = if (k / 2) % 2 == 1 { -1.0 } else { 1.0 };
        acc = (acc + sign * INV_FACT[k]) * x2;
        k -= 2;
    }
    1.0 + acc
}

fn polar(r: f64, turns: f64) -> (f64, f64) {
    let (s, c) = sincos(turns);
    (r * s, -r * c) // 0 turns = straight up, clockwise
}

fn circle(r: f64, n: u32) -> Vec<(f64, f64)> {
    (0..n).map(|i| polar(r, f64::from(i) / f64::from(n))).collect()
}

fn ring(r_out: f64, r_in: f64) -> Shape {
    Shape {
        contours: vec![circle(r_out, 144), circle(r_in, 144)],
    }
}

/// An annular sector from `a0` to `a1` turns.
fn sector(r_in: f64, r_out: f64, a0: f64, a1: f64) -> Vec<(f64, f64)> {
    let steps = 4;
    let mut pts = Vec::with_capacity(2 * steps + 2);
    for i in 0..=steps {
        pts.push(polar(r_out, a0 + (a1 - a0) * i as f64 / steps as f64));
    }
    for i in (0..=steps).rev() {
        pts.push(polar(r_in, a0 + (a1 - a0) * i as f64 / steps as f64));
    }
    pts
}

/// The seed-derived stream: SplitMix64 keyed with all 256 seed bits.
struct Stream(u64);

impl Stream {
    fn new(seed: &[u8; 32]) -> Self {
        let mut s = Stream(0x5EA1_5EA1_D00D_F00D);
        for chunk in seed.chunks(8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
            s.0 ^= w;
            s.next();
        }
        s
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn shapes(seed: &[u8; 32]) -> Vec<Shape> {
    let mut rng = Stream::new(seed);
    let rot = rng.unit();
    let mut out = Vec::new();

    // Serrated edge: a black band whose outer rim carries the teeth.
    let teeth = 28 + 4 * rng.below(6) as u32;
    let style = rng.below(4);
    let depth = 0.05 + 0.04 * rng.unit();
    let (r_tip, r_band) = (1.0, 0.86);
    let r_root = r_tip - depth;
    let mut edge = Vec::new();
    for t in 0..teeth {
        let a = |f: f64| rot + (f64::from(t) + f) / f64::from(teeth);
        match style {
            0 => {
                // Saw: pointed teeth.
                edge.push(polar(r_root, a(0.0)));
                edge.push(polar(r_tip, a(0.5)));
            }
            1 => {
                // Scallops: rounded bumps.
                for k in 0..6 {
                    let f = f64::from(k) / 6.0;
                    let (s, _) = sincos(f / 2.0);
                    edge.push(polar(r_root + depth * s, a(f)));
                }
            }
            2 => {
                // Crenels: square notches.
                edge.push(polar(r_root, a(0.0)));
                edge.push(polar(r_root, a(0.4)));
                edge.push(polar(r_tip, a(0.4)));
                edge.push(polar(r_tip, a(1.0)));
            }
            _ => {
                // Double teeth: a tall and a short point per period.
                edge.push(polar(r_root, a(0.0)));
                edge.push(polar(r_tip, a(0.25)));
                edge.push(polar(r_root, a(0.5)));
                edge.push(polar(r_tip - depth * 0.5, a(0.75)));
            }
        }
    }
    let mut band = vec![edge, circle(r_band, 144)];
    // Optionally pierce the band with white dots between the teeth.
    if rng.below(2) == 0 {
        let r_dot = (r_band + r_root) / 2.0;
        for t in 0..teeth / 2 {
            let c = polar(r_dot, rot + (f64::from(t) * 2.0 + 1.0) / f64::from(teeth));
            band.push(circle(0.018, 12).into_iter().map(|(x, y)| (x + c.0, y + c.1)).collect());
        }
    }
    out.push(Shape { contours: band });

    // Thin rings or a bead ring between the band and the mark ring.
    match rng.below(3) {
        0 => out.push(ring(0.825, 0.805)),
        1 => {
            out.push(ring(0.835, 0.82));
            out.push(ring(0.805, 0.79));
        }
        _ => {
            let beads = 48 + 8 * rng.below(4) as u32;
            let contours = (0..beads)
                .map(|i| {
                    let c = polar(0.812, rot + f64::from(i) / f64::from(beads));
                    circle(0.016, 10).into_iter().map(|(x, y)| (x + c.0, y + c.1)).collect()
                })
                .collect();
            out.push(Shape { contours });
        }
    }

    // The mark ring: 64 marks, two seed bits each, read straight from the fingerprint.
    let (r0, r1) = (0.625, 0.765);
    let mid = (r0 + r1) / 2.0;
    let mut marks = Vec::with_capacity(64);
    for i in 0..64u32 {
        let bits = (seed[(i / 4) as usize] >> (2 * (i % 4))) & 3;
        let a0 = rot + (f64::from(i) + 0.22) / 64.0;
        let a1 = rot + (f64::from(i) + 0.78) / 64.0;
        marks.push(match bits {
            0 => sector(r0, r1, a0, a1),
            1 => sector(mid + 0.01, r1, a0, a1),
            2 => sector(r0, mid - 0.01, a0, a1),
            _ => sector(mid - 0.025, mid + 0.025, a0, a1),
        });
    }
    out.push(Shape { contours: marks });
    out.push(ring(0.595, 0.575));

    // The emblem.
    let k = 5 + rng.below(8) as u32;
    let erot = rng.unit() / f64::from(k);
    let emblem_style = rng.below(4);
    let outer = 0.5;
    let mut emblem = Vec::new();
    match emblem_style {
        0 => {
            // Star polygon.
            let inner = outer * (0.38 + 0.22 * rng.unit());
            for i in 0..2 * k {
                let r = if i % 2 == 0 { outer } else { inner };
                emblem.push(polar(r, erot + f64::from(i) / f64::from(2 * k)));
            }
        }
        1 => {
            // Rosette: r = a + b * |cos(k * theta / 2)|.
            let a = 0.18 + 0.08 * rng.unit();
            let n = 24 * k;
            for i in 0..n {
                let t = f64::from(i) / f64::from(n);
                let (_, c) = sincos(t * f64::from(k) / 2.0);
                emblem.push(polar(a + (outer - a) * c.abs(), erot + t));
            }
        }
        2 => {
            // Gear: square teeth.
            let root = outer * (0.72 + 0.1 * rng.unit());
            for i in 0..k {
                let a = |f: f64| erot + (f64::from(i) + f) / f64::from(k);
                for (r, f) in [(root, 0.0), (root, 0.25), (outer, 0.3), (outer, 0.7), (root, 0.75)] {
                    emblem.push(polar(r, a(f)));
                }
            }
        }
        _ => {
            // Sunburst: 2k thin rays, alternating long and short.
            let r_in = 0.17;
            for i in 0..2 * k {
                let len = if i % 2 == 0 { outer } else { outer * 0.78 };
                let a = erot + f64::from(i) / f64::from(2 * k);
                let half = 0.45 / f64::from(2 * k);
                out.push(Shape {
                    contours: vec![vec![polar(r_in, a - half), polar(len, a), polar(r_in, a + half)]],
                });
            }
        }
    }
    let hole = 0.1 + 0.06 * rng.unit();
    if emblem.is_empty() {
        out.push(ring(hole + 0.06, hole));
    } else {
        out.push(Shape {
            contours: vec![emblem, circle(hole, 48)],
        });
    }
    // The pupil: a dot or a small ring, by the seed.
    if rng.below(2) == 0 {
        out.push(Shape {
            contours: vec![circle(hole * 0.45, 32)],
        });
    } else {
        out.push(ring(hole * 0.6, hole * 0.35));
    }
    out
}

/// The seal as a standalone, inline-able `<svg>` element (no XML header), drawn in
/// `currentColor` so the page decides the ink.
///
/// Points are rounded to a tenth of a unit (a 200-unit box: finer than a pixel at any size
/// a page shows it) and written as relative moves, so a seal is about a third of its
/// absolute, two-decimal text: every certificate page and the wall carry them.
pub fn svg(seed: &[u8; 32]) -> String {
    let mut s = String::with_capacity(12 * 1024);
    s.push_str(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-100 -100 200 200\" \
         width=\"200\" height=\"200\" role=\"img\" aria-label=\"Certificate seal\" \
         class=\"certstamp-seal\"><g fill=\"currentColor\" fill-rule=\"evenodd\">",
    );
    for shape in shapes(seed) {
        s.push_str("<path d=\"");
        for contour in &shape.contours {
            path_data(&mut s, contour);
        }
        s.push_str("\"/>");
    }
    s.push_str("</g></svg>");
    s
}

/// One closed contour as `M x y l dx dy dx dy … z`, in integer tenths underneath so the
/// relative steps add up exactly (no drift) and the text is the same on every platform.
fn path_data(s: &mut String, contour: &[(f64, f64)]) {
    let tenths = |v: f64| (v * 1000.0).round() as i64;
    let mut at: Option<(i64, i64)> = None;
    for &(x, y) in contour {
        let p = (tenths(x), tenths(y));
        match at {
            None => {
                s.push('M');
                push_tenths(s, p.0);
                push_tenths(s, p.1);
                s.push('l');
            }
            Some(prev) if prev == p => continue,
            Some(prev) => {
                push_tenths(s, p.0 - prev.0);
                push_tenths(s, p.1 - prev.1);
            }
        }
        at = Some(p);
    }
    if at.is_some() {
        s.push('z');
    }
}

/// `n` tenths as the shortest SVG number (`12`, `1.5`, `-.3`), with a space before it
/// unless it follows a command letter or starts with its own minus sign.
fn push_tenths(s: &mut String, n: i64) {
    if n >= 0 && !s.ends_with(['M', 'l']) {
        s.push(' ');
    }
    if n < 0 {
        s.push('-');
    }
    let (whole, tenth) = (n.unsigned_abs() / 10, n.unsigned_abs() % 10);
    match (whole, tenth) {
        (w, 0) => {
            let _ = write!(s, "{w}");
        }
        (0, t) => {
            let _ = write!(s, ".{t}");
        }
        (w, t) => {
            let _ = write!(s, "{w}.{t}");
        }
    }
}

/// The seal as a `size` x `size` 1-bit raster (a dot is black when its centre is inside).
pub fn raster(seed: &[u8; 32], size: u32) -> Bitmap {
    let mut bm = Bitmap::new(size, size);
    if size == 0 {
        return bm;
    }
    let half = f64::from(size) / 2.0;
    let scale = half - 0.5;
    let mut crossings: Vec<Vec<f64>> = vec![Vec::new(); size as usize];
    for shape in shapes(seed) {
        for row in &mut crossings {
            row.clear();
        }
        let (mut ymin, mut ymax) = (usize::MAX, 0);
        for contour in &shape.contours {
            let n = contour.len();
            for i in 0..n {
                let (x0, y0) = contour[i];
                let (x1, y1) = contour[(i + 1) % n];
                let (x0, y0) = (half + x0 * scale, half + y0 * scale);
                let (x1, y1) = (half + x1 * scale, half + y1 * scale);
                if y0 == y1 {
                    continue;
                }
                let (lo, hi) = if y0 < y1 { (y0, y1) } else { (y1, y0) };
                // Rows whose centre (y + 0.5) lies in [lo, hi).
                let first = (lo - 0.5).ceil().max(0.0) as usize;
                let last = ((hi - 0.5).ceil().max(0.0) as usize).min(size as usize);
                for (y, row) in crossings.iter_mut().enumerate().take(last).skip(first) {
                    let yc = y as f64 + 0.5;
                    row.push(x0 + (yc - y0) * (x1 - x0) / (y1 - y0));
                }
                if first < last {
                    ymin = ymin.min(first);
                    ymax = ymax.max(last);
                }
            }
        }
        for (y, row) in crossings.iter_mut().enumerate().take(ymax).skip(ymin) {
            row.sort_by(f64::total_cmp);
            for pair in row.chunks_exact(2) {
                // Dots whose centre x + 0.5 lies in [a, b).
                let a = (pair[0] - 0.5).ceil().max(0.0);
                let b = (pair[1] - 0.5).ceil().max(0.0).min(f64::from(size));
                if b > a {
                    bm.fill_span(a as u32, y as u32, (b - a) as u32);
                }
            }
        }
    }
    bm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincos_is_accurate() {
        for i in 0..1000 {
            let t = f64::from(i) / 997.0 - 0.3;
            let (s, c) = sincos(t);
            let a = t * std::f64::consts::TAU;
            assert!((s - a.sin()).abs() < 1e-12, "sin {t}");
            assert!((c - a.cos()).abs() < 1e-12, "cos {t}");
        }
    }

    #[test]
    fn seal_is_round_and_inked() {
        let bm = raster(&[7; 32], 160);
        let black = bm.count_black() as f64 / (160.0 * 160.0);
        assert!((0.2..0.6).contains(&black), "{black}");
        // Corners are outside the circle.
        assert!(!bm.get(0, 0) && !bm.get(159, 159));
        // The centre is pierced.
        assert!(!bm.get(80, 80) || !bm.get(80, 72));
    }

    /// Read `M x y l dx dy … z` contours back into absolute points.
    fn parse_path(d: &str) -> Vec<Vec<(f64, f64)>> {
        let mut contours = Vec::new();
        for part in d.split('z').filter(|p| !p.is_empty()) {
            let (start, steps) = part.trim_start_matches('M').split_once('l').unwrap();
            let nums = |t: &str| -> Vec<f64> {
                // A minus sign starts a number as a space does.
                t.replace('-', " -")
                    .split_whitespace()
                    .map(|n| n.parse().unwrap())
                    .collect()
            };
            let start = nums(start);
            let mut p = (start[0], start[1]);
            let mut points = vec![p];
            for d in nums(steps).chunks(2) {
                p = (p.0 + d[0], p.1 + d[1]);
                points.push(p);
            }
            contours.push(points);
        }
        contours
    }

    #[test]
    fn svg_paths_trace_the_shapes_to_a_tenth_of_a_unit() {
        for seed in [[1u8; 32], [0xA5; 32], [0x3C; 32]] {
            let s = svg(&seed);
            let ds: Vec<&str> = s.split("d=\"").skip(1).map(|p| p.split('"').next().unwrap()).collect();
            let shapes = shapes(&seed);
            assert_eq!(ds.len(), shapes.len());
            for (d, shape) in ds.iter().zip(&shapes) {
                let drawn = parse_path(d);
                assert_eq!(drawn.len(), shape.contours.len());
                for (points, contour) in drawn.iter().zip(&shape.contours) {
                    let mut want: Vec<(f64, f64)> = contour.iter().map(|&(x, y)| (x * 100.0, y * 100.0)).collect();
                    // Points closer than a tenth merge into one.
                    want.dedup_by(|a, b| ((a.0 - b.0) * 10.0).round() == 0.0 && ((a.1 - b.1) * 10.0).round() == 0.0);
                    assert!(points.len() <= want.len() && points.len() + 8 >= want.len());
                    for p in points {
                        let near = want
                            .iter()
                            .any(|w| (w.0 - p.0).abs() <= 0.051 && (w.1 - p.1).abs() <= 0.051);
                        assert!(near, "{p:?} is not within a twentieth of a unit of the shape");
                    }
                }
            }
        }
    }

    #[test]
    fn svg_is_an_element() {
        let s = svg(&[1; 32]);
        assert!(s.starts_with("<svg xmlns="));
        assert!(s.ends_with("</svg>"));
        assert!(!s.contains("<?xml"));
        assert!(!s.contains("NaN"));
    }
}
