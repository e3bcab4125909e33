//! 1-bit bitmaps in the printer's own layout.

/// A 1-bit image, rows packed MSB first with 1 = black.
///
/// This is byte for byte the GS v 0 raster layout and a PBM (P4) body, so a bitmap can go to the
/// printer or to a PBM file without conversion.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitmap {
    width: u32,
    height: u32,
    stride: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Bitmap({}x{}, {} black)",
            self.width,
            self.height,
            self.count_black()
        )
    }
}

impl Bitmap {
    /// A white bitmap.
    pub fn new(width: u32, height: u32) -> Self {
        let stride = width.div_ceil(8) as usize;
        Bitmap {
            width,
            height,
            stride,
            data: vec![0; stride * height as usize],
        }
    }

    /// Width in dots.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in dots.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The packed rows (GS v 0 / PBM P4 body).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// One packed row.
    pub fn row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.stride]
    }

    /// Whether a dot is black; outside the bitmap is white.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width
            && y < self.height
            && self.data[y as usize * self.stride + (x / 8) as usize] & (0x80 >> (x % 8)) != 0
    }

    /// Sets a dot; outside the bitmap is ignored.
    pub fn set(&mut self, x: u32, y: u32, black: bool) {
        if x < self.width && y < self.height {
            let i = y as usize * self.stride + (x / 8) as usize;
            let bit = 0x80 >> (x % 8);
            if black {
                self.data[i] |= bit;
            } else {
                self.data[i] &= !bit;
            }
        }
    }

    /// Blackens `len` dots from (x, y) rightwards, clipped.
    pub fn fill_span(&mut self, x: u32, y: u32, len: u32) {
        if y >= self.height {
            return;
        }
        let end = x.saturating_add(len).min(self.width);
        let row = y as usize * self.stride;
        let mut x = x;
        while x < end {
            if x.is_multiple_of(8) && end - x >= 8 {
                self.data[row + (x / 8) as usize] = 0xff;
                x += 8;
            } else {
                self.data[row + (x / 8) as usize] |= 0x80 >> (x % 8);
                x += 1;
            }
        }
    }

    /// ORs the top `width` bits of `mask` (MSB = leftmost) into row `y` starting at `x`, clipped.
    pub(crate) fn or_bits(&mut self, x: i64, y: i64, mask: u64, width: u32) {
        if y < 0 || y >= self.height as i64 || mask == 0 {
            return;
        }
        let width = width.min(64);
        let mut mask = if width < 64 { mask & !(u64::MAX >> width) } else { mask };
        let mut x = x;
        if x < 0 {
            if x <= -64 {
                return;
            }
            mask <<= -x;
            x = 0;
        }
        if x >= i64::from(self.width) || mask == 0 {
            return;
        }
        let row = y as usize * self.stride;
        let shift = (x % 8) as u32;
        // Place the mask at bit offset `shift` of a 128-bit window starting at byte x / 8.
        let wide = (u128::from(mask) << 64) >> shift;
        let first = (x / 8) as usize;
        let last_byte = (x as u64 + 64).min(u64::from(self.width)).div_ceil(8) as usize;
        for (k, i) in (first..last_byte.min(self.stride)).enumerate() {
            self.data[row + i] |= (wide >> (120 - 8 * k as u32)) as u8;
        }
        // Bits past `width` in the last byte are never set: the mask was clipped to the paper.
        if !self.width.is_multiple_of(8) {
            let last = row + self.stride - 1;
            self.data[last] &= 0xffu8 << (8 - self.width % 8);
        }
    }

    /// ORs `src` into this bitmap with its top-left corner at (x, y), clipped.
    pub fn blit(&mut self, src: &Bitmap, x: i64, y: i64) {
        for sy in 0..src.height {
            let dy = y + i64::from(sy);
            let srow = src.row(sy);
            for (k, chunk) in srow.chunks(8).enumerate() {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                let bits = (src.width - 64 * k as u32).min(64);
                self.or_bits(x + 64 * k as i64, dy, u64::from_be_bytes(word), bits);
            }
        }
    }

    #[cfg(test)]
    fn blit_slow(&mut self, src: &Bitmap, x: i64, y: i64) {
        for sy in 0..src.height {
            let dy = y + sy as i64;
            if dy < 0 || dy >= self.height as i64 {
                continue;
            }
            let drow = dy as usize * self.stride;
            let srow = src.row(sy);
            for (bi, &byte) in srow.iter().enumerate() {
                if byte == 0 {
                    continue;
                }
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        let dx = x + (bi * 8 + bit) as i64;
                        if dx >= 0 && dx < self.width as i64 {
                            self.data[drow + (dx / 8) as usize] |= 0x80 >> (dx % 8);
                        }
                    }
                }
            }
        }
    }

    /// Appends `src` below this bitmap (same width), growing it.
    pub(crate) fn append_rows(&mut self, src: &Bitmap) {
        debug_assert_eq!(src.width, self.width);
        self.data.extend_from_slice(&src.data);
        self.height += src.height;
    }

    /// Appends `rows` white rows.
    pub(crate) fn grow(&mut self, rows: u32) {
        self.height += rows;
        self.data.resize(self.stride * self.height as usize, 0);
    }

    /// Number of black dots.
    pub fn count_black(&self) -> u64 {
        // Padding bits past `width` are never set, so whole bytes can be counted.
        self.data.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// Whether row `y` has no black dot.
    pub fn row_is_blank(&self, y: u32) -> bool {
        self.row(y).iter().all(|&b| b == 0)
    }

    /// Dots from the left edge to the right end of the rightmost black dot in rows `y0..y1`.
    pub fn ink_right(&self, y0: u32, y1: u32) -> u32 {
        let mut right = 0;
        for y in y0..y1.min(self.height) {
            let row = self.row(y);
            if let Some(bi) = row.iter().rposition(|&b| b != 0) {
                let r = bi as u32 * 8 + 8 - row[bi].trailing_zeros();
                right = right.max(r);
            }
        }
        right
    }

    /// A copy of rows `y0..y1` cut to the first `width` dots.
    pub fn crop(&self, y0: u32, y1: u32, width: u32) -> Bitmap {
        let y1 = y1.min(self.height);
        let width = width.min(self.width);
        let mut out = Bitmap::new(width, y1.saturating_sub(y0));
        for y in y0..y1 {
            let src = &self.row(y)[..out.stride];
            let start = (y - y0) as usize * out.stride;
            out.data[start..start + out.stride].copy_from_slice(src);
            if !width.is_multiple_of(8) {
                out.data[start + out.stride - 1] &= 0xffu8 << (8 - width % 8);
            }
        }
        out
    }

    /// Binary PBM (P4): handy for `zbarimg` and image viewers.
    pub fn to_pbm(&self) -> Vec<u8> {
        let mut out = format!("P4\n{} {}\n", self.width, self.height).into_bytes();
        out.extend_from_slice(&self.data);
        out
    }

    /// A 1-bit grayscale PNG (deterministic: no timestamps or text chunks).
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width.max(1), self.height.max(1));
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::High);
        // PNG grayscale has 0 = black, the opposite of the printer.
        let mut inverted: Vec<u8> = self.data.iter().map(|b| !b).collect();
        if self.width == 0 || self.height == 0 {
            inverted = vec![0xff; 1];
        }
        // Writing into a Vec cannot fail and the header matches the data.
        let mut writer = enc.write_header().expect("png header into Vec");
        writer.write_image_data(&inverted).expect("png data into Vec");
        writer.finish().expect("png finish into Vec");
        out
    }

    /// Decodes a grayscale or RGB(A) PNG, treating dark pixels (< 128) as black.
    pub fn from_png(bytes: &[u8]) -> Result<Bitmap, png::DecodingError> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut buf)?;
        let channels = info.color_type.samples();
        let mut bm = Bitmap::new(info.width, info.height);
        for y in 0..info.height {
            let row = &buf[y as usize * info.line_size..];
            for x in 0..info.width {
                let px = &row[x as usize * channels..x as usize * channels + channels];
                let luma = if channels >= 3 {
                    (u32::from(px[0]) + u32::from(px[1]) + u32::from(px[2])) / 3
                } else {
                    u32::from(px[0])
                };
                bm.set(x, y, luma < 128);
            }
        }
        Ok(bm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_spans() {
        let mut b = Bitmap::new(20, 3);
        assert_eq!(b.stride(), 3);
        b.set(0, 0, true);
        b.set(19, 2, true);
        b.fill_span(3, 1, 14);
        assert!(b.get(0, 0) && b.get(19, 2));
        assert!((3..17).all(|x| b.get(x, 1)));
        assert!(!b.get(2, 1) && !b.get(17, 1));
        assert_eq!(b.count_black(), 16);
        assert_eq!(b.ink_right(0, 3), 20);
        assert_eq!(b.ink_right(1, 2), 17);
        b.set(100, 100, true); // ignored
        b.set(0, 0, false);
        assert_eq!(b.count_black(), 15);
    }

    #[test]
    fn png_round_trip_is_exact() {
        let mut b = Bitmap::new(13, 5);
        for i in 0..5 {
            b.set(i * 2, i, true);
            b.set(12, i, true);
        }
        let back = Bitmap::from_png(&b.to_png()).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn fast_blit_matches_dot_by_dot() {
        let mut src = Bitmap::new(77, 9);
        for i in 0..77 * 9 {
            if (i * 7919) % 3 == 0 {
                src.set(i % 77, i / 77, true);
            }
        }
        for x in [-70, -9, -1, 0, 1, 5, 8, 13, 40, 90, 95] {
            let (mut a, mut b) = (Bitmap::new(100, 12), Bitmap::new(100, 12));
            a.blit(&src, x, 2);
            b.blit_slow(&src, x, 2);
            assert_eq!(a, b, "x = {x}");
        }
    }

    #[test]
    fn crop_masks_padding_bits() {
        let mut b = Bitmap::new(16, 2);
        b.fill_span(0, 0, 16);
        let c = b.crop(0, 1, 5);
        assert_eq!(c.data(), &[0xf8]);
        assert_eq!(c.count_black(), 5);
    }
}
